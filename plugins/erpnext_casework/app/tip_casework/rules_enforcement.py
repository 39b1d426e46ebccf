"""Run the codebook's rules on a document before it is saved, whatever the channel.

`depends_on` and `mandatory_depends_on` only run in the desk; a REST insert skips them. Every
record DocType's controller therefore calls `enforce_rules(self)` from `validate()`, which,
in the codebook's evaluation order (generated `rules.json`):

1. computes calculated elements and stores them;
2. clears values of elements that do not apply (relevance false), as the form engines do;
3. collects every broken rule: a missing required value, a failed constraint, a number that is
   not a number, a code outside its option list, a text over its maximum length. A TIP Case
   opened from a screening (`intake_pending` ticked) need not hold the intake's fields yet
   (`required_at_intake` in rules.json); they are required once the box is unticked;
4. refuses the save once, listing every problem in words (HTTP 417: MandatoryError when a value
   is missing, ValidationError otherwise).

Values are never logged; messages name elements and rules only.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from decimal import Decimal, InvalidOperation
from typing import Any

import frappe
from frappe import _

from tip_casework import rule_runtime

RULES_PATH = os.path.join(os.path.dirname(__file__), "rules.json")
CASE = "TIP Case"
CASE_LINK = "tip_case"


@functools.lru_cache(maxsize=1)
def load_rules() -> dict[str, Any]:
    """The generated rules; cached per worker process (the file changes only with the app)."""
    with open(RULES_PATH, encoding="utf-8") as handle:
        return json.load(handle)


class RuleProblem(Exception):
    """One value that cannot be read as its element's type (collected, never raised out)."""


def _number(raw: object, integer: bool) -> int | Decimal:
    text = str(raw).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise RuleProblem("is not a number") from None
    if not number.is_finite():
        raise RuleProblem("is not a finite number")
    if integer:
        if number != number.to_integral_value():
            raise RuleProblem("is not a whole number")
        return int(number)
    return number


def canonical(raw: object, element_type: str) -> object:
    """A stored Frappe value as the canonical value the rules read (None when unanswered)."""
    if element_type == "boolean":
        return bool(frappe.utils.cint(raw))
    if element_type == "select_multiple":
        rows = raw or []
        return [row.get("option") if isinstance(row, dict) else row.option for row in rows]
    if raw is None or raw == "":
        return None
    if element_type in ("integer", "decimal"):
        if isinstance(raw, bool):
            raise RuleProblem("is not a number")
        if isinstance(raw, int) and element_type == "integer":
            return raw
        return _number(raw, element_type == "integer")
    if element_type == "date":
        return frappe.utils.getdate(raw)
    if element_type == "datetime":
        return frappe.utils.get_datetime(raw)
    return str(raw)


def stored(value: object, rule: dict[str, Any]) -> object:
    """A computed canonical value as the document field holds it."""
    fieldtype = rule["fieldtype"]
    if fieldtype == "Check":
        return 1 if value else 0
    if value is None or (isinstance(value, float) and value != value):
        return 0 if fieldtype in ("Int", "Float") else None
    if fieldtype in ("Int", "Float"):
        return value
    if rule["type"] in ("integer", "decimal"):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value)
    return value


def _answered(value: object) -> bool:
    return value not in (None, "", []) and not (isinstance(value, list) and not value)


def _case_values(doc, spec: dict[str, Any], types: dict[str, str]) -> dict[str, object]:
    """Values this DocType's rules read from the linked TIP Case (not its desk mirrors)."""
    codes = sorted(spec.get("from_case") or {})
    if not codes or not doc.get(CASE_LINK):
        return {}
    row = frappe.db.get_value(CASE, doc.get(CASE_LINK), codes, as_dict=True) or {}
    return {code: canonical(row.get(code), types[code]) for code in codes}


def document_values(doc, spec: dict[str, Any], types: dict[str, str], problems: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for rule in spec["elements"]:
        code = rule["code"]
        try:
            values[code] = canonical(doc.get(code), rule["type"])
        except RuleProblem as problem:
            problems.append(_("{0} ({1}) {2}.").format(_(rule["label"]), code, _(str(problem))))
            values[code] = None
    values.update(_case_values(doc, spec, types))
    return values


def enforce_rules(doc, today: dt.date | None = None) -> None:
    """Apply the codebook's rules to `doc`; raise one error listing every broken rule."""
    rules = load_rules()
    spec = rules["doctypes"].get(doc.doctype)
    if spec is None:
        return
    types: dict[str, str] = rules["types"]
    today = today or frappe.utils.getdate()
    problems: list[str] = []
    missing = False
    values = document_values(doc, spec, types, problems)
    intake_pending = intake_is_pending(doc, spec)

    for rule in spec["elements"]:
        code = rule["code"]
        if "calculation" in rule:
            value = rule_runtime.evaluate(rule["calculation"]["tree"], values, types, today=today)
            value = None if isinstance(value, float) and value != value else value
            values[code] = value
            doc.set(code, stored(value, rule))
        value = values.get(code)
        relevant = rule.get("relevant")
        if relevant and not rule_runtime.holds(relevant["tree"], values, types, value, rule["type"], today):
            if _answered(value):
                values[code] = [] if rule["type"] == "select_multiple" else None
                doc.set(code, [] if rule["type"] == "select_multiple" else stored(None, rule))
            continue
        required = rule["required"]
        if isinstance(required, dict):
            required_now = rule_runtime.holds(required["tree"], values, types, value, rule["type"], today)
        else:
            required_now = bool(required)
        if rule.get("required_at_intake") and intake_pending:
            required_now = False
        if required_now and "calculation" not in rule and not _answered(value):
            missing = True
            problems.append(_required_message(rule, spec))
            continue
        if not _answered(value):
            continue
        problems.extend(_option_problems(rule, value))
        if rule.get("max_length") and isinstance(value, str) and len(value) > rule["max_length"]:
            problems.append(_("{0} ({1}) is longer than {2} characters.").format(_(rule["label"]), code, rule["max_length"]))
        constraint = rule.get("constraint")
        if constraint and not rule_runtime.holds(constraint["tree"], values, types, value, rule["type"], today):
            problems.append(_constraint_message(rule))

    if problems:
        frappe.throw(
            "\n".join(problems),
            frappe.MandatoryError if missing else frappe.ValidationError,
            title=_("This record breaks the codebook's rules"),
        )


def _option_problems(rule: dict[str, Any], value: object) -> list[str]:
    options = rule.get("options")
    if options is None:
        return []
    codes = value if isinstance(value, list) else [value]
    unknown = sorted({str(code) for code in codes if code not in options})
    if not unknown:
        return []
    return [_("{0} ({1}) has codes that are not options of its list: {2}.").format(
        _(rule["label"]), rule["code"], ", ".join(unknown))]


def intake_is_pending(doc, spec: dict[str, Any]) -> bool:
    """Whether `doc` is a case opened from a screening whose intake is not recorded yet."""
    field = spec.get("intake_pending_field")
    return bool(field) and bool(frappe.utils.cint(doc.get(field)))


def _required_message(rule: dict[str, Any], spec: dict[str, Any]) -> str:
    label, code = _(rule["label"]), rule["code"]
    if rule.get("required_at_intake") and spec.get("intake_pending_field"):
        return _("{0} ({1}) is required once the case's intake is recorded (Awaiting intake unticked).").format(
            label, code)
    conditions = [part["words"] for part in (rule.get("relevant"), rule["required"]) if isinstance(part, dict)]
    if conditions:
        return _("{0} ({1}) is required when {2}.").format(label, code, " and ".join(conditions))
    return _("{0} ({1}) is required.").format(label, code)


def _constraint_message(rule: dict[str, Any]) -> str:
    label, code = _(rule["label"]), rule["code"]
    if rule.get("constraint_message"):
        return _("{0} ({1}): {2} The rule: {3}.").format(
            label, code, _(rule["constraint_message"]), rule["constraint"]["words"])
    return _("{0} ({1}) must satisfy: {2}.").format(label, code, rule["constraint"]["words"])
