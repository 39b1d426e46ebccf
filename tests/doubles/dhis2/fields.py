"""The `fields` parameter of DHIS2 exports: `*`, `!name`, `name`, `name[sub,fields]`, nested.

Enough of DHIS2's field filter for the double: presets such as `:all` are read as `*`.
"""

from __future__ import annotations

from typing import Any

FieldSpec = dict[str, Any]  # name -> True (whole value) or a nested FieldSpec; "*" and "!x" keys


def parse_fields(text: str) -> FieldSpec:
    """`trackedEntity,attributes[attribute,value],!events` -> a nested spec."""
    spec: FieldSpec = {}
    depth = 0
    token = ""
    parts: list[str] = []
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(token)
            token = ""
        else:
            token += char
    parts.append(token)
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if part.startswith(":"):
            spec["*"] = True
            continue
        bracket = min((i for i in (part.find("["), part.find("(")) if i >= 0), default=-1)
        if bracket >= 0:
            name, inner = part[:bracket], part[bracket + 1:-1]
            spec[name] = parse_fields(inner)
        else:
            spec[part] = True
    return spec


def wants(spec: FieldSpec, name: str) -> bool:
    """Whether a (possibly expensive) property is asked for."""
    if f"!{name}" in spec:
        return False
    return name in spec or "*" in spec


def apply_fields(obj: dict[str, Any], spec: FieldSpec) -> dict[str, Any]:
    """Keep what `spec` names; nested specs filter lists of objects and objects."""
    result: dict[str, Any] = {}
    for key, value in obj.items():
        if f"!{key}" in spec:
            continue
        sub = spec.get(key)
        if sub is None and "*" not in spec:
            continue
        if isinstance(sub, dict):
            if isinstance(value, list):
                result[key] = [apply_fields(v, sub) if isinstance(v, dict) else v for v in value]
            elif isinstance(value, dict):
                result[key] = apply_fields(value, sub)
            else:
                result[key] = value
        else:
            result[key] = value
    return result
