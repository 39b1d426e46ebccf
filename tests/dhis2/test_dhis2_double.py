"""The DHIS2 contract double follows dhis2-api.md, version by version (2.40, 2.41, 2.42, 2.43).

These tests pin the double to the documented contract so that connector tests against it mean
something: wrapped metadata reports, the tracker's bare report and error codes, sync vs async,
per-version export envelopes and parameters, dataValueSets statuses, auth and faults.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.doubles.dhis2 import Dhis2Double

VERSIONS = ("2.40", "2.41", "2.42", "2.43")
OU = "ImspTQPwCqd"
OS_SEX, OPT_F, OPT_M = "OptSetSex01", "OptFemale01", "OptMale0001"
OS_FORM, OPT_LAB, OPT_SEX = "OptSetForm1", "OptLabour01", "OptSexual01"
TEA_SEX, TEA_AGE, TEA_NOTE, TEA_CASE = "TeaSex00001", "TeaAge00001", "TeaNote0001", "TeaCase0001"
TET = "TetPerson01"
DE_FORM, DE_NOTES, DE_COUNT, DE_OTHER = "DeForm00001", "DeNotes0001", "DeCount0001", "DeOther0001"
PRG, ST_INTAKE, ST_FU = "PrgCase0001", "PsIntake001", "PsFollow001"
SHARING = {"public": "rwrw----", "external": False, "users": {}, "userGroups": {}}


def metadata() -> dict[str, Any]:
    """A small tracker program, shaped like the reference example."""
    def tea(uid: str, code: str, value_type: str, **extra: Any) -> dict[str, Any]:
        return {"id": uid, "code": code, "name": f"TIP {code}", "shortName": f"TIP {code}",
                "valueType": value_type, "aggregationType": "NONE", **extra}

    def de(uid: str, code: str, value_type: str, **extra: Any) -> dict[str, Any]:
        return {"id": uid, "code": code, "name": f"TIP {code}", "shortName": f"TIP {code}",
                "valueType": value_type, "domainType": "TRACKER", "aggregationType": "NONE",
                "categoryCombo": {"id": "bjDvmb4bfuf"}, **extra}

    return {
        "optionSets": [
            {"id": OS_SEX, "code": "sex", "name": "TIP sex", "valueType": "TEXT",
             "options": [{"id": OPT_F}, {"id": OPT_M}]},
            {"id": OS_FORM, "code": "form", "name": "TIP form", "valueType": "TEXT",
             "options": [{"id": OPT_LAB}, {"id": OPT_SEX}]}],
        "options": [
            {"id": OPT_F, "code": "female", "name": "Female", "optionSet": {"id": OS_SEX}},
            {"id": OPT_M, "code": "male", "name": "Male", "optionSet": {"id": OS_SEX}},
            {"id": OPT_LAB, "code": "LABOUR", "name": "Labour", "optionSet": {"id": OS_FORM}},
            {"id": OPT_SEX, "code": "SEXUAL", "name": "Sexual", "optionSet": {"id": OS_FORM}}],
        "trackedEntityAttributes": [
            tea(TEA_SEX, "person_sex", "TEXT", optionSet={"id": OS_SEX}),
            tea(TEA_AGE, "person_age", "INTEGER_ZERO_OR_POSITIVE"),
            tea(TEA_NOTE, "person_note", "TEXT"),
            tea(TEA_CASE, "case_reference", "TEXT", unique=True)],
        "trackedEntityTypes": [{
            "id": TET, "code": "tip_person", "name": "TIP person", "shortName": "TIP person",
            "sharing": SHARING,
            "trackedEntityTypeAttributes": [
                {"id": "TetaSex0001", "trackedEntityAttribute": {"id": TEA_SEX}},
                {"id": "TetaAge0001", "trackedEntityAttribute": {"id": TEA_AGE}},
                {"id": "TetaNote001", "trackedEntityAttribute": {"id": TEA_NOTE}}]}],
        "dataElements": [
            de(DE_FORM, "expl_form", "TEXT", optionSet={"id": OS_FORM}),
            de(DE_NOTES, "ident_notes", "LONG_TEXT"),
            de(DE_COUNT, "count", "INTEGER"),
            de(DE_OTHER, "other", "TEXT")],
        "programs": [{
            "id": PRG, "code": "tip_case", "name": "TIP case", "shortName": "TIP case",
            "programType": "WITH_REGISTRATION", "trackedEntityType": {"id": TET},
            "accessLevel": "PROTECTED", "displayIncidentDate": True, "sharing": SHARING,
            "organisationUnits": [{"id": OU}],
            "programStages": [{"id": ST_INTAKE}, {"id": ST_FU}],
            "programTrackedEntityAttributes": [
                {"id": "PteaCase001", "trackedEntityAttribute": {"id": TEA_CASE}, "mandatory": True},
                {"id": "PteaSex0001", "trackedEntityAttribute": {"id": TEA_SEX}},
                {"id": "PteaAge0001", "trackedEntityAttribute": {"id": TEA_AGE}}]}],
        "programStages": [
            {"id": ST_INTAKE, "code": "intake", "name": "Intake", "program": {"id": PRG},
             "repeatable": False, "sharing": SHARING,
             "programStageDataElements": [
                 {"id": "PsdeForm001", "dataElement": {"id": DE_FORM}, "compulsory": True},
                 {"id": "PsdeNotes01", "dataElement": {"id": DE_NOTES}},
                 {"id": "PsdeCount01", "dataElement": {"id": DE_COUNT}}]},
            {"id": ST_FU, "code": "followup", "name": "Follow-up", "program": {"id": PRG},
             "repeatable": True, "sharing": SHARING,
             "programStageDataElements": [{"id": "PsdeCount02", "dataElement": {"id": DE_COUNT}}]}],
    }


def tracker_payload(te: str = "TeUid000001", enrollment: str = "EnUid000001",
                    event: str = "EvUid000001") -> dict[str, Any]:
    """One nested tracked entity → enrollment → intake event, valid against `metadata()`."""
    return {"trackedEntities": [{
        "trackedEntity": te, "trackedEntityType": TET, "orgUnit": OU,
        "attributes": [{"attribute": TEA_SEX, "value": "female"}, {"attribute": TEA_AGE, "value": "24"}],
        "enrollments": [{
            "enrollment": enrollment, "program": PRG, "orgUnit": OU, "status": "ACTIVE",
            "enrolledAt": "2026-03-01T00:00:00.000", "occurredAt": "2026-02-27T00:00:00.000",
            "attributes": [{"attribute": TEA_CASE, "value": f"TIP-{te}"}],
            "events": [{
                "event": event, "programStage": ST_INTAKE, "orgUnit": OU, "status": "COMPLETED",
                "occurredAt": "2026-03-01T00:00:00.000",
                "dataValues": [{"dataElement": DE_FORM, "value": "LABOUR"},
                               {"dataElement": DE_NOTES, "value": "narrative " * 300}]}]}]}]}


class Api:
    """A requests session against the double with its token."""

    def __init__(self, double: Dhis2Double) -> None:
        self.double = double
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"ApiToken {double.token}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(f"{self.double.base_url}/api/{path}", params=params, timeout=10)

    def post(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.http.post(f"{self.double.base_url}/api/{path}", json=body, params=params, timeout=10)

    def install(self) -> None:
        response = self.post("metadata", metadata())
        assert response.status_code == 200, response.text

    def sync(self, body: Any, **params: Any) -> requests.Response:
        return self.post("tracker", body, **{"async": "false", **params})


@pytest.fixture(params=VERSIONS)
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    with Dhis2Double(request.param) as double:
        yield Api(double)


def for_version(version: str) -> Iterator[Api]:
    with Dhis2Double(version) as double:
        yield Api(double)


def codes(report: dict[str, Any]) -> set[str]:
    if "validationReport" in report:
        return {e["errorCode"] for e in report["validationReport"]["errorReports"]}
    return {e["errorCode"] for t in report["response"]["typeReports"] for o in t["objectReports"]
            for e in o["errorReports"]}


# --- transport, auth, faults -----------------------------------------------------------------------

def test_system_info__reports_the_version(api):
    """should report a version string of the double's minor version in /api/system/info"""
    body = api.get("system/info").json()
    assert body["version"].startswith(api.double.version + ".")
    assert {"revision", "serverDate", "systemName"} <= body.keys()


@pytest.mark.parametrize("token", ["d2pat_abcdefghijklmnopqrstuvwxyz0123451234567890",
                                   "d2p_" + "A" * 44 + "0a1b2c", "opaque-token.with~chars+/="])
def test_auth__accepts_any_api_token_format(token):
    """should accept `ApiToken <token>` whatever the token's prefix or length"""
    with Dhis2Double("2.41", token=token) as double:
        ok = requests.get(f"{double.base_url}/api/system/info",
                          headers={"Authorization": f"ApiToken {token}"}, timeout=5)
        wrong = requests.get(f"{double.base_url}/api/system/info",
                             headers={"Authorization": "ApiToken someone-else"}, timeout=5)
        basic = requests.get(f"{double.base_url}/api/system/info", auth=("admin", "district"), timeout=5)
        anonymous = requests.get(f"{double.base_url}/api/system/info", timeout=5)
    assert (ok.status_code, wrong.status_code, basic.status_code, anonymous.status_code) == (200, 401, 200, 401)
    assert wrong.json()["httpStatusCode"] == 401


def test_json_suffix__is_tolerated(api):
    """should serve /api/system/info.json like /api/system/info"""
    assert api.get("system/info.json").json()["version"] == api.get("system/info").json()["version"]


def test_faults__fail_next_answers_with_proxy_errors_then_recovers():
    """should answer the next N matching requests with the fault status, then serve normally"""
    for api in for_version("2.42"):
        api.double.fail_next(2, status=502)
        api.double.fail_next(1, status=503, path_contains="/tracker")
        statuses = [api.get("system/info").status_code for _ in range(3)]
        tracker = api.get("tracker/events", program=PRG)
        assert statuses == [502, 502, 200]
        assert tracker.status_code == 503 and "text/html" in tracker.headers["Content-Type"]


def test_faults__delay_next_makes_a_client_time_out():
    """should hold a delayed request long enough for a short client timeout to expire"""
    for api in for_version("2.40"):
        api.double.delay_next(1, 0.5)
        with pytest.raises(requests.ReadTimeout):
            api.http.get(f"{api.double.base_url}/api/system/info", timeout=0.1)
        assert api.get("system/info").status_code == 200


def test_request_log__records_method_path_query_and_body(api):
    """should log each request's method, path, query and body for assertions"""
    api.sync({"trackedEntities": []}, importStrategy="CREATE_AND_UPDATE")
    logged = api.double.requests_to("/api/tracker", "POST")[-1]
    assert logged.query["importStrategy"] == "CREATE_AND_UPDATE"
    assert logged.json() == {"trackedEntities": []}
    assert logged.status == 200


# --- metadata import ------------------------------------------------------------------------------

def test_metadata_validate__commits_nothing(api):
    """should validate with importMode=VALIDATE and keep nothing"""
    response = api.post("metadata", metadata(), importMode="VALIDATE")
    assert response.status_code == 200 and response.json()["response"]["status"] == "OK"
    assert response.json()["response"]["stats"]["created"] == 0
    assert api.get("dataElements", fields="id", paging="false").json()["dataElements"] == []


def test_metadata_dry_run__is_not_a_parameter_and_commits(api):
    """should ignore dryRun=true on /api/metadata (it is not a metadata parameter) and commit"""
    api.post("metadata", metadata(), dryRun="true")
    stored = {d["id"] for d in api.get("dataElements", paging="false").json()["dataElements"]}
    assert stored == {DE_FORM, DE_NOTES, DE_COUNT, DE_OTHER}


def test_metadata_commit__wraps_the_report_and_updates_on_reimport(api):
    """should answer 200 with a WebMessage around the ImportReport; a re-import updates"""
    first = api.post("metadata", metadata()).json()
    second = api.post("metadata", metadata()).json()
    assert first["httpStatusCode"] == 200 and first["status"] == "OK"
    assert first["response"]["responseType"] == "ImportReport"
    assert "importParams" not in first["response"]
    assert first["response"]["stats"]["created"] == second["response"]["stats"]["updated"] > 0
    assert second["response"]["stats"]["created"] == 0


def test_metadata_errors__answer_409_warning_with_every_code(api):
    """should answer 409/WARNING, report each object's E-code and commit nothing (atomicMode ALL)"""
    payload = metadata()
    payload["dataElements"][0]["id"] = "1nvalid"                       # E4014
    del payload["dataElements"][1]["shortName"]                        # E4000
    payload["dataElements"][2]["code"] = "c" * 51                      # E4001
    payload["dataElements"][3]["optionSet"] = {"id": "NoSuchSet01"}    # E5002
    payload["options"][1]["code"] = "female"                           # E4028
    payload["trackedEntityAttributes"][1]["optionSet"] = {"id": OS_SEX}  # E1115 (INTEGER vs TEXT)
    response = api.post("metadata", payload)
    body = response.json()
    assert response.status_code == 409
    assert (body["status"], body["response"]["status"]) == ("WARNING", "ERROR")
    assert codes(body) == {"E4014", "E4000", "E4001", "E5002", "E4028", "E1115"}
    errors = [e for t in body["response"]["typeReports"] for o in t["objectReports"] for e in o["errorReports"]]
    missing = next(e for e in errors if e["errorCode"] == "E4000")
    assert missing["errorProperty"] == "shortName" and missing["message"] == "Missing required property `shortName`."
    assert body["response"]["stats"]["created"] == 0
    assert api.get("programs", paging="false").json()["programs"] == []


def test_metadata_unique__short_names_clash_with_stored_and_within_payload(api):
    """should report E5003 for a shortName another object holds and E5005 for payload duplicates"""
    api.install()
    clash = {"dataElements": [{**metadata()["dataElements"][0], "id": "DeNew000001", "code": "new",
                               "name": "TIP new"}]}
    twins = {"dataElements": [
        {**metadata()["dataElements"][0], "id": "DeTwinA0001", "code": "a", "name": "A", "shortName": "same"},
        {**metadata()["dataElements"][0], "id": "DeTwinB0001", "code": "b", "name": "B", "shortName": "same"}]}
    assert codes(api.post("metadata", clash).json()) == {"E5003"}
    assert codes(api.post("metadata", twins).json()) == {"E5005"}


def test_metadata_atomic_none__commits_the_valid_objects_with_warning(api):
    """should commit valid objects with atomicMode=NONE and report WARNING with 409"""
    payload = metadata()
    payload["dataElements"][3]["code"] = "c" * 60
    response = api.post("metadata", payload, atomicMode="NONE")
    assert response.status_code == 409 and response.json()["response"]["status"] == "WARNING"
    stored = {d["id"] for d in api.get("dataElements", paging="false").json()["dataElements"]}
    assert stored == {DE_FORM, DE_NOTES, DE_COUNT}


@pytest.mark.parametrize("version, required", [("2.40", False), ("2.41", False), ("2.42", True), ("2.43", True)])
def test_metadata_tracked_entity_type__short_name_required_from_242(version, required):
    """should require TrackedEntityType.shortName from 2.42 only"""
    payload = metadata()
    del payload["trackedEntityTypes"][0]["shortName"]
    for api in for_version(version):
        body = api.post("metadata", payload, importMode="VALIDATE").json()
        assert ("E4000" in codes(body)) is required


@pytest.mark.parametrize("version", VERSIONS)
def test_metadata_sharing__legacy_keys_only_read_by_240(version):
    """should read (and check) legacy publicAccess on 2.40 and ignore it from 2.41"""
    payload = metadata()
    payload["programs"][0]["publicAccess"] = "rwrw"  # not a valid access string
    payload["programStages"][0]["sharing"] = {"public": "rwx-----"}
    for api in for_version(version):
        body = api.post("metadata", payload, importMode="VALIDATE").json()
        errors = [e for t in body["response"]["typeReports"] for o in t["objectReports"]
                  for e in o["errorReports"] if e["errorCode"] == "E3015"]
        assert len(errors) == (2 if version == "2.40" else 1)


def test_metadata_strategy__create_on_existing_and_update_on_missing(api):
    """should report E5000 for CREATE of an existing object and E5001 for UPDATE of a missing one"""
    api.install()
    assert codes(api.post("metadata", metadata(), importStrategy="CREATE").json()) == {"E5000"}
    fresh = {"dataElements": [{**metadata()["dataElements"][0], "id": "DeFresh0001", "code": "fresh",
                               "name": "Fresh", "shortName": "Fresh"}]}
    assert codes(api.post("metadata", fresh, importStrategy="UPDATE").json()) == {"E5001"}


def test_metadata_report_mode__full_lists_valid_objects(api):
    """should list objectReports of valid objects only with importReportMode=FULL"""
    errors_only = api.post("metadata", metadata(), importMode="VALIDATE").json()
    full = api.post("metadata", metadata(), importMode="VALIDATE", importReportMode="FULL").json()
    count = lambda body: sum(len(t["objectReports"]) for t in body["response"]["typeReports"])  # noqa: E731
    assert count(errors_only) == 0 and count(full) == full["response"]["stats"]["total"] > 0


# --- tracker import ----------------------------------------------------------------------------------

def test_tracker_sync__literal_async_false_returns_the_bare_report(api):
    """should import synchronously on async=false and answer with the bare ImportReport"""
    api.install()
    response = api.sync(tracker_payload())
    body = response.json()
    assert response.status_code == 200
    assert "httpStatus" not in body and body["status"] == "OK"
    assert body["stats"] == {"created": 3, "updated": 0, "deleted": 0, "ignored": 0, "total": 3}


@pytest.mark.parametrize("version, sync", [("2.40", False), ("2.41", False), ("2.42", True), ("2.43", True)])
def test_tracker_async__python_false_is_async_before_242(version, sync):
    """should run async for `async=False` on 2.40–2.41 (literal match) and sync from 2.42 (boolean)"""
    for api in for_version(version):
        api.install()
        body = api.post("tracker", tracker_payload(), **{"async": "False"}).json()
        assert ("validationReport" in body) is sync
        assert (body.get("response", {}).get("responseType") == "TrackerJob") is not sync


def test_tracker_async_job__report_is_404_until_ready(api):
    """should answer a job by default, notifications ending in Import:Done, and the report after a 404"""
    api.install()
    job = api.post("tracker", tracker_payload()).json()
    assert job["message"] == "Tracker job added" and job["response"]["responseType"] == "TrackerJob"
    job_id = job["response"]["id"]
    assert job["response"]["location"].endswith(f"/api/tracker/jobs/{job_id}")
    notifications = api.get(f"tracker/jobs/{job_id}").json()
    first = api.get(f"tracker/jobs/{job_id}/report")
    second = api.get(f"tracker/jobs/{job_id}/report")
    assert notifications[0]["completed"] is True and "Import:Done" in notifications[0]["message"]
    assert first.status_code == 404 and second.status_code == 200
    assert second.json()["stats"]["created"] == 3
    assert second.headers["Cache-Control"] == "no-store"


def _break(mutation: str, payload: dict[str, Any]) -> None:
    te = payload["trackedEntities"][0]
    enrollment = te["enrollments"][0]
    event = enrollment["events"][0]
    if mutation == "option":
        event["dataValues"][0]["value"] = "MAYBE"
    elif mutation == "long_attribute":
        te["attributes"].append({"attribute": TEA_NOTE, "value": "x" * 1201})
    elif mutation == "value_type":
        te["attributes"][1]["value"] = "twenty"
    elif mutation == "unknown_attribute":
        te["attributes"].append({"attribute": "TeaNone0001", "value": "x"})
    elif mutation == "not_program_attribute":
        enrollment["attributes"].append({"attribute": TEA_NOTE, "value": "x"})
    elif mutation == "mandatory_attribute":
        enrollment["attributes"] = []
    elif mutation == "unknown_program":
        enrollment["program"] = "PrgNone0001"
    elif mutation == "unknown_stage":
        event["programStage"] = "PsNone00001"
    elif mutation == "element_not_in_stage":
        event["dataValues"].append({"dataElement": DE_OTHER, "value": "x"})
    elif mutation == "unknown_element":
        event["dataValues"].append({"dataElement": "DeNone00001", "value": "x"})
    elif mutation == "compulsory_missing":
        event["dataValues"] = [v for v in event["dataValues"] if v["dataElement"] != DE_FORM]
    elif mutation == "data_value_type":
        event["dataValues"].append({"dataElement": DE_COUNT, "value": "1.5"})
    elif mutation == "enrolled_at_missing":
        del enrollment["enrolledAt"]
    elif mutation == "incident_date_missing":
        del enrollment["occurredAt"]
    elif mutation == "occurred_at_missing":
        del event["occurredAt"]
    elif mutation == "unknown_type":
        te["trackedEntityType"] = "TetNone0001"
    elif mutation == "org_unit_not_in_program":
        enrollment["orgUnit"] = "OuOther0001"


@pytest.mark.parametrize("mutation, code, tracker_type", [
    ("option", "E1125", "EVENT"),
    ("long_attribute", "E1077", "TRACKED_ENTITY"),
    ("value_type", "E1007", "TRACKED_ENTITY"),
    ("unknown_attribute", "E1006", "TRACKED_ENTITY"),
    ("not_program_attribute", "E1019", "ENROLLMENT"),
    ("mandatory_attribute", "E1018", "ENROLLMENT"),
    ("unknown_program", "E1069", "ENROLLMENT"),
    ("unknown_stage", "E1013", "EVENT"),
    ("element_not_in_stage", "E1305", "EVENT"),
    ("unknown_element", "E1304", "EVENT"),
    ("compulsory_missing", "E1303", "EVENT"),
    ("data_value_type", "E1302", "EVENT"),
    ("enrolled_at_missing", "E1025", "ENROLLMENT"),
    ("incident_date_missing", "E1023", "ENROLLMENT"),
    ("occurred_at_missing", "E1031", "EVENT"),
    ("unknown_type", "E1005", "TRACKED_ENTITY"),
    ("org_unit_not_in_program", "E1070", "ENROLLMENT"),
])
def test_tracker_validation__reports_the_documented_code(mutation, code, tracker_type):
    """should reject the broken object with its tracker error code and HTTP 409"""
    for api in for_version("2.42"):
        api.install()
        payload = tracker_payload()
        _break(mutation, payload)
        response = api.sync(payload)
        body = response.json()
        assert response.status_code == 409 and body["status"] == "ERROR"
        match = [e for e in body["validationReport"]["errorReports"] if e["errorCode"] == code]
        assert match and match[0]["trackerType"] == tracker_type


def test_tracker_event_without_enrollment__is_e1033(api):
    """should reject an event of a registration program whose enrollment does not exist"""
    api.install()
    event = tracker_payload()["trackedEntities"][0]["enrollments"][0]["events"][0]
    body = api.sync({"events": [{**event, "enrollment": "EnNone00001", "program": PRG}]}).json()
    assert codes(body) == {"E1033"}


def test_tracker_atomic_all__commits_nothing_when_one_object_fails(api):
    """should keep nothing with atomicMode=ALL (the default) if any object fails"""
    api.install()
    payload = tracker_payload()
    good = tracker_payload("TeUid000002", "EnUid000002", "EvUid000002")["trackedEntities"][0]
    payload["trackedEntities"].append(good)
    _break("option", payload)
    body = api.sync(payload).json()
    assert body["stats"]["created"] == 0 and body["stats"]["ignored"] == 6
    assert api.double.counts() == {"trackedEntities": 0, "enrollments": 0, "events": 0}


def test_tracker_atomic_object__saves_valid_objects_and_cascades_e5000(api):
    """should save valid objects with atomicMode=OBJECT, fail children of failed parents, answer 409"""
    api.install()
    payload = tracker_payload()
    payload["trackedEntities"].append(tracker_payload("TeUid000002", "EnUid000002", "EvUid000002")
                                      ["trackedEntities"][0])
    _break("value_type", payload)  # the first tracked entity fails (E1007)
    response = api.sync(payload, atomicMode="OBJECT")
    body = response.json()
    assert response.status_code == 409 and body["status"] == "ERROR"
    assert body["stats"]["created"] == 3 and body["stats"]["ignored"] == 3
    cascaded = {(e["trackerType"], e["uid"]) for e in body["validationReport"]["errorReports"]
                if e["errorCode"] == "E5000"}
    assert cascaded == {("ENROLLMENT", "EnUid000001"), ("EVENT", "EvUid000001")}
    assert api.double.counts() == {"trackedEntities": 1, "enrollments": 1, "events": 1}


def test_tracker_create_and_update__is_idempotent_by_uid(api):
    """should update, not duplicate, when the same UIDs are imported again"""
    api.install()
    first = api.sync(tracker_payload()).json()
    second = api.sync(tracker_payload()).json()
    assert first["stats"]["created"] == 3 and second["stats"]["updated"] == 3
    assert api.double.counts() == {"trackedEntities": 1, "enrollments": 1, "events": 1}


def test_tracker_missing_uids__duplicate_on_resend(api):
    """should generate UIDs for objects sent without them, so a re-send duplicates (as DHIS2 does)"""
    api.install()
    payload = tracker_payload()
    te = payload["trackedEntities"][0]
    del te["trackedEntity"], te["enrollments"][0]["enrollment"], te["enrollments"][0]["events"][0]["event"]
    te["enrollments"][0]["attributes"] = []  # the unique case reference would clash
    api.double.store.get("programs", PRG)["programTrackedEntityAttributes"][0]["mandatory"] = False
    api.double.store.forget_derived()
    api.sync(copy.deepcopy(payload))
    api.sync(copy.deepcopy(payload))
    assert api.double.counts()["trackedEntities"] == 2


def test_tracker_strategy_create__rejects_existing_objects(api):
    """should report E1002/E1080/E1030 for CREATE of objects that exist"""
    api.install()
    api.sync(tracker_payload())
    assert codes(api.sync(tracker_payload(), importStrategy="CREATE").json()) == {"E1002", "E1080", "E1030"}


@pytest.mark.parametrize("version", VERSIONS)
def test_tracker_malformed_uid__e1048_until_241_then_http_400(version):
    """should report E1048 for a malformed UID on 2.40–2.41 and reject the request with 400 from 2.42"""
    for api in for_version(version):
        api.install()
        response = api.sync(tracker_payload(te="bad-uid"))
        if version in ("2.40", "2.41"):
            assert response.status_code == 409 and "E1048" in codes(response.json())
        else:
            assert response.status_code == 400 and response.json()["httpStatusCode"] == 400


@pytest.mark.parametrize("version", VERSIONS)
def test_tracker_report_shape__varies_by_version(version):
    """should carry timingsStats and objectReport index only on 2.40 and error args from 2.41"""
    for api in for_version(version):
        api.install()
        ok = api.sync(tracker_payload()).json()
        payload = tracker_payload("TeUid000002", "EnUid000002", "EvUid000002")
        _break("option", payload)
        failed = api.sync(payload).json()
        report = ok["bundleReport"]["typeReportMap"]["TRACKED_ENTITY"]["objectReports"][0]
        error = failed["validationReport"]["errorReports"][0]
        assert ("timingsStats" in ok) is (version == "2.40")
        assert ("index" in report) is (version == "2.40")
        assert ("args" in error) is (version != "2.40")


def test_tracker_non_repeatable_stage__second_event_is_e1039(api):
    """should refuse a second event in a non-repeatable stage of the same enrollment"""
    api.install()
    api.sync(tracker_payload())
    event = {**tracker_payload()["trackedEntities"][0]["enrollments"][0]["events"][0],
             "event": "EvUid000009", "enrollment": "EnUid000001", "program": PRG}
    assert codes(api.sync({"events": [event]}).json()) == {"E1039"}


def test_tracker_second_active_enrollment__is_e1015(api):
    """should refuse a new ACTIVE enrollment while the tracked entity has one in the program"""
    api.install()
    api.sync(tracker_payload())
    payload = tracker_payload(enrollment="EnUid000002", event="EvUid000002")
    payload["trackedEntities"][0]["enrollments"][0]["attributes"] = [{"attribute": TEA_CASE, "value": "TIP-2"}]
    assert "E1015" in codes(api.sync(payload).json())


def test_tracker_unique_attribute__clash_is_e1064(api):
    """should refuse a unique attribute value another tracked entity holds"""
    api.install()
    api.sync(tracker_payload())
    payload = tracker_payload("TeUid000002", "EnUid000002", "EvUid000002")
    payload["trackedEntities"][0]["enrollments"][0]["attributes"] = [
        {"attribute": TEA_CASE, "value": "TIP-TeUid000001"}]
    assert codes(api.sync(payload).json()) >= {"E1064"}


def test_tracker_validate_mode__commits_nothing(api):
    """should validate with importMode=VALIDATE and store nothing"""
    api.install()
    body = api.sync(tracker_payload(), importMode="VALIDATE").json()
    assert body["status"] == "OK" and api.double.counts()["trackedEntities"] == 0


# --- tracker export ------------------------------------------------------------------------------------

def _fill(api: Api, count: int) -> None:
    api.install()
    payload = {"trackedEntities": []}
    for i in range(count):
        te = tracker_payload(f"TeUid{i:06d}", f"EnUid{i:06d}", f"EvUid{i:06d}")["trackedEntities"][0]
        payload["trackedEntities"].append(te)
    assert api.sync(payload).status_code == 200


@pytest.mark.parametrize("version", VERSIONS)
def test_export_envelope__follows_the_version(version):
    """should page as 2.40 `instances`+flat, 2.41 `pager`+flat+key, 2.42+ `pager`+key only"""
    for api in for_version(version):
        _fill(api, 3)
        body = api.get("tracker/trackedEntities", program=PRG, pageSize=2, totalPages="true").json()
        if version == "2.40":
            assert set(body) == {"page", "pageSize", "total", "pageCount", "instances"}
        elif version == "2.41":
            assert set(body) == {"pager", "page", "pageSize", "total", "pageCount", "trackedEntities"}
        else:
            assert set(body) == {"pager", "trackedEntities"}
        if version != "2.40":
            assert body["pager"]["total"] == 3 and body["pager"]["pageCount"] == 2
            assert "page=2" in body["pager"]["nextPage"]


def test_export_paging__next_page_until_the_last(api):
    """should link the next page while there is one and return the rest on the last page"""
    _fill(api, 5)
    key = "instances" if api.double.minor == 40 else "trackedEntities"
    pages = [api.get("tracker/trackedEntities", program=PRG, pageSize=2, page=p).json() for p in (1, 2, 3)]
    assert [len(p[key]) for p in pages] == [2, 2, 1]
    if api.double.minor >= 41:
        assert "nextPage" in pages[1]["pager"] and "nextPage" not in pages[2]["pager"]
        assert "prevPage" in pages[2]["pager"]
    assert "total" not in pages[0].get("pager", pages[0])


@pytest.mark.parametrize("version, param, value, paged", [
    ("2.40", "skipPaging", "true", False), ("2.40", "paging", "false", True),
    ("2.41", "skipPaging", "true", False), ("2.41", "paging", "false", False),
    ("2.42", "skipPaging", "true", True), ("2.42", "paging", "false", False),
])
def test_export_paging_switch__per_version(version, param, value, paged):
    """should honour skipPaging up to 2.41 and paging=false from 2.41"""
    for api in for_version(version):
        _fill(api, 2)
        body = api.get("tracker/trackedEntities", program=PRG, **{param: value}).json()
        assert (("pager" in body) or ("page" in body)) is paged


def test_export_updated_after__keeps_later_changes(api):
    """should return only objects updated at or after updatedAfter"""
    _fill(api, 2)
    cut = api.get("tracker/trackedEntities", program=PRG, order="updatedAt:asc").json()
    key = "instances" if api.double.minor == 40 else "trackedEntities"
    last = cut[key][-1]["updatedAt"]
    later = api.get("tracker/trackedEntities", program=PRG, updatedAfter=last).json()[key]
    assert [t["trackedEntity"] for t in later] == [cut[key][-1]["trackedEntity"]]


def test_export_fields__default_leaves_out_enrollments_and_filters_nest(api):
    """should leave enrollments out by default and apply nested field filters"""
    _fill(api, 1)
    key = "instances" if api.double.minor == 40 else "trackedEntities"
    default = api.get("tracker/trackedEntities", program=PRG).json()[key][0]
    nested = api.get("tracker/trackedEntities", program=PRG,
                     fields="trackedEntity,enrollments[enrollment,events[event,dataValues[dataElement]]]"
                     ).json()[key][0]
    assert "enrollments" not in default and "attributes" in default
    assert nested == {"trackedEntity": "TeUid000000", "enrollments": [{"enrollment": "EnUid000000", "events": [
        {"event": "EvUid000000", "dataValues": [{"dataElement": DE_FORM}, {"dataElement": DE_NOTES}]}]}]}


@pytest.mark.parametrize("version", VERSIONS)
def test_export_events__program_required_from_243(version):
    """should answer 400 without `program` on /tracker/events from 2.43 only"""
    for api in for_version(version):
        _fill(api, 1)
        assert api.get("tracker/events").status_code == (400 if version == "2.43" else 200)


@pytest.mark.parametrize("version", VERSIONS)
def test_export_page_size__over_the_maximum_is_400_from_242(version):
    """should answer 400 for a page size above the maximum from 2.42"""
    for api in for_version(version):
        api.install()
        status = api.get("tracker/trackedEntities", program=PRG, pageSize=5000).status_code
        assert status == (400 if version in ("2.42", "2.43") else 200)


@pytest.mark.parametrize("version", VERSIONS)
def test_export_legacy_endpoints__removed_in_242(version):
    """should answer 404 for /api/trackedEntityInstances and /api/events from 2.42"""
    for api in for_version(version):
        removed = api.get("trackedEntityInstances").status_code == 404 and api.get("events").status_code == 404
        assert removed is (version in ("2.42", "2.43"))


@pytest.mark.parametrize("version, param, value, found", [
    ("2.40", "orgUnit", OU, 1), ("2.40", "orgUnit", "OuOther0001", 0),
    ("2.41", "orgUnits", "OuOther0001", 0), ("2.42", "orgUnit", "OuOther0001", 1),
])
def test_export_org_unit_parameters__renamed_per_version(version, param, value, found):
    """should read orgUnit up to 2.41, orgUnits from 2.41, and ignore the removed orgUnit from 2.42"""
    for api in for_version(version):
        _fill(api, 1)
        body = api.get("tracker/trackedEntities", program=PRG, **{param: value}).json()
        assert len(body["instances" if version == "2.40" else "trackedEntities"]) == found


# --- aggregate data values -----------------------------------------------------------------------------

def _aggregate(api: Api) -> None:
    api.install()
    data_set = {"dataSets": [{"id": "DsTip000001", "name": "TIP monthly", "shortName": "TIP monthly",
                              "periodType": "Monthly", "categoryCombo": {"id": "bjDvmb4bfuf"}}]}
    assert api.post("metadata", data_set).status_code == 200


@pytest.mark.parametrize("version, status", [("2.40", 409), ("2.41", 409), ("2.42", 409), ("2.43", 200)])
def test_data_values__warning_is_409_until_243(version, status):
    """should answer a WARNING import summary with 409 before 2.43 and 200 from 2.43"""
    for api in for_version(version):
        _aggregate(api)
        body = {"dataSet": "DsTip000001", "period": "202601", "orgUnit": OU, "dataValues": [
            {"dataElement": DE_COUNT, "value": "12"}, {"dataElement": DE_COUNT, "categoryOptionCombo": "HllvX50cXC0",
                                                       "period": "202602", "value": "twelve"},
            {"dataElement": DE_FORM, "period": "202603", "value": "MAYBE"}]}
        response = api.post("dataValueSets", body)
        summary = response.json()["response"]
        assert response.status_code == status and summary["status"] == "WARNING"
        assert summary["importCount"]["imported"] == 1 and summary["rejectedIndexes"] == [1, 2]
        assert {c["errorCode"] for c in summary["conflicts"]} == {"E2030", "E2029"}


def test_data_values__dry_run_is_honoured(api):
    """should count but not store values with dryRun=true, and store them without it"""
    _aggregate(api)
    body = {"dataSet": "DsTip000001", "period": "202601", "orgUnit": OU,
            "dataValues": [{"dataElement": DE_COUNT, "value": "3"}]}
    dry = api.post("dataValueSets", body, dryRun="true").json()
    real = api.post("dataValueSets", body).json()
    again = api.post("dataValueSets", body).json()
    assert dry["response"]["importCount"]["imported"] == 1 and real["response"]["importCount"]["imported"] == 1
    assert again["response"]["importCount"]["updated"] == 1
    assert real["httpStatusCode"] == 200 and real["response"]["responseType"] == "ImportSummary"


def test_content_type__non_json_post_is_415(api):
    """should refuse a POST whose body is not declared as JSON"""
    response = api.http.post(f"{api.double.base_url}/api/metadata", data=json.dumps(metadata()),
                             headers={"Content-Type": "text/plain"}, timeout=5)
    assert response.status_code == 415
