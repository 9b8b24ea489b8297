"""The door turns msgspec's error messages into the project's own (the JSON path, the field,
a reason a person can act on).  That translation reads msgspec's wording, which a release
may change: each wording the door relies on is produced here by msgspec itself and checked
against the pattern the door matches, so a change fails here, by name, instead of quietly
turning a clear error into a raw one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
import pytest

from compute_ledger.ledger import facts as F


class _Inner(msgspec.Struct, forbid_unknown_fields=True):
    slug: Annotated[str, msgspec.Meta(pattern=F.SLUG_PATTERN)]
    channel: Literal["official_site", "press_release"] = "official_site"
    at: dt.datetime | None = None
    aware: Annotated[dt.datetime, msgspec.Meta(tz=True)] | None = None


class _Outer(msgspec.Struct, forbid_unknown_fields=True):
    inner: _Inner


def _message(data: bytes) -> str:
    with pytest.raises(msgspec.MsgspecError) as raised:
        msgspec.json.decode(data, type=_Outer)
    return str(raised.value)


def _reason(message: str) -> str:
    match = F._AT.match(message)
    assert match is not None, f"msgspec no longer ends a message with ' - at `$.path`': {message!r}"
    return match.group("reason")


def test_the_path_suffix() -> None:
    match = F._AT.match(_message(b'{"inner": {"slug": 1}}'))
    assert match is not None and match.group("path") == "$.inner.slug"


def test_a_missing_field() -> None:
    reason = _reason(_message(b'{"inner": {}}'))
    match = F._MISSING.match(reason)
    assert match is not None and match.group("field") == "slug", (
        f"msgspec's wording for a missing field changed: {reason!r}")


def test_an_unknown_field() -> None:
    reason = _reason(_message(b'{"inner": {"slug": "a", "mood": 1}}'))
    match = F._UNKNOWN.match(reason)
    assert match is not None and match.group("field") == "mood", (
        f"msgspec's wording for an unknown field changed: {reason!r}")


def test_an_unknown_enum_value() -> None:
    reason = _reason(_message(b'{"inner": {"slug": "a", "channel": "blog"}}'))
    assert reason.startswith("Invalid enum value 'blog'"), (
        f"msgspec's wording for an unknown enum value changed: {reason!r}")


def test_an_unknown_tag() -> None:
    with pytest.raises(msgspec.ValidationError) as raised:
        F.decode_fact(b'{"type": "tweet"}')
    match = F._AT.match(str(raised.value))
    assert match is not None and match.group("path") == "$.type"
    assert match.group("reason").startswith("Invalid value 'tweet'"), (
        f"msgspec's wording for an unknown tag changed: {raised.value}")


def test_a_pattern_mismatch() -> None:
    reason = _reason(_message(b'{"inner": {"slug": "Not A Slug"}}'))
    assert f"matching regex {F.SLUG_PATTERN!r}" in reason, (
        f"msgspec's wording for a pattern mismatch changed: {reason!r}")


def test_a_timestamp_that_is_not_rfc3339() -> None:
    reason = _reason(_message(b'{"inner": {"slug": "a", "at": "2026-05-06"}}'))
    assert reason == "Invalid RFC3339 encoded datetime", (
        f"msgspec's wording for a bad timestamp changed: {reason!r}")


def test_a_timestamp_without_an_offset() -> None:
    reason = _reason(_message(b'{"inner": {"slug": "a", "aware": "2026-05-06T10:00:00"}}'))
    assert "with a timezone component" in reason, (
        f"msgspec's wording for a naive timestamp changed: {reason!r}")


@pytest.mark.parametrize("text, path, reason", [
    ('{"inner": {}}', "$.inner.slug", "required field is missing"),
    ('{"inner": {"slug": "a", "mood": 1}}', "$.inner.mood", "unknown field (not in the fact"),
    ('{"inner": {"slug": "a", "channel": "blog"}}', "$.inner.channel",
     "Invalid enum value 'blog'; expected one of official_site"),
    ('{"inner": {"slug": "Not A Slug"}}', "$.inner.slug", "expected a lowercase slug"),
    ('{"inner": {"slug": "a", "at": "2026-05-06"}}', "$.inner.at",
     "not an RFC 3339 timestamp"),
    ('{"inner": {"slug": "a", "aware": "2026-05-06T10:00:00"}}', "$.inner.aware",
     "timestamp has no UTC offset"),
    ('{"inner": {', "$", "not valid JSON"),
])
def test_the_door_translates_each_wording(text: str, path: str, reason: str) -> None:
    with pytest.raises(msgspec.MsgspecError) as raised:
        msgspec.json.decode(text.encode(), type=_Outer)
    problem = F._problem_from_msgspec(7, raised.value)
    assert (problem.line, problem.path) == (7, path)
    assert reason in problem.reason, problem
