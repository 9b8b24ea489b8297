"""Instants as sortable text: the projections' keys compare ``utc_text`` strings, so the
text's order must be the instants' order, for every instant a fact may carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from compute_ledger.ledger.instants import from_utc_text, utc_text

offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.builds(
    lambda naive, zone: naive.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    offsets,
)


@given(instants, instants)
def test_the_text_sorts_as_the_instants_do(a: datetime, b: datetime) -> None:
    assert (utc_text(a) < utc_text(b)) == (a < b)
    assert (utc_text(a) == utc_text(b)) == (a == b)


@given(instants)
def test_the_text_is_fixed_width_utc_and_reads_back(moment: datetime) -> None:
    text = utc_text(moment)
    assert len(text) == 27 and text.endswith("Z"), text
    assert from_utc_text(text) == moment
    assert from_utc_text(text).utcoffset() == timedelta(0)


def test_years_before_1000_keep_four_digits() -> None:
    assert utc_text(datetime(999, 12, 31, 23, tzinfo=UTC)) == "0999-12-31T23:00:00.000000Z"
    assert utc_text(datetime(999, 12, 31, tzinfo=UTC)) < utc_text(datetime(2026, 1, 1, tzinfo=UTC))
