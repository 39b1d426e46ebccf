"""Integration tests against a REAL Frappe v15 site with tip_casework installed.

Skipped unless `TIPDATA_FRAPPE_URL` and `TIPDATA_FRAPPE_API_KEY` / `TIPDATA_FRAPPE_API_SECRET`
(a System Manager's key, e.g. Administrator's) are set; see plugins/erpnext_casework/README.md
for bringing a bench up. The tests create one user per TIP role (with API keys) and records
with a fresh run id, so they can run again on the same site. Secrets are never printed.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any
from unittest.mock import ANY

import pytest
import requests

from tipdata.codebook import load_codebook
from tipdata.erpnext_casework import doctypes as dt

URL = os.environ.get("TIPDATA_FRAPPE_URL", "").rstrip("/")
KEY = os.environ.get("TIPDATA_FRAPPE_API_KEY", "")
SECRET = os.environ.get("TIPDATA_FRAPPE_API_SECRET", "")
TOKEN = os.environ.get("TIPDATA_FRAPPE_TOKEN", "")  # "<key>:<secret>", instead of the two above

pytestmark = pytest.mark.skipif(
    not URL or not ((KEY and SECRET) or TOKEN),
    reason="set TIPDATA_FRAPPE_URL and TIPDATA_FRAPPE_API_KEY/_SECRET (or _TOKEN) to test a real site",
)
RUN = uuid.uuid4().hex[:8]


class Site:
    """A tiny REST client: one session per user, token auth, JSON bodies."""

    def __init__(self, token: str | None) -> None:
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"token {token}"
        self.session.headers["Accept"] = "application/json"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{URL}{path}", timeout=60, **kwargs)

    def get_doc(self, doctype: str, name: str) -> requests.Response:
        return self.call("GET", f"/api/resource/{doctype}/{name}")

    def get_list(self, doctype: str, **params: Any) -> requests.Response:
        return self.call(
            "GET",
            f"/api/resource/{doctype}",
            params={
                k: json.dumps(v) if not isinstance(v, str | int) else v for k, v in params.items()
            },
        )

    def insert(self, doctype: str, data: dict[str, Any]) -> requests.Response:
        return self.call("POST", f"/api/resource/{doctype}", json=data)

    def update(self, doctype: str, name: str, data: dict[str, Any]) -> requests.Response:
        return self.call("PUT", f"/api/resource/{doctype}/{name}", json=data)

    def method(self, dotted: str, **data: Any) -> requests.Response:
        return self.call("POST", f"/api/method/{dotted}", json=data)


def ok(response: requests.Response) -> Any:
    """The JSON body of a successful answer; otherwise fail naming method, URL, status, message."""
    if response.status_code != 200:
        pytest.fail(
            f"{response.request.method} {response.url} -> {response.status_code}: {server_message(response)}"
        )
    return response.json()


def server_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    messages = json.loads(body.get("_server_messages", "[]"))
    texts = [json.loads(m).get("message", "") for m in messages]
    return f"{body.get('exc_type', '')} {' | '.join(texts)}".strip()


def case_payload(external_id: str, **overrides: Any) -> dict[str, Any]:
    values = {
        "external_id": external_id,
        "case_reference": f"REF-{external_id}",
        "case_opened_date": "2026-01-10",
        "case_status": "active",
        "case_risk_level": "low",
        "consent_screening": "yes",
        "consent_information_given": "yes",
        "consent_data_recording": "yes",
        "consent_service_referral": "yes",
        "consent_law_enforcement": "yes",
        "consent_statistics": "yes",
        "consent_follow_up_contact": "yes",
        "consent_date": "2026-01-10",
        "consent_given_by": "person",
        "expl_palermo_act": [{"option": "recruitment"}],
        "expl_palermo_means": [{"option": "deception"}],
        "expl_palermo_purpose": [{"option": "forced_labour"}],
        "ident_date": "2026-01-09",
        "ident_country": "FR",
        "ident_stage": "initial_screening",
        "ident_trafficking_status": "presumed",
        "person_pseudo_id": f"P-{external_id}",
        "person_sex": "female",
        "person_date_of_birth": "2000-05-01",
        "ident_notes": "HIGHLY-SENSITIVE-NOTE",
        "case_ticket": None,
        "case_risk_factors": [{"option": "trafficker_contact"}],
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


ROLE_USERS = {role: f"{role.lower().replace(' ', '-')}@tipdata-it.test" for role in dt.ROLES}


@pytest.fixture(scope="module")
def admin() -> Site:
    return Site(TOKEN or f"{KEY}:{SECRET}")


@pytest.fixture(scope="module")
def users(admin: Site) -> dict[str, Site]:
    """One session per TIP role, each with freshly generated API keys."""
    sites = {}
    for role, email in ROLE_USERS.items():
        if admin.get_doc("User", email).status_code == 404:
            ok(
                admin.insert(
                    "User",
                    {
                        "email": email,
                        "first_name": role,
                        "send_welcome_email": 0,
                        "roles": [{"role": role}],
                    },
                )
            )
        secret = ok(admin.method("frappe.core.doctype.user.user.generate_keys", user=email))[
            "message"
        ]["api_secret"]
        key = ok(admin.get_doc("User", email))["data"]["api_key"]
        sites[role] = Site(f"{key}:{secret}")
    return sites


@pytest.fixture(scope="module")
def records(admin: Site) -> dict[str, str]:
    """Case A consents to everything; case B to neither law enforcement nor statistics."""
    a, b = f"it-{RUN}-a", f"it-{RUN}-b"
    ok(admin.insert(dt.CASE, case_payload(a)))
    ok(
        admin.insert(
            dt.CASE, case_payload(b, consent_law_enforcement="no", consent_statistics="no")
        )
    )
    for case in (a, b):
        ok(
            admin.insert(
                dt.IDENTITY,
                {
                    "external_id": case,
                    "tip_case": case,
                    "person_given_names": "SECRET-NAME",
                    "person_phone": "+33 1 23 45 67",
                },
            )
        )
        ok(
            admin.insert(
                dt.RESTRICTED,
                {"external_id": case, "tip_case": case, "person_immigration_status": "irregular"},
            )
        )
        ok(
            admin.insert(
                dt.REFERRAL,
                {
                    "external_id": f"{case}-r1",
                    "tip_case": case,
                    "ref_date": "2026-01-11",
                    "ref_consent_share": "yes",
                    "ref_service_type": [{"option": "medical_care"}],
                    "ref_org_type": "ngo",
                    "ref_org_name": "Clinic",
                    "ref_reason": "additional_services",
                    "ref_urgency": "routine",
                    "ref_status": "made",
                    "ref_status_date": "2026-01-11",
                    "ref_outcome_notes": "HIGHLY-SENSITIVE-REFERRAL-NOTE",
                },
            )
        )
        ok(
            admin.insert(
                dt.INVESTIGATION,
                {
                    "external_id": f"{case}-i1",
                    "tip_case": case,
                    "inv_opened_date": "2026-01-12",
                    "inv_agency_type": "police",
                    "inv_suspect_count": 0,
                    "inv_offences": [{"option": "tip_forced_labour"}],
                    "inv_status": "open",
                    "inv_status_date": "2026-01-12",
                },
            )
        )
    return {"a": a, "b": b}


def generated() -> dt.DocTypeSet:
    return dt.build_doctypes(load_codebook())


def readable_fieldnames(doctype: str, role: str) -> set[str]:
    spec = next(s for s in dt.ROLE_SPECS if s.role == role)
    levels = dt.readable_levels(spec.purpose)
    return {
        f["fieldname"]
        for f in generated().doctypes[doctype]["fields"]
        if f.get("permlevel", 0) in levels
    }


def hidden_fieldnames(doctype: str, role: str) -> set[str]:
    fields = {
        f["fieldname"]
        for f in generated().doctypes[doctype]["fields"]
        if f["fieldtype"] not in ("Section Break", "Column Break")
    }
    return fields - readable_fieldnames(doctype, role)


GATED = (dt.DATA_ANALYST, dt.LAW_ENFORCEMENT)


# ---- install ----------------------------------------------------------------------------------


def test_install__every_generated_doctype_with_its_permissions(admin: Site):
    """should have installed every generated DocType with exactly the generated permission rows."""
    built = generated()
    for name, doctype in built.doctypes.items():
        stored = ok(admin.get_doc("DocType", name))["data"]
        assert stored["module"] == dt.MODULE
        assert {f["fieldname"] for f in stored["fields"]} == {
            f["fieldname"] for f in doctype["fields"]
        }, name
        rows = {
            (p["role"], p["permlevel"], tuple(p[flag] for flag in dt.PERM_FLAGS))
            for p in stored["permissions"]
        }
        expected = {
            (p["role"], p["permlevel"], tuple(p[flag] for flag in dt.PERM_FLAGS))
            for p in doctype["permissions"]
        }
        assert rows == expected, name
    apps = ok(admin.method("frappe.utils.change_log.get_versions"))["message"]
    assert "tip_casework" in apps


# ---- visibility of sensitive fields -----------------------------------------------------------


@pytest.mark.parametrize("role", GATED)
def test_visibility__get_shows_no_hidden_field(users, records, role):
    """should leave every field the role may not read out of GET of a consenting case."""
    data = ok(users[role].get_doc(dt.CASE, records["a"]))["data"]
    hidden = hidden_fieldnames(dt.CASE, role)
    # Frappe blanks a hidden table to [] rather than dropping the key; no row may remain
    shown = {f for f in hidden & set(data) if data[f] not in (None, "", [])}
    assert hidden and not shown, sorted(shown)
    assert "HIGHLY-SENSITIVE-NOTE" not in json.dumps(data)


@pytest.mark.parametrize("role", GATED)
def test_visibility__list_star_shows_no_hidden_field(users, records, role):
    """should drop hidden columns from fields=["*"] lists."""
    rows = ok(users[role].get_list(dt.CASE, fields=["*"], filters=[["name", "=", records["a"]]]))[
        "data"
    ]
    assert len(rows) == 1
    assert not {
        f
        for f in hidden_fieldnames(dt.CASE, role) & set(rows[0])
        if rows[0][f] not in (None, "", [])
    }


@pytest.mark.parametrize("role", GATED)
def test_visibility__filters_on_hidden_fields_answer_nothing(users, records, role):
    """should not let a filter, sort or group on a hidden field tell anything (no oracle)."""
    site = users[role]
    for fieldname in sorted(hidden_fieldnames(dt.CASE, role)):
        hit = site.get_list(dt.CASE, filters=[[fieldname, "like", "%HIGHLY%"]])
        miss = site.get_list(dt.CASE, filters=[[fieldname, "like", "%NO-SUCH-VALUE%"]])
        assert hit.status_code == miss.status_code == 403, (
            fieldname,
            hit.status_code,
            miss.status_code,
        )
        assert hit.json() == miss.json(), fieldname
        assert (
            site.get_list(dt.CASE, fields=["name"], order_by=f"{fieldname} desc").status_code == 403
        ), fieldname
        assert site.get_list(dt.CASE, fields=[fieldname]).status_code == 403, fieldname


@pytest.mark.parametrize("role", GATED)
def test_visibility__never_identity_for_analyst_never_restricted(users, records, role):
    """should refuse TIP Restricted Detail to both gated roles and TIP Identity to the analyst."""
    site = users[role]
    assert site.get_doc(dt.RESTRICTED, records["a"]).status_code == 403
    assert site.get_list(dt.RESTRICTED).status_code == 403
    assert (
        site.get_list(
            dt.RESTRICTED, filters=[["person_immigration_status", "=", "irregular"]]
        ).status_code
        == 403
    )
    # frappe.client.get_count checks no permission in 15.50.0; the app's guard refuses it here
    counted = site.method(
        "frappe.client.get_count",
        doctype=dt.RESTRICTED,
        filters=[["person_immigration_status", "=", "irregular"]],
    )
    assert counted.status_code == 403, counted.text[:200]
    identity = site.get_doc(dt.IDENTITY, records["a"])
    if role == dt.DATA_ANALYST:
        assert identity.status_code == 403
        assert (
            site.get_list(
                dt.IDENTITY, filters=[["person_given_names", "like", "%SECRET%"]]
            ).status_code
            == 403
        )
    else:
        assert (
            identity.status_code == 200
            and identity.json()["data"]["person_given_names"] == "SECRET-NAME"
        )


def test_visibility__own_put_response_holds_only_readable_fields(users, records):
    """should answer each role's own PUT with readable fields only (v15 returns the saved doc)."""
    for role in (dt.CASE_WORKER, dt.SUPERVISOR):
        data = ok(users[role].update(dt.CASE, records["a"], {"case_worker": f"cw-{role[:3]}"}))[
            "data"
        ]
        assert data["ident_notes"] == "HIGHLY-SENSITIVE-NOTE"  # these roles read every level
    liaison = users[dt.LAW_ENFORCEMENT]
    data = ok(
        liaison.update(dt.INVESTIGATION, f"{records['a']}-i1", {"inv_status_date": "2026-01-13"})
    )["data"]
    assert set(data) - {
        "doctype",
        "name",
        "owner",
        "creation",
        "modified",
        "modified_by",
        "docstatus",
        "idx",
    } <= readable_fieldnames(dt.INVESTIGATION, dt.LAW_ENFORCEMENT) | {"inv_offences"}
    for role in GATED:
        assert users[role].update(dt.CASE, records["a"], {"case_worker": "x"}).status_code == 403, (
            role
        )
    analyst_put = users[dt.DATA_ANALYST].update(
        dt.REFERRAL, f"{records['a']}-r1", {"ref_outcome_notes": "x"}
    )
    assert analyst_put.status_code == 403
    assert "HIGHLY-SENSITIVE-REFERRAL-NOTE" not in analyst_put.text


# ---- consent ------------------------------------------------------------------------------------


def test_consent__law_enforcement_sees_only_consenting_cases(users, records):
    """should show the liaison case A and its records, and nothing of case B."""
    liaison = users[dt.LAW_ENFORCEMENT]
    names = {
        row["name"]
        for row in ok(liaison.get_list(dt.CASE, filters=[["name", "like", f"it-{RUN}-%"]]))["data"]
    }
    assert names == {records["a"]}
    assert liaison.get_doc(dt.CASE, records["b"]).status_code == 403
    assert liaison.get_doc(dt.IDENTITY, records["b"]).status_code == 403
    assert liaison.get_doc(dt.INVESTIGATION, f"{records['b']}-i1").status_code == 403
    investigations = ok(
        liaison.get_list(dt.INVESTIGATION, filters=[["tip_case", "like", f"it-{RUN}-%"]])
    )["data"]
    assert {row["name"] for row in investigations} == {f"{records['a']}-i1"}
    count = ok(
        liaison.call(
            "GET",
            "/api/method/frappe.desk.reportview.get_count",
            params={"doctype": dt.CASE, "filters": json.dumps([["name", "like", f"it-{RUN}-%"]])},
        )
    )["message"]
    assert count == 1
    unchecked = liaison.method(
        "frappe.client.get_count", doctype=dt.CASE, filters=[["name", "like", f"it-{RUN}-%"]]
    )
    assert unchecked.status_code == 403


def test_consent__withdrawal_takes_effect_at_once(admin, users, records):
    """should hide a case from the liaison as soon as consent for law enforcement is withdrawn."""
    name = f"it-{RUN}-w"
    ok(admin.insert(dt.CASE, case_payload(name)))
    liaison = users[dt.LAW_ENFORCEMENT]
    assert liaison.get_doc(dt.CASE, name).status_code == 200
    ok(
        admin.update(
            dt.CASE,
            name,
            {
                "consent_withdrawn": "yes",
                "consent_withdrawn_date": "2026-01-20",
                "consent_withdrawn_purposes": [{"option": "law_enforcement"}],
            },
        )
    )
    assert liaison.get_doc(dt.CASE, name).status_code == 403


def test_consent__analyst_counts_only_cases_consenting_to_statistics(users, records):
    """should list for the analyst case A only (B did not consent to statistics)."""
    rows = ok(users[dt.DATA_ANALYST].get_list(dt.CASE, filters=[["name", "like", f"it-{RUN}-%"]]))[
        "data"
    ]
    assert records["a"] in {row["name"] for row in rows}
    assert records["b"] not in {row["name"] for row in rows}


# ---- rules, naming -------------------------------------------------------------------------------


def test_rules__rest_insert_breaking_a_rule_is_417_with_the_rule_in_words(admin):
    """should refuse over REST what the desk's depends_on would only have hinted at."""
    response = admin.insert(
        dt.CASE,
        case_payload(f"it-{RUN}-bad", case_status="closed", case_closure_reason="goals_met"),
    )
    assert response.status_code == 417
    assert response.json()["exc_type"] == "MandatoryError"
    message = server_message(response)
    assert "case_closed_date" in message and "is required when Case status is 'Closed'" in message
    constraint = admin.insert(dt.CASE, case_payload(f"it-{RUN}-bad2", case_reference="!"))
    assert constraint.status_code == 417 and constraint.json()["exc_type"] == "ValidationError"
    assert "case_reference" in server_message(constraint)


def test_intake__screening_case_awaits_its_intake_then_requires_it(admin):
    """should accept a case holding only what a screening states, then refuse recording the intake without it (417)."""
    name = f"it-{RUN}-scr"
    screening_only = {
        "external_id": name,
        "intake_pending": 1,
        "case_reference": f"SCR-{RUN}",
        "person_pseudo_id": f"SCRP-{RUN}",
        "case_opened_date": "2026-02-03",
        "case_status": "active",
        "consent_screening": "yes",
        "ident_date": "2026-02-03",
        "ident_stage": "initial_screening",
        "ident_trafficking_status": "potential",
    }
    assert ok(admin.insert(dt.CASE, screening_only))["data"]["intake_pending"] == 1
    refused = admin.update(dt.CASE, name, {"intake_pending": 0})
    assert refused.status_code == 417 and refused.json()["exc_type"] == "MandatoryError"
    assert "(case_risk_level) is required once the case's intake is recorded" in server_message(
        refused
    )
    intake = {k: v for k, v in case_payload(name).items() if k not in screening_only}
    assert (
        ok(admin.update(dt.CASE, name, {**intake, "intake_pending": 0}))["data"]["intake_pending"]
        == 0
    )
    back = admin.update(dt.CASE, name, {"intake_pending": 1})
    assert back.status_code == 417 and back.json()["exc_type"] == "ValidationError"


def test_naming__duplicate_external_id_is_409(admin, records):
    """should refuse a second case with the same external id with 409 DuplicateEntryError."""
    response = admin.insert(dt.CASE, case_payload(records["a"]))
    assert response.status_code == 409
    assert response.json()["exc_type"] == "DuplicateEntryError"


def test_status__case_worker_cannot_confirm(users, records):
    """should keep confirmation a supervisor decision, over REST too."""
    worker = users[dt.CASE_WORKER]
    refused = worker.method(
        "tip_casework.case_status.apply_status", case=records["a"], status="confirmed"
    )
    assert refused.status_code == 403
    done = ok(
        users[dt.SUPERVISOR].method(
            "tip_casework.case_status.apply_status",
            case=records["a"],
            status="confirmed",
            decided_by="police",
        )
    )
    assert done["message"]["tip_status"] == "confirmed"


# ---- follow-up job and status page -----------------------------------------------------------------


def test_follow_up__job_flags_quiet_cases(admin, users, records):
    """should flag a case with follow-up consent and no contact for the set period."""
    counts = ok(users[dt.SUPERVISOR].method("tip_casework.follow_up.run_now", today="2027-06-01"))[
        "message"
    ]
    assert counts["flagged"] + counts["checked"] >= 1
    assert ok(admin.get_doc(dt.CASE, records["a"]))["data"]["follow_up_due_since"] == "2027-06-01"
    assert users[dt.CASE_WORKER].method("tip_casework.follow_up.run_now").status_code == 403


FOLLOW_UP_JOB = "tip_casework.follow_up.flag_due_follow_ups"


@pytest.fixture(scope="module")
def worker(admin: Site) -> None:
    """Skip unless a `bench worker` serves the site's queues: the scheduler only enqueues jobs."""
    rows = ok(admin.get_list("RQ Worker", fields=["name", "queue"], limit_page_length=100))["data"]
    if not any("default" in (row.get("queue") or "") for row in rows):
        pytest.skip("no `bench worker` listening on the default queue")


def wait_for(check: Any, seconds: float = 90.0, every: float = 2.0) -> Any:
    """Poll `check()` until it returns something truthy (a queued job runs when the worker takes it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    return check()


def run_daily_job_on_worker(admin: Site, method: str) -> list[dict[str, Any]]:
    """Queue the daily Scheduled Job Type of `method` as the scheduler does (`execute_event`),
    wait for a worker to finish it, and return its new Scheduled Job Log rows."""
    jobs = ok(
        admin.get_list(
            "Scheduled Job Type",
            fields=["name", "frequency"],
            filters=[["method", "=", method]],
        )
    )["data"]
    assert [job["frequency"] for job in jobs] == ["Daily"]  # the hooks' "daily" event
    job = jobs[0]["name"]
    log_filters = [["scheduled_job_type", "=", job]]
    logs_before = {
        row["name"]
        for row in ok(
            admin.get_list("Scheduled Job Log", filters=log_filters, limit_page_length=0)
        )["data"]
    }
    ok(
        admin.method(
            "frappe.core.doctype.scheduled_job_type.scheduled_job_type.execute_event",
            doc=json.dumps({"name": job}),
        )
    )

    def finished() -> list[dict[str, Any]]:
        rows = ok(
            admin.get_list(
                "Scheduled Job Log",
                fields=["name", "status"],
                limit_page_length=0,
                filters=log_filters,
            )
        )["data"]
        return [row for row in rows if row["name"] not in logs_before and row["status"] != "Start"]

    runs = wait_for(finished)
    return runs


def notifications(admin: Site, user: str, name: str) -> list[dict[str, Any]]:
    filters = [["for_user", "=", user], ["document_name", "=", name]]
    return ok(admin.get_list("Notification Log", fields=["type"], filters=filters))["data"]


def test_follow_up__daily_job_runs_through_the_scheduler_queue(admin, users, worker):
    """should flag a quiet case and tell its case worker (a ToDo they see, a notification) when the
    daily Scheduled Job Type runs on a worker."""
    name = f"it-{RUN}-sched"
    case_worker = ROLE_USERS[dt.CASE_WORKER]
    ok(admin.insert(dt.CASE, case_payload(name, case_worker=case_worker)))
    runs = run_daily_job_on_worker(admin, FOLLOW_UP_JOB)
    assert [run["status"] for run in runs] == ["Complete"]
    case = ok(admin.get_doc(dt.CASE, name))["data"]
    assert case["follow_up_due_since"]
    todo_filters = [["reference_type", "=", dt.CASE], ["reference_name", "=", name]]
    seen = ok(
        users[dt.CASE_WORKER].get_list(
            "ToDo", fields=["allocated_to", "status", "date"], filters=todo_filters
        )
    )["data"]
    assert seen == [
        {"allocated_to": case_worker, "status": "Open", "date": case["follow_up_due_since"]}
    ]
    assert ok(admin.get_list("ToDo", filters=todo_filters))["data"] == [{"name": ANY}]

    assert wait_for(lambda: notifications(admin, case_worker, name), seconds=30) == [
        {"type": "Assignment"}
    ]


REFERRAL_JOB = "tip_casework.referral_follow_up.flag_quiet_referrals"


def referral_payload(external_id: str, case: str, **overrides: Any) -> dict[str, Any]:
    values = {
        "external_id": external_id,
        "tip_case": case,
        "ref_date": "2026-01-11",
        "ref_consent_share": "yes",
        "ref_service_type": [{"option": "medical_care"}],
        "ref_org_type": "ngo",
        "ref_org_name": "Clinic",
        "ref_reason": "additional_services",
        "ref_urgency": "routine",
        "ref_status": "made",
        "ref_status_date": "2026-01-11",
    }
    values.update(overrides)
    return values


def referral_todos(site: Site, name: str) -> list[dict[str, Any]]:
    filters = [["reference_type", "=", dt.REFERRAL], ["reference_name", "=", name]]
    return ok(site.get_list("ToDo", fields=["allocated_to", "status"], filters=filters))["data"]


def test_referral_follow_up__flags_a_quiet_referral_once_until_its_status_moves(admin, users):
    """should stamp the status change (not settable by a client), flag a referral quiet for the
    period once with one ToDo for the case worker, and settle it when the status changes."""
    case, name = f"it-{RUN}-rfu", f"it-{RUN}-rfu-r1"
    case_worker = ROLE_USERS[dt.CASE_WORKER]
    ok(admin.insert(dt.CASE, case_payload(case, case_worker=case_worker)))
    stamp = ok(admin.insert(dt.REFERRAL, referral_payload(name, case)))["data"]["status_changed_on"]
    assert stamp
    ok(admin.update(dt.REFERRAL, name, {"status_changed_on": "2020-01-01 00:00:00"}))
    assert ok(admin.get_doc(dt.REFERRAL, name))["data"]["status_changed_on"] == stamp
    later = "2099-01-01"
    run_now = "tip_casework.referral_follow_up.run_now"
    assert users[dt.CASE_WORKER].method(run_now, today=later).status_code == 403
    first = ok(users[dt.SUPERVISOR].method(run_now, today=later))["message"]
    assert first["flagged"] >= 1
    ok(users[dt.SUPERVISOR].method(run_now, today=later))
    assert ok(admin.get_doc(dt.REFERRAL, name))["data"]["follow_up_due_since"] == later
    assert referral_todos(admin, name) == [{"allocated_to": case_worker, "status": "Open"}]
    assert referral_todos(users[dt.CASE_WORKER], name) == [
        {"allocated_to": case_worker, "status": "Open"}
    ]
    ok(users[dt.CASE_WORKER].update(dt.REFERRAL, name, {"ref_status": "accepted"}))
    moved = ok(admin.get_doc(dt.REFERRAL, name))["data"]
    assert moved.get("follow_up_due_since") is None
    assert moved["status_changed_on"] > stamp
    assert referral_todos(admin, name) == [{"allocated_to": case_worker, "status": "Closed"}]


@pytest.fixture
def zero_day_referral_period(admin: Site) -> Iterator[None]:
    """A period of 0 days, so a referral made now is already due (the job runs with today)."""
    before = ok(admin.get_doc(dt.SETTINGS, dt.SETTINGS))["data"].get("referral_follow_up_days")
    ok(admin.update(dt.SETTINGS, dt.SETTINGS, {"referral_follow_up_days": 0}))
    yield
    ok(admin.update(dt.SETTINGS, dt.SETTINGS, {"referral_follow_up_days": before or 14}))


def test_referral_follow_up__daily_job_runs_through_the_scheduler_queue(
    admin, users, worker, zero_day_referral_period
):
    """should flag an open referral and tell its case worker (a ToDo they see, a notification) when
    the daily Scheduled Job Type of the referral check runs on a worker."""
    case, name = f"it-{RUN}-rfu-sched", f"it-{RUN}-rfu-sched-r1"
    case_worker = ROLE_USERS[dt.CASE_WORKER]
    ok(admin.insert(dt.CASE, case_payload(case, case_worker=case_worker)))
    ok(admin.insert(dt.REFERRAL, referral_payload(name, case)))
    runs = run_daily_job_on_worker(admin, REFERRAL_JOB)
    assert [run["status"] for run in runs] == ["Complete"]
    assert ok(admin.get_doc(dt.REFERRAL, name))["data"]["follow_up_due_since"]
    assert referral_todos(users[dt.CASE_WORKER], name) == [
        {"allocated_to": case_worker, "status": "Open"}
    ]

    assert wait_for(lambda: notifications(admin, case_worker, name), seconds=30) == [
        {"type": "Assignment"}
    ]


@pytest.fixture
def attempts_per_hour(admin: Site) -> Iterator[None]:
    before = ok(admin.get_doc(dt.SETTINGS, dt.SETTINGS))["data"].get(
        "status_page_attempts_per_hour"
    )
    ok(admin.update(dt.SETTINGS, dt.SETTINGS, {"status_page_attempts_per_hour": 10000}))
    yield
    ok(admin.update(dt.SETTINGS, dt.SETTINGS, {"status_page_attempts_per_hour": before or 5}))


def test_status_page__ticket_and_pin_show_progress_only(users, records, attempts_per_hour, admin):
    """should show stage and referral progress for ticket + PIN, nothing personal, and refuse a wrong PIN."""
    credentials = ok(
        users[dt.CASE_WORKER].method(
            "tip_casework.status_page.issue_status_credentials", case=records["a"]
        )
    )["message"]
    guest = Site(None)
    answer = guest.call(
        "POST",
        "/api/method/tip_casework.status_page.lookup",
        data={"ticket": credentials["ticket"], "pin": credentials["pin"]},
    )
    status = ok(answer)["message"]
    assert set(status) == {"stage", "referrals", "next_contact"}
    assert status["referrals"] == [{"stage": "sent, waiting for an answer", "count": 1}]
    text = answer.text
    for secret in ("SECRET-NAME", records["a"], "HIGHLY-SENSITIVE", "irregular", "presumed"):
        assert secret not in text
    wrong = guest.call(
        "POST",
        "/api/method/tip_casework.status_page.lookup",
        data={"ticket": credentials["ticket"], "pin": "12345678x"},
    )
    assert wrong.status_code == 401
    page = guest.call("GET", "/case-status")
    assert page.status_code == 200 and 'id="status-form"' in page.text
    assert records["a"] not in page.text
    case = ok(admin.get_doc(dt.CASE, records["a"]))["data"]
    assert credentials["pin"] not in json.dumps(case) and case["status_pin_set"] == 1


def test_status_page__rate_limited(admin, users, records):
    """should answer 429 once the attempts per hour are used up."""
    before = ok(admin.get_doc(dt.SETTINGS, dt.SETTINGS))["data"].get(
        "status_page_attempts_per_hour"
    )
    ok(admin.update(dt.SETTINGS, dt.SETTINGS, {"status_page_attempts_per_hour": 2}))
    try:
        guest = Site(None)
        statuses = [
            guest.call(
                "POST",
                "/api/method/tip_casework.status_page.lookup",
                data={"ticket": "NOPE-NOPE-NOPE", "pin": "00000000"},
            ).status_code
            for _ in range(3)
        ]
    finally:
        ok(admin.update(dt.SETTINGS, dt.SETTINGS, {"status_page_attempts_per_hour": before or 5}))
    assert statuses[-1] == 429
