"""Helpers for the DHIS2 connector tests: a small metadata package made from the real codebook.

The package has the shape the builder emits (every object's `code` is the codebook code, UIDs
from `tipdata.dhis2_app.uids`), but only a handful of elements, so each test can see what it
asserts. Direct identifiers and immigration status are left out on purpose, as the real package
leaves them out.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from tipdata.dhis2_app.uids import uid_for
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord, Envelope, record_id_for

ORG_UNIT = "ImspTQPwCqd"
VERSIONS = ("2.40", "2.41", "2.42", "2.43")
SHARING = {"public": "rwrw----", "external": False, "users": {}, "userGroups": {}}
META_SHARING = {"public": "rw------", "external": False, "users": {}, "userGroups": {}}

#: element code -> DHIS2 value type, per place in the program
TE_ATTRIBUTES = {"person_pseudo_id": "TEXT", "person_sex": "TEXT", "person_age": "INTEGER_ZERO_OR_POSITIVE",
                 "person_disability": "MULTI_TEXT", "person_contact_instructions": "TEXT"}
PROGRAM_ATTRIBUTES = {"case_reference": "TEXT", "case_risk_level": "TEXT"}
STAGES: dict[str, dict[str, Any]] = {
    "tip_case_intake": {"repeatable": False, "elements": {
        "case_opened_date": "DATE", "case_status": "TEXT", "expl_palermo_purpose": "MULTI_TEXT",
        "expl_duration_months": "INTEGER_ZERO_OR_POSITIVE", "recr_abducted": "BOOLEAN"}},
    "tip_identification": {"repeatable": False, "compulsory": ("ident_date",), "elements": {
        "ident_date": "DATE", "ident_trafficking_status": "TEXT", "ident_notes": "LONG_TEXT"}},
    "tip_referral": {"repeatable": True, "compulsory": ("ref_date",), "elements": {
        "svc_case_reference": "TEXT", "ref_date": "DATE", "ref_service_type": "MULTI_TEXT",
        "ref_urgency": "TEXT"}},
    "tip_service_followup": {"repeatable": True, "elements": {
        "svc_case_reference": "TEXT", "svc_date": "DATE", "fu_contact_made": "TEXT"}},
}
PROGRAM_CODE = "tip_case"


def build_package(codebook: Codebook, *, org_units: tuple[str, ...] = (ORG_UNIT,),
                  extra_te_attributes: dict[str, str] | None = None) -> dict[str, Any]:
    """A tracker program package over a few codebook elements, in the builder's shape."""
    te_attrs = {**TE_ATTRIBUTES, **(extra_te_attributes or {})}
    option_sets: dict[str, dict[str, Any]] = {}
    options: list[dict[str, Any]] = []

    def option_set_for(code: str, value_type: str) -> dict[str, str] | None:
        element = codebook.elements[code]
        if not element.options:
            return None
        name = element.options
        set_uid = uid_for("optionSet", name if value_type != "MULTI_TEXT" else f"{name}:multi")
        if set_uid not in option_sets:
            members = []
            for index, option in enumerate(codebook.option_lists[name].options, 1):
                option_uid = uid_for("option", f"{set_uid}:{option.code}")
                members.append({"id": option_uid})
                options.append({"id": option_uid, "code": option.code, "name": option.label[:230],
                                "sortOrder": index, "optionSet": {"id": set_uid}})
            option_sets[set_uid] = {"id": set_uid, "code": name if value_type != "MULTI_TEXT" else f"{name}_multi",
                                    "name": f"TIP {name}{' (multi)' if value_type == 'MULTI_TEXT' else ''}",
                                    "valueType": value_type, "options": members,
                                    "sharing": META_SHARING}
        return {"id": set_uid}

    def short(code: str) -> str:
        return f"TIP {code}"[:50]

    attributes = []
    for code, value_type in {**te_attrs, **PROGRAM_ATTRIBUTES}.items():
        attribute = {"id": uid_for("trackedEntityAttribute", code), "code": code,
                     "name": f"TIP {codebook.elements[code].label}"[:230] + f" ({code})",
                     "shortName": short(code), "valueType": value_type, "aggregationType": "NONE",
                     "unique": code == "person_pseudo_id", "sharing": META_SHARING}
        option_set = option_set_for(code, value_type)
        if option_set:
            attribute["optionSet"] = option_set
        attributes.append(attribute)
    data_elements: dict[str, dict[str, Any]] = {}
    for stage in STAGES.values():
        for code, value_type in stage["elements"].items():
            if code in data_elements:
                continue
            element = {"id": uid_for("dataElement", code), "code": code,
                       "name": f"TIP {codebook.elements[code].label}"[:200] + f" ({code})",
                       "shortName": short(code), "valueType": value_type, "domainType": "TRACKER",
                       "aggregationType": "NONE", "categoryCombo": {"id": "bjDvmb4bfuf"},
                       "sharing": META_SHARING}
            option_set = option_set_for(code, value_type)
            if option_set:
                element["optionSet"] = option_set
            data_elements[code] = element
    tet_uid = uid_for("trackedEntityType", "tip_person")
    program_uid = uid_for("program", PROGRAM_CODE)
    stages = []
    for order, (stage_code, stage) in enumerate(STAGES.items(), 1):
        stage_uid = uid_for("programStage", stage_code)
        stages.append({
            "id": stage_uid, "code": stage_code, "name": f"TIP {stage_code}", "program": {"id": program_uid},
            "repeatable": stage["repeatable"], "sortOrder": order, "validationStrategy": "ON_COMPLETE",
            "sharing": SHARING,
            "programStageDataElements": [
                {"id": uid_for("programStageDataElement", f"{stage_code}:{code}"),
                 "dataElement": {"id": data_elements[code]["id"]},
                 "compulsory": code in stage.get("compulsory", ()), "sortOrder": index}
                for index, code in enumerate(stage["elements"], 1)],
        })
    return {
        "optionSets": list(option_sets.values()),
        "options": options,
        "trackedEntityAttributes": attributes,
        "trackedEntityTypes": [{
            "id": tet_uid, "code": "tip_person", "name": "TIP person", "shortName": "TIP person",
            "featureType": "NONE", "allowAuditLog": True, "sharing": SHARING,
            "trackedEntityTypeAttributes": [
                {"id": uid_for("trackedEntityTypeAttribute", code),
                 "trackedEntityAttribute": {"id": uid_for("trackedEntityAttribute", code)},
                 "mandatory": False, "searchable": code == "person_pseudo_id"}
                for code in te_attrs]}],
        "dataElements": list(data_elements.values()),
        "programs": [{
            "id": program_uid, "code": PROGRAM_CODE, "name": "TIP case management", "shortName": "TIP case",
            "programType": "WITH_REGISTRATION", "trackedEntityType": {"id": tet_uid},
            "accessLevel": "PROTECTED", "displayIncidentDate": True, "onlyEnrollOnce": False,
            "categoryCombo": {"id": "bjDvmb4bfuf"}, "sharing": SHARING,
            "organisationUnits": [{"id": u} for u in org_units],
            "programStages": [{"id": s["id"]} for s in stages],
            "programTrackedEntityAttributes": [
                {"id": uid_for("programTrackedEntityAttribute", code),
                 "trackedEntityAttribute": {"id": uid_for("trackedEntityAttribute", code)},
                 "mandatory": code == "case_reference", "sortOrder": index}
                for index, code in enumerate(PROGRAM_ATTRIBUTES, 1)]}],
        "programStages": stages,
    }


_sequence = itertools.count(1)


def make_record(values: dict[str, Any], *, form_id: str = "tip_case_intake",
                source_id: str | None = None, consent: frozenset[str] | None = None,
                collected_at: dt.datetime | None = None) -> CanonicalRecord:
    """A canonical record as a Kobo pull would produce it (values already typed)."""
    source_id = source_id or f"uuid:{next(_sequence):08d}"
    moment = collected_at or dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    envelope = Envelope(record_id=record_id_for("kobo:test", source_id), source_system="kobo:test",
                        source_id=source_id, form_id=form_id, collected_at=moment, updated_at=moment,
                        consent_purposes=consent if consent is not None else frozenset(
                            {"service_referral", "law_enforcement", "statistics", "follow_up_contact"}))
    return CanonicalRecord(envelope=envelope, values=values)


def intake(person: str, case: str, **extra: Any) -> CanonicalRecord:
    """An intake record: person attributes, case attributes, intake and identification data."""
    values: dict[str, Any] = {
        "person_pseudo_id": person, "person_sex": "female", "person_age": 24,
        "person_disability": ("seeing", "walking"),
        "person_given_names": "Never Sent", "person_immigration_status": "irregular",
        "case_reference": case, "case_risk_level": "high",
        "case_opened_date": dt.date(2026, 2, 27), "case_status": "active",
        "expl_palermo_purpose": ("forced_labour", "sexual_exploitation"),
        "expl_duration_months": 14, "recr_abducted": False,
        "ident_date": dt.date(2026, 2, 20), "ident_trafficking_status": "presumed",
        "ident_notes": "Long narrative. " * 150,
    }
    values.update(extra)
    return make_record({k: v for k, v in values.items() if v is not None})


def referral(case: str, **extra: Any) -> CanonicalRecord:
    values: dict[str, Any] = {"svc_case_reference": case, "ref_date": dt.date(2026, 3, 2),
                              "ref_service_type": ("safe_accommodation",), "ref_urgency": "urgent"}
    values.update(extra)
    return make_record({k: v for k, v in values.items() if v is not None}, form_id="tip_referral")


def connect(double: Any, codebook: Codebook, package: dict[str, Any] | None = None, *,
            timeout: float = 5.0, retries: int = 3, **options: Any) -> Any:
    """A connector for the double; retries do not sleep (the backoff is the session's business)."""
    from tipdata.dhis2_app.connector import Dhis2Client, Dhis2Connector, resolve_dhis2_config

    config = resolve_dhis2_config(double.base_url, double.token, timeout=timeout, retries=retries)
    client = Dhis2Client(config, sleep=lambda seconds: None)
    return Dhis2Connector(client, codebook, package if package is not None else build_package(codebook),
                          **options)
