"""Bulk work: many short-lived objects and no reference cycles.

A bulk append or a replay allocates hundreds of thousands of small objects (decoded facts,
tuples, dicts) that all stay alive until the work ends.  CPython's cyclic garbage collector
would scan them again and again for cycles there are none of; pausing it for the duration
saves a tenth to a fifth of the time.  Reference counting still frees everything as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic collector for a block (restoring it as it was, even on error)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def counted(stream: Iterable[T], progress: Callable[[int], None], every: int = 1000
            ) -> Iterator[T]:
    """``stream`` as it is, ``progress`` told of every ``every`` items passed on."""
    for number, item in enumerate(stream, start=1):
        yield item
        if number % every == 0:
            progress(every)
