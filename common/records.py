"""The canonical record every connector speaks: element code → typed value, plus an envelope.

Kobo submissions, DHIS2 events and Frappe documents all become `CanonicalRecord`s before anything
else happens to them, and all targets are written from them. Validation against the codebook
returns one problem per bad field (never stops at the first), so a quarantined record says
everything that is wrong with it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import uuid
import weakref
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tipdata.logic import Expr, LogicSyntaxError, evaluate, parse
from tipdata.logic.compiled import compile_expression
from tipdata.logic.nodes import uses_self
from tipdata.model import Codebook, Element, Form, OptionList
from tipdata.problems import Problem
from tipdata.validation import symbols_of

#: Namespace of tipdata record ids: uuid5(namespace, "<source system>:<source id>").
RECORD_NAMESPACE = uuid.UUID("6f1c2a4e-2b7d-5f0a-9c3e-7d41b8a5e9c2")

Value = str | int | float | Decimal | bool | dt.date | dt.datetime | tuple[str, ...] | tuple[float, ...] | None


def record_id_for(source_system: str, source_id: str) -> str:
    """The same source record always gets the same id, so every write is an idempotent upsert.

    >>> record_id_for("kobo:aBc123", "uuid:7d1e...") == record_id_for("kobo:aBc123", "uuid:7d1e...")
    True
    """
    if not source_system or not source_id:
        raise ValueError("a record id needs both a source system and a source id")
    # uuid.uuid5, spelt out: the same bytes and text, without building a UUID object (a pull
    # makes one id per submission)
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + f"{source_system}:{source_id}".encode(),
                                    usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_NAMESPACE_BYTES = RECORD_NAMESPACE.bytes


class Envelope(BaseModel):
    """Where a record came from and what the person consented to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_id: str
    source_system: str = Field(min_length=1)
    source_id: str = Field(min_length=1)
    form_id: str | None = None
    form_version: str | None = None
    collected_at: dt.datetime
    updated_at: dt.datetime
    consent_purposes: frozenset[str] = frozenset()
    location: str | None = None

    @field_validator("collected_at", "updated_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone (e.g. 2026-01-31T10:00:00+00:00)")
        return value


class CanonicalRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    envelope: Envelope
    values: dict[str, Any]

    @property
    def record_id(self) -> str:
        return self.envelope.record_id

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form: dates as ISO strings, multi-selects as lists."""
        return {"envelope": self.envelope.model_dump(mode="json"), "values": self.values_json()}

    def values_json(self) -> dict[str, Any]:
        """The `values` part of `to_json` alone, sorted by element code."""
        plain = _PLAIN_JSON
        return {k: v if v.__class__ in plain else _json_value(v)
                for k, v in sorted(self.values.items())}


#: types `_json_value` returns unchanged
_PLAIN_JSON = frozenset({str, int, float, bool, type(None)})


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list | frozenset | set):
        return list(value)
    return value


def record_from_json(codebook: Codebook, data: Mapping[str, Any]) -> CanonicalRecord:
    """Inverse of `CanonicalRecord.to_json`; values are coerced by element type."""
    envelope = Envelope.model_validate(data["envelope"])
    values = {}
    for code, raw in data.get("values", {}).items():
        element = codebook.elements.get(code)
        values[code] = coerce_value(element, raw) if element is not None and raw is not None else raw
    return CanonicalRecord(envelope=envelope, values=values)


# --- coercion from text (Kobo sends every value as a string) ----------------------------------

def coerce_value(element: Element, raw: Any) -> Value:
    """Turn a platform's representation into the canonical Python value for the element's type.

    Raises ValueError whose message says what was expected.
    """
    if raw is None or raw == "":
        return None
    kind = element.type
    if kind == "select_one" or kind == "text":
        return str(raw)
    if kind == "integer":
        if isinstance(raw, bool):
            raise ValueError(f"expected a whole number, got {raw!r}")
        if isinstance(raw, int):
            return raw
        text = str(raw).strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if number != number.to_integral_value():
            raise ValueError(f"expected a whole number, got {raw!r}")
        return int(number)
    if kind == "decimal":
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, got {raw!r}")
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not number.is_finite():
            raise ValueError(f"expected a finite number, got {raw!r}")
        return number
    if kind == "date":
        if isinstance(raw, dt.datetime):
            raise ValueError(f"expected a date (YYYY-MM-DD), got a date-time {raw!r}")
        if isinstance(raw, dt.date):
            return raw
        try:
            return dt.date.fromisoformat(str(raw).strip()[:10]) if len(str(raw).strip()) >= 10 \
                else dt.date.fromisoformat(str(raw))
        except ValueError:
            raise ValueError(f"expected a date (YYYY-MM-DD), got {raw!r}") from None
    if kind == "datetime":
        if isinstance(raw, dt.datetime):
            value = raw
        else:
            try:
                value = dt.datetime.fromisoformat(str(raw).strip())
            except ValueError:
                raise ValueError(f"expected a date-time (ISO 8601 with time zone), got {raw!r}") from None
        if value.tzinfo is None:
            raise ValueError(f"expected a date-time with a time zone, got {raw!r}")
        return value
    if kind == "select_multiple":
        if isinstance(raw, str):
            codes = raw.split()
        elif isinstance(raw, list | tuple | set | frozenset):
            codes = [str(c) for c in raw]
        else:
            raise ValueError(f"expected option codes separated by spaces, got {raw!r}")
        return tuple(sorted(set(codes)))
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if kind == "geopoint":
        parts = raw.split() if isinstance(raw, str) else list(raw)
        try:
            numbers = tuple(float(p) for p in parts)
        except (TypeError, ValueError):
            raise ValueError(f"expected 'latitude longitude [altitude accuracy]', got {raw!r}") from None
        if not 2 <= len(numbers) <= 4 or not (-90 <= numbers[0] <= 90 and -180 <= numbers[1] <= 180):
            raise ValueError(f"expected 'latitude longitude [altitude accuracy]', got {raw!r}")
        return numbers
    return str(raw)


# --- validation -------------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool) \
        and (not isinstance(value, float) or math.isfinite(value))


#: per element type: does a canonical value have the right Python type?
_TYPE_OK: dict[str, Any] = {
    "text": lambda v: isinstance(v, str),
    "select_one": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "decimal": _is_number,
    "date": lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime),
    "datetime": lambda v: isinstance(v, dt.datetime) and v.tzinfo is not None,
    "select_multiple": lambda v: isinstance(v, tuple | list | frozenset)
    and all(isinstance(c, str) for c in v),
    "boolean": lambda v: isinstance(v, bool),
    "geopoint": lambda v: isinstance(v, tuple | list) and 2 <= len(v) <= 4
    and all(isinstance(c, int | float) for c in v),
}
_EXPECTED = {
    "text": "text", "select_one": "an option code", "integer": "a whole number",
    "decimal": "a number", "date": "a date", "datetime": "a date-time with a time zone",
    "select_multiple": "a list of option codes", "boolean": "true or false",
    "geopoint": "(latitude, longitude[, altitude, accuracy])",
}


def _type_error(element: Element, value: Any) -> str | None:
    kind = element.type
    if _TYPE_OK[kind](value):
        return None
    return f"expected {_EXPECTED[kind]} for a {kind} element, got {type(value).__name__} {value!r}"


@functools.lru_cache(maxsize=8192)
def _parsed(text: str) -> Expr:
    """Expressions are few and records many: parse each expression once."""
    return parse(text)


_SYNTAX_ERROR = object()
_UNSET = object()

#: per element code: the element, its type test, its option codes (None: not a select), its
#: option list, its constraint
_ElementInfo = tuple[Element, Any, frozenset[str] | None, OptionList | None, str | None]
#: per element of a form: code, element, and each relevance condition with whether its result
#: is the same for every element of the record (it does not read `.`)
_FormCheck = tuple[str, Element, tuple[tuple[str, bool], ...]]


class _ValidationPlan:
    """What validating against one codebook needs, worked out once per codebook, not per record.

    Each expression is compiled once per (text, owning element) into a closure
    (`tipdata.logic.compiled`, same results as `evaluate`), each option list becomes a set of
    codes, and each form's relevance chains are listed. A record then costs only the computing.
    It holds no reference to the codebook: the cache must not keep a codebook alive.
    """

    def __init__(self, codebook: Codebook) -> None:
        self.symbols = symbols_of(codebook)
        self._compiled: dict[tuple[str, str | None], Any] = {}
        self._self_free: dict[str, bool] = {}
        self.elements: dict[str, _ElementInfo] = {}
        for code, element in codebook.elements.items():
            option_list = codebook.options_for(element)
            codes = frozenset(option_list.codes()) if option_list is not None else None
            self.elements[code] = (element, _TYPE_OK[element.type], codes, option_list,
                                   element.constraint)
        self._forms: dict[str, tuple[_FormCheck, ...]] = {}

    def holds(self, text: str, values: Mapping[str, Any], self_value: Any, today: dt.date | None,
              self_code: str | None = None) -> bool | None:
        """The condition's truth for this record; None when the text does not parse."""
        compiled = self._compiled.get((text, self_code))
        if compiled is None:
            compiled = self._compile(text, self_code)
        if compiled is _SYNTAX_ERROR:
            return None  # a codebook problem, reported by `tipdata codebook validate`
        if compiled.__class__ is tuple:  # `.` of an element without a symbol: as evaluate does
            return bool(evaluate(compiled[0], values, self_value=self_value, today=today,
                                 symbols=self.symbols))
        return bool(compiled(values, self_value, today))

    def _compile(self, text: str, self_code: str | None) -> Any:
        try:
            expr = _parsed(text)
        except LogicSyntaxError:
            compiled: Any = _SYNTAX_ERROR
        else:
            self_symbol = self.symbols.get(self_code) if self_code else None
            if self_code and self_symbol is None:
                compiled = (expr,)
            else:
                compiled = compile_expression(expr, self.symbols, self_symbol)
        self._compiled[(text, self_code)] = compiled
        return compiled

    def self_free(self, text: str) -> bool:
        """True when the expression does not read `.` (or does not parse: always None)."""
        found = self._self_free.get(text)
        if found is None:
            try:
                found = not uses_self(_parsed(text))
            except LogicSyntaxError:
                found = True
            self._self_free[text] = found
        return found

    def form_checks(self, codebook: Codebook, form: Form) -> tuple[_FormCheck, ...]:
        """Per element of the form: the element and every relevance condition that applies."""
        checks = self._forms.get(form.id)
        if checks is None:
            elements = codebook.elements
            built = []
            for code, conditions in form.form_conditions().items():
                element = elements[code]
                texts = ((element.relevant,) if element.relevant else ()) + conditions
                built.append((code, element, tuple((t, self.self_free(t)) for t in texts)))
            checks = self._forms[form.id] = tuple(built)
        return checks


_PLANS: dict[int, tuple[weakref.ref[Codebook], _ValidationPlan]] = {}


def _plan_for(codebook: Codebook) -> _ValidationPlan:
    """The codebook's validation plan, built once per codebook object (not once per record)."""
    cached = _PLANS.get(id(codebook))
    if cached is not None and cached[0]() is codebook:
        return cached[1]
    plan = _ValidationPlan(codebook)
    key = id(codebook)

    def drop(ref: weakref.ref[Codebook]) -> None:
        if _PLANS.get(key, (None,))[0] is ref:
            del _PLANS[key]

    _PLANS[key] = (weakref.ref(codebook, drop), plan)
    return plan


_EMPTY = (None, "", (), [])


def validate_record(codebook: Codebook, record: CanonicalRecord, *, today: dt.date | None = None,
                    source: str | None = None) -> list[Problem]:
    """Every problem with the record, one per bad field, located by record id and element.

    Required and relevance rules are checked for the elements of the record's form (a record
    holds only what its form collects); types, options and constraints for every value.
    Expressions run compiled, once per record where their result cannot differ (see
    `_ValidationPlan`); the results are `evaluate`'s.
    """
    where = source or f"record {record.record_id}"
    plan = _plan_for(codebook)
    holds = plan.holds
    problems: list[Problem] = []

    def add(code: str, message: str, element: str | None, severity: str = "error") -> None:
        problems.append(Problem(code, message, where, None, element, severity))  # type: ignore[arg-type]

    envelope = record.envelope
    if envelope.consent_purposes:
        for purpose in sorted(envelope.consent_purposes - codebook.consent_purposes.keys()):
            add("RC206", f"consent purpose {purpose!r} is not one of "
                f"{', '.join(codebook.consent_purposes)}", None)
    form = codebook.forms.get(envelope.form_id or "")
    if envelope.form_id and form is None:
        add("RC206", f"form {envelope.form_id!r} is not in the codebook", None)
    values = record.values
    infos = plan.elements
    for code, value in values.items():
        info = infos.get(code)
        if info is None:
            add("RC200", f"{code!r} is not an element of codebook {codebook.id} {codebook.version}", code)
            continue
        if value is None:
            continue
        element, type_ok, known, option_list, constraint = info
        if not type_ok(value):
            add("RC201", _type_error(element, value) or "", code)
            continue
        if known is not None:
            unknown = ([value] if value not in known else []) if isinstance(value, str) \
                else [c for c in value if c not in known]
            if unknown:
                assert option_list is not None
                sample = ", ".join(option_list.codes()[:12])
                more = " …" if len(option_list.options) > 12 else ""
                add("RC202", f"{', '.join(map(repr, unknown))} not in list {option_list.name!r} "
                    f"(expected one of {sample}{more})", code)
                continue
        if constraint and holds(constraint, values, value, today, code) is False:
            message = element.constraint_message or f"constraint `{constraint}` does not hold"
            add("RC204", f"{message} (value {value!r})", code)
    if form is not None:
        memo: dict[str, bool | None] = {}  # results of conditions that do not read `.`
        for code, element, checks in plan.form_checks(codebook, form):
            relevant = True
            for text, self_free in checks:
                result = memo.get(text, _UNSET) if self_free else _UNSET
                if result is _UNSET:
                    result = holds(text, values, None, today, code)
                    if self_free:
                        memo[text] = result  # type: ignore[assignment]
                if result is False:
                    relevant = False
                    break
            present = values.get(code) not in _EMPTY
            calculated = element.calculation is not None
            if not relevant and present and not calculated:
                add("RC205", "a value is given but the element does not apply here "
                    "(its relevance, or its group's, is false)", code, "warning")
            if not relevant or present or calculated:
                continue
            required = element.required
            if isinstance(required, str):
                required = bool(holds(required, values, None, today, code))
            if required:
                add("RC203", "a value is required", code)
    return problems
