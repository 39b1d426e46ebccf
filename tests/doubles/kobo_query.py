"""The Mongo-style `query` and `sort` parameters of Kobo's `/data/` endpoint, evaluated in memory.

Kobo passes `query` (JSON, parsed with `bson.json_util.object_hook`) straight to MongoDB
(`kpi/utils/mongo_helper.py`, `kpi/deployment_backends/base_backend.py::validate_submission_list_params`;
`kobo-api.md` §5.2). The double answers the same questions without a database:

- field names are the flattened submission keys (`"grp/q"`); a dotted path (`"rep.rep/q"`) walks
  into lists of objects as Mongo does;
- comparisons only match values of the same BSON type class (numbers with numbers, strings with
  strings), so `{"_submission_time": {"$gte": "2026-03-01T00:00:00"}}` is a string comparison;
- operators: `$and $or $nor $not $in $nin $exists $eq $ne $gt $gte $lt $lte $regex $options $all
  $elemMatch $size`. Anything else (including `$expr` and `$ifNull`, which Kobo whitelists but the
  double does not evaluate) raises `UnsupportedQuery`, which the API answers like a Mongo
  `OperationFailure`: 400 `["Unsupported query"]`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

_MISSING = object()


class UnsupportedQuery(ValueError):
    """A filter the server would reject at query time (Mongo `OperationFailure`)."""


def parse_json_param(text: str) -> Any:
    """Parse a JSON query-string value; `{"$date": …}` becomes a datetime as in bson.json_util.

    Raises ValueError for invalid JSON (the API turns it into 400 "Value must be valid JSON.").

    Example: `parse_json_param('{"_id": {"$gt": 5}}')` → `{"_id": {"$gt": 5}}`
    """
    return json.loads(text, object_hook=_date_hook)


def _date_hook(obj: dict[str, Any]) -> Any:
    if set(obj) == {"$date"}:
        value = obj["$date"]
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return obj


def referenced_fields(query: Mapping[str, Any]) -> set[str]:
    """Every top-level field a filter looks at (used to avoid rendering whole submissions)."""
    fields: set[str] = set()
    for key, value in query.items():
        if key in ("$and", "$or", "$nor") and isinstance(value, list):
            for part in value:
                if isinstance(part, Mapping):
                    fields |= referenced_fields(part)
        elif not key.startswith("$"):
            fields.add(key.split(".", 1)[0])
    return fields


_FIELD_OPERATORS = frozenset({
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$options",
    "$not", "$all", "$elemMatch", "$size"})


def validate_query(query: Any) -> None:
    """Reject what Mongo would reject before looking at any document (raises UnsupportedQuery).

    Example: `validate_query({"_id": {"$bogus": 1}})` raises; `{"_id": {"$gt": 1}}` passes.
    """
    if not isinstance(query, Mapping):
        raise UnsupportedQuery("a query must be an object")
    for key, condition in query.items():
        if key in ("$and", "$or", "$nor"):
            for part in _query_list(key, condition):
                validate_query(part)
        elif key.startswith("$"):
            raise UnsupportedQuery(f"unknown top level operator: {key}")
        elif _is_operator_object(condition):
            _validate_operators(condition)


def _validate_operators(condition: Mapping[str, Any]) -> None:
    for operator, operand in condition.items():
        if operator not in _FIELD_OPERATORS:
            raise UnsupportedQuery(f"unknown operator: {operator}")
        if operator in ("$in", "$nin", "$all") and not isinstance(operand, list):
            raise UnsupportedQuery(f"{operator} needs an array")
        if operator == "$regex":
            _compile_regex(operand, str(condition.get("$options", "")))
        if operator == "$options" and "$regex" not in condition:
            raise UnsupportedQuery("$options needs a $regex")
        if operator == "$not":
            if isinstance(operand, str | re.Pattern):
                _compile_regex(operand, "")
            elif _is_operator_object(operand):
                _validate_operators(operand)
            else:
                raise UnsupportedQuery("$not needs a regex or a document")
        if operator == "$elemMatch":
            if not isinstance(operand, Mapping):
                raise UnsupportedQuery("$elemMatch needs an Object")
            if _is_operator_object(operand):
                _validate_operators(operand)
            else:
                validate_query(operand)


def matches(document: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """True when `document` satisfies the Mongo filter `query`.

    Example: `matches({"_id": 7}, {"_id": {"$gt": 5}})` → `True`
    """
    if not isinstance(query, Mapping):
        raise UnsupportedQuery("a query must be an object")
    for key, condition in query.items():
        if key == "$and":
            if not all(matches(document, part) for part in _query_list(key, condition)):
                return False
        elif key == "$or":
            if not any(matches(document, part) for part in _query_list(key, condition)):
                return False
        elif key == "$nor":
            if any(matches(document, part) for part in _query_list(key, condition)):
                return False
        elif key.startswith("$"):
            raise UnsupportedQuery(f"unknown top level operator: {key}")
        elif not _field_matches(_resolve(document, key), condition):
            return False
    return True


def sort_documents(documents: list[Any], sort: Mapping[str, Any],
                   get: Callable[[Any, str], Any]) -> list[Any]:
    """Sort with Mongo's cross-type order; `sort` values are cast to int like kpi does.

    `get(document, field)` returns a field value or `_MISSING`-like None when absent.
    """
    result = list(documents)
    for field, direction in reversed(list(sort.items())):
        try:
            descending = int(direction) < 0
        except (TypeError, ValueError):
            raise UnsupportedQuery(f"bad sort direction for {field}") from None
        result.sort(key=lambda doc, f=field: _sort_rank(get(doc, f)), reverse=descending)
    return result


# --------------------------------------------------------------------------- evaluation


def _query_list(operator: str, value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not value or not all(isinstance(v, Mapping) for v in value):
        raise UnsupportedQuery(f"{operator} must be a nonempty array")
    return value


def _resolve(document: Mapping[str, Any], path: str) -> Any:
    """The value at `path`; dotted parts walk into objects and expand over lists of objects."""
    if path in document:
        return document[path]
    head, dot, rest = path.partition(".")
    if not dot or head not in document:
        return _MISSING
    value = document[head]
    if isinstance(value, Mapping):
        return _resolve(value, rest)
    if isinstance(value, list):
        found = [_resolve(item, rest) for item in value if isinstance(item, Mapping)]
        found = [item for item in found if item is not _MISSING]
        flat: list[Any] = []
        for item in found:
            flat.extend(item if isinstance(item, list) else [item])
        return flat if found else _MISSING
    return _MISSING


def _is_operator_object(condition: Any) -> bool:
    return isinstance(condition, Mapping) and bool(condition) and all(
        str(k).startswith("$") for k in condition)


def _field_matches(value: Any, condition: Any) -> bool:
    if isinstance(condition, re.Pattern):
        return _any_value(value, lambda v: isinstance(v, str) and bool(condition.search(v)))
    if not _is_operator_object(condition):
        return _equals_or_contains(value, condition)
    options = condition.get("$options", "")
    for operator, operand in condition.items():
        if operator == "$options":
            if "$regex" not in condition:
                raise UnsupportedQuery("$options needs a $regex")
            continue
        if not _apply(operator, value, operand, options):
            return False
    return True


def _apply(operator: str, value: Any, operand: Any, options: str) -> bool:
    if operator == "$eq":
        return _equals_or_contains(value, operand)
    if operator == "$ne":
        return not _equals_or_contains(value, operand)
    if operator in ("$gt", "$gte", "$lt", "$lte"):
        return _any_value(value, lambda v: _compare(operator, v, operand))
    if operator == "$in":
        if not isinstance(operand, list):
            raise UnsupportedQuery("$in needs an array")
        return any(_equals_or_contains(value, item) for item in operand)
    if operator == "$nin":
        if not isinstance(operand, list):
            raise UnsupportedQuery("$nin needs an array")
        return not any(_equals_or_contains(value, item) for item in operand)
    if operator == "$exists":
        return (value is not _MISSING) == bool(operand)
    if operator == "$regex":
        pattern = _compile_regex(operand, options)
        return _any_value(value, lambda v: isinstance(v, str) and bool(pattern.search(v)))
    if operator == "$not":
        if isinstance(operand, str | re.Pattern):
            return not _field_matches(value, _compile_regex(operand, ""))
        if not _is_operator_object(operand):
            raise UnsupportedQuery("$not needs a regex or a document")
        return not _field_matches(value, operand)
    if operator == "$all":
        if not isinstance(operand, list):
            raise UnsupportedQuery("$all needs an array")
        return bool(operand) and all(_equals_or_contains(value, item) for item in operand)
    if operator == "$elemMatch":
        if not isinstance(value, list) or not isinstance(operand, Mapping):
            return False
        if _is_operator_object(operand):
            return any(_field_matches(item, operand) for item in value)
        return any(isinstance(item, Mapping) and matches(item, operand) for item in value)
    if operator == "$size":
        return isinstance(value, list) and isinstance(operand, int) and len(value) == operand
    raise UnsupportedQuery(f"unknown operator: {operator}")


def _compile_regex(pattern: Any, options: str) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str):
        raise UnsupportedQuery("$regex has to be a string")
    flags = 0
    for letter in options:
        flags |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}.get(
            letter, 0)
    try:
        return re.compile(pattern, flags)
    except re.error:
        raise UnsupportedQuery("invalid regular expression") from None


def _any_value(value: Any, test: Callable[[Any], bool]) -> bool:
    if value is _MISSING:
        return False
    if isinstance(value, list):
        return any(test(item) for item in value)
    return test(value)


def _equals_or_contains(value: Any, expected: Any) -> bool:
    if expected is None and value is _MISSING:
        return True  # Mongo: {field: null} also matches documents without the field
    if value is _MISSING:
        return False
    if _same(value, expected):
        return True
    return isinstance(value, list) and any(_same(item, expected) for item in value)


def _type_class(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "date"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    return _type_class(a) == _type_class(b) and a == b


def _compare(operator: str, value: Any, operand: Any) -> bool:
    kind = _type_class(value)
    if kind != _type_class(operand) or kind not in ("number", "string", "date"):
        return False
    if operator == "$gt":
        return value > operand
    if operator == "$gte":
        return value >= operand
    if operator == "$lt":
        return value < operand
    return value <= operand


_SORT_RANKS = {"missing": 0, "null": 0, "number": 1, "string": 2, "object": 3, "array": 4,
               "bool": 5, "date": 6}


def _sort_rank(value: Any) -> tuple[int, Any]:
    if value is None or value is _MISSING:
        return (0, 0)
    kind = _type_class(value)
    rank = _SORT_RANKS.get(kind, 7)
    if kind in ("number", "string", "date", "bool"):
        return (rank, value)
    return (rank, json.dumps(value, sort_keys=True, default=str))

