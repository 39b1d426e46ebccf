"""The canonical record every connector speaks: element code → typed value, plus an envelope.

Kobo submissions, DHIS2 events and Frappe documents all become `CanonicalRecord`s before anything
else happens to them, and all targets are written from them. Validation against the codebook
returns one problem per bad field (never stops at the first), so a quarantined record says
everything that is wrong with it.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import uuid
import weakref
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tipdata.logic import Expr, LogicSyntaxError, Symbol, evaluate, parse
from tipdata.model import Codebook, Element
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
    return str(uuid.uuid5(RECORD_NAMESPACE, f"{source_system}:{source_id}"))


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
        return {
            "envelope": self.envelope.model_dump(mode="json"),
            "values": {k: _json_value(v) for k, v in sorted(self.values.items())},
        }


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
    return str(raw)  # text, select_one


# --- validation -------------------------------------------------------------------------------

def _type_error(element: Element, value: Any) -> str | None:
    kind = element.type
    ok = {
        "text": isinstance(value, str),
        "select_one": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "decimal": isinstance(value, int | float | Decimal) and not isinstance(value, bool)
        and (not isinstance(value, float) or math.isfinite(value)),
        "date": isinstance(value, dt.date) and not isinstance(value, dt.datetime),
        "datetime": isinstance(value, dt.datetime) and value.tzinfo is not None,
        "select_multiple": isinstance(value, tuple | list | frozenset)
        and all(isinstance(v, str) for v in value),
        "boolean": isinstance(value, bool),
        "geopoint": isinstance(value, tuple | list) and 2 <= len(value) <= 4
        and all(isinstance(v, int | float) for v in value),
    }[kind]
    if ok:
        return None
    expected = {
        "text": "text", "select_one": "an option code", "integer": "a whole number",
        "decimal": "a number", "date": "a date", "datetime": "a date-time with a time zone",
        "select_multiple": "a list of option codes", "boolean": "true or false",
        "geopoint": "(latitude, longitude[, altitude, accuracy])",
    }[kind]
    return f"expected {expected} for a {kind} element, got {type(value).__name__} {value!r}"


@functools.lru_cache(maxsize=8192)
def _parsed(text: str) -> Expr:
    """Expressions are few and records many: parse each expression once."""
    return parse(text)


_SYMBOLS: dict[int, tuple[weakref.ref[Codebook], dict[str, Symbol]]] = {}


def _symbols_for(codebook: Codebook) -> dict[str, Symbol]:
    """The codebook's symbol table, built once per codebook object (not once per record)."""
    cached = _SYMBOLS.get(id(codebook))
    if cached is not None and cached[0]() is codebook:
        return cached[1]
    symbols = symbols_of(codebook)
    _SYMBOLS[id(codebook)] = (weakref.ref(codebook), symbols)
    return symbols


def _holds(text: str, values: Mapping[str, Any], self_value: Any, today: dt.date | None,
           symbols: Mapping[str, Symbol], self_code: str | None = None) -> bool | None:
    try:
        return bool(evaluate(_parsed(text), values, self_value=self_value, today=today, symbols=symbols,
                             self_symbol=symbols.get(self_code) if self_code else None))
    except LogicSyntaxError:
        return None  # a codebook problem, reported by `tipdata codebook validate`


def validate_record(codebook: Codebook, record: CanonicalRecord, *, today: dt.date | None = None,
                    source: str | None = None) -> list[Problem]:
    """Every problem with the record, one per bad field, located by record id and element.

    Required and relevance rules are checked for the elements of the record's form (a record
    holds only what its form collects); types, options and constraints for every value.
    """
    where = source or f"record {record.record_id}"
    symbols = _symbols_for(codebook)
    problems: list[Problem] = []

    def add(code: str, message: str, element: str | None, severity: str = "error") -> None:
        problems.append(Problem(code, message, where, None, element, severity))  # type: ignore[arg-type]

    for purpose in sorted(record.envelope.consent_purposes - codebook.consent_purposes.keys()):
        add("RC206", f"consent purpose {purpose!r} is not one of "
            f"{', '.join(codebook.consent_purposes)}", None)
    form = codebook.forms.get(record.envelope.form_id or "")
    if record.envelope.form_id and form is None:
        add("RC206", f"form {record.envelope.form_id!r} is not in the codebook", None)
    values = record.values
    for code, value in values.items():
        element = codebook.elements.get(code)
        if element is None:
            add("RC200", f"{code!r} is not an element of codebook {codebook.id} {codebook.version}", code)
            continue
        if value is None:
            continue
        error = _type_error(element, value)
        if error:
            add("RC201", error, code)
            continue
        option_list = codebook.options_for(element)
        if option_list is not None:
            chosen = [value] if isinstance(value, str) else list(value)
            unknown = [c for c in chosen if option_list.option(c) is None]
            if unknown:
                sample = ", ".join(option_list.codes()[:12])
                more = " …" if len(option_list.options) > 12 else ""
                add("RC202", f"{', '.join(map(repr, unknown))} not in list {option_list.name!r} "
                    f"(expected one of {sample}{more})", code)
                continue
        if element.constraint and _holds(element.constraint, values, value, today, symbols, code) is False:
            message = element.constraint_message or f"constraint `{element.constraint}` does not hold"
            add("RC204", f"{message} (value {value!r})", code)
    if form is not None:
        for code, conditions in form.form_conditions().items():
            element = codebook.elements[code]
            checks = ((element.relevant,) if element.relevant else ()) + conditions
            relevant = all(_holds(text, values, None, today, symbols, code) is not False
                           for text in checks)
            present = values.get(code) not in (None, "", (), [])
            if not relevant and present and not element.is_calculated:
                add("RC205", "a value is given but the element does not apply here "
                    "(its relevance, or its group's, is false)", code, "warning")
            if not relevant or present or element.is_calculated:
                continue
            required = element.required
            if isinstance(required, str):
                required = bool(_holds(required, values, None, today, symbols, code))
            if required:
                add("RC203", "a value is required", code)
    return problems
