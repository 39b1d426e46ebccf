"""The DHIS2 metadata package: ids, references, limits, confidentiality, rules and the golden file.

Golden file: `tests/dhis2/golden/mini-metadata.json` is the package of the inline mini codebook
(tests/conftest.py). After an intended change to the builder, regenerate and review the diff:

    TIPDATA_UPDATE_GOLDEN=1 python -m pytest tests/dhis2/test_metadata.py -k golden
    git diff tests/dhis2/golden/
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tipdata.build import BuildOptions
from tipdata.codebook import load_codebook
from tipdata.dhis2_app import uids as uids_module
from tipdata.dhis2_app.aggregate import (
    CATEGORY_LIMITS,
    DEFAULT_CATEGORY_COMBO,
    CategoryLimits,
    build_aggregate,
    category_option_uid,
)
from tipdata.dhis2_app.metadata import (
    DeploymentPolicy,
    PolicyViolation,
    build_metadata,
    value_type,
)
from tipdata.dhis2_app.names import CODE_LIMIT, NAME_LIMIT, SHORT_NAME_LIMIT, UniqueNames
from tipdata.dhis2_app.target import METADATA_PATH, dhis2_artifacts
from tipdata.dhis2_app.uids import UID_PATTERN, UidCollision, UidRegistry, uid_for

GOLDEN = Path(__file__).parent / "golden" / "mini-metadata.json"
REAL = load_codebook()
DEFAULT = build_metadata(REAL)
ORG_UNIT, GROUP = "ImspTQPwCqd", "wl5cDMuUhmF"
WITH_IDENTIFIERS = build_metadata(REAL, DeploymentPolicy(
    include_direct_identifiers=True, org_units=(ORG_UNIT,), data_user_groups=(GROUP,)))
DIRECT = [code for code, e in REAL.elements.items() if e.sensitivity == "direct_identifier"]
RESTRICTED = [code for code, e in REAL.elements.items() if e.sensitivity == "restricted"]


def objects(package: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(top-level type, object) for every object and every embedded object with more than an id."""

    def embedded(kind: str, value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(value, dict):
            if "id" in value and len(value) > 1 and "access" not in value:
                yield kind, value
            for key, child in value.items():
                if key != "sharing":
                    yield from embedded(kind if key != "translations" else "", child)
        elif isinstance(value, list):
            for child in value:
                yield from embedded(kind, child)

    for kind, items in package.items():
        yield from embedded(kind, items)


def references(value: Any) -> Iterator[str]:
    """Every `{"id": ...}` reference (a dict holding only an id), sharing entries included."""
    if isinstance(value, dict):
        if set(value) == {"id"}:
            yield value["id"]
        for child in value.values():
            yield from references(child)
    elif isinstance(value, list):
        for child in value:
            yield from references(child)


# ---- uids ---------------------------------------------------------------------------------------


def test_uid_for__is_a_valid_stable_uid():
    """should derive the same 11-character, letter-first UID from the same type and code"""
    uid = uid_for("dataElement", "screening_result")
    assert UID_PATTERN.match(uid)
    assert uid == uid_for("dataElement", "screening_result")
    assert uid != uid_for("trackedEntityAttribute", "screening_result")
    assert uid == "xil9aCorlr4", "changing the UID scheme would orphan every imported object"


def test_uid_registry__names_both_codes_on_a_collision(monkeypatch):
    """should refuse two different codes that hash to one UID, naming both"""
    monkeypatch.setattr(uids_module, "uid_for", lambda object_type, code: "AAAAAAAAAAA")
    registry = UidRegistry()
    registry.uid("dataElement", "first_code")
    assert registry.uid("dataElement", "first_code") == "AAAAAAAAAAA"
    with pytest.raises(UidCollision, match="dataElement:first_code.*dataElement:second_code"):
        registry.uid("dataElement", "second_code")


@pytest.mark.parametrize("package", [DEFAULT, WITH_IDENTIFIERS], ids=["default", "identifiers"])
def test_package__uids_valid_and_unique(package):
    """should give every object a valid UID, none shared by two objects"""
    ids = [obj["id"] for _, obj in objects(package.json)]
    assert ids and all(UID_PATTERN.match(uid) for uid in ids)
    assert [uid for uid, count in Counter(ids).items() if count > 1] == []


@pytest.mark.parametrize("package", [DEFAULT, WITH_IDENTIFIERS], ids=["default", "identifiers"])
def test_package__every_reference_resolves(package):
    """should reference only objects in the package (or DHIS2's default category combo and the
    policy's org units and user groups)"""
    defined = {obj["id"] for _, obj in objects(package.json)}
    allowed = defined | {DEFAULT_CATEGORY_COMBO, ORG_UNIT, GROUP}
    assert sorted(set(references(package.json)) - allowed) == []


def test_package__is_deterministic():
    """should produce the same bytes from two builds"""
    assert build_metadata(REAL).to_bytes() == DEFAULT.to_bytes()


# ---- options ------------------------------------------------------------------------------------


def test_options__codes_are_the_codebook_codes():
    """should give every option the codebook's option code, in a set holding exactly that list"""
    package = DEFAULT.json
    options = {option["id"]: option for option in package["options"]}
    for option_set in package["optionSets"]:
        codes = [options[ref["id"]]["code"] for ref in option_set["options"]]
        list_name = next(name for name, option_list in REAL.option_lists.items()
                         if option_list.codes() == tuple(codes))
        assert all(options[ref["id"]]["optionSet"]["id"] == option_set["id"]
                   for ref in option_set["options"]), list_name


def test_options__codes_in_rules_exist_in_the_variables_option_set():
    """should compare option-set variables only with codes of their own option set"""
    package = DEFAULT.json
    options = {option["id"]: option["code"] for option in package["options"]}
    set_codes = {s["id"]: {options[ref["id"]] for ref in s["options"]} for s in package["optionSets"]}
    element_sets = {obj["id"]: obj["optionSet"]["id"]
                    for obj in package["dataElements"] + package["trackedEntityAttributes"]
                    if "optionSet" in obj}
    variable_codes = {}
    for variable in package["programRuleVariables"]:
        target = (variable.get("dataElement") or variable.get("trackedEntityAttribute"))["id"]
        if target in element_sets:
            variable_codes[variable["name"]] = set_codes[element_sets[target]]
    texts = [r["condition"] for r in package["programRules"]] + \
            [a["data"] for a in package["programRuleActions"] if "data" in a]
    used = re.compile(r"""#\{([^}]+)\} [!=]= ['"]([^'"]*)['"]|d2:containsItems\(#\{([^}]+)\}, ['"]([^'"]*)['"]\)""")
    checked = 0
    for text in texts:
        for equal_var, equal_code, contains_var, contains_code in used.findall(text):
            variable, code = (equal_var, equal_code) if equal_var else (contains_var, contains_code)
            if variable in variable_codes:
                assert code in variable_codes[variable] | {""}, (variable, code)
                checked += 1
    assert checked > 100


# ---- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", [DEFAULT, WITH_IDENTIFIERS], ids=["default", "identifiers"])
def test_names__within_dhis2_limits(package):
    """should keep name <= 230, shortName <= 50 and code <= 50 (option codes <= 230) everywhere"""
    for kind, obj in objects(package.json):
        assert len(obj.get("name", "")) <= NAME_LIMIT, obj["name"]
        assert len(obj.get("shortName", "")) <= SHORT_NAME_LIMIT, obj["shortName"]
        assert len(obj.get("formName", "")) <= NAME_LIMIT, obj["formName"]
        assert len(obj.get("code", "")) <= (230 if kind == "options" else CODE_LIMIT), obj["code"]
        if kind == "programRules":
            assert len(obj["description"]) <= 255, obj["description"]
        for translation in obj.get("translations", []):
            limit = SHORT_NAME_LIMIT if translation["property"] == "SHORT_NAME" else NAME_LIMIT
            assert len(translation["value"]) <= limit, translation


@pytest.mark.parametrize("package", [DEFAULT, WITH_IDENTIFIERS], ids=["default", "identifiers"])
def test_names__unique_per_type(package):
    """should not repeat a name, short name or code within an object type (E5003)"""
    for kind in ("dataElements", "trackedEntityAttributes", "optionSets", "categoryOptions",
                 "categories", "categoryCombos", "programStages", "programRules",
                 "programRuleVariables"):
        for key in ("name", "shortName", "code"):
            values = [obj[key].casefold() for obj in package.json[kind] if key in obj]
            assert [v for v, n in Counter(values).items() if n > 1] == [], (kind, key)


def test_unique_names__disambiguate_with_a_stable_suffix():
    """should keep the first text and tell a second one apart by its code"""
    names = UniqueNames(50)
    assert names.claim("a", "TIP Other - please describe") == "TIP Other - please describe"
    second = names.claim("b", "TIP Other - please describe")
    assert second.startswith("TIP Other - please describe ~") and len(second) <= 50
    assert UniqueNames(50).claim("b", "x" * 80) == "x" * 49 + "…"


def test_translations__fr_and_es_for_names_and_questions():
    """should translate names, short names and question wording into every codebook language"""
    sex = next(a for a in DEFAULT.json["trackedEntityAttributes"] if a["code"] == "person_sex")
    locales = {(t["locale"], t["property"]) for t in sex["translations"]}
    assert {("fr", "NAME"), ("fr", "SHORT_NAME"), ("fr", "FORM_NAME"),
            ("es", "NAME"), ("es", "SHORT_NAME"), ("es", "FORM_NAME")} <= locales
    form_name = {t["locale"]: t["value"] for t in sex["translations"] if t["property"] == "FORM_NAME"}
    assert form_name["fr"] == REAL.element_text("fr", "person_sex")
    female = next(o for o in DEFAULT.json["options"] if o["code"] == "female")
    assert {t["locale"] for t in female["translations"]} == {"fr", "es"}


# ---- mapping ------------------------------------------------------------------------------------


def test_elements__person_level_are_attributes_and_the_rest_stage_data_elements():
    """should make person elements attributes and every other level a data element in its stage"""
    package = DEFAULT.json
    attributes = {a["code"] for a in package["trackedEntityAttributes"]}
    tracker = {d["code"] for d in package["dataElements"] if d["domainType"] == "TRACKER"}
    included = {code for code, e in REAL.elements.items() if code not in DIRECT + RESTRICTED}
    assert attributes == {c for c in included if REAL.elements[c].level == "person"}
    assert tracker == included - attributes
    stages = {s["code"]: s for s in package["programStages"]}
    case = stages["TIP_STAGE_CASE"]
    assert case["repeatable"] is False and case["autoGenerateEvent"] is True
    assert uid_for("dataElement", "case_reference") in {
        p["dataElement"]["id"] for p in case["programStageDataElements"]}
    repeatable = {code for code, s in stages.items() if s["repeatable"]}
    assert repeatable == {"TIP_STAGE_REFERRAL", "TIP_STAGE_SERVICE", "TIP_STAGE_OUTCOME"}


def test_elements__tracker_data_elements_have_no_aggregation():
    """should mark tracker data elements TRACKER with aggregationType NONE and the default combo"""
    for element in DEFAULT.json["dataElements"]:
        if element["domainType"] == "TRACKER":
            assert element["aggregationType"] == "NONE"
            assert element["categoryCombo"] == {"id": DEFAULT_CATEGORY_COMBO}


@pytest.mark.parametrize(("code", "expected"), [
    ("case_incoming_referral_details", "LONG_TEXT"),  # max_length 1000
    ("case_reference", "TEXT"),
    ("age_at_screening", "INTEGER_ZERO_OR_POSITIVE"),  # . >= 0 and . <= 120
    ("ref_days_to_service", "INTEGER"),  # a calculation that can be negative
    ("pros_fine_amount", "NUMBER"),
    ("screening_date", "DATE"),
    ("palermo_elements_met", "BOOLEAN"),
    ("screening_result", "TEXT"),
    ("person_citizenship", "MULTI_TEXT"),
])
def test_value_type__maps_codebook_types(code, expected):
    """should choose the DHIS2 value type from the element's type, length and constraint"""
    assert value_type(REAL.elements[code]) == expected


def test_multi_select__uses_a_multi_text_option_set():
    """should give a select_multiple a MULTI_TEXT option set distinct from the select_one one"""
    package = DEFAULT.json
    sets = {s["id"]: s for s in package["optionSets"]}
    by_code = {o["code"]: o for o in package["trackedEntityAttributes"]}
    citizenship = sets[by_code["person_citizenship"]["optionSet"]["id"]]
    country = sets[by_code["person_address_country"]["optionSet"]["id"]]
    assert citizenship["valueType"] == "MULTI_TEXT" and country["valueType"] == "TEXT"
    assert citizenship["id"] != country["id"] and len(citizenship["options"]) == len(country["options"])


def test_program__registration_protected_with_sharing_object():
    """should be a PROTECTED tracker program shared through `sharing`, never legacy publicAccess"""
    program = WITH_IDENTIFIERS.json["programs"][0]
    assert program["programType"] == "WITH_REGISTRATION" and program["accessLevel"] == "PROTECTED"
    assert program["sharing"]["public"] == "r-------"
    assert program["sharing"]["userGroups"] == {GROUP: {"access": "rwrw----", "id": GROUP}}
    assert program["organisationUnits"] == [{"id": ORG_UNIT}]
    text = WITH_IDENTIFIERS.to_bytes().decode()
    for legacy in ("publicAccess", "userGroupAccesses", "userAccesses", "externalAccess", "confidential"):
        assert f'"{legacy}"' not in text
    key = {p["trackedEntityAttribute"]["id"]: p for p in program["programTrackedEntityAttributes"]}
    pseudo = key[uid_for("trackedEntityAttribute", "person_pseudo_id")]
    assert pseudo["searchable"] and pseudo["mandatory"]


def test_aggregate__categories_use_codebook_option_codes():
    """should build sex, age band and exploitation form categories from codebook codes plus the package's"""
    package = DEFAULT.json
    registry = UidRegistry()
    categories = {c["code"]: c for c in package["categories"]}
    expected = {
        "sex": (*REAL.option_lists["sex"].codes(), "unknown"),
        "age_band": REAL.option_lists["age_band"].codes(),
        "exploitation_form": ("sexual_exploitation", "forced_labour", "organ_removal", "other",
                              "multiple_forms", "purpose_unspecified", "other_offence", "unknown"),
    }
    for dimension, codes in expected.items():
        refs = [ref["id"] for ref in categories[f"TIP_{dimension.upper()}"]["categoryOptions"]]
        assert refs == [category_option_uid(registry, dimension, code) for code in codes]
        assert category_option_uid(registry, dimension, codes[0]) == uid_for(
            "categoryOption", f"{dimension}:{codes[0]}")  # the UIDs the package always gave them
    assert all(code in REAL.option_lists["exploitation_form"].codes()
               for code in ("sexual_exploitation", "forced_labour", "organ_removal", "other", "unknown"))
    counts = {d["code"]: d for d in package["dataElements"] if d["domainType"] == "AGGREGATE"}
    assert set(counts) == {"TIP_AGG_VICTIMS_IDENTIFIED", "TIP_AGG_REFERRALS_MADE",
                           "TIP_AGG_REFERRALS_ACCEPTED", "TIP_AGG_REFERRALS_COMPLETED",
                           "TIP_AGG_INVESTIGATIONS", "TIP_AGG_PROSECUTIONS", "TIP_AGG_CONVICTIONS"}
    data_set = package["dataSets"][0]
    assert [e["dataElement"]["id"] for e in data_set["dataSetElements"]] == [d["id"] for d in counts.values()]
    assert "categoryOptionCombos" not in package  # generated by the server after import


def test_aggregate__disaggregations_within_dhis2_default_limits():
    """should keep every category and combo within DHIS2 2.41+'s defaults (E1126-E1128)"""
    options = {c["id"]: len(c["categoryOptions"]) for c in DEFAULT.json["categories"]}
    assert max(options.values()) <= CATEGORY_LIMITS.options_per_category
    for combo in DEFAULT.json["categoryCombos"]:
        sizes = [options[ref["id"]] for ref in combo["categories"]]
        assert len(sizes) <= CATEGORY_LIMITS.categories_per_combo
        assert math.prod(sizes) <= CATEGORY_LIMITS.combinations
    assert max(math.prod(options[r["id"]] for r in c["categories"]) for c in DEFAULT.json["categoryCombos"]) == 400


def test_aggregate__a_combo_over_the_limits_is_refused_at_build():
    """should refuse to build a combination DHIS2 would refuse, naming E1128"""
    registry, names = UidRegistry(), UniqueNames(NAME_LIMIT)
    with pytest.raises(ValueError, match="E1128"):
        build_aggregate(REAL, registry, lambda texts: [], lambda data: {}, names, UniqueNames(SHORT_NAME_LIMIT),
                        "Yearly", (), CategoryLimits(combinations=399))


def test_aggregate__package_options_are_translated():
    """should name the options the package adds in every language of the codebook"""
    added = {uid_for("categoryOption", seed) for seed in (
        "sex:unknown", "exploitation_form:multiple_forms", "exploitation_form:purpose_unspecified",
        "exploitation_form:other_offence")}
    found = [o for o in DEFAULT.json["categoryOptions"] if o["id"] in added]
    assert len(found) == 4
    for option in found:
        locales = {(t["locale"], t["property"]) for t in option["translations"]}
        assert locales == {(lang, prop) for lang in ("fr", "es") for prop in ("NAME", "SHORT_NAME")}
        assert len(option["shortName"]) <= SHORT_NAME_LIMIT


def test_aggregate__data_set_is_yearly_unless_the_policy_says_otherwise():
    """should make the data set Yearly by default, take Quarterly from the policy, refuse others"""
    assert DEFAULT.json["dataSets"][0]["periodType"] == "Yearly"
    quarterly = build_metadata(REAL, DeploymentPolicy(aggregate_period_type="Quarterly", org_units=(ORG_UNIT,)))
    assert quarterly.json["dataSets"][0]["periodType"] == "Quarterly"
    assert quarterly.json["dataSets"][0]["organisationUnits"] == [{"id": ORG_UNIT}]
    with pytest.raises(ValueError, match="Weekly"):
        DeploymentPolicy(aggregate_period_type="Weekly")


def test_elements__consent_to_screening_is_compulsory_where_it_is_collected():
    """should put consent_screening in the screening stage, compulsory there and absent from the case stage"""
    stages = {s["code"]: s for s in DEFAULT.json["programStages"]}
    consent = uid_for("dataElement", "consent_screening")

    def compulsory(stage: str) -> dict[str, bool]:
        return {p["dataElement"]["id"]: p["compulsory"] for p in stages[stage]["programStageDataElements"]}

    assert compulsory("TIP_STAGE_SCREENING")[consent] is True
    assert consent not in compulsory("TIP_STAGE_CASE")
    by_uid = {d["id"]: d["code"] for d in DEFAULT.json["dataElements"]}
    intake = {code for form in REAL.forms.values() if form.level == "case" for code in form.element_codes()}
    assert {by_uid[uid] for uid, required in compulsory("TIP_STAGE_CASE").items() if required} <= intake


# ---- confidentiality ----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [
    DeploymentPolicy(),
    DeploymentPolicy(include_direct_identifiers=True),
    DeploymentPolicy(include_direct_identifiers=True, org_units=(ORG_UNIT,), data_user_groups=(GROUP,),
                     public_access="rwrw----"),
])
def test_restricted__never_in_the_package(policy):
    """should leave immigration status (and its option set) out under every policy"""
    package = build_metadata(REAL, policy)
    text = package.to_bytes().decode()
    assert RESTRICTED == ["person_immigration_status"]
    for code in RESTRICTED:
        assert code not in text
    assert "TIP_IMMIGRATION_STATUS" not in text
    assert code not in package.element_uids


def test_restricted__a_policy_asking_for_it_is_refused():
    """should raise when a policy asks to include restricted elements"""
    with pytest.raises(PolicyViolation, match="never included"):
        DeploymentPolicy(include_restricted=True)


def test_direct_identifiers__absent_by_default():
    """should leave every direct identifier out of the default package, and say so"""
    text = DEFAULT.to_bytes().decode()
    assert DIRECT and all(f'"{code}"' not in text for code in DIRECT)
    assert any(w.startswith("left out (direct identifier)") for w in DEFAULT.warnings)


def test_direct_identifiers__flagged_when_included():
    """should keep included direct identifiers out of sync and analytics"""
    attributes = {a["code"]: a for a in WITH_IDENTIFIERS.json["trackedEntityAttributes"]}
    for code in DIRECT:
        assert attributes[code]["skipSynchronization"] is True
        assert attributes[code]["skipAnalytics"] is True
    assert attributes["person_sex"]["skipSynchronization"] is False
    assert "skipAnalytics" not in attributes["person_sex"]
    assert any("skipAnalytics" in w for w in WITH_IDENTIFIERS.warnings)


def test_policy__rejects_malformed_uids_and_access():
    """should refuse an org unit that is not a UID and an access string DHIS2 would reject"""
    with pytest.raises(ValueError, match="not DHIS2 UIDs"):
        DeploymentPolicy(org_units=("not-a-uid",))
    with pytest.raises(ValueError, match="access string"):
        DeploymentPolicy(public_access="rw")


# ---- rules --------------------------------------------------------------------------------------


def test_rule_variables__every_reference_exists_and_every_variable_is_used():
    """should define each variable a rule reads, and no variable no rule reads"""
    package = DEFAULT.json
    names = {v["name"] for v in package["programRuleVariables"]}
    texts = [r["condition"] for r in package["programRules"]] + \
            [a["data"] for a in package["programRuleActions"] if "data" in a]
    used = set()
    for text in texts:
        used |= set(re.findall(r"#\{([^}]+)\}", text))
        used |= set(re.findall(r"""d2:hasValue\(['"]([^'"]+)['"]\)""", text))
    assert used - names == set()
    assert names - used == set()
    sources = Counter(v["programRuleVariableSourceType"] for v in package["programRuleVariables"])
    assert set(sources) <= {"TEI_ATTRIBUTE", "DATAELEMENT_CURRENT_EVENT", "DATAELEMENT_NEWEST_EVENT_PROGRAM"}
    assert all(v["useCodeForOptionSet"] for v in package["programRuleVariables"])


def test_rules__every_action_targets_an_element_of_its_stage():
    """should aim each action at an attribute, or at a data element of the rule's stage"""
    package = DEFAULT.json
    rules = {r["id"]: r for r in package["programRules"]}
    stage_elements = {s["id"]: {p["dataElement"]["id"] for p in s["programStageDataElements"]}
                      for s in package["programStages"]}
    attributes = {a["id"] for a in package["trackedEntityAttributes"]}
    for action in package["programRuleActions"]:
        rule = rules[action["programRule"]["id"]]
        if "trackedEntityAttribute" in action:
            assert action["trackedEntityAttribute"]["id"] in attributes and "programStage" not in rule
        else:
            assert action["dataElement"]["id"] in stage_elements[rule["programStage"]["id"]]


def _rule(key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    rule = next(r for r in DEFAULT.json["programRules"] if r["id"] == uid_for("programRule", key))
    action = next(a for a in DEFAULT.json["programRuleActions"] if a["programRule"]["id"] == rule["id"])
    return rule, action


ACT = "#{scr_act_recruited} == 'yes' || #{scr_act_moved} == 'yes' || #{scr_act_housed} == 'yes'"
MEANS = ("#{scr_means_deceived} == 'yes' || #{scr_means_threatened} == 'yes' || "
         "#{scr_means_force} == 'yes' || #{scr_means_debt} == 'yes' || "
         "#{scr_means_documents} == 'yes' || #{scr_means_not_free} == 'yes' || "
         "#{scr_means_abducted} == 'yes' || #{scr_means_vulnerability} == 'yes'")
PURPOSE = ("#{scr_purpose_forced_work} == 'yes' || #{scr_purpose_sexual} == 'yes' || "
           "#{scr_purpose_domestic} == 'yes' || #{scr_purpose_marriage} == 'yes' || "
           "#{scr_purpose_crime} == 'yes' || #{scr_purpose_begging} == 'yes' || "
           "#{scr_purpose_armed_group} == 'yes' || #{scr_purpose_organ} == 'yes'")
CONSENTED = "#{consent_screening} == 'yes'"  # the screening stage's own event holds the consent
NOT_CONSENTED = "#{consent_screening} != 'yes'"
CHILD = "#{screening_population} == 'child' || (d2:hasValue('age_at_screening') && #{age_at_screening} < 18)"
MET = f"({ACT}) && ({PURPOSE}) && ({MEANS} || {CHILD})"
COUNT = " + ".join(f"d2:condition('{part.replace(chr(39), chr(34))}', 1, 0)" for part in (ACT, MEANS, PURPOSE))


@pytest.mark.parametrize(("key", "condition", "data"), [
    ("palermo_act_indicated:calculation:1", CONSENTED, ACT),
    ("palermo_act_indicated:calculation:clear", NOT_CONSENTED, "''"),
    ("palermo_means_indicated:calculation:1", CONSENTED, MEANS),
    ("palermo_purpose_indicated:calculation:1", CONSENTED, PURPOSE),
    ("palermo_elements_met:calculation:1", CONSENTED, MET),
    ("screening_is_child:calculation:1", "true", CHILD),
    ("screening_elements_count:calculation:1", CONSENTED, COUNT),
    ("screening_result:calculation:1", f"{CONSENTED} && {MET}", "'likely'"),
    ("screening_result:calculation:2",
     f"{CONSENTED} && !({MET}) && ({PURPOSE} || {COUNT} >= 2)", "'possible'"),
    ("screening_result:calculation:3",
     f"{CONSENTED} && !({MET}) && !({PURPOSE} || {COUNT} >= 2)", "'unlikely'"),
    ("screening_result:calculation:clear", NOT_CONSENTED, "''"),
])
def test_palermo_rules__compile_to_these_conditions(key, condition, data):
    """should compute the Palermo screening result from the raw answers, rule by rule"""
    rule, action = _rule(key)
    assert action["programRuleActionType"] == "ASSIGN"
    assert rule["condition"] == condition
    assert action["data"] == data
    assert rule["programStage"] == {"id": uid_for("programStage", "screening")}


def test_palermo_rules__hide_when_no_consent_to_screening():
    """should hide the screening result when the person did not consent to the screening"""
    rule, action = _rule("screening_result:relevant")
    assert action["programRuleActionType"] == "HIDEFIELD"
    assert rule["condition"] == NOT_CONSENTED


def test_rules__an_expression_without_d2_form_is_skipped_with_a_warning(mini_codebook):
    """should leave out a rule it cannot express faithfully, and name the element and the reason"""
    folder = mini_codebook(edit={"elements/screening.yaml": (
        'calculation: "answered(person_age) and person_age < 18"',
        'calculation: "answered(person_age) and person_age mod 2 = 0"')})
    package = build_metadata(load_codebook(folder))
    assert any(w.startswith("scr_is_child calculation") and "mod" in w for w in package.warnings)
    keys = {r["id"] for r in package.json["programRules"]}
    assert uid_for("programRule", "scr_is_child:calculation:1") not in keys
    assert package.rule_plan is not None and [s.element for s in package.rule_plan.skipped] == ["scr_is_child"]


def test_rules__the_real_codebook_skips_none():
    """should compile every expression of the real codebook"""
    assert DEFAULT.rule_plan is not None and DEFAULT.rule_plan.skipped == ()


# ---- golden file and build target ---------------------------------------------------------------


def test_golden__mini_codebook_package_is_exactly_the_file(mini_codebook):
    """should build exactly tests/dhis2/golden/mini-metadata.json from the mini codebook"""
    package = build_metadata(load_codebook(mini_codebook()))
    if os.environ.get("TIPDATA_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(package.to_bytes())
        pytest.skip("golden file rewritten; review the diff")
    assert package.to_bytes().decode() == GOLDEN.read_text(encoding="utf-8")


def test_golden__mini_package_content():
    """should hold the mini codebook's objects and nothing of its direct identifier"""
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert [a["code"] for a in golden["trackedEntityAttributes"]] == ["person_age", "person_sex"]
    assert "person_name" not in GOLDEN.read_text(encoding="utf-8")
    assert [s["code"] for s in golden["programStages"]] == ["TIP_STAGE_SCREENING"]
    actions = {a["programRuleActionType"] for a in golden["programRuleActions"]}
    assert actions == {"SHOWERROR", "ASSIGN"}


def test_build_target__writes_one_deterministic_file():
    """should produce the package file at its path, identical on every build"""
    first = dhis2_artifacts(REAL, BuildOptions())
    second = dhis2_artifacts(REAL, BuildOptions())
    assert [a.path for a in first] == [METADATA_PATH]
    assert first[0].content == second[0].content == DEFAULT.to_bytes()
    assert first[0].target == "dhis2"
    parsed = json.loads(first[0].content)
    assert list(parsed) == sorted(parsed)
