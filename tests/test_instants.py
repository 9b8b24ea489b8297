"""Instants as sortable text: the projections' keys compare ``utc_text`` strings, so the
text's order must be the instants' order, for every instant a fact may carry."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compute_ledger.ledger.errors import ConfigurationError
from compute_ledger.ledger.facts import parse_facts
from compute_ledger.ledger.instants import from_utc_text, parse_instant, utc_text
from compute_ledger.projections.api import ComputeLedger, bundled_record

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


def test_the_api_takes_the_instants_the_cli_takes_and_refuses_others_with_its_own_error(
        tmp_path: Path) -> None:
    with ComputeLedger.open(str(tmp_path / "l.sqlite3"), environ={}, create=True) as ledger:
        ledger.append(parse_facts(bundled_record()))
        expected = ledger.verdict(parse_instant("2026-05-23"), 8)
        for as_of in ("2026-05-23", date(2026, 5, 23), " 2026-05-23 "):
            for known_at in (8, "@8"):
                assert ledger.verdict(as_of=as_of, known_at=known_at) == expected
        assert ledger.verdict("2026-05-06T06:59:59Z", "@8").status == "OPEN"
        for bad, message in ((20260523, "as_of must be a datetime with an offset, a date"),
                             ("yesterday", "as_of: 'yesterday' is not a date"),
                             ("2026-05-23T10:00:00", "has no UTC offset"),
                             ("2026-05-23T10:00:00.1234567Z", "more than 6 fractional digits")):
            with pytest.raises(ConfigurationError, match=message):
                ledger.verdict(as_of=bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="after @ comes a ledger position"):
            ledger.business(known_at="@eight")
        with pytest.raises(ConfigurationError, match="known_at must be an instant"):
            ledger.timeline(known_at=8.5)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="to_as_of must be a datetime"):
            ledger.diff("2026-05-01", to_as_of=[])  # type: ignore[arg-type]
        # the other arguments too: the project's error, naming the argument
        for call, message in ((lambda: ledger.deal(5), "name must be a string"),  # type: ignore[arg-type]
                              (lambda: ledger.show(5), "fact_id must be a string"),  # type: ignore[arg-type]
                              (lambda: ledger.facts(after="x"), "after must be a ledger"),  # type: ignore[arg-type]
                              (lambda: ledger.records(until=-1), "until must be a ledger")):
            with pytest.raises(ConfigurationError, match=message):
                call()
