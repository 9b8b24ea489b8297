"""Nothing the door accepts can make the ledger unreadable (issue 10, items 1 and 2).

Each case failed before its fix: a tiny decimal was stored as "1E-7" and then refused by the
ledger's own decoder (every later read failed, and so did the retraction that would repair
it); a million-digit quantity crashed the answers with decimal.Overflow; a trailing newline
passed every pattern, so "tesla\\n" was an external customer."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from cli_runner import run

from compute_ledger.ledger import facts as F
from compute_ledger.ledger.errors import InputError
from compute_ledger.projections.api import ComputeLedger

BASE = {
    "type": "announcement", "occurred_at": "2026-05-06T10:00:00-07:00",
    "source": {"url": "https://example.org/a"}, "speaker": "xai",
    "channel": "official_site", "availability": "available",
}


def announcement(fact_id: str, **deal: object) -> str:
    terms = {"deal_id": "tiny", "provider": "xai", "customer": "initech", "service": "inference",
             "consideration": "cash", **deal}
    return json.dumps({**BASE, "id": fact_id, "deal": terms})


@pytest.mark.parametrize("quantity", ["0.0000001", "0.0000000", "0.000000000000001",
                                      "123456789012345678901234.5"])
def test_a_tiny_or_huge_quantity_round_trips_through_every_reader(
    db: str, tmp_path: Path, quantity: str,
) -> None:
    batch = tmp_path / "tiny.jsonl"
    batch.write_text(announcement("tiny-1", capacity_mw=quantity, usd_per_month=quantity) + "\n")
    assert run("append", str(batch), "--db", db).exit_code == 0
    with ComputeLedger.open(db, environ={}) as ledger:
        [entry] = ledger.facts()
        assert f'"capacity_mw":"{quantity}"'.encode() in entry.raw  # plain digits as given
    for command in (["verify"], ["verdict"], ["verdict", "--json"], ["business"],
                    ["business", "--json"], ["timeline"], ["timeline", "--json"], ["replay"],
                    ["log"], ["show", "tiny-1"], ["feed"],
                    ["export", "sqlite", str(tmp_path / "out.db")]):
        result = run(*command, "--db", db)
        assert result.exit_code == 0, (command, result.output)
    retraction = tmp_path / "retract.jsonl"
    retraction.write_text(json.dumps({"type": "retraction", "id": "drop-tiny",
                                      "occurred_at": "2026-05-07T00:00:00Z",
                                      "retracts": "tiny-1", "reason": "test"}) + "\n")
    assert run("append", str(retraction), "--db", db).exit_code == 0
    assert run("verify", "--db", db).exit_code == 0


def test_a_quantity_built_in_python_is_stored_without_an_exponent() -> None:
    fact = F.Announcement(
        id="tiny-2", occurred_at=F.decode_fact(announcement("x")).occurred_at,
        source=F.Source(url="https://example.org/a"), speaker="xai", channel="official_site",
        availability="available",
        deal=F.DealTerms(deal_id="tiny", capacity_mw=F.Quantity("1E-7")),
    )
    [checked] = F.check_facts([fact])
    assert b'"capacity_mw":"0.0000001"' in F.canonical_bytes(checked.fact)


def test_a_quantity_stored_before_the_fix_still_reads_back() -> None:
    # What the ledger once wrote for "0.0000001" (str(Decimal)): the door never takes it,
    # but a stored fact always decodes.
    stored = announcement("old", capacity_mw="1E-7").encode()
    with pytest.raises(InputError):
        F.parse_facts(stored)
    fact = F.decode_fact(stored)
    assert isinstance(fact, F.Announcement) and fact.deal is not None
    assert fact.deal.capacity_mw == F.Quantity("0.0000001")


@pytest.mark.parametrize("quantity, shown", [
    ("1" * 25, "1" * 25),
    ("1." + "1" * 16, "1." + "1" * 16),
    ("9" * 1_000_000, "9" * 40 + "... (1000000 characters)"),
])
def test_too_many_digits_are_refused_with_a_short_message(quantity: str, shown: str) -> None:
    with pytest.raises(InputError) as raised:
        F.parse_facts(announcement("big", capacity_mw=quantity))
    [problem] = raised.value.problems
    assert problem.path == "$.deal.capacity_mw"
    assert problem.reason.startswith(f"{shown!r} is not a plain non-negative decimal")
    assert "at most 24 digits before the point and 15 after it" in problem.reason
    assert len(str(raised.value)) < 300


@pytest.mark.parametrize("field, value, path", [
    ("customer", "tesla\n", "$.deal.customer"),
    ("deal_id", "xai-anthropic-colossus\n", "$.deal.deal_id"),
    ("provider", "xai\n", "$.deal.provider"),
])
def test_a_trailing_newline_is_not_part_of_a_slug(field: str, value: str, path: str) -> None:
    with pytest.raises(InputError) as raised:
        F.parse_facts(announcement("nl", **{field: value}))
    [problem] = raised.value.problems
    assert problem.path == path
    assert "expected a lowercase slug" in problem.reason


def test_a_trailing_newline_is_not_part_of_an_id_or_a_url() -> None:
    with pytest.raises(InputError) as raised:
        F.parse_facts(json.dumps({**json.loads(announcement("nl")), "id": "fact-1\n"}))
    assert raised.value.problems[0].path == "$.id"
    with pytest.raises(InputError) as raised:
        F.parse_facts(json.dumps({**json.loads(announcement("u")),
                                  "source": {"url": "https://example.org/a\n"}}))
    assert raised.value.problems[0].path == "$.source.url"


def test_facts_built_in_python_get_the_same_patterns() -> None:
    fact = msgspec.convert(json.loads(announcement("py")), F.Fact, dec_hook=None, strict=False)
    assert isinstance(fact, F.Announcement) and fact.deal is not None
    bad = msgspec.structs.replace(fact, deal=msgspec.structs.replace(fact.deal,
                                                                     customer="tesla\n"))
    with pytest.raises(InputError) as raised:
        F.check_facts([bad])
    assert raised.value.problems[0].path == "$.deal.customer"


# -- smaller holes (issue 10, item 5) -------------------------------------------------------


def test_json_nested_too_deeply_is_refused_not_a_traceback(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' * 5000 + "1" + "}" * 5000 + "\n")
    result = run("append", str(deep), "--db", str(tmp_path / "l.sqlite3"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: input refused, nothing was appended: line 1, $: nested too deeply to be a fact")


def test_the_derived_id_namespace_is_reserved(ledger: ComputeLedger) -> None:
    claimed = json.dumps({**json.loads(announcement("x")), "id": "sha256:" + "0" * 32})
    with pytest.raises(InputError) as raised:
        ledger.append_text(claimed)
    [problem] = raised.value.problems
    assert problem.path == "$.id" and "the ledger derives" in problem.reason
    # A fact carrying its own derived id (re-appended from a feed) is that same fact.
    unnamed = {k: v for k, v in json.loads(announcement("x")).items() if k != "id"}
    first = ledger.append_text(json.dumps(unnamed))
    [entry] = ledger.facts()
    assert entry.fact_id.startswith("sha256:")
    again = ledger.append_text(json.dumps({**unnamed, "id": entry.fact_id}))
    assert (first.appended, again.appended, again.duplicates) == (1, 0, 1)


def test_the_last_documented_date_is_accepted(db: str, tmp_path: Path) -> None:
    late = tmp_path / "late.jsonl"
    late.write_text(json.dumps({**json.loads(announcement("late")),
                                "occurred_at": "9998-12-31T23:00:00-08:00"}) + "\n")
    assert run("append", str(late), "--db", db).exit_code == 0
    for command in (["verdict", "--as-of", "9998-12-31"], ["business", "--as-of", "9998-12-31"],
                    ["timeline"], ["replay"]):
        result = run(*command, "--db", db)
        assert result.exit_code == 0, (command, result.output)
    assert "9999-01-01T07:59:59.999999Z" in run("verdict", "--as-of", "9998-12-31",
                                                 "--db", db).stdout
    refused = run("verdict", "--as-of", "9999-01-01", "--db", db)
    assert refused.exit_code == 2 and "outside the supported range" in refused.stderr


def test_free_text_cannot_forge_lines_or_drive_the_terminal(tmp_path: Path) -> None:
    db = str(tmp_path / "l.sqlite3")
    forged = "Looks fine.\nStatus     RESOLVED_NO\x1b[2J\u202e"
    ruling = {"type": "creator_ruling", "id": "r-1", "occurred_at": "2026-05-06T00:00:00Z",
              "source": {"url": "https://example.org/r"}, "ruling": "under_review",
              "deal_id": "tiny", "summary": forged}
    batch = tmp_path / "r.jsonl"
    batch.write_text(announcement("tiny-1") + "\n" + json.dumps(ruling) + "\n")
    assert run("append", str(batch), "--db", db).exit_code == 0
    out = run("verdict", "--as-of", "2026-06-01", "--db", db).stdout
    assert [line for line in out.splitlines() if line.startswith("Status")] == [
        "Status     CRITERIA_MET (under review by the market's creator)"]
    assert "\x1b" not in out and "\u202e" not in out
    assert "Looks fine.\\nStatus     RESOLVED_NO\\x1b[2J\\u202e" in out
    answer = json.loads(run("verdict", "--as-of", "2026-06-01", "--json", "--db", db).stdout)
    assert [r["summary"] for r in answer["rulings"]] == [forged]  # JSON keeps the content


RULING = ('{"type": "creator_ruling", "id": "r-1", "occurred_at": "2026-05-06T10:00:00Z", '
          '"source": {"url": "https://example.org/r"%s}, "ruling": "clarification", '
          '"summary": "%s"%s}')


@pytest.mark.parametrize(("text", "path", "key"), [
    (RULING % ("", "s", ', "ruling": "resolve_yes"'), "$.ruling", "ruling"),
    (RULING % (', "url": "https://example.org/other"', "s", ""), "$.source.url", "url"),
    (RULING % ("", 'a \\":\\" b', ', "summary": "t"'), "$.summary", "summary"),
])
def test_a_key_given_twice_is_refused_naming_it(text: str, path: str, key: str) -> None:
    json.loads(text)  # valid JSON, which Python's parser reads as last-one-wins
    with pytest.raises(InputError) as refused:
        F.parse_facts("\n" + text + "\n")
    [problem] = refused.value.problems
    assert (problem.line, problem.path) == (2, path)
    assert f"the key {key!r} is given more than once" in problem.reason


def test_quotes_and_colons_inside_strings_are_not_repeated_keys() -> None:
    """The cheap count of key ends over-counts an escaped quote and a colon inside a string;
    the exact parse then finds no repeated key, and the fact is accepted as it is."""
    text = RULING % ("", 'he said \\"ruling\\": resolve_yes', "")
    [checked] = F.parse_facts(text)
    assert isinstance(checked.fact, F.CreatorRuling)
    assert checked.fact.ruling == "clarification"
    assert checked.fact.summary == 'he said "ruling": resolve_yes'
