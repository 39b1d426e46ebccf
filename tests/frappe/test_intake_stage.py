"""A case opened from a screening awaits its intake: what the app requires before and after."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.frappe.conftest import client_for, codebook, doctype_set, intake_record, mapping
from tests.frappe.test_rule_runtime import APP, runtime
from tipdata.erpnext_casework.connector import CaseworkSync
from tipdata.erpnext_casework.doctypes import (
    CASE,
    INTAKE_PENDING,
    SCREENING_STAGE_REQUIRED,
    required_at_intake,
)
from tipdata.erpnext_casework.mapping import (
    case_answers_of,
    changed_fields,
    documents_for_record,
    record_from_documents,
)
from tipdata.erpnext_casework.rules_data import build_rules
from tipdata.policy import load_policy
from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.sync.screening_cases import case_from_screening

ZONE = ZoneInfo("UTC")
DAY = dt.date(2026, 2, 3)
WHEN = dt.datetime(2026, 2, 3, 10, 0, tzinfo=dt.UTC)
#: what the intake adds to a case opened from a screening, as the desk would store it
INTAKE_ANSWERS: dict[str, Any] = {
    "case_risk_level": "medium", "consent_information_given": "yes", "consent_data_recording": "yes",
    "consent_service_referral": "yes", "consent_law_enforcement": "no", "consent_statistics": "no",
    "consent_follow_up_contact": "no", "consent_date": "2026-02-04", "consent_given_by": "person",
    "expl_palermo_act": [{"option": "recruitment"}], "expl_palermo_means": [{"option": "deception"}],
    "expl_palermo_purpose": [{"option": "forced_labour"}], "ident_country": "FR",
    "ident_data_source": "case_management",
}


def screening_case(result: str = "possible") -> CanonicalRecord:
    """The case the sync engine opens from a consented screening (tipdata.sync.screening_cases)."""
    screening = CanonicalRecord(
        envelope=Envelope(record_id=record_id_for("kobo:aScreen1", "7"), source_system="kobo:aScreen1",
                          source_id="7", form_id="tip_screening_adult", collected_at=WHEN, updated_at=WHEN),
        values={"screening_date": DAY, "consent_screening": "yes", "screening_result": result})
    case = case_from_screening(screening, codebook(), load_policy(codebook=codebook()).screening_cases)
    assert case is not None
    return case


def case_fields() -> dict[str, dict[str, Any]]:
    return {f["fieldname"]: f for f in doctype_set().doctypes[CASE]["fields"]}


# --- the generated DocType and rules ------------------------------------------------------------

def test_build_doctypes__intake_fields_are_mandatory_once_the_intake_is_recorded():
    """should turn the intake's required case fields into mandatory_depends_on the unticked box, keeping reqd for the rest"""
    fields = case_fields()
    assert fields[INTAKE_PENDING]["fieldtype"] == "Check" and "reqd" not in fields[INTAKE_PENDING]
    waiting = {code for code, element in codebook().elements.items() if required_at_intake(element)}
    assert {"case_risk_level", "consent_data_recording", "ident_country", "expl_palermo_act"} <= waiting
    assert not waiting & SCREENING_STAGE_REQUIRED
    for code in waiting:
        assert "reqd" not in fields[code], code
        assert fields[code]["mandatory_depends_on"] == f"eval:!doc.{INTAKE_PENDING}", code
    for code in SCREENING_STAGE_REQUIRED & set(fields):
        assert fields[code].get("reqd") == 1, code


def test_build_doctypes__a_screening_case_holds_every_field_required_before_intake():
    """should require, before the intake, no TIP Case field that a case opened from a screening lacks"""
    values = screening_case().values
    required = {name for name, f in case_fields().items() if f.get("reqd")} - {"external_id"}
    assert required <= set(values), sorted(required - set(values))


def test_build_rules__marks_intake_fields_and_names_the_box():
    """should flag exactly the intake's required elements in rules.json and name the box that defers them"""
    spec = build_rules(codebook(), doctype_set())["doctypes"][CASE]
    assert spec["intake_pending_field"] == INTAKE_PENDING
    flagged = {rule["code"] for rule in spec["elements"] if rule.get("required_at_intake")}
    assert flagged == {c for c, e in codebook().elements.items() if required_at_intake(e)}
    others = build_rules(codebook(), doctype_set())["doctypes"]
    assert all("intake_pending_field" not in s for name, s in others.items() if name != CASE)


# --- the app's controller rule (rules_enforcement.py under a minimal frappe) --------------------

class Thrown(Exception):
    """What the stub's frappe.throw raises: the exception class the app named, and its words."""

    def __init__(self, message: str, exc: type[Exception]) -> None:
        super().__init__(message)
        self.exc = exc


class MandatoryError(Exception):
    pass


class ValidationError(Exception):
    pass


def _getdate(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _throw(message: str, exc: type[Exception] = ValidationError, title: str | None = None) -> None:
    raise Thrown(message, exc)


@pytest.fixture
def enforcement(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """The app's rules_enforcement module, imported against a stub of the frappe calls it makes."""
    frappe = types.ModuleType("frappe")
    frappe._ = lambda text: text  # type: ignore[attr-defined]
    frappe.utils = types.SimpleNamespace(  # type: ignore[attr-defined]
        cint=lambda v: int(float(v or 0)), getdate=_getdate,
        get_datetime=lambda v: v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(str(v)))
    frappe.throw = _throw  # type: ignore[attr-defined]
    frappe.MandatoryError, frappe.ValidationError = MandatoryError, ValidationError  # type: ignore[attr-defined]
    frappe.db = types.SimpleNamespace(get_value=lambda *a, **k: {})  # type: ignore[attr-defined]
    app = types.ModuleType("tip_casework")
    app.rule_runtime = runtime  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "frappe", frappe)
    monkeypatch.setitem(sys.modules, "tip_casework", app)
    spec = importlib.util.spec_from_file_location("tip_casework_rules_enforcement",
                                                  Path(APP) / "rules_enforcement.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module


class Doc:
    """A document as the controller sees it: doctype, get, set."""

    def __init__(self, doctype: str, values: dict[str, Any]) -> None:
        self.doctype, self.values = doctype, dict(values)

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def screening_case_doc(**changes: Any) -> Doc:
    [draft] = documents_for_record(screening_case(), codebook(), mapping(), ZONE).drafts
    return Doc(CASE, {**draft.as_insert(), **changes})


def test_enforce_rules__case_awaiting_intake_needs_only_what_the_screening_states(enforcement):
    """should accept a case opened from a screening while its box is ticked"""
    doc = screening_case_doc()
    assert doc.get(INTAKE_PENDING) == 1
    enforcement.enforce_rules(doc, today=dt.date(2026, 3, 1))


def test_enforce_rules__intake_fields_required_once_recorded_in_words(enforcement):
    """should refuse (MandatoryError, 417) the same case once unticked, naming each intake field and the rule"""
    with pytest.raises(Thrown) as raised:
        enforcement.enforce_rules(screening_case_doc(**{INTAKE_PENDING: 0}), today=dt.date(2026, 3, 1))
    assert raised.value.exc is MandatoryError
    words = str(raised.value)
    for code in ("case_risk_level", "consent_data_recording", "ident_country", "expl_palermo_act"):
        assert f"({code}) is required once the case's intake is recorded (Awaiting intake unticked)." in words
    enforcement.enforce_rules(screening_case_doc(**{INTAKE_PENDING: 0}, **INTAKE_ANSWERS), today=dt.date(2026, 3, 1))


def test_enforce_rules__awaiting_intake_keeps_every_other_rule(enforcement):
    """should still refuse a missing screening-stage field, and a wrong code, while the intake is pending"""
    with pytest.raises(Thrown) as raised:
        enforcement.enforce_rules(screening_case_doc(case_reference=None), today=dt.date(2026, 3, 1))
    assert raised.value.exc is MandatoryError and "Case reference (case_reference) is required." in str(raised.value)
    with pytest.raises(Thrown) as raised:
        enforcement.enforce_rules(screening_case_doc(case_risk_level="extreme"), today=dt.date(2026, 3, 1))
    assert raised.value.exc is ValidationError and "case_risk_level" in str(raised.value)


# --- the mapping and the connector over the double ------------------------------------------------

def test_documents_for_record__only_a_screening_case_is_created_awaiting_intake():
    """should tick the box when creating a case opened from a screening, for no other case, and never on update"""
    [draft] = documents_for_record(screening_case(), codebook(), mapping(), ZONE).drafts
    assert draft.as_insert()[INTAKE_PENDING] == 1 and INTAKE_PENDING not in draft.values
    assert changed_fields({INTAKE_PENDING: 0}, draft, mapping()).get(INTAKE_PENDING) is None
    intake = documents_for_record(intake_record(1), codebook(), mapping(), ZONE)
    assert all(INTAKE_PENDING not in d.as_insert() for d in intake.drafts)


def test_upsert__screening_case_lands_then_a_recorded_intake_stands(casework_site):
    """should create the screening case awaiting intake, refuse an incomplete intake, and keep the unticked box on update"""
    sync = CaseworkSync(client_for(casework_site), mapping(), codebook())
    case = screening_case("possible")
    incomplete = intake_record(2, case_risk_level=None)
    result = sync.upsert([case, incomplete])
    assert result.created == [case.record_id]
    [refused] = result.quarantined
    assert refused.record_id == incomplete.record_id and refused.reason == "FR400"
    assert "case_risk_level" in refused.message and "MandatoryError" in refused.message
    stored = casework_site.doc(CASE, case.record_id)
    assert stored[INTAKE_PENDING] == 1 and stored["ident_trafficking_status"] == "potential"

    casework_site.edit(CASE, case.record_id, **INTAKE_ANSWERS, **{INTAKE_PENDING: 0})
    presumed = case.model_copy(update={"values": {**case.values, "ident_trafficking_status": "presumed"}})
    again = sync.upsert([presumed])
    assert again.updated == [case.record_id] and again.quarantined == []
    stored = casework_site.doc(CASE, case.record_id)
    assert stored[INTAKE_PENDING] == 0 and stored["ident_trafficking_status"] == "presumed"
    assert casework_site.count(CASE) == 1


def test_double__screening_case_without_the_box_is_refused(casework_site):
    """should refuse (417 MandatoryError) a case without the intake's fields when the box is not ticked"""
    sync = CaseworkSync(client_for(casework_site), mapping(), codebook())
    plain = screening_case().model_copy(update={"envelope": screening_case().envelope.model_copy(
        update={"source_id": "not-from-a-screening"})})
    result = sync.upsert([plain])
    [refused] = result.quarantined
    assert refused.reason == "FR400" and "ident_country" in refused.message
    assert casework_site.count(CASE) == 0


def test_record_from_documents__screening_reads_back_its_answer_kept_on_the_case():
    """should give a screening read from the site the consent_screening it wrote onto its case"""
    assert case_answers_of("TIP Screening", codebook(), mapping()) == ["consent_screening"]
    assert case_answers_of(CASE, codebook(), mapping()) == []
    screening = {"doctype": "TIP Screening", "name": "s-1", "external_id": "s-1", "tip_case": "c-1",
                 "screening_date": "2026-02-03", "modified": "2026-02-03 10:00:00.000000",
                 "creation": "2026-02-03 10:00:00.000000"}
    case = {"doctype": CASE, "name": "c-1", "case_reference": "SCR-1", "consent_screening": "yes"}
    record = record_from_documents(screening, {}, case, codebook(), mapping(), ZONE,
                                   site_url="http://site.test")
    assert isinstance(record, CanonicalRecord)
    assert record.values["consent_screening"] == "yes" and record.values["svc_case_reference"] == "SCR-1"
