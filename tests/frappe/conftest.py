"""Fixtures for the Frappe double and connector tests: a small site, a clock tests can move."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.doubles.frappe import DocField, DocTypeDef, FrappeDouble

NOTE = DocTypeDef("Test Note", (
    DocField("external_id", "Data", "External ID", reqd=True, unique=True),
    DocField("status", "Select", "Status", reqd=True, options="Open\nClosed"),
    DocField("visits", "Int", "Visits"),
    DocField("urgent", "Check", "Urgent"),
    DocField("opened_on", "Date", "Opened On"),
    DocField("summary", "Data", "Summary", length=20),
    DocField("person", "Link", "Person", options="Test Person"),
    DocField("tags", "Table MultiSelect", "Tags", options="Test Note Tag"),
), autoname="field:external_id")
NOTE_TAG = DocTypeDef("Test Note Tag", (
    DocField("tag", "Select", "Tag", reqd=True, options="red\ngreen\nblue"),
), istable=True)
PERSON = DocTypeDef("Test Person", (
    DocField("external_id", "Data", "External ID", reqd=True),
    DocField("given_name", "Data", "Given Name"),
), autoname="field:external_id")
TICKET = DocTypeDef("Test Ticket", (
    DocField("code", "Data", "Code", unique=True),
), autoname="hash")

KEY, SECRET = "test-key", "test-secret-value"


class SteppingClock:
    """Aware UTC time that moves one second per reading, or stands still when frozen."""

    def __init__(self, start: dt.datetime) -> None:
        self.current = start
        self.step = dt.timedelta(seconds=1)

    def __call__(self) -> dt.datetime:
        now = self.current
        self.current += self.step
        return now


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(dt.datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=dt.UTC))


@pytest.fixture
def site(clock: SteppingClock) -> Iterator[FrappeDouble]:
    double = FrappeDouble([NOTE, NOTE_TAG, PERSON, TICKET], api_key=KEY, api_secret=SECRET,
                          time_zone="Asia/Kolkata", clock=clock).start()
    yield double
    double.stop()


# --- the casework site: the generated tip_casework DocTypes on a double -------------------------

import functools  # noqa: E402
from typing import Any  # noqa: E402

from tipdata.codebook import load_codebook  # noqa: E402
from tipdata.erpnext_casework.connector import CaseworkSync, FrappeClient  # noqa: E402
from tipdata.erpnext_casework.doctypes import build_doctypes  # noqa: E402
from tipdata.erpnext_casework.mapping import CaseworkMapping, mapping_from_doctypes  # noqa: E402
from tipdata.http import ServiceConfig  # noqa: E402
from tipdata.records import CanonicalRecord, Envelope, record_id_for  # noqa: E402


@functools.cache
def codebook():
    return load_codebook()


@functools.cache
def doctype_set():
    return build_doctypes(codebook())


@functools.cache
def casework_defs() -> tuple[DocTypeDef, ...]:
    """The generated DocType JSON, read by the double as a site would install it."""
    return tuple(DocTypeDef.from_json(d) for d in doctype_set().doctypes.values()
                 if not d.get("issingle"))


@functools.cache
def mapping() -> CaseworkMapping:
    return mapping_from_doctypes(codebook(), doctype_set())


@pytest.fixture
def casework_site(clock: SteppingClock) -> Iterator[FrappeDouble]:
    double = FrappeDouble(casework_defs(), api_key=KEY, api_secret=SECRET,
                          time_zone="Asia/Kolkata", clock=clock).start()
    yield double
    double.stop()


def client_for(site: FrappeDouble, **kwargs: Any) -> FrappeClient:
    config = ServiceConfig(site.base_url, f"{KEY}:{SECRET}", timeout=10, retries=3, backoff=0.001)
    return FrappeClient(config, sleep=lambda seconds: None, **kwargs)


@pytest.fixture
def sync(casework_site: FrappeDouble) -> CaseworkSync:
    return CaseworkSync(client_for(casework_site), mapping(), codebook())


WHEN = dt.datetime(2026, 2, 10, 9, 30, tzinfo=dt.UTC)


def make_record(form_id: str, source_id: str, values: dict[str, Any], *,
                updated_at: dt.datetime = WHEN) -> CanonicalRecord:
    return CanonicalRecord(
        envelope=Envelope(record_id=record_id_for("kobo:aTestForm", source_id),
                          source_system="kobo:aTestForm", source_id=source_id, form_id=form_id,
                          collected_at=WHEN, updated_at=updated_at,
                          consent_purposes=frozenset({"service_referral"})),
        values=values)


def intake_record(n: int, **overrides: Any) -> CanonicalRecord:
    """A case intake record with every field TIP Case requires, plus a name and a phone."""
    values: dict[str, Any] = {
        "case_reference": f"TIP-2026-{n:04d}", "case_opened_date": dt.date(2026, 2, 1),
        "case_status": "active", "case_risk_level": "medium", "consent_screening": "yes",
        "consent_information_given": "yes", "consent_data_recording": "yes",
        "consent_service_referral": "yes", "consent_law_enforcement": "no",
        "consent_statistics": "yes", "consent_follow_up_contact": "yes",
        "consent_date": dt.date(2026, 2, 1), "consent_given_by": "person",
        "expl_palermo_act": ("recruitment", "transportation"), "expl_palermo_means": ("deception",),
        "expl_palermo_purpose": ("forced_labour",), "ident_date": dt.date(2026, 1, 30),
        "ident_country": "FR", "ident_data_source": "case_management", "ident_stage": "preliminary",
        "ident_trafficking_status": "presumed", "person_pseudo_id": f"P-{n:05d}",
        "person_given_names": "Amina", "person_phone": "+33 6 00 00 00 00",
        "person_number_of_children": 0, "person_age_reported": 34,
    }
    values.update(overrides)
    return make_record("tip_case_intake", f"intake-{n}", values)


def referral_record(n: int, case_reference: str, **overrides: Any) -> CanonicalRecord:
    values: dict[str, Any] = {
        "svc_case_reference": case_reference, "ref_date": dt.date(2026, 2, 5),
        "ref_consent_share": "yes", "ref_service_type": ("legal_assistance", "safe_accommodation"),
        "ref_org_type": "ngo", "ref_org_name": "Safe House Lyon", "ref_reason": "additional_services",
        "ref_urgency": "routine", "ref_status": "made", "ref_status_date": dt.date(2026, 2, 5),
    }
    values.update(overrides)
    return make_record("tip_referral", f"referral-{n}", values)
