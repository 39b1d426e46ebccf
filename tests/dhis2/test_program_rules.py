"""The logic → DHIS2 program-rule compiler, checked against our model of d2 semantics.

`tests/dhis2/d2_model.py` is our model of how DHIS2's expression parser and rule engine
evaluate the d2 subset we emit (written from their source, not DHIS2 itself). The property
tests give random answers to the model running the compiled rules and to
`tipdata.logic.evaluate` running the codebook's expressions, and require the same outcome:
which fields are hidden, which values fail their constraint, which become mandatory, and what
every calculation assigns. Agreement proves the compiler under that model.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tipdata.codebook import load_codebook
from tipdata.dhis2_app.metadata import build_metadata
from tipdata.dhis2_app.program_rules import D2Compiler, D2Renderer, Untranslatable
from tipdata.logic import (
    FUNCTIONS,
    Arithmetic,
    Boolean,
    Call,
    Compare,
    Expr,
    Logical,
    Name,
    Negate,
    Not,
    Number,
    String,
    Symbol,
    check,
    evaluate,
    parse,
    to_text,
    walk,
)
from tipdata.model import Codebook, Element
from tipdata.validation import symbols_of

from ..conftest import MINI_CODEBOOK, write_codebook
from .d2_model import (
    Evaluation,
    VariableValue,
    assigned_text,
    parse_d2,
    run_rules,
    to_boolean,
    to_mixed,
)

TODAY = dt.date(2026, 3, 15)
PLAUSIBLE_TEXT = ["abcd", "TIP-2024-0153", "AB12", "x", "+44 20 7946 0958", "a@b.org", "GBP",
                  "ABC1234", "P-0001", "déjà vu"]


# ---- the renderer covers the language ------------------------------------------------------------


def test_renderer__has_a_spelling_for_every_function():
    """should give every function of the logic language a DHIS2 spelling (or a reason it has none)"""
    missing = [name for name in FUNCTIONS if not hasattr(D2Renderer, f"_fn_{name}")]
    assert missing == []


# ---- exact spellings ----------------------------------------------------------------------------

SYMBOLS = {
    "n": Symbol("n", "integer"),
    "k": Symbol("k", "integer"),
    "x": Symbol("x", "decimal"),
    "t": Symbol("t", "text"),
    "c": Symbol("c", "select_one", frozenset({"yes", "no", "unsure"})),
    "m": Symbol("m", "select_multiple", frozenset({"a", "b", "c"})),
    "d": Symbol("d", "date"),
    "e": Symbol("e", "date"),
    "born": Symbol("born", "date"),
    "b": Symbol("b", "boolean"),
    "g": Symbol("g", "boolean"),
    "when": Symbol("when", "datetime"),
}
COMPILER = D2Compiler(SYMBOLS)


def same(code: str) -> str:
    return code


@pytest.mark.parametrize(("text", "expected"), [
    ("n >= 18", "d2:hasValue('n') && #{n} >= 18"),
    ("n != 5", "!d2:hasValue('n') || #{n} != 5"),
    ("c = 'yes'", "#{c} == 'yes'"),
    ("selected(m, 'a')", "d2:containsItems(#{m}, 'a')"),
    ("selected(c, 'no')", "#{c} == 'no'"),
    ("answered(t) and not b", "d2:hasValue('t') && !#{b}"),
    ("d < '2024-01-01'", "d2:hasValue('d') && d2:daysBetween('2024-01-01', #{d}) < 0"),
    ("d <= today()", "d2:hasValue('d') && d2:daysBetween(V{current_date}, #{d}) <= 0"),
    ("age_in_years(born) < 18",
     "d2:hasValue('born') && d2:yearsBetween(#{born}, V{current_date}) < 18"),
    ("count_selected(m) = 0", "!d2:hasValue('m')"),
    ("count_selected(m) > 1", "d2:split(#{m}, ',', 1) != ''"),
    ("regex(t, '[0-9]{2}')", "d2:validatePattern(#{t}, '[0-9]{2}')"),
    ("t = \"it's\"", "#{t} == 'it\\'s'"),
    ("n - k + 1 > 0", "d2:hasValue('n') && d2:hasValue('k') && (#{n} - #{k}) + 1 > 0"),
    ("n - (k + 1) > 0", "d2:hasValue('n') && d2:hasValue('k') && #{n} - (#{k} + 1) > 0"),
    ("count_true(c = 'yes', b) >= 1",
     "d2:condition('#{c} == \"yes\"', 1, 0) + d2:condition('#{b}', 1, 0) >= 1"),
    ("if(b, n, k) > 2",
     "(#{b} && d2:hasValue('n') && #{n} > 2) || (!#{b} && d2:hasValue('k') && #{k} > 2)"),
])
def test_compile_condition__spells_d2(text, expected):
    """should spell each construct as DHIS2 expects it, guarding numbers and dates against empty"""
    assert COMPILER.condition(text, same) == expected


def test_compile_value__splits_an_if_into_one_rule_per_branch():
    """should turn an if() calculation into (condition, value) pairs with no d2:condition"""
    assert COMPILER.value("if(n >= 18, 'adult', 'child')", same) == [
        ("d2:hasValue('n') && #{n} >= 18", "'adult'"),
        ("!d2:hasValue('n') || #{n} < 18", "'child'"),
    ]


@pytest.mark.parametrize(("text", "reason"), [
    ("n mod 2 = 0", "mod"),
    ("when < '2024-01-01'", "date-times"),
    ("count_true(count_true(count_selected(m) + 1 > 1) > 0) > 0", "three levels"),
])
def test_compile__refuses_constructs_without_a_faithful_d2_form(text, reason):
    """should raise Untranslatable, saying why, instead of emitting a rule that means something else"""
    with pytest.raises(Untranslatable, match=reason):
        COMPILER.condition(text, same)


def test_model__groups_operators_one_at_a_time_like_dhis2():
    """should read a - b + c as a - (b + c), the quirk the compiler's brackets defend against"""
    evaluation = Evaluation({}, TODAY)
    assert evaluation.evaluate("10 - 2 + 3") == 5.0
    assert evaluation.evaluate("(10 - 2) + 3") == 11.0
    assert evaluation.evaluate("8 / 2 * 2") == 2.0


# ---- random expressions -------------------------------------------------------------------------

CODES_C, CODES_M = ["yes", "no", "unsure"], ["a", "b", "c"]
PATTERNS = ["[a-z]*", "a|b", ".*b.*", "[0-9]{1,3}", "it's", "", "\\d+"]
TEXT_LITERALS = st.sampled_from(["", "ab", "a b", "it's", 'say "hi"', "back\\slash", "é😀"])
DATE_LITERALS = st.dates(dt.date(2019, 1, 1), dt.date(2027, 12, 31)).map(lambda d: String(d.isoformat()))
PAST_LITERALS = st.dates(dt.date(1940, 1, 1), TODAY).map(lambda d: String(d.isoformat()))


def call(function: str, *args: Expr) -> Call:
    return Call(function, tuple(args))


def numbers(depth: int) -> st.SearchStrategy[Expr]:
    leaves = st.one_of(
        st.sampled_from([Name("n"), Name("k"), Name("x")]),
        st.integers(0, 20).map(Number),
        st.integers(0, 40).map(lambda i: Number(Decimal(i) / 4)),
        st.just(call("count_selected", Name("m"))),
        st.just(call("length", Name("t"))),
        st.tuples(dates(0), dates(0)).map(lambda p: call("days_between", *p)),
        st.one_of(st.just(Name("born")), PAST_LITERALS).map(lambda d: call("age_in_years", d)),
    )
    if depth == 0:
        return leaves
    sub = numbers(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(st.sampled_from(["+", "-", "*"]), sub, sub).map(lambda t: Arithmetic(*t)),
        st.tuples(sub, st.sampled_from([2, 4, 8])).map(lambda t: Arithmetic("/", t[0], Number(t[1]))),
        sub.map(Negate),
        sub.map(lambda v: call("int", v)),
        st.tuples(sub, st.integers(0, 2)).map(lambda t: call("round", t[0], Number(t[1]))),
        st.tuples(conditions(depth - 1), sub, sub).map(lambda t: call("if", *t)),
        st.tuples(sub, sub).map(lambda t: call("coalesce", *t)),
        st.lists(conditions(depth - 1), min_size=1, max_size=3).map(lambda a: call("count_true", *a)),
    )


def dates(depth: int) -> st.SearchStrategy[Expr]:
    leaves = st.one_of(st.sampled_from([Name("d"), Name("e"), call("today")]), DATE_LITERALS)
    if depth == 0:
        return leaves
    return st.one_of(
        leaves,
        st.tuples(conditions(depth - 1), leaves, leaves).map(lambda t: call("if", *t)),
        st.tuples(st.sampled_from([Name("d"), Name("e")]), leaves).map(lambda t: call("coalesce", *t)),
    )


def texts(depth: int) -> st.SearchStrategy[Expr]:
    leaves = st.one_of(st.just(Name("t")), TEXT_LITERALS.map(String))
    if depth == 0:
        return leaves
    return st.one_of(
        leaves,
        st.tuples(conditions(depth - 1), leaves, leaves).map(lambda t: call("if", *t)),
        st.just(call("coalesce", Name("t"), String("none"))),
    )


def conditions(depth: int) -> st.SearchStrategy[Expr]:
    ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
    leaves = st.one_of(
        st.sampled_from([Boolean(True), Boolean(False), Name("b"), Name("g")]),
        st.sampled_from(list(SYMBOLS)).filter(lambda s: s != "when").map(
            lambda s: call("answered", Name(s))),
        st.sampled_from(CODES_C).map(lambda code: call("selected", Name("c"), String(code))),
        st.sampled_from(CODES_M).map(lambda code: call("selected", Name("m"), String(code))),
        st.tuples(st.sampled_from(["=", "!="]), st.sampled_from(CODES_C + [""])).map(
            lambda t: Compare(t[0], Name("c"), String(t[1]))),
        st.tuples(st.sampled_from(["=", "!="]), TEXT_LITERALS).map(
            lambda t: Compare(t[0], Name("t"), String(t[1]))),
        st.sampled_from(PATTERNS).map(lambda p: call("regex", Name("t"), String(p))),
    )
    if depth == 0:
        return st.one_of(
            leaves,
            st.tuples(ops, numbers(0), numbers(0)).map(lambda t: Compare(*t)),
            st.tuples(ops, dates(0), dates(0)).map(lambda t: Compare(*t)),
        )
    sub = conditions(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(ops, numbers(depth - 1), numbers(depth - 1)).map(lambda t: Compare(*t)),
        st.tuples(ops, dates(depth - 1), dates(depth - 1)).map(lambda t: Compare(*t)),
        st.tuples(st.sampled_from(["=", "!="]), texts(depth - 1), texts(depth - 1)).map(
            lambda t: Compare(*t)),
        st.tuples(st.sampled_from(["=", "!="]), sub, sub).map(lambda t: Compare(*t)),
        st.tuples(st.sampled_from(["and", "or"]), sub, sub).map(lambda t: Logical(*t)),
        sub.map(Not),
        st.tuples(sub, sub, sub).map(lambda t: call("if", *t)),
    )


ANSWERS = st.fixed_dictionaries({
    "n": st.none() | st.integers(-3, 30),
    "k": st.none() | st.integers(-3, 30),
    "x": st.none() | st.integers(-40, 400).map(lambda i: Decimal(i) / 4),
    "t": st.none() | st.text("ab '\\é😀0123", max_size=5),
    "c": st.none() | st.sampled_from(CODES_C),
    "m": st.none() | st.lists(st.sampled_from(CODES_M), min_size=1, unique=True).map(tuple),
    "d": st.none() | st.dates(dt.date(2019, 1, 1), dt.date(2027, 12, 31)),
    "e": st.none() | st.dates(dt.date(2019, 1, 1), dt.date(2027, 12, 31)),
    "born": st.none() | st.dates(dt.date(1930, 1, 1), TODAY),
    "b": st.none() | st.booleans(),
    "g": st.none() | st.booleans(),
})


def variables_for(symbols: dict[str, Symbol], values: dict[str, Any]) -> dict[str, VariableValue]:
    kinds = {"integer": "NUMBER", "decimal": "NUMBER", "boolean": "BOOLEAN", "date": "DATE"}
    return {name: VariableValue(kinds.get(symbol.type, "STRING"), stored_text(symbol.type, values.get(name)))
            for name, symbol in symbols.items()}


def stored_text(element_type: str, value: Any) -> str | None:
    """A canonical value as DHIS2 stores it (option codes, comma-separated MULTI_TEXT, ...)."""
    if value is None or value == "" or value == ():
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if element_type == "select_multiple":
        return ",".join(value)
    if element_type == "geopoint":
        return f"[{value[1]},{value[0]}]"
    return str(value)


def same_value(reference: Any, assigned: str | None) -> bool:
    """The codebook's value (None, NaN or '' meaning empty) equals what ASSIGN stored."""
    if reference is None or reference == "" or (isinstance(reference, float) and math.isnan(reference)):
        return assigned is None
    if assigned is None:
        return False
    if isinstance(reference, bool):
        return assigned == ("true" if reference else "false")
    if isinstance(reference, int | float | Decimal):
        return math.isclose(float(assigned), float(reference), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(reference, dt.date):
        return assigned == reference.isoformat()
    return assigned == reference


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=conditions(3), values=ANSWERS)
def test_property__conditions_agree_with_evaluate(expr, values):
    """should give every random condition the same truth in our d2 model as in evaluate()"""
    assume(not check(expr, SYMBOLS, "relevant", None)[1])
    try:
        compiled = COMPILER.condition(expr, same)
    except Untranslatable as error:
        assume("quotes" not in error.reason)
        raise
    expected = evaluate(expr, values, today=TODAY, symbols=SYMBOLS)
    got = to_boolean(to_mixed(Evaluation(variables_for(SYMBOLS, values), TODAY).evaluate(compiled)))
    assert bool(got) == expected, f"{to_text(expr)}  →  {compiled}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=st.one_of(numbers(3), texts(2), dates(2)), values=ANSWERS)
def test_property__values_agree_with_evaluate(expr, values):
    """should assign every random calculation the value evaluate() computes (empty for NaN)"""
    assume(not check(expr, SYMBOLS, "calculation", None)[1])
    try:
        pairs = COMPILER.value(expr, same)
    except Untranslatable as error:
        assume("quotes" not in error.reason)
        raise
    evaluation = Evaluation(variables_for(SYMBOLS, values), TODAY)
    chosen = [data for condition, data in pairs if to_boolean(to_mixed(evaluation.evaluate(condition)))]
    assert len(chosen) <= 1, f"branches overlap: {pairs}"
    assigned = assigned_text(evaluation.evaluate(chosen[0])) if chosen else None
    expected = evaluate(expr, values, today=TODAY, symbols=SYMBOLS)
    assert same_value(expected, assigned), f"{to_text(expr)} = {expected!r}, d2 gives {assigned!r} via {pairs}"


# ---- the codebook's rules, end to end ----------------------------------------------------------


@functools.lru_cache(maxsize=2048)
def parsed(text: str) -> Expr:
    """Codebook expressions parse once: the trees are immutable."""
    return parse(text)


def past_only(codebook: Codebook) -> set[str]:
    """Dates read by age_in_years(): drawn up to today, because d2:yearsBetween truncates towards
    zero for a later date where XPath subtracts calendar years (the codebook rejects such dates)."""
    found = set()
    for element in codebook.elements.values():
        for _, text in element.expressions():
            for node in walk(parsed(text)):
                if isinstance(node, Call) and node.function == "age_in_years" and isinstance(node.args[0], Name):
                    found.add(node.args[0].name)
                elif isinstance(node, Call) and node.function == "age_in_years":
                    found.add(element.code)
    return found


def answers_for(codebook: Codebook, codes: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    past = past_only(codebook)

    def strategy(element: Element) -> st.SearchStrategy[Any]:
        options = codebook.options_for(element)
        kind = element.type
        if kind == "text":
            value = st.sampled_from(PLAUSIBLE_TEXT) | st.text("ab1-_ @.", max_size=6)
        elif kind == "integer":
            value = st.integers(-3, 130)
        elif kind == "decimal":
            value = st.integers(-40, 4000).map(lambda i: Decimal(i) / 4)
        elif kind == "date":
            latest = TODAY if element.code in past else TODAY + dt.timedelta(days=400)
            value = st.dates(dt.date(1900, 1, 1), latest)
        elif kind == "select_one":
            value = st.sampled_from(options.codes())
        elif kind == "select_multiple":
            value = st.lists(st.sampled_from(options.codes()), min_size=1, max_size=4, unique=True).map(tuple)
        elif kind == "boolean":
            value = st.booleans()
        elif kind == "geopoint":
            value = st.just((12.5, -3.25))
        else:
            return st.none()
        return st.none() | value

    return st.fixed_dictionaries({code: strategy(codebook.elements[code]) for code in codes})


def stored_values(codebook: Codebook, raw: dict[str, Any]) -> dict[str, Any]:
    """Every element's stored value as the XLSForm keeps it: calculations computed from the
    answers in dependency order, empty when not relevant or NaN."""
    symbols = symbols_of(codebook)
    values = dict(raw)

    def compute(code: str) -> Any:
        if code in values:
            return values[code]
        element = codebook.elements[code]
        for name in _references(element):
            if codebook.elements.get(name) is not None and codebook.elements[name].calculation:
                compute(name)
        relevant = element.relevant is None or evaluate(
            parsed(element.relevant), values, today=TODAY, symbols=symbols) is True
        value = evaluate(parsed(element.calculation), values, today=TODAY, symbols=symbols) if relevant else None
        if value == "" or (isinstance(value, float) and math.isnan(value)):
            value = None
        values[code] = value
        return value

    for element in codebook.elements.values():
        if element.calculation:
            compute(element.code)
    return values


def _references(element: Element) -> set[str]:
    return {node.name for _, text in element.expressions() for node in walk(parsed(text))
            if isinstance(node, Name)}


_PACKAGES: dict[int, Any] = {}


def check_rules(codebook: Codebook, raw: dict[str, Any], package: Any = None) -> None:
    """Run the package's rules on ``raw`` answers in our d2 model and compare every effect with
    what the codebook's expressions say (evaluate() over the XLSForm's stored values)."""
    package = package or _PACKAGES.get(id(codebook))
    if package is None:
        package = _PACKAGES[id(codebook)] = build_metadata(codebook)
    assert package.rule_plan is not None and package.rule_plan.skipped == ()
    symbols = symbols_of(codebook)
    values = stored_values(codebook, raw)
    attributes, events = {}, {}
    stages = {stage["code"]: stage for stage in package.json["programStages"]}
    stage_of = {psde["dataElement"]["id"]: stage["id"] for stage in stages.values()
                for psde in stage["programStageDataElements"]}
    for code, uid in package.element_uids.items():
        element = codebook.elements[code]
        text = stored_text(element.type, values.get(code)) if not element.calculation else None
        if text is None:
            continue
        if uid in stage_of:
            events.setdefault(stage_of[uid], {})[uid] = text
        else:
            attributes[uid] = text
    run = run_rules(package.json, attributes, events, TODAY)
    assert run.errors == []
    effects: dict[tuple[str, str], list] = {}
    for effect in run.effects:
        effects.setdefault((effect.target, effect.action), []).append(effect)

    for code, uid in package.element_uids.items():
        element = codebook.elements[code]
        value = values.get(code)
        own = symbols[code]
        relevant = element.relevant is None or evaluate(
            parsed(element.relevant), values, self_value=value, today=TODAY, symbols=symbols,
            self_symbol=own) is True
        where = f"{code} with {({k: v for k, v in values.items() if v is not None})!r}"
        if element.relevant:
            assert bool(effects.get((uid, "HIDEFIELD"))) == (not relevant), f"HIDEFIELD {where}"
        if element.calculation:
            assigns = effects.get((uid, "ASSIGN"), [])
            assert len(assigns) == 1, f"{len(assigns)} ASSIGN effects for {where}"
            assert same_value(value, assigns[0].data), f"ASSIGN {assigns[0].data!r} != {value!r}: {where}"
        answered = value not in (None, "", ())
        if element.constraint:
            holds = evaluate(parsed(element.constraint), values, self_value=value, today=TODAY,
                             symbols=symbols, self_symbol=own)
            expected_error = relevant and answered and holds is not True
            assert bool(effects.get((uid, "SHOWERROR"))) == expected_error, f"SHOWERROR {where}"
            if expected_error:
                assert effects[(uid, "SHOWERROR")][0].content == (element.constraint_message or
                                                                   effects[(uid, "SHOWERROR")][0].content)
        required = element.required
        if not element.calculation and (isinstance(required, str) or (required is True and element.relevant)):
            needed = relevant and (required is True or evaluate(
                parsed(required), values, today=TODAY, symbols=symbols) is True)
            assert bool(effects.get((uid, "SETMANDATORYFIELD"))) == needed, f"SETMANDATORYFIELD {where}"


REAL = load_codebook()
REAL_INPUTS = [code for code, element in REAL.elements.items()
               if not element.calculation and element.sensitivity not in ("direct_identifier", "restricted")]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=answers_for(REAL, REAL_INPUTS))
def test_property__codebook_rules_agree_with_the_codebook(raw):
    """should hide, flag, require and assign exactly what the codebook's expressions say, for random answers"""
    check_rules(REAL, raw)


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Codebook:
    import textwrap
    files = {name: textwrap.dedent(text).lstrip("\n") for name, text in MINI_CODEBOOK.items()}
    return load_codebook(write_codebook(tmp_path_factory.mktemp("mini") / "codebook", files))


def test_property__mini_codebook_rules_agree(mini):
    """should agree on the mini codebook too, for every combination of its answers"""
    inputs = [code for code, element in mini.elements.items()
              if not element.calculation and element.sensitivity != "direct_identifier"]

    @settings(max_examples=100, deadline=None)
    @given(raw=answers_for(mini, inputs))
    def run(raw):
        check_rules(mini, raw)

    run()


def test_palermo_chain__screening_result_follows_the_answers():
    """should assign likely / possible / unlikely from the raw answers in one rule run"""
    yes = {code: "yes" for code in ("consent_screening", "scr_act_recruited", "scr_means_debt",
                                    "scr_purpose_forced_work")}
    check_rules(REAL, yes)
    values = stored_values(REAL, yes)
    assert values["screening_result"] == "likely"
    values = stored_values(REAL, {**yes, "scr_means_debt": "no"})
    assert values["screening_result"] == "possible"
    check_rules(REAL, {**yes, "scr_means_debt": "no"})
    check_rules(REAL, {"consent_screening": "no", "scr_act_recruited": "yes"})


def test_compiled_rules__parse_in_the_model():
    """should emit conditions and ASSIGN data that the d2 grammar (as modelled) accepts"""
    package = build_metadata(REAL).json
    for rule in package["programRules"]:
        parse_d2(rule["condition"])
    for action in package["programRuleActions"]:
        if "data" in action:
            parse_d2(action["data"])
    names = re.findall(r"#\{([^}]*)\}", " ".join(r["condition"] for r in package["programRules"]))
    assert names, "expected variables in the conditions"


def test_check_rules__fails_on_a_tampered_rule():
    """should catch a rule that says >= 3 where the codebook says >= 2 (the check can fail)"""
    import copy

    answers = {"consent_screening": "yes", "scr_act_recruited": "yes", "scr_means_debt": "yes"}
    check_rules(REAL, answers)
    package = build_metadata(REAL)
    tampered = copy.deepcopy(package.json)
    for rule in tampered["programRules"]:
        rule["condition"] = rule["condition"].replace(", 1, 0) >= 2", ", 1, 0) >= 3")
    broken = type(package)(tampered, package.warnings, package.element_uids, package.rule_plan)
    with pytest.raises(AssertionError, match="screening_result"):
        check_rules(REAL, answers, broken)
