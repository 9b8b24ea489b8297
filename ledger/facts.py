"""The fact interchange format (DOMAIN.md section 2) as frozen, tagged msgspec Structs.

This module is the public contract other tools write to.  Its rules:

* every fact type is a frozen Struct with an explicit tag (``tag="announcement"``), never the
  class name, so renaming a class cannot orphan stored history;
* input is strict: unknown fields, unknown enum values, floats where decimals belong,
  timestamps without an offset and missing required fields are refused with the JSON path;
* the schema evolves by addition only: new fields get defaults, nothing is renamed or retyped
  (golden payloads of every version live in ``tests/golden/`` and must keep decoding);
* the *canonical bytes* of a fact are its JSON with keys sorted, no whitespace and absent
  optional fields omitted.  They are what the hash chain covers and what a derived id hashes,
  so adding an optional field later changes neither.

Decoding stored facts never runs the door checks of :func:`check_fact`: validate at the door,
never on replay.  The door is :func:`parse_facts` for text and :func:`check_facts` for facts
built in Python (msgspec does not validate a Struct's constructor); both hand out
:class:`Checked` facts, and the store checks any fact that is not one.
"""

from __future__ import annotations

import hashlib
import re
import typing
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple, overload

import msgspec
from msgspec import Meta

from compute_ledger.ledger.bulk import paused_gc
from compute_ledger.ledger.errors import InputError, Problem
from compute_ledger.ledger.instants import in_range, range_problem

# ---------------------------------------------------------------------------------------------
# Scalar types
# ---------------------------------------------------------------------------------------------

# Patterns end in \Z, not $: in Python (and so in msgspec) $ also matches before a final
# newline, which let "tesla\n" pass as a slug.  The published JSON Schema says $ (ECMA-262,
# where $ without the m flag matches only at the end), see :func:`normalised`.
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z"
FACT_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9._:-]{0,126}[a-z0-9])?\Z"
QUANTITY_PATTERN = r"^(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z"
"""A plain non-negative decimal, no exponent."""
_QUANTITY = re.compile(QUANTITY_PATTERN)
QUANTITY_DIGITS = (24, 15)
"""At most 24 digits before the point and 15 after it, checked at the door (a quantity of a
million digits once crashed every later answer with ``decimal.Overflow``)."""

Slug = Annotated[
    str,
    Meta(
        pattern=SLUG_PATTERN,
        max_length=80,
        description="A lowercase slug: letters, digits and single hyphens (e.g. 'colossus-1').",
    ),
]
FactId = Annotated[
    str,
    Meta(
        pattern=FACT_ID_PATTERN,
        max_length=128,
        description="A fact id: lowercase letters, digits and . _ : - (at most 128 characters).",
    ),
]
Instant = Annotated[
    datetime,
    # The door also refuses more than 6 fractional digits (docs/facts.md); the description
    # stays as published with fact/1, whose schema is a promise.
    Meta(tz=True, description="An RFC 3339 timestamp with Z or a UTC offset; never naive."),
]
Text = Annotated[str, Meta(min_length=1, max_length=4000)]
Quote = Annotated[
    str, Meta(min_length=1, max_length=200, description="At most a short phrase from the source.")
]
URL_PATTERN = r"^https?://\S+\Z"
Url = Annotated[str, Meta(pattern=URL_PATTERN, max_length=2000)]


class Quantity(Decimal):
    """A non-negative decimal written as a JSON string (``"300"``, ``"1250000000"``).

    A float or an integer where a quantity belongs is refused: binary floats lose cents and
    megawatts.  Arithmetic on quantities gives plain :class:`~decimal.Decimal` values; encode
    facts with :func:`canonical_bytes` or :func:`encode_json`, which write them as strings.
    """


def _dec_hook(tp: type[Any], obj: object) -> Any:
    if tp is Quantity:
        if not isinstance(obj, str):
            raise ValueError(
                f'expected a decimal string such as "300", got {type(obj).__name__} {obj!r} '
                "(quantities are strings, never numbers)"
            )
        whole, _, fraction = obj.partition(".")
        if not _QUANTITY.match(obj) or len(whole) > QUANTITY_DIGITS[0] \
                or len(fraction) > QUANTITY_DIGITS[1]:
            shown = obj if len(obj) <= 40 else f"{obj[:40]}... ({len(obj)} characters)"
            raise ValueError(
                f'{shown!r} is not a plain non-negative decimal such as "300" or '
                f'"1250000000.50" (at most {QUANTITY_DIGITS[0]} digits before the point and '
                f"{QUANTITY_DIGITS[1]} after it)"
            )
        return Quantity(obj)
    raise NotImplementedError(f"no decoder for {tp!r}")


def _stored_dec_hook(tp: type[Any], obj: object) -> Any:
    """Decoding what the ledger stored: a quantity the door once accepted always reads back,
    even one written before quantities were canonical (``"1E-7"``, from ``str(Decimal)``).
    Validate at the door, never on replay."""
    if tp is Quantity and isinstance(obj, str):
        try:
            value = Quantity(obj)
        except ArithmeticError:
            raise ValueError(f"{obj!r} is not a decimal") from None
        if value.is_finite():
            return value
        raise ValueError(f"{obj!r} is not a finite decimal")
    return _dec_hook(tp, obj)


def _enc_hook(obj: object) -> Any:
    if isinstance(obj, Decimal):
        # Plain digits, never an exponent: str(Decimal("0.0000001")) is "1E-7", which the
        # door refuses.  For every quantity str() wrote without an exponent (all that could
        # be read back) this is the same text, so no stored fact's canonical bytes change.
        return format(obj, "f")
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def _schema_hook(tp: type[Any]) -> dict[str, Any]:
    if tp is Quantity:
        return {
            "type": "string",
            "pattern": QUANTITY_PATTERN,
            "description": "A non-negative decimal written as a string; never a JSON number.",
        }
    raise NotImplementedError(f"no schema for {tp!r}")


# ---------------------------------------------------------------------------------------------
# Vocabularies (closed: an unknown value is refused)
# ---------------------------------------------------------------------------------------------

Channel = Literal[
    "official_site", "press_release", "social_post", "media_report", "earnings_call", "interview"
]
Availability = Literal["available", "planned", "considering"]
Service = Literal[
    "training",
    "inference",
    "training_and_inference",
    "fine_tuning",
    "byom_training",
    "compute_capacity",
    "model_api",
    "model_license",
    "hardware_sale",
    "unknown",
]
Consideration = Literal["cash", "revenue_share", "free", "resource_exchange", "equity", "unknown"]
Form = Literal["S-1", "10-K", "10-Q", "8-K", "other"]
RulingKind = Literal[
    "clarification",
    "counts",
    "does_not_count",
    "under_review",
    "resolve_yes",
    "resolve_no",
    "resolve_na",
    "unresolve",
]
CorporateAction = Literal["merger", "acquisition", "rename"]
ClauseId = Literal[
    "inc-public-offering",
    "inc-enterprise-deal",
    "inc-sec-filing",
    "inc-earnings",
    "inc-official-confirmation",
    "exc-free-research",
    "exc-musk-company",
    "exc-model-license",
    "exc-collaboration",
    "exc-hardware-sale",
    "exc-api-access",
    "exc-vague-statement",
    "spc-tesla-merger",
    "spc-byom",
    "spc-resale",
    "spc-revenue-share",
    "prf-availability",
    "prf-customer",
    "ddl-deadline",
]
CLAUSE_IDS: tuple[ClauseId, ...] = typing.get_args(ClauseId)
FACT_TYPES: tuple[str, ...] = (
    "announcement",
    "filing",
    "customer_confirmation",
    "offering",
    "creator_ruling",
    "corporate_event",
    "correction",
    "retraction",
)

SOURCED_TYPES: tuple[str, ...] = FACT_TYPES[:6]
"""The types of facts with a source of their own (what a correction's ``fact`` may be)."""

# ---------------------------------------------------------------------------------------------
# Nested terms
# ---------------------------------------------------------------------------------------------


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
              omit_defaults=True, gc=False):
    """Frozen, strict, compact.  ``gc=False``: facts hold no reference cycles, so the cyclic
    garbage collector need not track the hundreds of thousands of them a replay creates."""


class Source(_Strict, frozen=True):
    """Where a fact comes from: a URL or a document, with optional context.

    ``quote`` holds at most a short phrase; ``note`` says how the fact was read from the
    source (for example that the source gives only a month, so the start of it was used).
    """

    url: Url | None = None
    document: Text | None = None
    publisher: Text | None = None
    title: Text | None = None
    quote: Quote | None = None
    note: Text | None = None


class DealTerms(_Strict, frozen=True):
    """The terms of one deal.  Every field but ``deal_id`` may be null (unknown); a later fact
    about the same deal fills in or overrides fields."""

    deal_id: Slug
    provider: Slug | None = None
    customer: Slug | None = None
    service: Service | None = None
    consideration: Consideration | None = None
    facilities: tuple[Slug, ...] | None = None
    capacity_mw: Quantity | None = None
    usd_per_month: Quantity | None = None
    starts_on: date | None = None
    ends_on: date | None = None


class OfferingTerms(_Strict, frozen=True):
    """A public offering: a platform where anyone can sign up, rent or buy compute."""

    offering_id: Slug
    provider: Slug | None = None
    service: Service | None = None
    signup_open: bool | None = None
    pricing_published: bool | None = None
    available_from: date | None = None


# ---------------------------------------------------------------------------------------------
# Facts
# ---------------------------------------------------------------------------------------------


class _Fact(_Strict, frozen=True, tag_field="type", kw_only=True):
    id: FactId | None = None
    occurred_at: Instant


class _SourcedFact(_Fact, frozen=True, kw_only=True):
    source: Source


class Announcement(_SourcedFact, tag="announcement", frozen=True, kw_only=True):
    """A public statement about a deal or an offering, by a party, through a channel."""

    speaker: Slug
    channel: Channel
    availability: Availability
    available_from: date | None = None
    deal: DealTerms | None = None
    offering: OfferingTerms | None = None


class Filing(_SourcedFact, tag="filing", frozen=True, kw_only=True):
    """A regulatory filing, and whether it discloses revenue from compute services."""

    filer: Slug
    form: Form
    discloses_compute_revenue: bool
    deal: DealTerms | None = None


class CustomerConfirmation(_SourcedFact, tag="customer_confirmation", frozen=True, kw_only=True):
    """A customer's own word about a deal; ``in_use`` when it says it uses the compute now."""

    customer: Slug
    deal_id: Slug
    in_use: bool
    statement: Text


class Offering(_SourcedFact, tag="offering", frozen=True, kw_only=True):
    """A public platform where anyone can sign up or buy."""

    offering: OfferingTerms


class CreatorRuling(_SourcedFact, tag="creator_ruling", frozen=True, kw_only=True):
    """A dated ruling or comment of the market's creator.

    ``deal_id`` names the deal (or offering) it is about, when it is about one."""

    ruling: RulingKind
    deal_id: Slug | None = None
    clauses: tuple[ClauseId, ...] | None = None
    summary: Text


class CorporateEvent(_SourcedFact, tag="corporate_event", frozen=True, kw_only=True):
    """A merger, acquisition or rename that changes who belongs to which group."""

    action: CorporateAction
    parties: tuple[Slug, ...]
    result: Slug


SourcedFact = (
    Announcement | Filing | CustomerConfirmation | Offering | CreatorRuling | CorporateEvent
)


class Correction(_Fact, tag="correction", frozen=True, kw_only=True):
    """Replaces an earlier fact's content (same type, no id) from the moment it is recorded."""

    source: Source | None = None
    corrects: FactId
    fact: SourcedFact
    reason: Text


class Retraction(_Fact, tag="retraction", frozen=True, kw_only=True):
    """Withdraws an earlier fact from the moment it is recorded."""

    source: Source | None = None
    retracts: FactId
    reason: Text


Fact = (
    Announcement
    | Filing
    | CustomerConfirmation
    | Offering
    | CreatorRuling
    | CorporateEvent
    | Correction
    | Retraction
)

# ---------------------------------------------------------------------------------------------
# Codec
# ---------------------------------------------------------------------------------------------

_CANONICAL = msgspec.json.Encoder(enc_hook=_enc_hook, order="sorted")
_FACT_DECODER: msgspec.json.Decoder[Fact] = msgspec.json.Decoder(Fact, dec_hook=_dec_hook)
"""The door's decoder: strict."""
_STORED_DECODER: msgspec.json.Decoder[Fact] = msgspec.json.Decoder(Fact, dec_hook=_stored_dec_hook)
"""The decoder of stored facts: reads whatever the door once accepted."""
_RAW_DECODER = msgspec.json.Decoder(msgspec.Raw)
_KEY_END = re.compile(rb'"[ \t\r\n]*:')


def _may_repeat_a_key(chunk: bytes, again: bytes) -> bool:
    """False when ``chunk`` (one JSON value, whose decoded fact's canonical encoding is
    ``again``) surely gives no key twice.

    In JSON text a quote inside a string is always escaped, so every key ends in a quote and
    a colon (``_KEY_END``): counting those in the input over-counts (an escaped quote and a
    colon inside a string also match) but never under-counts the keys given.  The fact's
    canonical encoding holds only fields the input gave (absent and default ones are
    omitted), each once and without whitespace, so there the key ends not preceded by a
    backslash count at most the input's distinct keys (a key ending in a backslash is
    missed, and a default given explicitly is dropped).  Keys given <= the input's count <=
    that count <= distinct keys means nothing is repeated.  Byte scans and one encoding:
    about 9 microseconds a fact here, a third more on the door's parse (measured on 50,000
    synthetic facts; the exact parse with every pair kept would double it).
    """
    if b'" ' in chunk or b'"\t' in chunk or b'"\n' in chunk or b'"\r' in chunk:
        given = len(_KEY_END.findall(chunk))  # whitespace may sit before a colon
    else:
        given = chunk.count(b'":')  # the usual case, a tenth of the regex's cost
    return given > again.count(b'":') - again.count(b'\\":')


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key-value pairs, in order, repeated keys kept."""


def _repeated(node: object, path: str) -> tuple[str, str] | None:
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for key, _ in node:
            if key in seen:
                return path, key
            seen.add(key)
        children: Iterable[tuple[str, object]] = ((f"{path}.{k}", v) for k, v in node)
    elif isinstance(node, list):
        children = ((f"{path}[{i}]", v) for i, v in enumerate(node))
    else:
        return None
    for where, value in children:
        found = _repeated(value, where)
        if found is not None:
            return found
    return None


def repeated_key(chunk: bytes, fact: Fact, canonical: bytes | None = None) -> Problem | None:
    """A key given twice in one object of ``chunk`` (one JSON value, which the door decoded
    as ``fact``), as a problem, or None.

    JSON parsers disagree on a repeated key (msgspec keeps the last, others the first or
    refuse), so a fact that says ``"ruling"`` twice could mean one thing to the ledger and
    another to an auditor's tool: it is refused.  The check costs a count of key ends
    against the keys msgspec decoded; only when they differ (a repeated key, or a quote and
    a colon inside a string) is the text parsed again, keeping every pair, to find it.
    ``canonical`` is ``canonical_bytes(fact)``, when the caller has it already.
    """
    if not _may_repeat_a_key(chunk, _CANONICAL.encode(fact) if canonical is None else canonical):
        return None
    import json  # only on this rare path

    found = _repeated(json.loads(chunk, object_pairs_hook=_Pairs), "$")
    if found is None:
        return None
    path, key = found
    return Problem(None, f"{path}.{key}", f"the key {key!r} is given more than once in this "
                   "object (JSON readers disagree on which one counts); give it once")


def decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    """A JSON decoder for stored values of any type that contains facts (quantities decode
    as stored facts' do)."""
    return msgspec.json.Decoder(tp, dec_hook=_stored_dec_hook)


def canonical_bytes(fact: Fact) -> bytes:
    """The canonical JSON of a fact: sorted keys, no whitespace, absent fields omitted."""
    return _CANONICAL.encode(fact)


def canonical_encoder() -> msgspec.json.Encoder:
    """The encoder :func:`canonical_bytes` uses (for loops that encode many facts)."""
    return _CANONICAL


def encode_json(value: object) -> bytes:
    """Encode any value with the project's conventions (decimals as strings, sorted keys)."""
    return _CANONICAL.encode(value)


class _IdOnly(msgspec.Struct, frozen=True, gc=False):
    id: str


_ID_DECODER = msgspec.json.Decoder(_IdOnly)


def stored_id(data: bytes) -> str:
    """The id of a stored fact (every stored fact has one), read without decoding the rest."""
    return _ID_DECODER.decode(data).id


def decode_fact(data: bytes | str) -> Fact:
    """Decode one stored fact (types only, and leniently: a stored fact always reads back).
    Input goes through the door instead: :func:`parse_facts`, :func:`check_facts`."""
    return _STORED_DECODER.decode(data)


DERIVED_PREFIX = "sha256:"
"""The namespace of derived ids: a fact may carry one only if it is its own derived id (as a
fact re-appended from another ledger's feed does)."""


def derive_id(fact: Fact) -> str:
    """The id of a fact given without one: a digest of its canonical content.

    Re-appending the same content yields the same id, so it is reported as a duplicate.
    """
    content = canonical_bytes(msgspec.structs.replace(fact, id=None))
    return DERIVED_PREFIX + hashlib.sha256(content).hexdigest()[:32]


def with_id(fact: Fact) -> Fact:
    """The fact with its id filled in (derived when absent)."""
    if fact.id is not None:
        return fact
    return msgspec.structs.replace(fact, id=derive_id(fact))


FACT_FORMAT = "compute-ledger/fact/1"
"""The version of the fact format.  It changes when the format does (by addition only)."""


def fact_schema() -> dict[str, Any]:
    """JSON Schema of the fact interchange format (one object per fact)."""
    schema = schema_of(Fact)
    schema["title"] = f"compute-ledger fact ({FACT_FORMAT})"
    schema["description"] = (
        "One fact about xAI's compute business. Batches are JSON Lines: one such object per line."
    )
    return schema


def schema_of(tp: Any) -> dict[str, Any]:
    """JSON Schema of any msgspec type using the project's scalar conventions.

    What the project publishes must not change with a dependency's formatting: msgspec 0.23
    strips the indentation of docstrings where 0.22 kept it, so every description is passed
    through :func:`inspect.cleandoc` (which gives the same text for both).
    """
    schema: dict[str, Any] = normalised(msgspec.json.schema(tp, schema_hook=_schema_hook))
    return schema


def _ecma_pattern(pattern: str) -> str:
    """A Python pattern anchored with ``\\Z`` as JSON Schema (ECMA-262) writes it: ``$``."""
    return pattern[:-2] + "$" if pattern.endswith("\\Z") else pattern


def normalised(schema: Any) -> Any:
    """A JSON Schema with every ``description`` in :func:`inspect.cleandoc` form, and every
    ``pattern`` in ECMA-262 form."""
    import inspect  # only the schema command needs it, and it is slow to import

    if isinstance(schema, dict):
        return {key: inspect.cleandoc(value) if key == "description" and isinstance(value, str)
                else _ecma_pattern(value) if key == "pattern" and isinstance(value, str)
                else normalised(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [normalised(item) for item in schema]
    return schema


# ---------------------------------------------------------------------------------------------
# The door: parsing and checking input
# ---------------------------------------------------------------------------------------------

_ALLOWED: dict[str, tuple[str, ...]] = {
    name: typing.get_args(vocabulary)
    for name, vocabulary in {
        "channel": Channel,
        "availability": Availability,
        "service": Service,
        "consideration": Consideration,
        "form": Form,
        "ruling": RulingKind,
        "action": CorporateAction,
        "clauses": ClauseId,
    }.items()
}
_PATTERN_MEANINGS = {
    SLUG_PATTERN: "expected a lowercase slug such as 'colossus-1' (letters, digits, "
    "single hyphens)",
    FACT_ID_PATTERN: "expected a fact id: lowercase letters, digits and . _ : -",
    URL_PATTERN: "expected an http:// or https:// URL",
}
_AT = re.compile(r"^(?P<reason>.*) - at `(?P<path>[^`]*)`$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")


def _problem_from_msgspec(line: int | None, error: msgspec.MsgspecError,
                          at: str = "$") -> Problem:
    """The problem msgspec found, in the door's words; ``at`` is the JSON path of the value
    that was decoded (msgspec names paths from that value)."""
    message = str(error)
    path = "$"
    match = _AT.match(message)
    if match:
        message, path = match.group("reason"), match.group("path")
    path = at + path[1:]
    if (missing := _MISSING.match(message)) is not None:
        return Problem(line, f"{path}.{missing.group('field')}", "required field is missing")
    if (unknown := _UNKNOWN.match(message)) is not None:
        return Problem(
            line, f"{path}.{unknown.group('field')}", "unknown field (not in the fact format)"
        )
    if message.startswith("Invalid enum value"):
        allowed = _ALLOWED.get(re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1])
        if allowed:
            return Problem(line, path, f"{message}; expected one of {', '.join(allowed)}")
    if path.endswith(".type") and message.startswith("Invalid value"):
        allowed = FACT_TYPES if path == "$.type" else SOURCED_TYPES
        what = "a fact type" if path == "$.type" else "a type a correction can replace"
        return Problem(
            line, path, f"{message.removeprefix('Invalid value ')} is not {what}; "
            f"expected one of {', '.join(allowed)}"
        )
    for pattern, meaning in _PATTERN_MEANINGS.items():
        if f"matching regex {pattern!r}" in message:  # msgspec quotes the pattern's repr
            return Problem(line, path, f"does not match the format: {meaning}")
    if message == "Invalid RFC3339 encoded datetime":
        return Problem(
            line, path, "not an RFC 3339 timestamp; write the date, the time and an offset, "
            "such as 2026-05-22T00:00:00Z or 2026-05-22T00:00:00-07:00"
        )
    if "with a timezone component" in message:
        return Problem(
            line, path, "timestamp has no UTC offset; add Z or an offset such as -07:00 "
            "(a time zone is never guessed)"
        )
    if isinstance(error, msgspec.DecodeError) and not isinstance(error, msgspec.ValidationError):
        return Problem(line, path, f"not valid JSON: {message}")
    return Problem(line, path, message)


# Every problem of a value, not only the first: msgspec stops at the first thing wrong, so a
# fact that failed is walked field by field, each field decoded on its own with its own type
# (the same decoder rules, so the same reasons), nested terms and facts looked into.

_RAW_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_FIELD_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _field_decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    found = _FIELD_DECODERS.get(tp)
    if found is None:
        found = _FIELD_DECODERS[tp] = msgspec.json.Decoder(tp, dec_hook=_dec_hook)
    return found


def _structs_of(tp: Any) -> tuple[type[msgspec.Struct], ...]:
    """The Struct classes a field's type may hold (a tagged union of facts, nested terms);
    empty for a plain value."""
    if typing.get_origin(tp) is Annotated:
        return ()
    members = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, _UNION) \
        else (tp,)
    found = tuple(m for m in members if isinstance(m, type) and issubclass(m, msgspec.Struct))
    return found if len(found) == len([m for m in members if m is not type(None)]) else ()


def _walk(raw: bytes, tp: Any, path: str) -> list[Problem]:
    """Every problem of the JSON ``raw`` read as ``tp``, at ``path`` (line left unset)."""
    structs = _structs_of(tp)
    if raw.strip() == b"null" or not structs:
        try:
            _field_decoder(tp).decode(raw)
        except msgspec.MsgspecError as exc:
            return [_problem_from_msgspec(None, exc, path)]
        except (ValueError, TypeError) as exc:
            return [Problem(None, path, str(exc))]
        return []
    try:
        fields = _RAW_OBJECT.decode(raw)
    except msgspec.MsgspecError:
        fields = None
    cls: type[msgspec.Struct] | None = structs[0] if len(structs) == 1 else None
    if fields is not None and cls is None:  # a tagged union: the tag picks the type
        config = structs[0].__struct_config__
        tag = fields.get(str(config.tag_field))
        tags = {str(s.__struct_config__.tag): s for s in structs}
        named = None if tag is None else msgspec.json.decode(bytes(tag))
        cls = tags.get(named) if isinstance(named, str) else None
        if tag is None:
            return [Problem(None, f"{path}.{config.tag_field}", "required field is missing")]
    if fields is None or cls is None:  # not an object, or an unknown tag: msgspec says why
        try:
            _field_decoder(tp).decode(raw)
        except msgspec.MsgspecError as exc:
            return [_problem_from_msgspec(None, exc, path)]
        return []
    problems: list[Problem] = []
    known = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    tag_field = cls.__struct_config__.tag_field
    for name in fields:
        if name not in known and name != tag_field:
            problems.append(Problem(None, f"{path}.{name}",
                                    "unknown field (not in the fact format)"))
    for name, field in known.items():
        if name not in fields:
            if field.required:
                problems.append(Problem(None, f"{path}.{name}", "required field is missing"))
            continue
        problems += _walk(bytes(fields[name]), field.type, f"{path}.{name}")
    return problems


_UNION = type(int | None)


def every_problem(line: int, chunk: bytes, first: Problem) -> list[Problem]:
    """Every problem of a line that failed the door with ``first``: each field of the fact
    checked on its own (the checks across fields need a fact and come after).  ``first``
    alone when the line is not a JSON object or nothing more can be said."""
    try:
        problems = _walk(chunk, Fact, "$")
    except (msgspec.MsgspecError, RecursionError, ValueError, TypeError):
        return [first]
    if not problems:
        return [first]
    found = [Problem(line, p.path, p.reason) for p in problems]
    return found if first in found else [first, *found]


def _timed_fields(cls: type) -> tuple[tuple[str, bool], ...]:
    """The fields of a Struct class that may hold an instant or a date (``True``) or a nested
    Struct to look into (``False``; never a nested fact, which :func:`check_fact` checks on
    its own), found from its annotations so a field added later is covered too."""
    found = _TIMED.get(cls)
    if found is None:
        fields: list[tuple[str, bool]] = []
        for name, hint in typing.get_type_hints(cls).items():
            if name not in cls.__struct_fields__:  # type: ignore[attr-defined]
                continue
            kinds = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
            kinds = [typing.get_args(k)[0] if typing.get_origin(k) is Annotated else k
                     for k in kinds]
            if any(isinstance(k, type) and issubclass(k, date) for k in kinds):
                fields.append((name, True))
            elif any(isinstance(k, type) and issubclass(k, msgspec.Struct)
                     and not issubclass(k, _Fact) and _timed_fields(k) for k in kinds):
                fields.append((name, False))
        found = _TIMED[cls] = tuple(fields)
    return found


_TIMED: dict[type, tuple[tuple[str, bool], ...]] = {}


def _check_range(path: str, value: object) -> list[Problem]:
    """Every instant and date inside ``value`` within the range the ledger speaks of
    (:data:`ledger.instants.EARLIEST` .. :data:`ledger.instants.LATEST`)."""
    problems: list[Problem] = []
    for name, timed in _timed_fields(type(value)):
        field = getattr(value, name)
        if field is None:
            continue
        if not timed:
            problems += _check_range(f"{path}.{name}", field)
        elif not in_range(field):
            problems.append(Problem(None, f"{path}.{name}", range_problem(field)))
    return problems


def _check_terms_dates(path: str, start: date | None, end: date | None) -> list[Problem]:
    if start is not None and end is not None and end < start:
        return [Problem(None, f"{path}.ends_on", f"{end} is before starts_on {start}")]
    return []


def _check_source(path: str, source: Source | None) -> list[Problem]:
    if source is not None and source.url is None and source.document is None:
        return [Problem(None, path, "a source needs a url or a document")]
    return []


def _check_deal(path: str, deal: DealTerms | None) -> list[Problem]:
    if deal is None:
        return []
    problems = _check_terms_dates(path, deal.starts_on, deal.ends_on)
    if deal.facilities is not None:
        if not deal.facilities:
            problems.append(Problem(None, f"{path}.facilities", "is empty; use null if unknown"))
        elif len(set(deal.facilities)) != len(deal.facilities):
            problems.append(Problem(None, f"{path}.facilities", "lists a facility twice"))
    return problems


def check_fact(fact: Fact, path: str = "$") -> list[Problem]:
    """The checks msgspec's types cannot express.  Returns problems (line left unset)."""
    problems = _check_range(path, fact) + _check_source(f"{path}.source", fact.source)
    if fact.id is not None and fact.id.startswith(DERIVED_PREFIX) and path == "$" \
            and fact.id != derive_id(fact):
        problems.append(Problem(
            None, f"{path}.id", f"ids beginning {DERIVED_PREFIX!r} are the ones the ledger "
            "derives from a fact's content, and this is not this fact's: leave the id out to "
            "have it derived, or choose another"))
    match fact:
        case Announcement():
            if (fact.deal is None) == (fact.offering is None):
                problems.append(
                    Problem(None, path, "an announcement carries exactly one of deal or offering")
                )
            problems += _check_deal(f"{path}.deal", fact.deal)
        case Filing():
            problems += _check_deal(f"{path}.deal", fact.deal)
        case CreatorRuling():
            if fact.ruling in ("counts", "does_not_count", "under_review") and not fact.deal_id:
                problems.append(
                    Problem(None, f"{path}.deal_id", f"a '{fact.ruling}' ruling must name a deal")
                )
            if fact.clauses is not None:
                if not fact.clauses:
                    problems.append(Problem(None, f"{path}.clauses", "is empty; omit it instead"))
                elif len(set(fact.clauses)) != len(fact.clauses):
                    problems.append(Problem(None, f"{path}.clauses", "names a clause twice"))
        case CorporateEvent():
            problems += _check_corporate_event(path, fact)
        case Correction():
            if fact.fact.id is not None:
                problems.append(
                    Problem(None, f"{path}.fact.id",
                            "a replacement has no id: it takes the id of the fact it corrects")
                )
            if fact.id is not None and fact.corrects == fact.id:
                problems.append(Problem(None, f"{path}.corrects", "a fact cannot correct itself"))
            problems += check_fact(fact.fact, f"{path}.fact")
        case Retraction():
            if fact.id is not None and fact.retracts == fact.id:
                problems.append(Problem(None, f"{path}.retracts", "a fact cannot retract itself"))
        case _:
            pass
    return problems


def _check_corporate_event(path: str, fact: CorporateEvent) -> list[Problem]:
    parties = fact.parties
    if len(set(parties)) != len(parties):
        return [Problem(None, f"{path}.parties", "names a party twice")]
    if fact.action == "rename":
        if len(parties) != 1:
            return [Problem(None, f"{path}.parties", "a rename names exactly one (old) party")]
        if fact.result == parties[0]:
            return [Problem(None, f"{path}.result", "a rename needs a new name")]
        return []
    if len(parties) < 2:
        return [Problem(None, f"{path}.parties", f"a {fact.action} names at least two parties")]
    if fact.result not in parties:
        return [Problem(None, f"{path}.result", f"must be one of the parties of the {fact.action}")]
    return []


def ids_on_lines(data: bytes, lines: set[int]) -> dict[str, int]:
    """The ids given on these lines of a batch (those that can be read at all), each with
    its line: what a line that failed the door meant to be called."""
    found: dict[str, int] = {}
    for number, chunk in _chunks(data):
        if number not in lines:
            continue
        try:
            value = msgspec.json.decode(chunk)
        except (msgspec.MsgspecError, RecursionError, UnicodeDecodeError):
            continue
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            found.setdefault(value["id"], number)
    return found


_BLANKS = b" \t\n\r\x0b\x0c"
"""What ``bytes.strip`` strips."""


def _chunks(data: bytes | str) -> Iterator[tuple[int, bytes]]:
    """The values of a batch with the line each starts on: one (maybe pretty-printed) JSON
    value, or JSON Lines, one line at a time (a large batch is never copied whole)."""
    if isinstance(data, str):
        data = data.encode()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    first, end = 0, len(data)  # the value between the blanks around it, found in place
    while first < end and data[first] in _BLANKS:
        first += 1
    while end > first and data[end - 1] in _BLANKS:
        end -= 1
    try:
        _RAW_DECODER.decode(memoryview(data)[first:end])
    except (msgspec.DecodeError, ValueError, RecursionError):
        yield from _lines(data)  # not one JSON value: JSON Lines
        return
    yield data[:first].count(b"\n") + 1, data[first:end]  # one (maybe pretty) object


def _lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    start, number = 0, 1
    while start <= len(data):
        stop = data.find(b"\n", start)
        if stop < 0:
            stop = len(data)
        stripped = data[start:stop].strip()
        if stripped:
            yield number, stripped
        start, number = stop + 1, number + 1


_FINER = re.compile(rb"\d\d:\d\d:\d\d\.\d{7}")
SUBMICROSECOND = "more than 6 fractional digits: instants are kept to the microsecond, so " \
    "give at most 6 (msgspec would round the rest away, and --as-of refuses them too)"


def _finer_than_microseconds(chunk: bytes) -> list[Problem]:
    """The instants of a fact (its ``occurred_at``, and a correction's new fact's) written
    finer than microseconds, which decoding would round: refused, as ``--as-of`` refuses
    them, rather than stored other than written."""
    import json  # only on this rare path

    try:
        value = json.loads(chunk)
    except ValueError:
        return []
    found = []
    for path, node in (("$", value), ("$.fact", value.get("fact") if isinstance(value, dict)
                                      else None)):
        instant = node.get("occurred_at") if isinstance(node, dict) else None
        if isinstance(instant, str) and _FINER.search(instant.encode()):
            found.append(Problem(None, f"{path}.occurred_at", SUBMICROSECOND))
    return found


class Checked(NamedTuple):
    """A fact that passed the door (:func:`parse_facts` or :func:`check_facts`), with the
    line it came from: the store appends it without checking it again."""

    line: int
    fact: Fact


class Encoded(Checked):
    """A :class:`Checked` fact with an id that carries its canonical bytes
    (``canonical_bytes(fact)``), which the door computed anyway (to find repeated keys, or
    as the text it decoded a Python fact from), so that the append, which stores exactly
    those bytes, does not encode the fact a second time.  Still a ``(line, fact)`` pair."""

    raw: bytes

    def __new__(cls, line: int, fact: Fact, raw: bytes) -> Encoded:
        self = super().__new__(cls, line, fact)
        self.raw = raw
        return self


class Lean:
    """A fact through the door held as its line, id and canonical bytes only: what a bulk
    append keeps of each fact between the door and the write (a quarter of the decoded
    fact's memory).  :attr:`fact` decodes it again from those bytes each time it is asked
    for; a correction, a retraction or a corporate event, which the append and its party
    checks read, keeps its decoded fact (:attr:`kept`)."""

    __slots__ = ("fact_id", "kept", "line", "raw")

    def __init__(self, line: int, raw: bytes, fact_id: str, kept: Fact | None) -> None:
        self.line, self.raw, self.fact_id, self.kept = line, raw, fact_id, kept

    @property
    def fact(self) -> Fact:
        return self.kept if self.kept is not None else decode_fact(self.raw)

    def __repr__(self) -> str:
        return f"Lean(line={self.line}, fact_id={self.fact_id!r})"


def lean(checked: Checked) -> Checked | Lean:
    """``checked`` as a :class:`Lean` fact when its canonical bytes are known (an
    :class:`Encoded` one), else as it is."""
    if not isinstance(checked, Encoded):
        return checked
    fact = checked.fact
    assert fact.id is not None  # an Encoded fact has its id
    kept = fact if isinstance(fact, (Correction, Retraction, CorporateEvent)) else None
    return Lean(checked.line, checked.raw, fact.id, kept)


def _passed(line: int, fact: Fact, raw: bytes) -> Checked:
    """A fact through the door, with its canonical bytes ``raw`` kept when it has an id
    (without one, the append derives the id and encodes the fact with it)."""
    return Checked(line, fact) if fact.id is None else Encoded(line, fact, raw)


def through_door(number: int, item: object) -> tuple[Checked | Lean | None, list[Problem]]:
    """One item of a batch (the ``number``-th) through the door: a :class:`Checked` (or
    :class:`Lean`) fact as it is; a fact built in Python, alone or as a ``(line, fact)``
    pair, checked as if it had arrived as text (its canonical JSON decoded strictly, since
    msgspec checks types when decoding, never in a constructor, then :func:`check_fact`).
    Returns the checked fact, or the problems."""
    if isinstance(item, (Checked, Lean)):
        return item, []
    line, fact = item if isinstance(item, tuple) else (number, item)
    if not isinstance(fact, _Fact):
        return None, [Problem(line, "$", f"not a fact but {type(fact).__name__}")]
    try:
        raw = _CANONICAL.encode(fact)
        decoded = _FACT_DECODER.decode(raw)
    except msgspec.MsgspecError as exc:
        return None, [_problem_from_msgspec(line, exc)]
    except (TypeError, ValueError, NotImplementedError) as exc:  # what enc_hook refuses
        return None, [Problem(line, "$", f"cannot be encoded as a fact: {exc}")]
    found = check_fact(decoded)
    if found:
        return None, [Problem(line, p.path, p.reason) for p in found]
    return _passed(line, decoded, raw), []


def check_facts(facts: Iterable[Fact | tuple[int, Fact] | Lean]) -> list[Checked]:
    """The door for facts built in Python: each checked as :func:`parse_facts` checks text
    (numbered from 1 unless given as ``(line, fact)`` pairs).  Raises :class:`InputError`
    listing every problem."""
    checked: list[Checked] = []
    problems: list[Problem] = []
    for number, item in enumerate(facts, start=1):
        passed, found = through_door(number, item)
        problems += found
        if passed is not None:
            checked.append(Encoded(passed.line, passed.fact, passed.raw)
                           if isinstance(passed, Lean) else passed)
    if problems:
        raise InputError(problems)
    return checked


def parse_facts(data: bytes | str) -> list[Checked]:
    """Parse one JSON object or JSON Lines into ``(line number, fact)`` pairs.

    Every line is checked; if any is bad, :class:`InputError` lists each problem with its line,
    JSON path and reason (every problem of every line), and no fact is returned.
    """
    facts, problems = read_facts(data)
    if problems:
        raise InputError(problems)
    return facts


@overload
def read_facts(data: bytes | str, progress: Callable[[int], None] | None = None, *,
               lean: Literal[False] = False) -> tuple[list[Checked], list[Problem]]: ...


@overload
def read_facts(data: bytes | str, progress: Callable[[int], None] | None = None, *,
               lean: Literal[True]) -> tuple[list[Checked | Lean], list[Problem]]: ...


def read_facts(data: bytes | str, progress: Callable[[int], None] | None = None, *,
               lean: bool = False) -> tuple[list[Checked], list[Problem]] | \
        tuple[list[Checked | Lean], list[Problem]]:
    """Parse one JSON object or JSON Lines: the facts of the lines that pass the door, and
    every problem of the lines that do not (what ``check`` reports).  ``progress`` is told
    of every thousand lines read.  With ``lean``, each fact with an id is kept as a
    :class:`Lean` one as soon as it has passed (what a bulk append holds)."""
    with paused_gc():  # many small objects, no cycles (see ledger.bulk)
        return _read_facts(data, progress, lean)


def _read_facts(data: bytes | str, progress: Callable[[int], None] | None = None,
                keep_lean: bool = False) -> tuple[list[Any], list[Problem]]:
    if isinstance(data, str):
        data = data.encode()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise InputError([Problem(None, "$", "no facts given (the input is empty)")])
    chunks = _chunks(data)
    facts: list[Any] = []
    problems: list[Problem] = []
    for number, chunk in chunks:
        if progress is not None and number % 1000 == 0:
            progress(1000)
        try:
            fact = _FACT_DECODER.decode(chunk)
        except msgspec.MsgspecError as exc:
            problems += every_problem(number, chunk, _problem_from_msgspec(number, exc))
            continue
        except UnicodeDecodeError as exc:
            problems.append(Problem(number, "$", f"not valid UTF-8 text ({exc.reason} at byte "
                                                 f"{exc.start})"))
            continue
        except RecursionError:
            problems.append(Problem(number, "$", "nested too deeply to be a fact"))
            continue
        found = check_fact(fact)
        raw = _CANONICAL.encode(fact)
        twice = repeated_key(chunk, fact, raw)
        if twice is not None:
            found.insert(0, twice)
        if _FINER.search(chunk):  # rare: read again to tell an instant from free text
            found[:0] = _finer_than_microseconds(chunk)
        problems += [Problem(number, p.path, p.reason) for p in found]
        if not found:
            passed = _passed(number, fact, raw)
            facts.append(lean(passed) if keep_lean else passed)
    return facts, problems
