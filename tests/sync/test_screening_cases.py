"""Screening → case: a Kobo screening indicating a likely or possible victim opens one case."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.sync.conftest import INTAKE, WHEN, Platforms, codebook
from tests.sync.test_sync_doubles import dhis2_values
from tipdata.kobo_forms.mapping import FormLayout, canonical_to_kobo_json, is_metadata_key
from tipdata.kobo_forms.xlsform import build_xlsform
from tipdata.ledger import Ledger
from tipdata.policy import DEFAULT_POLICY_PATH, PolicyInvalid, decide, load_policy, parse_policy
from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.spreadsheet import write_xlsx
from tipdata.sync.plan import decide_repeated
from tipdata.sync.ports import SourcePage
from tipdata.sync.screening_cases import (
    case_from_screening,
    case_reference_for,
    cases_to_look_up,
    screening_case_id,
    with_screening_cases,
)

SCREENING = "tip_screening_adult"
CASE = "TIP Case"
DAY = dt.date(2026, 2, 3)
#: the form's calculations for each result (the double does not compute them)
RESULTS: dict[str, dict[str, Any]] = {
    "likely": {"scr_act_recruited": "yes", "scr_means_deceived": "yes", "scr_purpose_forced_work": "yes",
               "palermo_act_indicated": True, "palermo_means_indicated": True,
               "palermo_purpose_indicated": True, "palermo_elements_met": True,
               "screening_elements_count": 3, "screening_result": "likely",
               "screening_referral_offered": "yes"},
    "possible": {"scr_act_recruited": "no", "scr_means_deceived": "no", "scr_purpose_forced_work": "yes",
                 "palermo_act_indicated": False, "palermo_means_indicated": False,
                 "palermo_purpose_indicated": True, "palermo_elements_met": False,
                 "screening_elements_count": 1, "screening_result": "possible",
                 "screening_referral_offered": "yes"},
    "unlikely": {"scr_act_recruited": "no", "scr_means_deceived": "no", "scr_purpose_forced_work": "no",
                 "palermo_act_indicated": False, "palermo_means_indicated": False,
                 "palermo_purpose_indicated": False, "palermo_elements_met": False,
                 "screening_elements_count": 0, "screening_result": "unlikely"},
}
#: a policy letting the screening consent stand for statistics on DHIS2 (tests only)
BASIS = '[screening_cases.consent]\ndhis2 = ["statistics", "service_referral"]\nfrappe = ["service_referral"]\n'


def screening_values(result: str) -> dict[str, Any]:
    return {"screening_date": DAY, "screening_population": "adult", "consent_screening": "yes",
            "scr_safe_now": "yes", "age_at_screening": 30, **RESULTS[result]}


@functools.cache
def screening_xlsx() -> bytes:
    return write_xlsx(build_xlsform(codebook(), SCREENING).sheets(), escape_formulas=False)


def screening_answers(asset_uid: str, values: dict[str, Any]) -> dict[str, Any]:
    envelope = Envelope(record_id=record_id_for("kobo:x", "1"), source_system=f"kobo:{asset_uid}",
                        source_id="1", form_id=SCREENING, collected_at=WHEN, updated_at=WHEN)
    row = canonical_to_kobo_json(codebook(), FormLayout.of(codebook(), SCREENING),
                                 CanonicalRecord(envelope=envelope, values=values), asset_uid=asset_uid)
    return {**{k: v for k, v in row.items() if not is_metadata_key(k)}, "start": row["start"]}


class Screenings:
    """The screening form deployed on the Kobo double, and its submissions."""

    def __init__(self, platforms: Platforms) -> None:
        self.platforms = platforms
        self.asset_uid = platforms.kobo.create_form(screening_xlsx(), name="screening.xlsx")
        self.ids: dict[str, int] = {}

    def add(self, result: str) -> int:
        self.ids[result] = self.platforms.kobo.add_submission(
            self.asset_uid, screening_answers(self.asset_uid, screening_values(result)), deliver_hooks=False)
        return self.ids[result]

    def record_id(self, result: str) -> str:
        return record_id_for(f"kobo:{self.asset_uid}", str(self.ids[result]))

    @property
    def stream(self) -> str:
        return f"kobo:{self.asset_uid}"


@pytest.fixture
def screenings(platforms: Platforms) -> Screenings:
    return Screenings(platforms)


def session_with(session_for, platforms: Platforms, screenings: Screenings, tmp_path: Path,
                 policy_text: str | None = None):
    config = platforms.config(tmp_path)
    kobo = replace(config.kobo, forms={INTAKE: platforms.asset_uid, SCREENING: screenings.asset_uid})
    changes: dict[str, Any] = {"kobo": kobo}
    if policy_text is not None:
        policy = tmp_path / "policy.toml"
        policy.write_text(policy_text, encoding="utf-8")
        changes["policy_file"] = policy
    return session_for(**changes)


def stored_screening(result: str) -> CanonicalRecord:
    return CanonicalRecord(envelope=Envelope(
        record_id=record_id_for("kobo:aScreen1", "5"), source_system="kobo:aScreen1", source_id="5",
        form_id=SCREENING, collected_at=WHEN, updated_at=WHEN), values=screening_values(result))


# --- pure ---------------------------------------------------------------------------------------

def test_case_from_screening__facts_of_the_screening_keyed_by_its_id():
    """should open a presumed-victim case for a likely result, keyed and referenced from the screening id"""
    rules = load_policy(codebook=codebook()).screening_cases
    screening = stored_screening("likely")
    case = case_from_screening(screening, codebook(), rules)
    assert case is not None and case == case_from_screening(screening, codebook(), rules)
    assert case.record_id == screening_case_id(screening) != screening.record_id
    assert case.envelope.form_id == INTAKE and case.envelope.consent_purposes == frozenset()
    assert case.values == {
        "case_reference": case_reference_for(screening), "person_pseudo_id": case.values["person_pseudo_id"],
        "case_status": "active", "consent_screening": "yes", "case_opened_date": DAY,
        "ident_date": DAY, "ident_stage": "initial_screening", "ident_trafficking_status": "presumed"}
    assert case_from_screening(stored_screening("possible"), codebook(), rules).values[
        "ident_trafficking_status"] == "potential"
    assert case_from_screening(stored_screening("unlikely"), codebook(), rules) is None
    refused = stored_screening("likely").model_copy(update={"values": {**screening_values("likely"),
                                                                       "consent_screening": "no"}})
    assert case_from_screening(refused, codebook(), rules) is None


def test_with_screening_cases__the_screening_quotes_its_case():
    """should add the case after the page and let the screening quote its reference"""
    rules = load_policy(codebook=codebook()).screening_cases
    likely, unlikely = stored_screening("likely"), stored_screening("unlikely")
    page = with_screening_cases([likely, unlikely], codebook(), rules)
    assert [r.record_id for r in page] == [likely.record_id, unlikely.record_id, screening_case_id(likely)]
    assert page[0].values["svc_case_reference"] == page[2].values["case_reference"]
    assert "svc_case_reference" not in page[1].values


def test_with_screening_cases__a_screening_whose_case_exists_keeps_quoting_it():
    """should let a screening edited to a result that opens no case quote the case it opened, and derive none"""
    rules = load_policy(codebook=codebook()).screening_cases
    likely, unlikely = stored_screening("likely"), stored_screening("unlikely")  # one submission
    assert cases_to_look_up([likely, unlikely], codebook(), rules) == [screening_case_id(unlikely)]
    page = with_screening_cases([unlikely], codebook(), rules, opened={screening_case_id(likely)})
    assert [r.record_id for r in page] == [unlikely.record_id]
    assert page[0].values["svc_case_reference"] == case_reference_for(likely)
    assert page[0].values["screening_result"] == "unlikely"
    other = with_screening_cases([unlikely], codebook(), rules, opened={"another-case"})
    assert "svc_case_reference" not in other[0].values


def test_parse_policy__screening_cases_are_validated():
    """should refuse an unknown screening result, status or target, naming each"""
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        'open_for = { likely = "presumed", possible = "potential" }',
        'open_for = { certain = "presumed", possible = "victim" }').replace(
        '# frappe = ["service_referral"]', 'ministry = ["statistics"]')
    with pytest.raises(PolicyInvalid) as raised:
        parse_policy(text, codebook=codebook())
    message = str(raised.value)
    assert "'certain'" in message and "'possible'" in message and "'ministry'" in message


def test_decide__screening_consent_counts_only_where_the_policy_says_and_until_consent_is_asked():
    """should let a screening case reach Frappe alone under its screening consent, and stop once consent per purpose is recorded"""
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        '# frappe = ["service_referral"]', 'frappe = ["service_referral"]')
    policy = parse_policy(text, codebook=codebook())
    screening = stored_screening("likely")
    case = case_from_screening(screening, codebook(), policy.screening_cases)
    assert case is not None
    to_frappe = decide(case, "frappe", policy, codebook())
    assert to_frappe.allowed_values == case.values and to_frappe.purposes_used == {"service_referral"}
    assert decide(case, "dhis2", policy, codebook()).allowed_values == {}
    assert decide(case, "frappe", load_policy(codebook=codebook()), codebook()).allowed_values == {}
    asked = case.model_copy(update={"values": {**case.values, "consent_service_referral": "no"}})
    assert decide(asked, "frappe", policy, codebook()).allowed_values == {}
    unlikely = stored_screening("unlikely")
    assert decide(unlikely, "frappe", policy, codebook()).allowed_values == {}


def test_decide_repeated__tells_screenings_apart_by_their_result():
    """should not reuse a likely screening's decision for an unlikely one with the same codes"""
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        '# frappe = ["service_referral"]', 'frappe = ["service_referral"]')
    policy = parse_policy(text, codebook=codebook())
    likely = stored_screening("likely")
    unlikely = likely.model_copy(update={"values": {**likely.values, "screening_result": "unlikely"}})
    for rec in (likely, unlikely, likely):
        assert decide_repeated(rec, "frappe", policy, codebook()) == decide(rec, "frappe", policy, codebook())
    assert decide(unlikely, "frappe", policy, codebook()).allowed_values == {}


# --- end to end over the doubles ------------------------------------------------------------------

def test_sync__screenings_open_one_case_each_and_wait_for_consent(platforms: Platforms, screenings: Screenings,
                                                                  session_for, ledger: Ledger, tmp_path: Path):
    """should store one case per likely/possible screening and, by default, send nothing of them anywhere"""
    for result in ("likely", "possible", "unlikely"):
        screenings.add(result)
    session = session_with(session_for, platforms, screenings, tmp_path)
    dry = session.engine.run(dry_run=True)
    assert dry.sources[screenings.stream].new == 5 and ledger.count_records() == 0
    plan = session.engine.run()
    assert plan.errors == [] and plan.sources[screenings.stream].new == 5  # 3 screenings, 2 cases
    cases = {result: ledger.get_record(record_id_for(
        f"kobo:{screenings.asset_uid}", f"screening-case/{screenings.record_id(result)}"))
        for result in ("likely", "possible", "unlikely")}
    assert cases["unlikely"] is None
    assert cases["likely"].values["ident_trafficking_status"] == "presumed"
    assert cases["possible"].values["ident_trafficking_status"] == "potential"
    stored = ledger.get_record(screenings.record_id("likely"))
    assert stored.values["svc_case_reference"] == cases["likely"].values["case_reference"]
    for target in ("frappe", "dhis2"):
        assert plan.targets[target].withheld == {"consent_missing": 5}
    assert platforms.frappe.count(CASE) == 0 and platforms.dhis2.counts()["trackedEntities"] == 0
    again = session.engine.run()
    assert (again.sources[screenings.stream].new, again.sources[screenings.stream].updated) == (0, 0)
    assert ledger.count_records() == 5


def test_sync__screening_cases_reach_dhis2_once_under_a_screening_consent_policy(
        platforms: Platforms, screenings: Screenings, session_for, ledger: Ledger, tmp_path: Path):
    """should enroll each screening case once in DHIS2, whatever the re-runs, re-deliveries and edits"""
    for result in ("likely", "possible", "unlikely"):
        screenings.add(result)
    policy = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        '[screening_cases.consent]\n# frappe = ["service_referral"]\n', BASIS)
    session = session_with(session_for, platforms, screenings, tmp_path, policy)
    plan = session.engine.run()
    assert plan.errors == []
    assert plan.targets["dhis2"].new == 4 and plan.targets["dhis2"].withheld == {"consent_missing": 1}
    counts = platforms.dhis2.counts()
    assert (counts["trackedEntities"], counts["enrollments"]) == (2, 2)
    likely_case = ledger.get_record(record_id_for(f"kobo:{screenings.asset_uid}",
                                                  f"screening-case/{screenings.record_id('likely')}"))
    person = dhis2_values(platforms)[likely_case.values["person_pseudo_id"]]
    assert person["ident_trafficking_status"] == "presumed" and person["screening_result"] == "likely"
    # Frappe takes a screening case as a case awaiting its intake, and files the screening under it
    assert platforms.frappe.count(CASE) == 2 and plan.targets["frappe"].quarantined == {}

    # a re-run, a re-delivery of the same submissions, and an edit: still one case each
    kobo = next(s for s in session.sources if s.platform == "kobo")
    delivered = [p for p in kobo.pages(screenings.stream, None, dry_run=True) if p.records]
    for page in delivered:
        session.engine.ingest(kobo, screenings.stream, SourcePage(records=page.records))
    paths = FormLayout.of(codebook(), SCREENING).paths
    likely = screening_answers(screenings.asset_uid, screening_values("likely"))
    platforms.kobo.edit_submission(screenings.asset_uid, screenings.ids["possible"],
                                   {paths[c]: likely[paths[c]] for c in RESULTS["likely"]})
    again = session.engine.run()
    assert again.errors == [] and again.targets["dhis2"].new == 0
    # the screening is updated; its re-derived case now lives in Frappe, which owns cases: the
    # casework copy stands and the disagreement is a recorded conflict, never a silent overwrite
    tally = again.sources[screenings.stream]
    assert (tally.updated, tally.conflicts) == (1, 1)
    assert any(e.action == "conflict" for e in ledger.audit_entries())
    counts = platforms.dhis2.counts()
    assert (counts["trackedEntities"], counts["enrollments"]) == (2, 2)
    assert ledger.count_records() == 5
    possible_case = ledger.get_record(record_id_for(f"kobo:{screenings.asset_uid}",
                                                    f"screening-case/{screenings.record_id('possible')}"))
    assert possible_case.values["ident_trafficking_status"] == "potential"
    assert dhis2_values(platforms)[possible_case.values["person_pseudo_id"]]["ident_trafficking_status"] \
        == "potential"


def test_sync__screening_edited_to_open_no_case_stays_on_its_case(
        platforms: Platforms, screenings: Screenings, session_for, ledger: Ledger, tmp_path: Path):
    """should keep a screening on the open enrollment of the case it opened when an edit makes its result unlikely"""
    session = session_with(session_for, platforms, screenings, tmp_path)
    kobo = next(s for s in session.sources if s.platform == "kobo")
    consented = frozenset({"statistics", "service_referral"})  # travels on its own consent

    def delivered(result: str, minutes: int) -> CanonicalRecord:
        when = WHEN + dt.timedelta(minutes=minutes)
        envelope = Envelope(record_id=record_id_for(screenings.stream, "7"), source_system=screenings.stream,
                            source_id="7", form_id=SCREENING, collected_at=WHEN, updated_at=when,
                            consent_purposes=consented)
        return CanonicalRecord(envelope=envelope, values=screening_values(result))

    session.engine.ingest(kobo, screenings.stream, SourcePage(records=(delivered("likely", 0),)))
    assert session.engine.push().errors == []
    case = ledger.get_record(screening_case_id(delivered("likely", 0)))
    store = platforms.dhis2.store
    with store.lock:
        assert [e.status for e in store.enrollments.values()] == ["ACTIVE"]
    tally = session.engine.ingest(kobo, screenings.stream, SourcePage(records=(delivered("unlikely", 5),)))
    assert tally.updated == 1
    assert session.engine.push().errors == []
    stored = ledger.get_record(delivered("unlikely", 5).record_id)
    assert stored.values["screening_result"] == "unlikely"
    assert stored.values["svc_case_reference"] == case.values["case_reference"]
    assert ledger.count_records() == 2  # the screening and the case it opened, no other
    with store.lock:
        assert [(e.status, e.deleted) for e in store.enrollments.values()] == [("ACTIVE", False)]
        assert len(store.tracked_entities) == 1
    assert dhis2_values(platforms)[case.values["person_pseudo_id"]]["screening_result"] == "unlikely"


def test_sync__screening_edited_to_unlikely_stays_on_dhis2_under_its_screening_consent(
        platforms: Platforms, screenings: Screenings, session_for, ledger: Ledger, tmp_path: Path):
    """should keep a screening that travels on its screening consent alone on DHIS2 when an edit
    makes its result unlikely: it still quotes the case it opened, which stays enrolled"""
    screenings.add("likely")
    policy = DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        '[screening_cases.consent]\n# frappe = ["service_referral"]\n', BASIS)
    session = session_with(session_for, platforms, screenings, tmp_path, policy)
    first = session.engine.run()
    assert first.errors == [] and first.targets["dhis2"].new == 2  # the case and its screening
    case = ledger.get_record(record_id_for(screenings.stream,
                                           f"screening-case/{screenings.record_id('likely')}"))
    paths = FormLayout.of(codebook(), SCREENING).paths
    unlikely = screening_answers(screenings.asset_uid, screening_values("unlikely"))
    platforms.kobo.edit_submission(screenings.asset_uid, screenings.ids["likely"],
                                   {paths[c]: unlikely.get(paths[c]) for c in RESULTS["likely"]})
    again = session.engine.run()
    assert again.errors == []
    assert again.targets["dhis2"].retracted == {} and again.targets["dhis2"].withheld == {}
    assert again.targets["dhis2"].updated == 1
    stored = ledger.get_record(screenings.record_id("likely"))
    assert stored.values["screening_result"] == "unlikely"
    assert stored.values["svc_case_reference"] == case.values["case_reference"]
    assert not ledger.links(stored.record_id)["dhis2"].platform_id.startswith("withheld/")
    assert dhis2_values(platforms)[case.values["person_pseudo_id"]]["screening_result"] == "unlikely"
