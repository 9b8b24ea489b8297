"""Human output laid out for a width.  Pure: lines in, lines out.

Renderers (``cli/render.py``) yield lines of text, and tables as :class:`Rows`; the command
lays them out for the terminal's width (:func:`lay_out`).  A table that fits is printed as
columns; one that does not becomes a block per row (its first cell as a heading, then each
other cell as ``HEADER value``, wrapped), which stays readable in 80 columns where truncated
columns would not.  A line of text too long is wrapped at spaces, its continuation indented
under the value when it starts with a label (``Status     CRITERIA_MET ...``), else four
spaces in; a word longer than the width (a path, a hash) is never cut.  With no width
(``--wide``, or output that is not a terminal) nothing changes.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MIN_WIDTH = 40
"""Narrower than this, lines are laid out for this width anyway."""


@dataclass(frozen=True)
class Rows:
    """A table: a header row, then rows of cells (text, one per header)."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


_LABEL = re.compile(r"^(\s*\S+(?: \S+){0,3}?(?::)?\s{2,})(?=\S)")


def lay_out(lines: Iterable[str | Rows], width: int | None) -> Iterator[str]:
    """``lines`` for a terminal ``width`` columns wide (None: as they are)."""
    if width is not None:
        width = max(width, MIN_WIDTH)
    for item in lines:
        if isinstance(item, Rows):
            yield from table(item, width)
        elif width is None or len(item) <= width:
            yield item
        else:
            yield from wrap(item, width)


def table(rows: Rows, width: int | None) -> Iterator[str]:
    """Columns two spaces apart, or, wider than ``width``, a block per row."""
    every = [rows.header, *rows.rows]
    widths = [max(len(row[i]) for row in every) for i in range(len(rows.header))]
    if width is None or sum(widths) + 2 * (len(widths) - 1) <= width:
        for row in every:
            yield "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        return
    for row in rows.rows:
        yield row[0]
        # a name and its value are never split: joined by a no-break space while wrapping
        pairs = "  ".join(f"{name.lower()}{_KEEP}{cell.replace(' ', _KEEP)}" for name, cell
                          in zip(rows.header[1:], row[1:], strict=True))
        for line in textwrap.wrap(pairs, width, initial_indent="    ",
                                  subsequent_indent="    ", break_on_hyphens=False,
                                  break_long_words=False):
            yield line.replace(_KEEP, " ")


_KEEP = "\u00a0"


def wrap(line: str, width: int) -> list[str]:
    """``line`` wrapped at spaces to ``width``.  A word longer than a line (a path, a hash)
    is never cut: it overflows, whole, so it can still be copied."""
    label = _LABEL.match(line)
    indent = len(label.group(1)) if label is not None and len(label.group(1)) <= 24 \
        else len(line) - len(line.lstrip(" ")) + 4
    indent = min(indent, width // 2)
    lead = len(line) - len(line.lstrip(" "))
    return textwrap.wrap(line.lstrip(" "), width, initial_indent=" " * lead,
                         subsequent_indent=" " * indent, break_on_hyphens=False,
                         break_long_words=False) or [line]
