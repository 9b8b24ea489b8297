"""Whatever the door accepts, every command can read, on both backends (issue 10).

Hypothesis draws a valid fact of each sourced type, then pushes its values to the edges the
format allows: instants from year 2 to the end of 9998 in any of several offsets, term dates
at both ends of the calendar, quantities of every length the door takes (and zero, and
fifteen decimals), ids and slugs of the greatest length, free text of any Unicode (control
and bidi characters included: they are kept in JSON and escaped in human output).  Each fact
that passes the door is appended to a fresh ledger, then corrected, then retracted; after
each step every read command runs and must succeed.  Before the fixes of issue 10, one such
fact ("capacity_mw": "0.0000001") made every command fail for good.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cli_runner import run
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import ZONES, sourced_facts

from compute_ledger.ledger import facts as F
from compute_ledger.ledger.errors import InputError
from compute_ledger.projections.api import ComputeLedger

EXTREME_INSTANTS = [
    datetime(2, 1, 1, tzinfo=UTC),
    datetime(9999, 1, 1, 7, 59, 59, 999999, tzinfo=UTC),  # the end of 9998-12-31 in PT
    datetime(2027, 1, 1, 7, 59, 59, 999999, tzinfo=UTC),  # the market's deadline
]
EDGE_INSTANTS = st.one_of(
    st.datetimes(min_value=datetime(2, 1, 2), max_value=datetime(9998, 12, 30),
                 timezones=ZONES),
    st.sampled_from(EXTREME_INSTANTS),
)
EDGE_DAYS = st.one_of(st.dates(min_value=date(2, 1, 1), max_value=date(9998, 12, 31)),
                      st.sampled_from([date(2, 1, 1), date(9998, 12, 31)]))
_DIGITS = F.QUANTITY_DIGITS
QUANTITY_EDGES = [
    "0", "0.0", "0.000000000000001", "0." + "0" * (_DIGITS[1] - 1) + "1",
    "9" * _DIGITS[0], "9" * _DIGITS[0] + "." + "9" * _DIGITS[1], "1" + "0" * (_DIGITS[0] - 1),
    "0.0000001", "0.0000000", "1.5",
]
EDGE_QUANTITIES = st.sampled_from(QUANTITY_EDGES).map(F.Quantity)
EDGE_TEXTS = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60),
    st.sampled_from(["\n", "\x1b[2J", "Status   RESOLVED_NO\n", "\u202egnp.exe", "\x00",
                     "\"ruling\": \"resolve_yes\"", "x" * 4000, "\U0001f600" * 50]),
)
SLUG_EDGES = ["a", "0", "a" * 80, "-".join(["a1"] * 26) + "-b"]
ID_EDGES = ["a", "0", "z" * 128, "a." + "b" * 125 + "c", "x:y_z-1.2"]
EDGE_SLUGS = st.sampled_from(SLUG_EDGES)
EDGE_IDS = st.sampled_from(ID_EDGES)

_TEXT_FIELDS = {"summary", "statement", "reason", "publisher", "title", "quote", "note",
                "document"}
_DAY_FIELDS = {"starts_on", "ends_on", "available_from"}
_QUANTITY_FIELDS = {"capacity_mw", "usd_per_month"}
_SLUG_FIELDS = {"deal_id", "provider", "customer", "speaker", "filer", "offering_id"}


def _edge_for(name: str, value: Any) -> st.SearchStrategy[Any] | None:
    if value is None:
        return None
    if name == "occurred_at":
        return EDGE_INSTANTS
    if name in _TEXT_FIELDS:
        return EDGE_TEXTS
    if name in _DAY_FIELDS:
        return EDGE_DAYS
    if name in _QUANTITY_FIELDS:
        return EDGE_QUANTITIES
    if name in _SLUG_FIELDS:
        return EDGE_SLUGS
    return None


@st.composite
def edged(draw: st.DrawFn, value: Any) -> Any:
    """``value`` (a fact, or a struct inside one) with some fields pushed to their edges."""
    changes: dict[str, Any] = {}
    for name in value.__struct_fields__:
        current = getattr(value, name)
        if isinstance(current, msgspec.Struct):
            changes[name] = draw(edged(current))
            continue
        edge = _edge_for(name, current)
        if edge is not None and draw(st.booleans()):
            changes[name] = draw(edge)
    return msgspec.structs.replace(value, **changes)


@st.composite
def accepted_facts(draw: st.DrawFn) -> F.Fact:
    fact: F.Fact = draw(edged(draw(sourced_facts(st.just("subject")))))
    fact = msgspec.structs.replace(fact, id=draw(st.just("subject") | EDGE_IDS))
    try:
        F.check_facts([fact])
    except InputError:
        assume(False)  # the property is about what the door accepts
    return fact


READS = [["verify"], ["verdict"], ["verdict", "--json", "--explain"], ["business"],
         ["business", "--json"], ["timeline"], ["timeline", "--json"], ["replay"], ["log"],
         ["log", "--json"], ["feed"], ["digest"],
         ["diff", "--known-at", "@0", "--to-known-at", "@1"],
         ["diff", "--json", "--as-of", "2020-01-01", "--to-as-of", "2027-06-01"]]


def every_read_succeeds(db: str, tmp_path: Path, fact_id: str, step: str) -> None:
    for command in [*READS, ["show", fact_id], ["show", fact_id, "--json"],
                    ["export", "sqlite", str(tmp_path / f"export-{step}.db")]]:
        result = run(*command, "--db", db)
        assert result.exit_code == 0, (step, command, result.output)
    business = json.loads(run("business", "--json", "--db", db).stdout)
    for kind in ("deals", "offerings"):
        for shown in business[kind]:
            for command in (["deal", f"{kind[:-1]}:{shown['id']}"],
                            ["deal", f"{kind[:-1]}:{shown['id']}", "--json"]):
                result = run(*command, "--db", db)
                assert result.exit_code == 0, (step, command, result.output)


def survives(db: str, tmp_path: Path, fact: F.Fact, moved: datetime) -> None:
    text = F.canonical_bytes(fact).decode()
    with ComputeLedger.open(db, environ={}):
        pass  # an empty ledger: the CLI's check and reads refuse a path that holds none
    checked = run("check", "-", "--db", db, "--json", input=text)
    assert checked.exit_code == 0 and json.loads(checked.stdout)["new"] == 1, checked.output
    supposed = run("verdict", "--with", "-", "--db", db, "--json", input=text)
    assert supposed.exit_code == 0 and json.loads(supposed.stdout)["hypothetical"], supposed.output
    assert run("append", "-", "--db", db, input=text).exit_code == 0
    assert fact.id is not None
    every_read_succeeds(db, tmp_path, fact.id, "appended")
    shown = json.loads(run("show", fact.id, "--json", "--db", db).stdout)
    assert shown["fact"] == json.loads(F.canonical_bytes(fact))  # stored as given
    content = {k: v for k, v in json.loads(text).items() if k != "id"}  # a correction's
    correction = {"type": "correction", "id": "fix-subject",    # fact has no id of its own
                  "occurred_at": "2026-06-01T00:00:00Z", "corrects": fact.id,
                  "reason": "moved", "fact": {**content, "occurred_at": moved.isoformat()}}
    fixed = run("append", "-", "--db", db, input=json.dumps(correction))
    assert fixed.exit_code == 0, fixed.output
    every_read_succeeds(db, tmp_path, "fix-subject", "corrected")
    retraction = {"type": "retraction", "id": "drop-subject",
                  "occurred_at": "2026-06-02T00:00:00Z", "retracts": fact.id,
                  "reason": "withdrawn"}
    dropped = run("append", "-", "--db", db, input=json.dumps(retraction))
    assert dropped.exit_code == 0, dropped.output
    every_read_succeeds(db, tmp_path, "drop-subject", "retracted")


def survive(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much])


@survive(30)
@given(accepted_facts(), EDGE_INSTANTS)
def test_an_accepted_fact_survives_every_command_on_sqlite(
    tmp_path_factory: pytest.TempPathFactory, fact: F.Fact, moved: datetime
) -> None:
    home = tmp_path_factory.mktemp("survive")
    survives(str(home / "ledger.sqlite3"), home, fact, moved)


@pytest.mark.postgres
@survive(12)
@given(accepted_facts(), EDGE_INSTANTS)
def test_an_accepted_fact_survives_every_command_on_postgresql(
    pg_server: Any, tmp_path_factory: pytest.TempPathFactory, fact: F.Fact, moved: datetime
) -> None:
    name = pg_server.create_database()
    try:
        survives(pg_server.url(name), tmp_path_factory.mktemp("survive-pg"), fact, moved)
    finally:
        pg_server.drop_database(name)


def test_every_extreme_is_accepted_by_the_door() -> None:
    """The extremes the strategies draw are inside the format (else the property above
    would filter them away and prove nothing about them)."""
    base = F.Announcement(
        id="edge", occurred_at=datetime(2026, 5, 6, tzinfo=UTC),
        source=F.Source(url="https://example.org/e"), speaker="xai",
        channel="official_site", availability="available",
        deal=F.DealTerms(deal_id="edge"),
    )
    assert base.deal is not None
    for instant in EXTREME_INSTANTS:
        F.check_facts([msgspec.structs.replace(base, occurred_at=instant)])
    for day in (date(2, 1, 1), date(9998, 12, 31)):
        F.check_facts([msgspec.structs.replace(base, available_from=day)])
    for quantity in map(F.Quantity, QUANTITY_EDGES):
        deal = msgspec.structs.replace(base.deal, capacity_mw=quantity, usd_per_month=quantity)
        F.check_facts([msgspec.structs.replace(base, deal=deal)])
    for slug in SLUG_EDGES:
        F.check_facts([msgspec.structs.replace(base, speaker=slug)])
    for fact_id in ID_EDGES:
        F.check_facts([msgspec.structs.replace(base, id=fact_id)])
