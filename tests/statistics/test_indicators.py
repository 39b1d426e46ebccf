"""Indicator definitions on small hand-made record sets: every expected number can be counted by eye."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipdata.records import CanonicalRecord, Envelope
from tipdata.statistics import Area, compute_indicators, records_frame
from tipdata.statistics.frame import KINDS as FRAME_KINDS

from .conftest import case, date, record

TOTAL = "_T"


def cell(table: pd.DataFrame, column: str = "value", **where: str) -> float:
    """The value of the row with the given categories and `_T` on every other dimension."""
    dims = table.attrs["dimensions"]
    mask = np.ones(len(table), dtype=bool)
    for dim in dims:
        mask &= (table[dim] == where.get(dim, TOTAL)).to_numpy()
    rows = table[mask]
    assert len(rows) == 1, f"{len(rows)} rows for {where}"
    return rows.iloc[0][column]


def compute(records: list, period: str = "2025", area: str | Area | None = "NG", **options) -> dict[str, pd.DataFrame]:
    return compute_indicators(records, period, area, **options)


# --- identification ---------------------------------------------------------------------------

def test_victims_identified__counts_victims_in_period_area_and_consent() -> None:
    """should count victim records identified in the period and area, with statistics consent"""
    records = [
        case("C1", "2025-01-10", status="potential"),
        case("C2", "2025-06-30", status="confirmed"),
        case("C3", "2025-12-31", status=None),
        case("C4", "2025-03-01", status="not_victim"),
        case("C5", "2024-12-31", status="confirmed"),          # before the period
        case("C6", "2025-03-01", status="confirmed", country="GH"),  # another country
        case("C7", "2025-03-01", status="confirmed", consent=frozenset({"service_referral"})),
    ]
    table = compute(records, codes=["VIC_IDENT"])["VIC_IDENT"]
    assert cell(table) == 3
    assert cell(table, trafficking_status="potential") == 1
    assert cell(table, trafficking_status="confirmed") == 1
    assert cell(table, trafficking_status="unknown") == 1
    assert table.attrs["excluded_without_consent"] == 1
    assert table.attrs["period"] == "2025-01-01/2025-12-31"


def test_victims_identified__every_category_listed_and_margins_add_up() -> None:
    """should list every category (zeros included) and make categories sum to the total"""
    records = [case(f"C{i}", "2025-02-01", sex=s, age=a) for i, (s, a) in enumerate(
        [("female", 12), ("female", 30), ("male", 40), ("intersex", 19), ("declined", None), (None, 50)])]
    table = compute(records, codes=["VIC_IDENT"])["VIC_IDENT"]
    sexes = table[(table["sex"] != TOTAL) & (table["age_group"] == TOTAL)]
    assert sexes["sex"].tolist() == ["female", "male", "other", "unknown"]
    assert sexes["value"].tolist() == [2, 1, 1, 2]
    for dim in ["trafficking_status", "age_band", "exploitation_form", "identifying_agency_type"]:
        rows = table[(table[dim] != TOTAL)]
        assert rows["value"].sum() == cell(table) == 6
    assert cell(table, sex="female", age_group="child") == 1
    assert cell(table, sex="unknown", age_group="unknown") == 1


def test_victims_identified__age_band_and_presumption_of_minority() -> None:
    """should band by recorded band or age, and count a disputed age as a child"""
    records = [
        case("A", "2025-02-01", age=8), case("B", "2025-02-01", age=9),
        case("C", "2025-02-01", age=None, person_age_band="age_24_26"),
        case("D", "2025-02-01", age=None, person_age_reported=48),
        case("E", "2025-02-01", age=25, person_age_disputed="yes"),
        case("F", "2025-02-01", age=None, person_is_minor=True),
    ]
    table = compute(records, codes=["VIC_IDENT"])["VIC_IDENT"]
    assert cell(table, age_band="age_0_8") == 1
    assert cell(table, age_band="age_9_17") == 1
    assert cell(table, age_band="age_24_26") == 2  # C recorded, E aged 25
    assert cell(table, age_band="age_48_plus") == 1
    assert cell(table, age_band="unknown") == 1
    assert cell(table, age_group="child") == 4  # A, B, E (disputed), F (minor)
    assert cell(table, age_group="adult") == 2


def test_victims_identified__citizenship_group_against_the_reporting_country() -> None:
    """should class citizenships as national, foreign, stateless or unknown for the area's country"""
    records = [
        case("A", "2025-02-01", citizenship=("NG",)), case("B", "2025-02-01", citizenship=("GH", "NG")),
        case("C", "2025-02-01", citizenship=("GH",)), case("D", "2025-02-01", person_stateless="yes"),
        case("E", "2025-02-01"),
    ]
    table = compute(records, codes=["VIC_IDENT"])["VIC_IDENT"]
    assert [cell(table, citizenship_group=g) for g in ("national", "foreign", "stateless", "unknown")] == [2, 1, 1, 1]


def test_victims_identified__no_reporting_country_leaves_citizenship_out_and_says_so() -> None:
    """should drop the citizenship breakdown, with a note, when no reporting country is known"""
    table = compute([case("A", "2025-02-01", citizenship=("NG",))], area=None, codes=["VIC_IDENT"])["VIC_IDENT"]
    assert "citizenship_group" not in table.columns
    assert any("citizenship_group" in note for note in table.attrs["notes"])
    assert cell(table) == 1


def test_victims_identified__form_of_exploitation_grouped_by_iccs() -> None:
    """should group purposes by ICCS code, with several groups as multiple_forms"""
    records = [
        case("A", "2025-02-01", purpose=("sexual_exploitation",)),
        case("B", "2025-02-01", purpose=("slavery", "forced_labour")),       # both 02042
        case("C", "2025-02-01", purpose=("forced_begging",)),                 # 02044
        case("D", "2025-02-01", purpose=("organ_removal", "forced_labour")),  # two groups
        case("E", "2025-02-01", purpose=("unknown",)),
        case("F", "2025-02-01"),
    ]
    table = compute(records, codes=["VIC_IDENT"])["VIC_IDENT"]
    expected = {"sexual_exploitation": 1, "forced_labour": 1, "organ_removal": 0, "other_purposes": 1,
                "multiple_forms": 1, "unknown": 2}
    assert {form: cell(table, exploitation_form=form) for form in expected} == expected


def test_victims_identified__identifying_agency_type() -> None:
    """should count by the identifying organisation's type, missing as unknown"""
    records = [case("A", "2025-02-01", org="ngo"), case("B", "2025-02-01", org="ngo"),
               case("C", "2025-02-01", org="law_enforcement"), case("D", "2025-02-01")]
    table = compute(records, codes=["VIC_IDENT"])["VIC_IDENT"]
    assert cell(table, identifying_agency_type="ngo") == 2
    assert cell(table, identifying_agency_type="law_enforcement") == 1
    assert cell(table, identifying_agency_type="unknown") == 1


def test_victims_identified__kind_is_inferred_without_a_form_id() -> None:
    """should recognise a case record by its elements when the envelope names no form"""
    table = compute([case("A", "2025-02-01", form=False)], codes=["VIC_IDENT"])["VIC_IDENT"]
    assert cell(table) == 1


def test_victims_identified__area_locations_filter_on_the_envelope() -> None:
    """should keep only cases whose record location is one of the area's locations"""
    records = [case("A", "2025-02-01", location="OU_LAGOS"), case("B", "2025-02-01", location="OU_KANO"),
               case("C", "2025-02-01")]
    area = Area(country="NG", locations=frozenset({"OU_LAGOS"}))
    assert cell(compute(records, area=area, codes=["VIC_IDENT"])["VIC_IDENT"]) == 1


# --- de-duplication ---------------------------------------------------------------------------

def test_victims_persons__person_map_merges_records_of_one_person() -> None:
    """should count one person for two linked records, with the latest status and first attributes"""
    a = case("A", "2025-02-01", status="potential", sex="female", age=None)
    b = case("B", "2025-05-01", status="confirmed", sex="male", age=16)
    c = case("C", "2025-03-01", status="presumed", sex="male", age=40)
    person_of = {a.record_id: "P1", b.record_id: "P1"}
    tables = compute([a, b, c], person_of=person_of, codes=["VIC_IDENT", "VIC_IDENT_PERSONS"])
    raw, persons = tables["VIC_IDENT"], tables["VIC_IDENT_PERSONS"]
    assert cell(raw) == 3
    assert cell(persons) == 2
    assert cell(persons, trafficking_status="confirmed") == 1  # P1's latest status
    assert cell(persons, trafficking_status="potential") == 0
    assert cell(persons, sex="female") == 1  # P1's first recorded sex
    assert cell(persons, age_band="age_9_17") == 1  # P1's first recorded age (from record B)
    assert persons.attrs["deduplicated"] is True


def test_victims_persons__latest_status_not_victim_removes_the_person() -> None:
    """should leave out a person whose latest status decision is not_victim"""
    a = case("A", "2025-02-01", status="presumed")
    b = case("B", "2025-04-01", status="not_victim")
    tables = compute([a, b], person_of={a.record_id: "P", b.record_id: "P"}, codes=["VIC_IDENT_PERSONS"])
    assert cell(tables["VIC_IDENT_PERSONS"]) == 0


def test_victims_persons__without_a_map_each_record_is_a_person() -> None:
    """should equal the record count when no person map is given"""
    records = [case("A", "2025-02-01"), case("B", "2025-02-01")]
    tables = compute(records, codes=["VIC_IDENT", "VIC_IDENT_PERSONS"])
    assert cell(tables["VIC_IDENT_PERSONS"]) == cell(tables["VIC_IDENT"]) == 2
    assert tables["VIC_IDENT_PERSONS"].attrs["deduplicated"] is False


def test_victims_persons__only_the_periods_records_are_merged() -> None:
    """should count a person in a period only through records identified in that period"""
    a = case("A", "2024-11-01", status="confirmed")
    b = case("B", "2025-02-01", status="potential")
    tables = compute([a, b], person_of={a.record_id: "P", b.record_id: "P"}, codes=["VIC_IDENT_PERSONS"])
    persons = tables["VIC_IDENT_PERSONS"]
    assert cell(persons) == 1
    assert cell(persons, trafficking_status="potential") == 1


# --- protection -------------------------------------------------------------------------------

def referral(ref: str, on: str, status: str = "made", org: str = "ngo",
             services: tuple[str, ...] = ("medical_care",), first_service: str | None = None, **options):
    return record("referral", {
        "svc_case_reference": ref, "ref_date": date(on), "ref_status": status, "ref_org_type": org,
        "ref_service_type": services, "ref_first_service_date": date(first_service) if first_service else None,
    }, **options)


def service(ref: str | None, on: str, received: tuple[str, ...] = ("medical_care",), kind: str = "service",
            provider: str | None = "ngo"):
    return record("service", {"svc_case_reference": ref, "svc_date": date(on), "svc_record_kind": kind,
                              "svc_received": received, "svc_provider_org_type": provider})


def test_referrals__made_accepted_completed() -> None:
    """should count referrals by status reached, provider type, service and the person's age group"""
    records = [
        case("C1", "2024-12-01", age=15), case("C2", "2025-01-05", age=30),
        referral("C1", "2025-01-02", status="made"),
        referral("C1", "2025-01-03", status="accepted", org="health_service", services=("medical_care", "legal_assistance")),
        referral("C2", "2025-02-01", status="in_progress", first_service="2025-02-05"),
        referral("C2", "2025-03-01", status="completed", first_service="2025-03-10"),
        referral("C2", "2025-03-02", status="declined_by_provider"),
        referral("C2", "2024-12-30", status="completed"),  # before the period
    ]
    tables = compute(records, codes=["REF_MADE", "REF_ACCEPTED", "REF_COMPLETED"])
    made, accepted, completed = tables["REF_MADE"], tables["REF_ACCEPTED"], tables["REF_COMPLETED"]
    assert (cell(made), cell(accepted), cell(completed)) == (5, 3, 1)
    assert cell(made, age_group="child") == 2
    assert cell(made, age_group="adult") == 3
    assert cell(made, referral_org_type="health_service") == 1
    assert cell(made, referral_service_type="medical_care") == 5
    assert cell(made, referral_service_type="legal_assistance") == 1
    assert made.attrs["non_additive"] == ["referral_service_type"]


def test_referrals__orphans_count_only_when_no_country_is_asked() -> None:
    """should place a referral citing no known case in no country, but count it for all areas"""
    records = [case("C1", "2025-01-05"), referral("C1", "2025-02-01"), referral("NOPE", "2025-02-01")]
    assert cell(compute(records, codes=["REF_MADE"])["REF_MADE"]) == 1
    everywhere = compute(records, area=None, codes=["REF_MADE"])["REF_MADE"]
    assert cell(everywhere) == 2
    assert cell(everywhere, age_group="unknown") == 2  # neither case has an age


def test_days_to_first_service__median_and_quartiles() -> None:
    """should give the median and IQR of days from identification to the earliest service"""
    records = [
        case("C1", "2025-01-01", age=30), referral("C1", "2025-01-02", first_service="2025-01-03"),  # 2
        case("C2", "2025-01-01", age=30), service("C2", "2025-01-05"),                              # 4
        referral("C2", "2025-01-02", first_service="2025-01-09"),
        case("C3", "2025-01-10", age=30), service("C3", "2025-01-01"),                              # before: 0
        case("C4", "2025-01-01", age=12), service("C4", "2025-01-11"),                              # 10
        service("C4", "2025-01-20", kind="follow_up"),
        case("C5", "2025-01-01", age=40),                                                           # no service
    ]
    table = compute(records, codes=["SVC_DAYS_TO_FIRST"])["SVC_DAYS_TO_FIRST"]
    assert cell(table, "n") == 4
    assert cell(table) == pytest.approx(3.0)  # median of 0, 2, 4, 10
    assert cell(table, "q1") == pytest.approx(1.5)
    assert cell(table, "q3") == pytest.approx(5.5)
    assert cell(table, age_group="child") == 10
    assert cell(table, "n", age_group="unknown") == 0


def test_services_by_type__distinct_cases_per_service() -> None:
    """should count each case once per service type received, and once in the total"""
    records = [
        case("C1", "2025-01-01"), case("C2", "2025-01-01"),
        service("C1", "2025-02-01", received=("medical_care",)),
        service("C1", "2025-03-01", received=("medical_care", "legal_assistance")),
        service("C2", "2025-03-01", received=("safe_accommodation",), provider="local_government"),
        service("C2", "2025-04-01", received=("medical_care",), kind="follow_up"),  # not a service
    ]
    tables = compute(records, codes=["SVC_BY_TYPE", "SVC_RECORDS"])
    by_type, by_provider = tables["SVC_BY_TYPE"], tables["SVC_RECORDS"]
    assert cell(by_type) == 2
    assert cell(by_type, service_type="medical_care") == 1
    assert cell(by_type, service_type="legal_assistance") == 1
    assert cell(by_type, service_type="safe_accommodation") == 1
    assert cell(by_provider) == 3
    assert cell(by_provider, provider_org_type="local_government") == 1


def outcome(ref: str, on: str, number: int | None = None, **ratings: str):
    return record("outcome", {"svc_case_reference": ref, "out_assessment_date": date(on),
                              "out_assessment_number": number, **{f"out_{k}": v for k, v in ratings.items()}})


def test_outcome_change__first_to_latest_mean_and_by_domain() -> None:
    """should average latest minus first score over cases with two assessments, overall and per domain"""
    records = [
        case("C1", "2024-06-01", age=30), case("C2", "2024-06-01", age=14), case("C3", "2024-06-01"),
        outcome("C1", "2024-07-01", safety="2", housing="2"),
        outcome("C1", "2024-12-01", safety="3", housing="2"),
        outcome("C1", "2025-03-01", safety="4", housing="4"),        # C1: 2.0 → 4.0 = +2
        outcome("C2", "2025-01-01", safety="4", housing="declined"),
        outcome("C2", "2025-02-01", safety="3", housing="5"),        # C2: 4.0 → 4.0 = 0
        outcome("C3", "2025-02-01", safety="1"),                     # one assessment: left out
    ]
    tables = compute(records, codes=["OUT_CHANGE", "OUT_DOMAIN_CHANGE"])
    change, domains = tables["OUT_CHANGE"], tables["OUT_DOMAIN_CHANGE"]
    assert cell(change) == pytest.approx(1.0)
    assert cell(change, "n") == 2
    assert cell(change, age_group="child") == pytest.approx(0.0)
    assert cell(domains, outcome_domain="safety") == pytest.approx((2 - 1) / 2)
    assert cell(domains, outcome_domain="housing") == pytest.approx(2.0)  # only C1 rated both
    assert cell(domains, "n", outcome_domain="housing") == 1
    assert cell(domains) == pytest.approx((2 - 1 + 2) / 3)


# --- justice ----------------------------------------------------------------------------------

def test_justice__investigations_prosecutions_convictions_sentences() -> None:
    """should count suspects investigated, defendants prosecuted and convicted, by offence form"""
    records = [
        case("C1", "2024-06-01"),
        record("investigation", {"svc_case_reference": "C1", "inv_opened_date": date("2025-01-10"),
                                 "inv_offences": ("tip_sexual_exploitation",), "inv_agency_type": "police",
                                 "inv_suspect_sex": "male"}),
        record("investigation", {"svc_case_reference": "C1", "inv_opened_date": date("2025-02-10"),
                                 "inv_offences": ("tip_sexual_exploitation", "tip_forced_labour"),
                                 "inv_agency_type": "labour_inspectorate"}),
        record("investigation", {"svc_case_reference": "C1", "inv_opened_date": date("2025-03-10"),
                                 "inv_offences": ("kidnapping",)}),
        record("prosecution", {"svc_case_reference": "C1", "pros_filed_date": date("2024-11-01"),
                               "pros_charges": ("tip_forced_labour",), "pros_outcome": "convicted_trafficking",
                               "pros_verdict_date": date("2025-04-01"), "pros_sentence_type": ("imprisonment", "fine"),
                               "pros_sentence_months": 60}),
        record("prosecution", {"svc_case_reference": "C1", "pros_filed_date": date("2025-02-01"),
                               "pros_charges": ("tip_purpose_unspecified",), "pros_outcome": "convicted_trafficking",
                               "pros_verdict_date": date("2025-06-01"), "pros_sentence_type": ("imprisonment",),
                               "pros_sentence_months": 24}),
        record("prosecution", {"svc_case_reference": "C1", "pros_filed_date": date("2025-03-01"),
                               "pros_charges": ("tip_forced_labour",), "pros_outcome": "acquitted",
                               "pros_verdict_date": date("2025-07-01")}),
    ]
    tables = compute(records)
    investigations = tables["JUS_INVESTIGATIONS"]
    assert cell(investigations) == 3
    assert cell(investigations, offence_form="sexual_exploitation") == 1
    assert cell(investigations, offence_form="multiple_forms") == 1
    assert cell(investigations, offence_form="other_offence") == 1
    assert cell(investigations, investigating_agency_type="unknown") == 1
    assert cell(investigations, suspect_sex="male") == 1
    prosecutions = tables["JUS_PROSECUTIONS"]
    assert cell(prosecutions) == 2
    assert cell(prosecutions, offence_form="purpose_unspecified") == 1
    convictions = tables["JUS_CONVICTIONS"]
    assert cell(convictions) == 2
    assert cell(convictions, offence_form="forced_labour") == 1
    sentences = tables["JUS_SENTENCES"]
    assert (cell(sentences), cell(sentences, sentence_type="imprisonment"), cell(sentences, sentence_type="fine")) == (2, 2, 1)
    assert cell(sentences, offence_form="forced_labour") == cell(sentences, offence_form="purpose_unspecified") == 1
    assert sentences.attrs["non_additive"] == ["sentence_type"]
    prison = tables["JUS_PRISON_MONTHS"]
    assert cell(prison) == pytest.approx(42.0)
    assert cell(prison, "n") == 2


# --- SDG 16.2.2 ---------------------------------------------------------------------------------

def test_sdg_16_2_2__cross_of_sex_age_and_form_with_rates() -> None:
    """should cross sex, child/adult and form with every margin, and add rates where population is known"""
    records = [
        case("A", "2025-02-01", sex="female", age=15, purpose=("sexual_exploitation",)),
        case("B", "2025-02-01", sex="female", age=30, purpose=("sexual_exploitation",)),
        case("C", "2025-02-01", sex="male", age=30, purpose=("forced_labour",)),
    ]
    population = pd.DataFrame({"sex": [TOTAL, "female", "male"], "population": [2_000_000, 1_000_000, 1_000_000]})
    table = compute(records, population=population, codes=["SDG_16_2_2"])["SDG_16_2_2"]
    assert len(table) == 5 * 4 * 7  # (categories + total) per dimension
    assert cell(table, sex="female", age_group="adult", exploitation_form="sexual_exploitation") == 1
    assert cell(table, sex="female", exploitation_form="sexual_exploitation") == 2
    assert cell(table, "rate") == pytest.approx(3 / 2_000_000 * 100_000)
    assert cell(table, "rate", sex="female") == pytest.approx(0.2)
    assert np.isnan(cell(table, "rate", age_group="child"))  # no population for children given
    assert cell(table, "rate", exploitation_form="forced_labour") == pytest.approx(0.05)


def test_compute_indicators__frame_input_equals_record_input(codebook) -> None:
    """should give the same tables from a prepared records frame as from the records"""
    records = [case("A", "2025-02-01", sex="female", age=15), case("B", "2025-03-01", sex="male"),
               referral("A", "2025-02-02")]
    frame = records_frame(records, codebook)
    from_records = compute(records)
    from_frame = compute(frame)
    for code, table in from_records.items():
        pd.testing.assert_frame_equal(table, from_frame[code])


def test_compute_indicators__plain_dataframe_of_element_columns(codebook) -> None:
    """should accept a DataFrame of element columns with consent, inferring each record's kind"""
    data = pd.DataFrame({
        "record_id": ["r1", "r2", "r3"], "consented": [True, True, False],
        "case_reference": ["A", "B", "C"], "ident_date": ["2025-02-01", "2025-03-01", "2025-03-01"],
        "ident_country": ["NG", "NG", "NG"], "ident_trafficking_status": ["confirmed", None, "confirmed"],
        "person_sex": ["female", "male", "male"],
    })
    table = compute(data, codes=["VIC_IDENT"])["VIC_IDENT"]
    assert cell(table) == 2
    assert cell(table, sex="male") == 1
    with pytest.raises(ValueError, match="consented"):
        compute(data.drop(columns=["consented"]), codes=["VIC_IDENT"])


def test_compute_indicators__unknown_code_is_refused() -> None:
    """should name the unknown indicator and the known ones"""
    with pytest.raises(KeyError, match="NOPE"):
        compute([], codes=["NOPE"])


def test_compute_indicators__empty_input_gives_zero_tables() -> None:
    """should publish every indicator with zero counts when nothing was recorded"""
    tables = compute([])
    assert cell(tables["VIC_IDENT"]) == 0
    assert cell(tables["SDG_16_2_2"]) == 0
    assert cell(tables["SVC_DAYS_TO_FIRST"], "n") == 0


# --- the columnar frame equals a row-by-row reference -----------------------------------------

KIND_FORMS = {"case": "tip_case_intake", "referral": "tip_referral", "service": "tip_service_followup",
              "outcome": "tip_outcome_assessment", "investigation": "tip_investigation",
              "prosecution": "tip_prosecution", "unknown form": "not_a_form_of_the_codebook", "no form": None}


def element_value(draw: st.DrawFn, codebook, code: str) -> object:
    """A value of the element's type as platforms deliver it (or junk, or an explicit None)."""
    element = codebook.elements[code]
    options = codebook.options_for(element)
    choices = list(options.codes())[:4] if options else ["a", "b"]
    kind = element.type
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([None, float("nan"), "junk"]))
    if kind in ("date", "datetime"):
        day = draw(st.dates(dt.date(2023, 1, 1), dt.date(2026, 12, 31)))
        return draw(st.sampled_from([day, day.isoformat(), dt.datetime.combine(day, dt.time(9))]))
    if kind == "select_one":
        return draw(st.sampled_from(choices))
    if kind == "select_multiple":
        chosen = draw(st.lists(st.sampled_from(choices), max_size=3))
        return draw(st.sampled_from([tuple(chosen), " ".join(chosen), list(chosen)]))
    if kind in ("integer", "decimal"):
        return draw(st.sampled_from([draw(st.integers(0, 99)), str(draw(st.integers(0, 99))), 2.5]))
    if kind == "boolean":
        return draw(st.sampled_from([True, False, "yes", "no"]))
    return draw(st.sampled_from(["A-1", "A-2", "B-7"]))


@st.composite
def record_sets(draw: st.DrawFn, codebook) -> list:
    from tipdata.statistics.frame import frame_elements

    elements = frame_elements(codebook)
    records = []
    for number in range(draw(st.integers(0, 12))):
        form = KIND_FORMS[draw(st.sampled_from(list(KIND_FORMS)))]
        codes = draw(st.lists(st.sampled_from(elements), max_size=8, unique=True))
        values = {code: element_value(draw, codebook, code) for code in codes}
        values["person_given_names"] = "never read"  # not a frame element: must be skipped
        envelope = Envelope.model_construct(
            record_id=f"r{number}", source_system="test", source_id=f"s{number}", form_id=form,
            form_version=None, collected_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            consent_purposes=draw(st.sampled_from([frozenset(), frozenset({"statistics"}),
                                                   frozenset({"statistics", "law_enforcement"})])),
            location=draw(st.sampled_from([None, "ou-1", "ou-2"])))
        records.append(CanonicalRecord.model_construct(envelope=envelope, values=values))
    return records


def reference_frame(records: list, codebook) -> pd.DataFrame:
    """The frame built the plain way: record by record, then typed through the DataFrame path."""
    from tipdata.statistics.frame import KIND_ANCHORS, frame_elements

    form_kinds = {form_id: form.level for form_id, form in codebook.forms.items()}

    def kind_of(record) -> str:
        if record.envelope.form_id in form_kinds:
            level = form_kinds[record.envelope.form_id]
            return level if level in FRAME_KINDS else "other"
        for kind, anchor in KIND_ANCHORS:
            if record.values.get(anchor) is not None:
                return kind
        return "other"

    def column(items: list) -> np.ndarray:
        out = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            out[i] = item
        return out

    data = {"record_id": column([r.envelope.record_id for r in records]),
            "kind": column([kind_of(r) for r in records]),
            "location": column([r.envelope.location for r in records]),
            "consented": np.array([("statistics" in r.envelope.consent_purposes) for r in records], dtype=bool)}
    for code in frame_elements(codebook):
        data[code] = column([r.values.get(code) for r in records])
    return records_frame(pd.DataFrame(data), codebook)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_records_frame__columnar_build_equals_row_by_row_reference(codebook, data) -> None:
    """should build from record objects exactly the frame a plain row-by-row build gives"""
    records = data.draw(record_sets(codebook))
    fast = records_frame(records, codebook)
    reference = reference_frame(records, codebook)
    assert sorted(fast.columns) == sorted(reference.columns)
    pd.testing.assert_frame_equal(fast, reference[fast.columns.tolist()], check_index_type=False)


@settings(max_examples=60, deadline=None)
@given(dicts=st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "x"]), st.one_of(st.none(), st.integers(0, 3)),
                                      max_size=4), max_size=30))
def test_element_entries__both_strategies_read_the_same_entries(dicts: list) -> None:
    """should find the same (row, value) entries grouping by key order as reading row by row"""
    from tipdata.statistics.frame import _entries_row_by_row, element_entries

    def as_sets(entries: dict) -> dict:
        return {code: sorted(zip(rows.tolist(), values.tolist(), strict=True), key=repr)
                for code, (rows, values) in entries.items()}

    expected = {code: sorted(((row, d[code]) for row, d in enumerate(dicts) if code in d), key=repr)
                for code in ("a", "b", "c") if any(code in d for d in dicts)}
    assert as_sets(element_entries(dicts, ["a", "b", "c"])) == expected
    assert as_sets(_entries_row_by_row(dicts, frozenset({"a", "b", "c"}))) == expected
