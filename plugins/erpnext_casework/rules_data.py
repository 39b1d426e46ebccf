"""The codebook's rules as data for the app's controllers (`tip_casework/rules.json`).

Frappe's `depends_on` / `mandatory_depends_on` run in the desk only; a REST insert skips them.
So every relevance, required-if, constraint and calculation is also shipped here (with which
case fields are required only once the intake is recorded: `required_at_intake`), lowered for
the app's small evaluator (`rule_lowering`) and said in words (`rule_words`), and each record
DocType's controller runs them in `validate()`.

Per DocType, elements come in evaluation order: an element after every element its expressions
read, so a calculation or a cleared non-relevant value is settled before anything reads it.

Example::

    >>> data = build_rules(codebook, build_doctypes(codebook))
    >>> data["doctypes"]["TIP Case"]["elements"][0]["code"]
    'case_reference'
"""

from __future__ import annotations

import json
from typing import Any

from tipdata.logic import parse, references
from tipdata.model import Codebook, Element

from .doctypes import (
    CASE,
    INTAKE_PENDING,
    DocTypeSet,
    fieldtype_for,
    mirror_field,
    required_at_intake,
    symbols_for,
)
from .rule_lowering import lower
from .rule_words import explain

RULES_FORMAT = 1


def _evaluation_order(codes: list[str], codebook: Codebook) -> list[str]:
    """Codes sorted so each comes after the codes (of the same list) its expressions read.

    Stable: ties keep codebook order. The codebook loader already refused cycles.
    """
    inside = set(codes)
    depends = {
        code: {ref for _, text in codebook.elements[code].expressions() for ref in references(parse(text))}
        & inside - {code}
        for code in codes
    }
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(codes):
        ready = [c for c in codes if c not in done and depends[c] <= done]
        if not ready:  # pragma: no cover - the loader refuses cycles
            raise ValueError("cycle among " + ", ".join(sorted(set(codes) - done)))
        ordered.append(ready[0])
        done.add(ready[0])
    return ordered


def _element_rules(element: Element, codebook: Codebook, symbols: dict[str, Any]) -> dict[str, Any]:
    own = symbols[element.code]
    fieldtype, _ = fieldtype_for(element)
    rule: dict[str, Any] = {
        "code": element.code,
        "label": element.label,
        "type": element.type,
        "fieldtype": fieldtype,
        "max_length": element.max_length,
    }
    if element.type in ("select_one", "select_multiple"):
        options = codebook.options_for(element)
        rule["options"] = list(options.codes()) if options is not None else []
    for kind in ("relevant", "constraint", "calculation"):
        text = getattr(element, kind)
        if text:
            expr = parse(text)
            rule[kind] = {"tree": lower(expr, symbols, own), "text": text, "words": explain(expr, codebook, element.code)}
    if isinstance(element.required, str):
        expr = parse(element.required)
        rule["required"] = {"tree": lower(expr, symbols, own), "text": element.required,
                            "words": explain(expr, codebook, element.code)}
    else:
        rule["required"] = bool(element.required)
    if required_at_intake(element):
        rule["required_at_intake"] = True
    if element.constraint_message:
        rule["constraint_message"] = element.constraint_message
    return rule


def build_rules(codebook: Codebook, doctype_set: DocTypeSet) -> dict[str, Any]:
    """Rules per record DocType, plus the element types every rule may read."""
    symbols = symbols_for(codebook)
    by_doctype: dict[str, list[str]] = {}
    for code, doctype in doctype_set.placement.items():
        by_doctype.setdefault(doctype, []).append(code)
    doctypes: dict[str, Any] = {}
    for doctype, codes in sorted(by_doctype.items()):
        ordered = _evaluation_order(codes, codebook)
        outside = sorted({
            ref for code in codes for _, text in codebook.elements[code].expressions()
            for ref in references(parse(text)) if doctype_set.placement.get(ref) not in (doctype, None)
        })
        doctypes[doctype] = {
            "elements": [_element_rules(codebook.elements[c], codebook, symbols) for c in ordered],
            # read from the linked case (TIP Case through the `case` link); mirrored for the desk
            "from_case": {ref: mirror_field(ref) for ref in outside if doctype_set.placement[ref] == CASE},
            "tables": {c: doctype_set.option_doctypes[codebook.elements[c].options or ""]
                       for c in ordered if codebook.elements[c].type == "select_multiple"},
        }
        if doctype == CASE:
            # elements marked `required_at_intake` are required once this box is unticked
            doctypes[doctype]["intake_pending_field"] = INTAKE_PENDING
    return {
        "format": RULES_FORMAT,
        "codebook": {"id": codebook.id, "version": codebook.version},
        "types": {code: element.type for code, element in codebook.elements.items()},
        "consent_purposes": list(codebook.consent_purposes),
        "doctypes": doctypes,
    }


def dump_rules(rules: dict[str, Any]) -> bytes:
    """Deterministic bytes (sorted keys, indent 1 like the DocType files)."""
    return (json.dumps(rules, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
