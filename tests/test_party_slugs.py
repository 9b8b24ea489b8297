"""Party slugs the rules do not know, in a role where they matter (issue 11, item 6): a likely
typo is warned about, naming the line and the nearest known slug; nothing is refused."""

from __future__ import annotations

import json
from pathlib import Path

from cli_runner import run

from compute_ledger.contracts.parties import KNOWN_PARTIES, known_names, party_warnings
from compute_ledger.ledger import facts as F


def announcement(fact_id: str, *, speaker: str = "xai", provider: str = "xai",
                 customer: str = "anthropic") -> str:
    return json.dumps({
        "id": fact_id, "type": "announcement", "occurred_at": "2026-05-06T10:00:00Z",
        "source": {"url": "https://example.org/a"}, "speaker": speaker,
        "channel": "official_site", "availability": "available",
        "deal": {"deal_id": f"deal-{fact_id}", "provider": provider, "customer": customer},
    })


def test_a_likely_typo_is_warned_about_with_the_nearest_known_slug(tmp_path: Path) -> None:
    batch = tmp_path / "batch.jsonl"
    batch.write_text(announcement("ok") + "\n"
                     + announcement("typos", speaker="x-ai", provider="spacexai",
                                    customer="tesla-inc") + "\n")
    result = run("append", str(batch), "--db", str(tmp_path / "l.db"))
    assert result.exit_code == 0  # warned, not refused
    assert "appended 2 facts" in result.stdout
    assert result.stderr.splitlines() == [
        "warning: line 2, $.speaker: 'x-ai' is not a party the rules know, so it counts as "
        "an outside party; did you mean 'xai'?",
        "warning: line 2, $.deal.provider: 'spacexai' is not a party the rules know, so it "
        "counts as an outside party; did you mean 'spacex'?",
        "warning: line 2, $.deal.customer: 'tesla-inc' is not a party the rules know, so it "
        "counts as an outside party; did you mean 'tesla'?",
    ]


def test_outside_parties_and_parties_from_corporate_events_are_not_warned_about(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "l.db")
    rename = json.dumps({"id": "m", "type": "corporate_event",
                         "occurred_at": "2026-01-01T00:00:00Z",
                         "source": {"url": "https://example.org/m"}, "action": "rename",
                         "parties": ["xai"], "result": "spacexai"})
    assert run("append", "-", "--db", db, input=rename).stderr == ""
    later = run("append", "-", "--db", db, input=announcement("later", provider="spacexai"))
    assert later.exit_code == 0 and later.stderr == ""  # the ledger's merger named it
    outside = run("append", "-", "--db", db,
                  input=announcement("outside", speaker="anthropic", customer="mistral"))
    assert outside.stderr == ""


def test_the_known_slugs_are_documented() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "facts.md").read_text()
    for slug in KNOWN_PARTIES:
        assert f"`{slug}`" in page, slug


def test_a_corrections_replacement_is_looked_at_too() -> None:
    [checked] = F.parse_facts(json.dumps({
        "id": "fix", "type": "correction", "occurred_at": "2026-05-07T00:00:00Z",
        "corrects": "x", "reason": "r",
        "fact": {**json.loads(announcement("x", provider="xaii")), "id": None},
    }).replace('"id": null, ', "").replace(', "id": null', ""))
    [warning] = party_warnings(checked.fact, known_names())
    assert (warning.path, warning.suggestion) == ("$.fact.deal.provider", "xai")
