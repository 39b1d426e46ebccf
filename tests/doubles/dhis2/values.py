"""Value checks the DHIS2 double applies, after `ValidationUtils#valueIsValid` as the contract describes.

Kept apart from the importers because tracker attributes, tracker data values and aggregate data
values all share them; the error texts are DHIS2's i18n keys (`value_not_integer`, ...), which is
what a real server puts into E1007/E1302 messages.
"""

from __future__ import annotations

import datetime as dt
import json
import re

UID_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9]{10}$")
MAX_VALUE_LENGTH = 50_000
MAX_ATTRIBUTE_VALUE_LENGTH = 1_200

_INTEGER = re.compile(r"^(0|-?[1-9]\d*)$")
_NUMBER = re.compile(r"^(-?0|-?[1-9]\d*)(\.\d+)?([eE]-?\d+)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9+\-() /.#*]{1,50}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_COORDINATE = re.compile(r"^\[\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*\]$")
TEXT_TYPES = frozenset({"TEXT", "LONG_TEXT", "LETTER", "PHONE_NUMBER", "EMAIL", "USERNAME", "URL",
                        "MULTI_TEXT"})


def is_uid(value: object) -> bool:
    return isinstance(value, str) and UID_RE.match(value) is not None


def _date(value: str) -> bool:
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _datetime(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def value_type_error(value_type: str, value: str) -> str | None:
    """DHIS2's reason a value does not fit a value type, or None when it fits."""
    if len(value) > MAX_VALUE_LENGTH:
        return "value_length_greater_than_max_length"
    checks = {
        "LETTER": lambda v: len(v) == 1 and v.isalpha(),
        "PHONE_NUMBER": lambda v: _PHONE.match(v) is not None,
        "EMAIL": lambda v: _EMAIL.match(v) is not None,
        "BOOLEAN": lambda v: v.lower() in ("true", "false"),
        "TRUE_ONLY": lambda v: v.lower() == "true",
        "DATE": _date,
        "AGE": _date,
        "DATETIME": _datetime,
        "TIME": lambda v: _TIME.match(v) is not None,
        "NUMBER": lambda v: _NUMBER.match(v) is not None,
        "UNIT_INTERVAL": lambda v: _NUMBER.match(v) is not None and 0 <= float(v) <= 1,
        "PERCENTAGE": lambda v: _NUMBER.match(v) is not None and 0 <= float(v) <= 100,
        "INTEGER": lambda v: _INTEGER.match(v) is not None,
        "INTEGER_POSITIVE": lambda v: _INTEGER.match(v) is not None and int(v) > 0,
        "INTEGER_NEGATIVE": lambda v: _INTEGER.match(v) is not None and int(v) < 0,
        "INTEGER_ZERO_OR_POSITIVE": lambda v: _INTEGER.match(v) is not None and int(v) >= 0,
        "COORDINATE": lambda v: _COORDINATE.match(v) is not None,
        "ORGANISATION_UNIT": is_uid,
        "FILE_RESOURCE": is_uid,
        "IMAGE": is_uid,
        "URL": lambda v: v.startswith(("http://", "https://", "ftp://")),
        "GEOJSON": _json_object,
    }
    reasons = {
        "LETTER": "value_not_valid_letter", "PHONE_NUMBER": "value_not_valid_phone_number",
        "EMAIL": "value_not_valid_email", "BOOLEAN": "value_not_bool",
        "TRUE_ONLY": "value_not_true_only", "DATE": "value_not_valid_date",
        "AGE": "value_not_valid_date", "DATETIME": "value_not_valid_datetime",
        "TIME": "value_not_valid_time", "NUMBER": "value_not_numeric",
        "UNIT_INTERVAL": "value_not_unit_interval", "PERCENTAGE": "value_not_percentage",
        "INTEGER": "value_not_integer", "INTEGER_POSITIVE": "value_not_positive_integer",
        "INTEGER_NEGATIVE": "value_not_negative_integer",
        "INTEGER_ZERO_OR_POSITIVE": "value_not_zero_or_positive_integer",
        "COORDINATE": "value_not_coordinate", "ORGANISATION_UNIT": "value_not_valid_uid",
        "FILE_RESOURCE": "value_not_valid_uid", "IMAGE": "value_not_valid_uid",
        "URL": "value_not_url", "GEOJSON": "value_not_geojson",
    }
    check = checks.get(value_type)
    if check is None or check(value):
        return None
    return reasons[value_type]


def _json_object(value: str) -> bool:
    try:
        return isinstance(json.loads(value), dict)
    except ValueError:
        return False


def invalid_option_codes(value: str, value_type: str, codes: set[str]) -> list[str]:
    """Codes in a value that are not codes of the option set (MULTI_TEXT holds several)."""
    chosen = value.split(",") if value_type == "MULTI_TEXT" else [value]
    return [c for c in chosen if c not in codes]


def server_time(moment: dt.datetime) -> str:
    """DHIS2's timestamp rendering in tracker exports: ISO local date-time with milliseconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def parse_time(text: str) -> dt.datetime | None:
    """Parse a query-parameter date (`2026-01-31`, `2026-01-31T10:00:00.000`, optional zone) as UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment
