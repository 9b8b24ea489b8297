"""The follower's questions (issue 11): what if (``--with``), is this batch right (``check``),
what changed (``diff``), everything about one deal (``deal``, ``show``), and the timeline's
corrections and retractions.  Each test asserts what a person or a tool sees."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from builders import announce, at, confirm, correct, retract, rule
from cli_runner import run

from compute_ledger.ledger import facts as F
from compute_ledger.projections.api import ComputeLedger

ANTHROPIC = "xai-anthropic-colossus"


def line(fact: F.Fact) -> str:
    return F.canonical_bytes(fact).decode()


def write(path: Path, *facts: F.Fact | str) -> str:
    path.write_text("\n".join(f if isinstance(f, str) else line(f) for f in facts) + "\n")
    return str(path)


@pytest.fixture
def public(tmp_path: Path) -> str:
    """A SQLite ledger holding the bundled public record."""
    db = str(tmp_path / "public.sqlite3")
    assert run("append", "--public-record", "--db", db).exit_code == 0
    return db


def as_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


RULED_OUT = rule("2026-05-20T07:00:00Z", "does_not_count", ANTHROPIC, id="ruled-out")


# -- check ------------------------------------------------------------------------------------


def test_check_names_every_problem_of_every_line_and_writes_nothing(public: str,
                                                                    tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.jsonl",
        # three problems on one line: a bad slug, an unknown enum value, a number as quantity
        '{"type": "announcement", "occurred_at": "2026-06-01T00:00:00Z", "speaker": "X AI",'
        ' "channel": "tweet", "availability": "available", "source": {"url": "https://a.b"},'
        ' "deal": {"deal_id": "d1", "capacity_mw": 300}}',
        # one against the ledger: an id already used with other content
        msgspec.structs.replace(announce(), id="xai-anthropic-announced-2026-05-06"),
        # one against the ledger: a retraction naming no fact
        '{"type": "retraction", "retracts": "nope", "reason": "x",'
        ' "occurred_at": "2026-06-01T00:00:00Z"}',
    )
    before = file_digest(public)
    result = run("check", bad, "--db", public)
    assert result.exit_code == 2
    for expected in ("line 1, $.speaker", "line 1, $.channel", "line 1, $.deal.capacity_mw",
                     "line 2, $.id", "line 3, $.retracts", "5 problems on 3 lines"):
        assert expected in result.output, expected
    report = json.loads(run("check", bad, "--db", public, "--json").output)
    assert report["schema"] == "compute-ledger/check/1"
    assert (report["ok"], report["new"]) == (False, 0)
    assert [(p["line"], p["path"]) for p in report["problems"]] == [
        (1, "$.speaker"), (1, "$.channel"), (1, "$.deal.capacity_mw"), (2, "$.id"),
        (3, "$.retracts")]
    assert file_digest(public) == before


def test_append_names_the_same_problems_as_check(public: str, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.jsonl",
                '{"type": "confirmation", "occurred_at": "2026-06-01"}',
                '{"type": "customer_confirmation", "occurred_at": "2026-06-01",'
                ' "customer": "Acme", "deal_id": "d1", "in_use": "yes", "statement": ""}',
                # against the ledger, on a line that passes the door
                '{"type": "retraction", "retracts": "nope", "reason": "x",'
                ' "occurred_at": "2026-06-01T00:00:00Z"}')
    checked = json.loads(run("check", bad, "--db", public, "--json").output)["problems"]
    refused = run("append", bad, "--db", public)
    assert refused.exit_code == 2
    assert refused.output.splitlines()[1:] == \
        [f"  line {p['line']}, {p['path']}: {p['reason']}" for p in checked]
    # Every field of line 2 that is wrong is named, not only the first.
    assert {p["path"] for p in checked if p["line"] == 2} == {
        "$.occurred_at", "$.source", "$.customer", "$.in_use", "$.statement"}
    assert (checked[-1]["line"], checked[-1]["path"]) == (3, "$.retracts")


def test_a_fact_naming_a_bad_line_is_not_told_the_fact_does_not_exist(
        public: str, tmp_path: Path) -> None:
    bad = write(tmp_path / "chain.jsonl",
                '{"id": "new1", "type": "announcement", "occurred_at": "2026-06-01"}',
                '{"type": "retraction", "retracts": "new1", "reason": "x",'
                ' "occurred_at": "2026-06-02T00:00:00Z"}')
    problems = json.loads(run("check", bad, "--db", public, "--json").output)["problems"]
    [named] = [p for p in problems if p["line"] == 2]
    assert named["reason"] == "names 'new1', whose line 1 has problems of its own"


@pytest.mark.parametrize("text", ['{"type": []}', '{"type": {}}', '{"type": 3}', '[]', '"x"',
                                  '{"type": "correction", "fact": {"type": "correction"}}'])
def test_odd_types_are_problems_not_crashes(public: str, text: str) -> None:
    for command in (["check", "-"], ["append", "-"], ["verdict", "--with", "-"]):
        result = run(*command, "--db", public, input=text)
        assert result.exit_code == 2, (command, result.output)
        assert "line 1, $" in result.output
    nested = run("check", "-", "--db", public,
                 input='{"type": "correction", "fact": {"type": "correction"}}').output
    assert "'correction' is not a type a correction can replace" in nested


def test_control_characters_in_field_names_are_escaped(public: str) -> None:
    text = r'{"type": "retraction", "\u001b[31mred\u202e": 1}'
    for command in (["check", "-"], ["append", "-"]):
        output = run(*command, "--db", public, input=text).output
        assert "\x1b" not in output and "\u202e" not in output
        assert "$.\\x1b[31mred\\u202e: unknown field" in output


def test_check_of_a_good_batch_says_what_append_would_do(public: str, tmp_path: Path) -> None:
    new = announce(id="new-deal", deal_id="d9", provider="x-ai")
    good = write(tmp_path / "good.jsonl", new, line(F.parse_facts(
        Path(__file__).parent.parent.joinpath("ledger/data/public-record.jsonl")
        .read_bytes())[0].fact))
    result = run("check", good, "--db", public)
    assert result.exit_code == 0
    assert "append would add 1, 1 already in the ledger" in result.output
    assert "line 1, $.deal.provider: 'x-ai' is not a party the rules know" in result.output
    assert run("digest", "--db", public).output.startswith("8:")


# -- what if ----------------------------------------------------------------------------------


def test_verdict_with_a_file_is_hypothetical_and_leaves_the_ledger_alone(
        public: str, tmp_path: Path) -> None:
    what_if = write(tmp_path / "what-if.jsonl", RULED_OUT)
    digest = run("digest", "--db", public).output
    base = as_json("verdict", "--db", public)
    answer = as_json("verdict", "--with", what_if, "--db", public)
    assert run("digest", "--db", public).output == digest
    assert (base["status"], base["hypothetical"], base["what_if"]) == (
        "CRITERIA_MET", False, None)
    assert (answer["status"], answer["hypothetical"]) == ("OPEN", True)
    assert answer["ledger_head"] == base["ledger_head"] == digest.strip().split(":")[1]
    what = answer["what_if"]
    assert (what["base_position"], what["facts"]) == (8, [{"id": "ruled-out", "position": 9}])
    flips = {(f["subject"], f["what"]): (f["before"], f["after"]) for f in what["flips"]}
    assert flips[("market", "status")] == ("CRITERIA_MET", "OPEN")
    assert flips[(f"deal:{ANTHROPIC}", "qualifies")] == ("true", "false")
    assert all(f["facts"] == [{"id": "ruled-out", "position": 9}] for f in what["flips"])
    human = run("verdict", "--with", what_if, "--db", public).output
    assert human.startswith("HYPOTHETICAL: as if appended after the head 8")
    assert "market status: CRITERIA_MET -> OPEN  [ruled-out @9]" in human
    # Nothing of it was stored: the fact is unknown to the ledger afterwards.
    assert run("show", "ruled-out", "--db", public).exit_code == 1


def test_with_reports_the_clauses_a_fact_flips(tmp_path: Path) -> None:
    db = str(tmp_path / "l.sqlite3")
    sale = announce("2026-06-01T12:00:00Z", id="sale", speaker="acme-news",
                    channel="media_report")
    run("append", write(tmp_path / "sale.jsonl", sale), "--db", db)
    confirmed = write(tmp_path / "confirm.jsonl", confirm("2026-06-02T12:00:00Z", id="yes"))
    answer = as_json("verdict", "--as-of", "2026-07-01", "--with", confirmed, "--db", db)
    flips = {(f["subject"], f["what"]): (f["before"], f["after"])
             for f in answer["what_if"]["flips"]}
    assert flips[("market", "status")] == ("OPEN", "CRITERIA_MET")
    assert flips[("deal:d1", "clause inc-official-confirmation")] == ("failed", "met")


def test_with_passes_the_same_door_as_append(public: str, tmp_path: Path) -> None:
    against_the_ledger = write(tmp_path / "bad.jsonl", '{"type": "retraction",'
                               ' "retracts": "nope", "reason": "x",'
                               ' "occurred_at": "2026-06-01T00:00:00Z"}')
    result = run("verdict", "--with", against_the_ledger, "--db", public)
    assert result.exit_code == 2
    assert result.output.startswith("Error: --with FILE refused, nothing was laid on")
    assert "line 1, $.retracts: no fact 'nope' in the ledger" in result.output
    not_a_fact = write(tmp_path / "worse.jsonl", '{"type": "retraction", "reason": "x",'
                       ' "occurred_at": "2026-06-01T00:00:00Z"}')
    result = run("verdict", "--with", not_a_fact, "--db", public)
    assert result.exit_code == 2
    assert "line 1, $.retracts: required field is missing" in result.output
    duplicate = write(tmp_path / "dup.jsonl", Path(__file__).parent.parent.joinpath(
        "ledger/data/public-record.jsonl").read_text().splitlines()[0])
    answer = as_json("verdict", "--with", duplicate, "--db", public)
    assert (answer["what_if"]["facts"], answer["what_if"]["duplicates"]) == ([], 1)
    assert answer["what_if"]["flips"] == []


def test_with_known_at_is_refused(public: str, tmp_path: Path) -> None:
    what_if = write(tmp_path / "w.jsonl", RULED_OUT)
    result = run("verdict", "--with", what_if, "--known-at", "@8", "--db", public)
    assert result.exit_code == 2
    assert "cannot be combined with --known-at" in result.output


def test_business_deal_and_timeline_take_with_too(public: str, tmp_path: Path) -> None:
    what_if = write(tmp_path / "w.jsonl", RULED_OUT)
    business = as_json("business", "--with", what_if, "--db", public)
    [deal] = [d for d in business["deals"] if d["id"] == ANTHROPIC]
    assert (business["hypothetical"], deal["qualifies"]) == (True, False)
    # The business shows no market status: its flips are its own.
    assert {(f["subject"], f["what"]) for f in business["what_if"]["flips"]} == {
        (f"deal:{ANTHROPIC}", "qualifies")}
    report = as_json("deal", ANTHROPIC, "--with", what_if, "--db", public)
    assert report["hypothetical"] and report["candidate"]["qualifies"] is False
    assert "ruled-out" in [r["fact"] for r in report["rulings"]]
    assert all(f["subject"] == f"deal:{ANTHROPIC}" for f in report["what_if"]["flips"])
    timeline = as_json("timeline", "--with", what_if, "--db", public)
    [flip] = [f for f in timeline["what_if"]["flips"] if "2026-05-20" in f["what"]]
    assert flip["before"] is None and flip["after"].startswith("OPEN; market status=OPEN")
    assert flip["facts"] == [{"id": "ruled-out", "position": 9}]


# -- diff -------------------------------------------------------------------------------------


def test_diff_around_a_correction_names_the_correction(ledger: ComputeLedger) -> None:
    sale = announce("2026-06-01T12:00:00Z", id="sale", capacity_mw="100")
    ledger.append([sale])
    fix = correct("2026-06-10T12:00:00Z", sale,
                  announce("2026-06-01T12:00:00Z", capacity_mw="250"), id="fix")
    ledger.append([fix])
    answer = ledger.diff(known_at=1, to_known_at=2)
    assert not answer.same
    [capacity] = [d for d in answer.differences if d.what == "term capacity_mw"]
    assert (capacity.subject, capacity.before, capacity.after) == ("deal:d1", "100", "250")
    assert [(f.id, f.position) for f in capacity.facts] == [("sale", 1), ("fix", 2)]
    [business] = [d for d in answer.differences if d.what == "capacity_mw_for acme"]
    assert ("fix", 2) in [(f.id, f.position) for f in business.facts]
    assert ledger.diff(known_at=2).same  # --to-known-at defaults to --known-at


def test_diff_resolves_now_once(public: str) -> None:
    answer = as_json("diff", "--db", public)
    assert answer["from"] == answer["to"] and answer["same"]


def test_a_hypothesis_on_an_empty_ledger_does_not_claim_nothing_is_known(
        tmp_path: Path) -> None:
    db = str(tmp_path / "empty.sqlite3")
    with ComputeLedger.open(db, environ={}):
        pass  # an empty ledger (the API creates one; the CLI's reads refuse a missing path)
    out = run("verdict", "--with", write(tmp_path / "w.jsonl", announce(id="sale")),
              "--as-of", "2026-07-01", "--db", db).output
    assert "nothing had been recorded yet" not in out
    assert "Status     CRITERIA_MET" in out and "HYPOTHETICAL" in out


def test_diff_along_valid_time_names_the_facts_between(public: str) -> None:
    answer = as_json("diff", "--as-of", "2026-05-01", "--to-as-of", "2026-05-23", "--db",
                     public)
    assert answer["schema"] == "compute-ledger/diff/1"
    assert (answer["from"]["status"], answer["to"]["status"]) == ("OPEN", "CRITERIA_MET")
    [status] = [d for d in answer["differences"] if (d["subject"], d["what"]) ==
                ("market", "status")]
    named = [f["id"] for f in status["facts"]]
    assert "xai-anthropic-announced-2026-05-06" in named
    assert "musk-grok-training-on-colossus-2-2026-05-06" not in named  # it does not count
    [run_rate] = [d for d in answer["differences"] if d["what"] == "monthly_run_rate_usd"]
    assert "musk-grok-training-on-colossus-2-2026-05-06" not in \
        [f["id"] for f in run_rate["facts"]]  # reported only: never active, never counted
    # Time alone: the deal's end date passes; its date facts are named.
    later = as_json("diff", "--as-of", "2026-12-01", "--to-as-of", "2029-06-01", "--db", public)
    [ended] = [d for d in later["differences"] if d["what"] == "monthly_run_rate_usd"]
    assert "spacex-filings-anthropic-commitment-reported-2026-05-22" in \
        [f["id"] for f in ended["facts"]]
    human = run("diff", "--as-of", "2026-05-01", "--to-as-of", "2026-05-23", "--db",
                public).output
    assert "  status: OPEN -> CRITERIA_MET" in human
    assert "because of xai-anthropic-announced-2026-05-06 @4" in human
    same = run("diff", "--db", public)
    assert "No differences: the two answers agree." in same.output


# -- deal and show ----------------------------------------------------------------------------


EXAMPLES = Path(__file__).parent.parent / "docs" / "examples"


@pytest.fixture
def documented(tmp_path: Path) -> str:
    """The ledger of docs/questions.md: a made-up offering, then a correction of it."""
    db = str(tmp_path / "demo.sqlite3")
    for name in ("hypothetical-offering.jsonl", "correction.json"):
        assert run("append", str(EXAMPLES / name), "--db", db).exit_code == 0
    return db


@pytest.mark.parametrize("which", ["public", "documented"])
def test_deal_agrees_with_verdict_business_and_timeline(which: str,
                                                        request: pytest.FixtureRequest) -> None:
    db: str = request.getfixturevalue(which)
    for as_of in ("2026-04-30", "2026-05-10", "2026-05-23", "2026-11-05", "2026-12-01",
                  "2027-02-01"):
        verdict = as_json("verdict", "--as-of", as_of, "--db", db)
        business = as_json("business", "--as-of", as_of, "--db", db)
        timeline = as_json("timeline", "--db", db)
        shown = {f"deal:{d['id']}": d for d in business["deals"]} | \
            {f"offering:{o['id']}": o for o in business["offerings"]}
        weighed = {f"{c['kind']}:{c['id']}": c for c in verdict["candidates"]}
        assert set(weighed) <= set(shown)
        for key in shown:  # every deal and offering the business shows, retracted ones too
            kind = key.split(":", 1)[0]
            report = as_json("deal", key, "--as-of", as_of, "--db", db)
            assert report["candidate"] == weighed.get(key)
            assert report[kind] == shown[key]
            # The history is the timeline's: at each of its points where this subject
            # changed, the summary so far (status, standing, ruling) and whether it counts.
            expected, summary = [], {"qualifies": "false"}
            for point in timeline["points"]:
                changed = {c["what"]: c["after"] for c in point["changes"]
                           if c["subject"] == key}
                if not changed or point["at"] > report["as_of"]:
                    continue
                summary.update({k: v for k, v in changed.items()
                                if k in ("status", "standing", "ruling", "qualifies")})
                expected.append((point["at"], summary.get("status"), summary.get("standing"),
                                 summary.get("ruling"), summary["qualifies"] == "true"))
            assert [(s["at"], s["status"], s["standing"], s["ruling"], s["qualifies"])
                    for s in report["history"]] == expected, key


def test_deal_shows_terms_history_facts_and_rulings(public: str) -> None:
    result = run("deal", ANTHROPIC, "--as-of", "2026-05-23", "--db", public)
    assert result.exit_code == 0
    out = result.output
    assert out.startswith(f"deal {ANTHROPIC}: active")
    assert "usd_per_month        $1.25B  (spacex-filings-anthropic-commitment-reported" in out
    assert "capacity_facilities  colossus-1  (xai-anthropic-announced-2026-05-06)" in out
    assert "2026-05-06 00:00:00 PDT  active, qualifying, counts, ruling under_review" in out
    assert "@7     creator_ruling        creator-review-anthropic-2026-05-06" in out
    assert "✓ prf-customer" in out
    report = as_json("deal", ANTHROPIC, "--db", public)
    assert report["schema"] == "compute-ledger/deal/1"
    assert [r["fact"] for r in report["rulings"]] == ["creator-review-anthropic-2026-05-06"]


def test_an_unknown_deal_is_refused_with_the_nearest_ids(public: str) -> None:
    result = run("deal", "xai-anthropic-colosus", "--db", public)
    assert result.exit_code == 1
    assert "did you mean xai-anthropic-colossus" in result.output
    prefixed = run("deal", "deal:xai-anthropic-colosus", "--db", public)
    assert "did you mean deal:xai-anthropic-colossus" in prefixed.output


def test_a_deal_retracted_whole_shows_on_the_timeline(ledger: ComputeLedger) -> None:
    sale = announce("2026-06-01T12:00:00Z", id="sale", deal_id="gone")
    ledger.append([sale])
    ledger.append([retract("2026-06-05T12:00:00Z", sale, id="drop")])
    changes = [(c.subject, c.what, c.before, c.after)
               for p in ledger.timeline().points for c in p.changes]
    assert ("deal:gone", "retraction", "sale", "drop") in changes
    report = ledger.deal("gone")
    assert report.deal is not None and report.deal.status == "retracted"
    assert [(r.id, r.live) for r in report.facts] == [("sale", False), ("drop", True)]


def test_deal_and_show_follow_corrections_and_retractions(ledger: ComputeLedger) -> None:
    sale = announce("2026-06-01T12:00:00Z", id="sale", capacity_mw="100")
    yes = confirm("2026-06-02T12:00:00Z", id="yes")
    fix = correct("2026-06-10T12:00:00Z", sale,
                  announce("2026-06-01T12:00:00Z", capacity_mw="250"), id="fix")
    drop = retract("2026-06-12T12:00:00Z", yes, id="drop")
    ledger.append([sale, yes, fix, drop])
    report = ledger.deal("d1", as_of=at("2026-07-01"))
    refs = {r.id: r for r in report.facts}
    assert (refs["sale"].in_force, refs["sale"].corrections) == ("fix", ["fix"])
    assert (refs["yes"].live, refs["yes"].retracted_by) == (False, "drop")
    assert (refs["fix"].target, refs["drop"].target) == ("sale", "yes")
    assert report.deal is not None and report.deal.capacity_mw == 250
    shown = ledger.explain_fact("sale")
    assert [(c.id, c.position) for c in shown.corrections] == [("fix", 3)]
    assert shown.correction_in_force == "fix"
    assert json.loads(bytes(shown.in_force))["deal"]["capacity_mw"] == "250"  # type: ignore[call-overload]
    gone = ledger.explain_fact("yes")
    assert gone.retracted_by is not None and gone.retracted_by.id == "drop"
    assert gone.in_force is None
    assert ledger.explain_fact("fix").target == "sale"


def test_show_says_what_corrected_a_fact(tmp_path: Path) -> None:
    db = str(tmp_path / "l.sqlite3")
    sale = announce("2026-06-01T12:00:00Z", id="sale", capacity_mw="100")
    fix = correct("2026-06-10T12:00:00Z", sale,
                  announce("2026-06-01T12:00:00Z", capacity_mw="250"), id="fix")
    run("append", write(tmp_path / "f.jsonl", sale, fix), "--db", db)
    out = run("show", "sale", "--db", db).output
    assert "corrected:   by fix at position 2  (in force)" in out
    assert "In force now:" in out and '"capacity_mw": "250"' in out
    shown = as_json("show", "sale", "--db", db)
    assert shown["schema"] == "compute-ledger/show/1"
    assert shown["fact"]["deal"]["capacity_mw"] == "100"  # the stored fact, as it was
    assert shown["in_force"]["deal"]["capacity_mw"] == "250"


# -- the timeline's corrections and retractions -----------------------------------------------


def test_timeline_shows_corrections_and_retractions_as_known_at_k(
        ledger: ComputeLedger) -> None:
    sale = announce("2026-06-01T12:00:00Z", id="sale", capacity_mw="100")
    ledger.append([sale])
    fix = correct("2026-06-10T12:00:00Z", sale,
                  announce("2026-06-01T12:00:00Z", capacity_mw="250"), id="fix")
    ledger.append([fix])
    drop = retract("2026-06-12T12:00:00Z", fix, id="drop")
    ledger.append([drop])

    def amendments(known: int) -> list[tuple[str, str, str | None, str | None]]:
        return [(p.at.isoformat(), c.what, c.before, c.after)
                for p in ledger.timeline(known).points for c in p.changes
                if c.what in ("correction", "retraction")]

    assert amendments(1) == []
    assert amendments(2) == [("2026-06-10T12:00:00+00:00", "correction", "sale", "fix")]
    assert amendments(3) == [("2026-06-10T12:00:00+00:00", "correction", "sale", "fix"),
                             ("2026-06-12T12:00:00+00:00", "retraction", "fix", "drop")]
    [point] = [p for p in ledger.timeline(3).points if p.at == at("2026-06-12T12:00:00Z")]
    assert "drop" in point.facts
