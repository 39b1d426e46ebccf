"""Properties of `decide` over random records of the real codebook and random policies.

Policies are built directly (not through the file loader), including configurations the loader
would refuse - the class `restricted` in `classes`, non-restricted codes under `restricted` - so
the hard rules are shown to hold in code, whatever the configuration says.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tipdata.codebook import load_codebook
from tipdata.policy import (
    CLASS_NOT_ALLOWED,
    CONSENT_MISSING,
    DIRECT_IDENTIFIER_NOT_ALLOWED,
    EXCLUDED,
    FREE_TEXT_NOT_ALLOWED,
    NO_CONSENT_PURPOSES,
    RESTRICTED_NOT_NAMED,
    TARGETS,
    UNKNOWN_ELEMENT,
    RoutingPolicy,
    TargetPolicy,
    decide,
)

from .conftest import record

CODEBOOK = load_codebook()
CODES = sorted(CODEBOOK.elements)
PURPOSES = sorted(CODEBOOK.consent_purposes)
CLASSES = sorted(CODEBOOK.sensitivity_classes)
IMMIGRATION = "person_immigration_status"
assert CODEBOOK.elements[IMMIGRATION].sensitivity == "restricted"

values = st.one_of(st.none(), st.text(max_size=12), st.integers(), st.booleans(),
                   st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2030, 1, 1)),
                   st.tuples(st.sampled_from(["a", "b", "c"])))
#: the elements the hard rules are about, drawn as often as all the others together
HARD_CASES = sorted(c for c, e in CODEBOOK.elements.items()
                    if e.sensitivity in ("restricted", "direct_identifier") or not e.consent)
codes = st.one_of(st.sampled_from(CODES), st.sampled_from([*HARD_CASES, "not_in_codebook"]))
purposes = st.frozensets(st.sampled_from([*PURPOSES, "not_a_purpose"]))
element_sets = st.lists(codes, max_size=8).map(frozenset)


@st.composite
def records(draw: st.DrawFn) -> Any:
    chosen = draw(st.lists(codes, max_size=30, unique=True))
    return record({code: draw(values) for code in chosen}, draw(purposes))


@st.composite
def target_policies(draw: st.DrawFn, name: str) -> TargetPolicy:
    return TargetPolicy(
        name=name,
        classes=draw(st.dictionaries(st.sampled_from(CLASSES), purposes)),
        restricted=dict(draw(st.lists(st.tuples(st.one_of(st.just(IMMIGRATION), codes), purposes), max_size=3))),
        exclude=draw(element_sets),
        free_text=draw(st.booleans()),
        free_text_allow=draw(element_sets),
    )


@st.composite
def policies(draw: st.DrawFn) -> RoutingPolicy:
    return RoutingPolicy(version="random-1", owners={},
                         targets={name: draw(target_policies(name)) for name in TARGETS})


def _accepted(rules: TargetPolicy, code: str) -> frozenset[str]:
    element = CODEBOOK.elements[code]
    if element.sensitivity == "restricted":
        return rules.restricted.get(code, frozenset())
    return rules.classes.get(element.sensitivity, frozenset())


@settings(max_examples=200, deadline=None)
@given(records(), policies())
def test_decide__never_sends_what_the_rules_forbid(rec: Any, policy: RoutingPolicy) -> None:
    """should send restricted elements only where named, direct identifiers only where allowed,
    and nothing without a purpose the person, the element and the target all share."""
    consent = rec.envelope.consent_purposes
    for target, rules in policy.targets.items():
        decision = decide(rec, target, policy, CODEBOOK)
        for code, value in decision.allowed_values.items():
            element = CODEBOOK.elements[code]
            assert value == rec.values[code]
            assert element.consent, code
            assert code not in rules.exclude
            if element.sensitivity == "restricted":
                assert code in rules.restricted, (target, code)
            if element.sensitivity == "direct_identifier":
                assert "direct_identifier" in rules.classes, (target, code)
            assert consent & frozenset(element.consent) & _accepted(rules, code), (target, code)
            if element.type == "text" and not rules.free_text:
                assert code in rules.free_text_allow
        if IMMIGRATION in decision.allowed_values:
            assert IMMIGRATION in rules.restricted
        assert decision.purposes_used <= consent


def _reason_holds(reason: str, code: str, rules: TargetPolicy, consent: frozenset[str]) -> bool:
    element = CODEBOOK.elements.get(code)
    if reason == UNKNOWN_ELEMENT:
        return element is None
    assert element is not None
    return {
        NO_CONSENT_PURPOSES: not element.consent,
        EXCLUDED: code in rules.exclude,
        RESTRICTED_NOT_NAMED: element.sensitivity == "restricted" and code not in rules.restricted,
        DIRECT_IDENTIFIER_NOT_ALLOWED: element.sensitivity == "direct_identifier"
        and "direct_identifier" not in rules.classes,
        CLASS_NOT_ALLOWED: element.sensitivity not in rules.classes,
        FREE_TEXT_NOT_ALLOWED: element.type == "text" and not rules.free_text and code not in rules.free_text_allow,
        CONSENT_MISSING: not consent & frozenset(element.consent) & _accepted(rules, code),
    }[reason]


@settings(max_examples=200, deadline=None)
@given(records(), policies())
def test_decide__every_withholding_has_a_true_reason(rec: Any, policy: RoutingPolicy) -> None:
    """should account for every value once, withholding it only for a reason that holds."""
    consent = rec.envelope.consent_purposes
    for target, rules in policy.targets.items():
        decision = decide(rec, target, policy, CODEBOOK)
        withheld = dict(decision.withheld)
        assert set(withheld).isdisjoint(decision.allowed_values)
        assert set(withheld) | set(decision.allowed_values) == set(rec.values)
        for code, reason in withheld.items():
            assert _reason_holds(reason, code, rules, consent), (target, code, reason)


@settings(max_examples=200, deadline=None)
@given(records(), policies(), st.randoms(use_true_random=False))
def test_decide__is_deterministic(rec: Any, policy: RoutingPolicy, rnd: Any) -> None:
    """should decide the same whatever the order of the record's values, every time."""
    items = list(rec.values.items())
    rnd.shuffle(items)
    shuffled = rec.model_copy(update={"values": dict(items)})
    for target in policy.targets:
        first = decide(rec, target, policy, CODEBOOK)
        assert decide(rec, target, policy, CODEBOOK) == first
        again = decide(shuffled, target, policy, CODEBOOK)
        assert again == first
        assert list(again.allowed_values) == list(first.allowed_values)


@settings(max_examples=200, deadline=None)
@given(records(), policies(), purposes)
def test_decide__more_consent_never_sends_less(rec: Any, policy: RoutingPolicy, extra: frozenset[str]) -> None:
    """should send a superset when the person consents to more purposes (and never more on less)."""
    wider = rec.model_copy(update={"envelope": rec.envelope.model_copy(
        update={"consent_purposes": rec.envelope.consent_purposes | extra})})
    for target in policy.targets:
        narrow = decide(rec, target, policy, CODEBOOK).allowed_values
        broad = decide(wider, target, policy, CODEBOOK).allowed_values
        assert set(narrow) <= set(broad)
