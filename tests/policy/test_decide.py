"""`decide`: what one target may receive from one record, and why the rest is withheld."""

from __future__ import annotations

import pytest

from tipdata.model import Codebook
from tipdata.policy import (
    CLASS_NOT_ALLOWED,
    CONSENT_MISSING,
    DEFAULT_POLICY_PATH,
    DIRECT_IDENTIFIER_NOT_ALLOWED,
    EXCLUDED,
    FREE_TEXT_NOT_ALLOWED,
    NO_CONSENT_PURPOSES,
    RESTRICTED_NOT_NAMED,
    UNKNOWN_ELEMENT,
    PolicyError,
    RoutingPolicy,
    TargetPolicy,
    decide,
    parse_policy,
)

from .conftest import INTAKE, record

ALL_PURPOSES = ("service_referral", "law_enforcement", "statistics", "follow_up_contact")
EVERY_CLASS = {c: frozenset(ALL_PURPOSES) for c in
               ("direct_identifier", "quasi_identifier", "restricted", "sensitive", "operational")}


def _policy(**targets: TargetPolicy) -> RoutingPolicy:
    return RoutingPolicy(version="test-1", owners={}, targets=targets)


def test_decide__dhis2_default_gets_coded_statistics_only(default_policy: RoutingPolicy, codebook: Codebook) -> None:
    """should send DHIS2 no identifier, no immigration status, no date of birth and no free text."""
    decision = decide(record(INTAKE, ["statistics", "service_referral"]), "dhis2", default_policy, codebook)
    assert decision.allowed_values == {
        "case_reference": "TIP-2026-0001", "case_status": "active", "person_age": 17,
        "person_sex": "female", "scr_means_force": "yes"}
    assert dict(decision.withheld) == {
        "case_ticket": NO_CONSENT_PURPOSES, "case_worker": FREE_TEXT_NOT_ALLOWED,
        "ident_notes": FREE_TEXT_NOT_ALLOWED, "person_contact_safe": CONSENT_MISSING,
        "person_date_of_birth": EXCLUDED, "person_given_names": DIRECT_IDENTIFIER_NOT_ALLOWED,
        "person_immigration_status": RESTRICTED_NOT_NAMED, "person_phone": DIRECT_IDENTIFIER_NOT_ALLOWED}
    assert decision.purposes_used == frozenset({"statistics", "service_referral"})
    assert decision.policy_version == default_policy.audit_version


def test_decide__frappe_default_needs_service_referral_for_identifiers(default_policy: RoutingPolicy,
                                                                        codebook: Codebook) -> None:
    """should send names to casework with service_referral consent, and not with statistics alone."""
    with_referral = decide(record(INTAKE, ["service_referral"]), "frappe", default_policy, codebook)
    statistics_only = decide(record(INTAKE, ["statistics"]), "frappe", default_policy, codebook)
    assert with_referral.allowed_values["person_given_names"] == "Amara"
    assert "person_immigration_status" not in with_referral.allowed_values
    assert statistics_only.allowed_values == {}
    assert dict(statistics_only.withheld)["person_given_names"] == CONSENT_MISSING


def test_decide__follow_up_consent_carries_contact_safety(default_policy: RoutingPolicy, codebook: Codebook) -> None:
    """should send with follow-up consent alone the phone and whether contact is safe, not the notes."""
    decision = decide(record(INTAKE, ["follow_up_contact"]), "frappe", default_policy, codebook)
    assert {"person_phone", "person_contact_safe"} <= set(decision.allowed_values)
    assert dict(decision.withheld)["ident_notes"] == CONSENT_MISSING


def test_decide__restricted_never_travels_through_a_class(codebook: Codebook) -> None:
    """should withhold immigration status from a hand-built policy allowing the class `restricted`."""
    policy = _policy(dhis2=TargetPolicy("dhis2", classes=EVERY_CLASS))
    decision = decide(record(INTAKE, ALL_PURPOSES), "dhis2", policy, codebook)
    assert dict(decision.withheld)["person_immigration_status"] == RESTRICTED_NOT_NAMED
    assert "person_given_names" in decision.allowed_values  # the class itself was allowed


def test_decide__restricted_travels_when_named_and_consented(codebook: Codebook) -> None:
    """should send immigration status to a target naming it, only under a consented purpose."""
    rules = TargetPolicy("frappe", classes={},
                         restricted={"person_immigration_status": frozenset({"service_referral"})})
    policy = _policy(frappe=rules)
    named = decide(record(INTAKE, ["service_referral"]), "frappe", policy, codebook)
    unconsented = decide(record(INTAKE, ["statistics", "follow_up_contact"]), "frappe", policy, codebook)
    assert named.allowed_values == {"person_immigration_status": "irregular"}
    assert dict(unconsented.withheld)["person_immigration_status"] == CONSENT_MISSING


def test_decide__direct_identifiers_need_their_class(codebook: Codebook) -> None:
    """should withhold direct identifiers from a target whose classes omit direct_identifier."""
    classes = {c: p for c, p in EVERY_CLASS.items() if c != "direct_identifier"}
    decision = decide(record(INTAKE, ALL_PURPOSES), "export", _policy(export=TargetPolicy("export", classes)), codebook)
    assert dict(decision.withheld)["person_phone"] == DIRECT_IDENTIFIER_NOT_ALLOWED
    assert "person_phone" not in decision.allowed_values and "person_age" in decision.allowed_values


def test_decide__empty_consent_list_never_leaves(codebook: Codebook) -> None:
    """should withhold an element whose codebook consent list is empty from the most open target."""
    policy = _policy(export=TargetPolicy("export", EVERY_CLASS, free_text_allow=frozenset({"case_ticket"})))
    decision = decide(record({"case_ticket": "T-77"}, ALL_PURPOSES), "export", policy, codebook)
    assert decision.allowed_values == {} and decision.withheld == [("case_ticket", NO_CONSENT_PURPOSES)]


def test_decide__purpose_must_suit_element_and_target(codebook: Codebook) -> None:
    """should need a purpose the person gave, the element allows and the target accepts, all at once."""
    # person_date_of_birth may be shared for service_referral and law_enforcement only
    policy = _policy(dhis2=TargetPolicy("dhis2", {"quasi_identifier": frozenset({"statistics", "law_enforcement"})}))
    values = {"person_date_of_birth": "2008-05-01"}
    assert decide(record(values, ["statistics"]), "dhis2", policy, codebook).allowed_values == {}
    assert decide(record(values, ["service_referral"]), "dhis2", policy, codebook).allowed_values == {}
    allowed = decide(record(values, ["law_enforcement"]), "dhis2", policy, codebook)
    assert allowed.allowed_values == values and allowed.purposes_used == frozenset({"law_enforcement"})


def test_decide__unknown_elements_and_classes_are_withheld(codebook: Codebook) -> None:
    """should withhold codes the codebook does not know and classes the target does not take."""
    policy = _policy(kobo=TargetPolicy("kobo", {"operational": frozenset(ALL_PURPOSES)}))
    decision = decide(record({"nickname": "x", "person_age": 17}, ALL_PURPOSES), "kobo", policy, codebook)
    assert decision.withheld == [("nickname", UNKNOWN_ELEMENT), ("person_age", CLASS_NOT_ALLOWED)]


def test_decide__unknown_target_is_an_error(codebook: Codebook) -> None:
    """should raise, naming the target, rather than guess for a target the policy does not configure."""
    policy = _policy(kobo=TargetPolicy("kobo", {}))
    with pytest.raises(PolicyError, match="no target 'dhis2'"):
        decide(record(INTAKE, ALL_PURPOSES), "dhis2", policy, codebook)


def test_decide__opted_in_immigration_status_from_a_policy_file(default_policy: RoutingPolicy,
                                                                codebook: Codebook) -> None:
    """should send immigration status to casework once the policy file names it (the documented opt-in)."""
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace("# person_immigration_status", "person_immigration_status")
    policy = parse_policy(text, codebook=codebook, source="site.toml")
    frappe = decide(record(INTAKE, ["service_referral"]), "frappe", policy, codebook)
    dhis2 = decide(record(INTAKE, ALL_PURPOSES), "dhis2", policy, codebook)
    assert frappe.allowed_values["person_immigration_status"] == "irregular"
    assert "person_immigration_status" not in dhis2.allowed_values


def test_owns__updates_flow_from_the_owner(default_policy: RoutingPolicy, codebook: Codebook) -> None:
    """should make casework the owner of person data and Kobo the owner of screenings."""
    assert default_policy.owns("frappe", "person_phone", codebook)
    assert not default_policy.owns("kobo", "person_phone", codebook)
    assert default_policy.owns("kobo", "scr_means_force", codebook)
    assert default_policy.owner_of("prosecution") == "kobo"
