"""depends_on JavaScript compiled from the logic tree: exact text for samples, and the same
answers as tipdata.logic.evaluate when Node runs it on desk-shaped documents."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from decimal import Decimal

import pytest

from tipdata.codebook import load_codebook
from tipdata.erpnext_casework.depends_on import to_depends_on, to_javascript
from tipdata.erpnext_casework.doctypes import build_doctypes, symbols_for
from tipdata.logic import FUNCTIONS, LogicCompileError, Symbol, evaluate, parse

from .test_rule_runtime import TODAY, random_value

SYMBOLS = {
    "consent": Symbol("consent", "select_one", frozenset({"yes", "no"})),
    "age": Symbol("age", "integer"),
    "means": Symbol("means", "select_multiple", frozenset({"debt", "threats", "other"})),
    "minor": Symbol("minor", "boolean"),
    "opened": Symbol("opened", "date"),
    "name": Symbol("name", "text"),
}
NODE_HARNESS = """
const fs = require("fs");
const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const frappe = { datetime: { get_today: () => cases.today } };
const out = cases.items.map((item) => {
  const fn = new Function("doc", "frappe", "return (" + item.js + ");");
  return item.docs.map((doc) => Boolean(fn(doc, frappe)));
});
process.stdout.write(JSON.stringify(out));
"""


def test_to_depends_on__select_one_equality():
    """should read a select_one as text and compare it with ===."""
    js = to_depends_on(parse("consent = 'yes'"), SYMBOLS)
    assert js == 'eval:(((v) => (v === undefined || v === null) ? "" : String(v))(doc.consent) === "yes")'


def test_to_depends_on__selected_in_child_table():
    """should test a select_multiple's child rows for the option code."""
    js = to_javascript(parse("selected(means, 'debt')"), SYMBOLS)
    assert js == '(doc.means || []).some((r) => r.option === "debt")'


def test_to_depends_on__boolean_and_number():
    """should read a Check as 1/0 and a number through Number() with the empty guard."""
    js = to_javascript(parse("minor and age >= 18"), SYMBOLS)
    assert js.startswith("((Number(doc.minor) === 1) && ")
    assert 'v === "") ? NaN : Number(v))(doc.age) >= 18)' in js


def test_to_depends_on__custom_field_reference():
    """should let the caller say where a name is read (mirror fields across DocTypes)."""
    js = to_javascript(parse("answered(consent)"), SYMBOLS, field_ref=lambda code: f"doc.linked_{code}")
    assert "(doc.linked_consent)" in js


def test_to_depends_on__refuses_an_expression_that_does_not_check():
    """should raise rather than emit a depends_on that would hide a question wrongly."""
    with pytest.raises(LogicCompileError):
        to_depends_on(parse("consent = 'maybe'"), SYMBOLS)


def test_compiler__covers_every_function_of_the_language():
    """should have a JavaScript form for every function in tipdata.logic.FUNCTIONS."""
    from tipdata.erpnext_casework.depends_on import _Compiler

    assert all(hasattr(_Compiler, f"fn_{name}") for name in FUNCTIONS)


def desk_value(value: object, element_type: str, rng: random.Random) -> object:
    """A canonical value as the desk holds it in `doc`."""
    if value is None:
        return rng.choice([None, ""]) if element_type != "select_multiple" else []
    if element_type == "select_multiple":
        return [{"option": code} for code in value]
    if element_type == "boolean":
        return 1 if value else 0
    if element_type in ("integer", "decimal"):
        return str(value) if isinstance(value, Decimal) or rng.random() < 0.5 else value
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@pytest.mark.skipif(shutil.which("node") is None, reason="Node is needed to run the compiled JavaScript")
def test_depends_on__node_agrees_with_tipdata_logic_on_every_condition(tmp_path):
    """should make every generated depends_on / mandatory_depends_on answer as evaluate() does."""
    codebook = load_codebook()
    symbols = symbols_for(codebook)
    built = build_doctypes(codebook)
    rng = random.Random(15)
    items, expected = [], []
    for code in built.placement:
        element = codebook.elements[code]
        # constraints too: not emitted as depends_on, but they exercise dates, regex and counts
        conditions = [t for t in (element.relevant, element.required, element.constraint) if isinstance(t, str)]
        for text in conditions:
            expr = parse(text)
            docs, answers = [], []
            for _ in range(25):
                values = {c: random_value(e, codebook, rng) for c, e in codebook.elements.items()}
                answers.append(bool(evaluate(expr, values, values[code], TODAY, symbols=symbols,
                                             self_symbol=symbols[code])))
                docs.append({c: desk_value(v, codebook.elements[c].type, rng) for c, v in values.items()})
            items.append({"js": to_javascript(expr, symbols, symbols[code]), "docs": docs, "text": text})
            expected.append(answers)
    assert len(items) > 100
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"today": TODAY.isoformat(), "items": items}))
    script = tmp_path / "harness.js"
    script.write_text(NODE_HARNESS)
    result = subprocess.run(["node", str(script), str(path)], capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(result.stdout)
    wrong = [item["text"] for item, g, e in zip(items, got, expected, strict=True) if g != e]
    assert wrong == []


def test_generated_doctypes__depends_on_matches_compiled_relevance():
    """should write each element's relevance, compiled, as its field's depends_on."""
    codebook = load_codebook()
    built = build_doctypes(codebook)
    fields = {f["fieldname"]: f for f in built.doctypes["TIP Case"]["fields"]}
    symbols = symbols_for(codebook)
    for code in ("case_referring_org_name", "case_closed_date", "person_care_status"):
        element = codebook.elements[code]
        assert fields[code]["depends_on"] == to_depends_on(parse(element.relevant), symbols, symbols[code])
    assert "mandatory_depends_on" in fields["case_closed_date"]
    assert fields["case_opened_date"].get("reqd") == 1 and "depends_on" not in fields["case_opened_date"]
