"""`tipdata export ctdc`: canonical records → CTDC gen-1 / gen-2 columns, k-anonymised.

Property tests (hypothesis) state the release rules: every quasi-identifier combination in the
output is shared by at least k rows, the column set is exactly the standard's, and no direct
identifier or immigration status ever appears. Unit tests pin the crosswalk derivations.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import stat
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from typer.testing import CliRunner

from tipdata.cli.main import app
from tipdata.crosswalk import ctdc_columns
from tipdata.crypto.at_rest import DataKey
from tipdata.ledger import open_ledger
from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.statistics.ctdc_export import (
    ALWAYS_QUASI_IDENTIFIERS,
    NEVER_EXPORTED,
    ColumnPlan,
    CtdcExport,
    UnsafeExport,
    check_safe,
    column_plan,
    ctdc_export,
    ctdc_row,
    quasi_identifier_columns,
    safe_cell,
    write_ctdc_csv,
    write_ctdc_xlsx,
)

SOURCE = "kobo:ctdcTest"
T0 = dt.datetime(2025, 6, 30, 12, tzinfo=dt.UTC)
CONSENT = frozenset({"service_referral", "law_enforcement", "statistics", "follow_up_contact"})
NAME = "Amara Testname-Okafor"
IMMIGRATION = "irregular"


def record(values: dict[str, Any], serial: int, *, form_id: str = "tip_case_intake",
           consent: frozenset[str] = CONSENT) -> CanonicalRecord:
    source_id = f"uuid:ctdc-{form_id}-{serial}"
    envelope = Envelope(record_id=record_id_for(SOURCE, source_id), source_system=SOURCE, source_id=source_id,
                        form_id=form_id, collected_at=T0, updated_at=T0, consent_purposes=consent)
    return CanonicalRecord(envelope=envelope, values={k: v for k, v in values.items() if v is not None})


def victim(serial: int, **values: Any) -> CanonicalRecord:
    """A victim case record carrying a name and an immigration status that must never be exported."""
    base = {"case_reference": f"TIP-{serial:05d}", "ident_date": dt.date(2025, 3, 1),
            "ident_trafficking_status": "presumed", "person_given_names": NAME,
            "person_immigration_status": IMMIGRATION}
    return record({**base, **values}, serial)


def group_sizes(data: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    keys = data[list(columns)].astype(object).where(data[list(columns)].notna(), "∅")
    return keys.groupby(list(columns), dropna=False).size()


# --- properties --------------------------------------------------------------------------------------

case_values = st.fixed_dictionaries({
    "ident_date": st.dates(dt.date(2023, 1, 1), dt.date(2025, 12, 31)),
    "person_sex": st.sampled_from(["female", "male", None]),
    "person_gender_identity": st.sampled_from(["woman", "man", "gender_diverse", None]),
    "person_age": st.one_of(st.none(), st.integers(0, 80)),
    "person_citizenship": st.sampled_from([("NG",), ("GH",), ("NG", "GH"), None]),
    "expl_country": st.sampled_from([("IT",), ("NG",), None]),
    "expl_palermo_purpose": st.sampled_from([("forced_labour",), ("sexual_exploitation",), None]),
    "ctrl_means": st.sampled_from([("threats",), ("debt_bondage", "restricts_movement"), None]),
    "ident_trafficking_status": st.sampled_from(["presumed", "confirmed", "not_victim"]),
    "person_phone": st.just("+234 803 555 0199"),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(case_values, min_size=0, max_size=120), k=st.integers(2, 11),
       generation=st.sampled_from([1, 2]))
def test_ctdc_export__release_rules_hold(codebook, rows, k, generation):
    """should publish only groups of at least k, exactly the standard's columns, and no identifier"""
    records = [victim(i, **values) for i, values in enumerate(rows)]
    export = ctdc_export(records, codebook, generation, k=k)
    assert export.columns == ctdc_columns(generation)
    if len(export.data):
        assert group_sizes(export.data, export.quasi_identifiers).min() >= k
    assert export.records_eligible == sum(r["ident_trafficking_status"] != "not_victim" for r in rows)
    assert len(export.data) == export.records_eligible - export.records_suppressed
    identifiers = {c for c, e in codebook.elements.items() if e.sensitivity in NEVER_EXPORTED}
    assert not identifiers & set(export.columns)
    cells = {str(v) for v in export.data.to_numpy().ravel() if v is not None}
    assert not cells & {NAME, IMMIGRATION, "+234 803 555 0199"}


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1, max_size=20))
def test_safe_cell__text_never_starts_a_formula(text):
    """should make any text that a spreadsheet would run as a formula inert, and keep numbers"""
    cell = safe_cell(text)
    assert isinstance(cell, str)
    if text[0] in "=+-@\t\r":
        numeric = re.fullmatch(r"[+-][0-9]+(\.[0-9]+)?", text) is not None  # -99 is CTDC's missing band
        assert cell == (text if numeric else "'" + text)
    else:
        assert cell == text


# --- the plan ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("generation", [1, 2])
def test_column_plan__never_reads_identifiers_or_immigration(codebook, generation):
    """should read no direct identifier nor restricted element for any column"""
    plan = column_plan(codebook, generation)
    read = {s for p in plan for s in p.sources}
    assert read and not {s for s in read if codebook.elements[s].sensitivity in NEVER_EXPORTED}
    assert "person_immigration_status" not in read
    assert tuple(p.column for p in plan) == ctdc_columns(generation)


@pytest.mark.parametrize("generation", [1, 2])
def test_quasi_identifiers__declared_elements_and_year_and_gender(codebook, generation):
    """should treat as quasi-identifiers the columns fed by quasi_identifier elements, year and gender"""
    plan = column_plan(codebook, generation)
    chosen = quasi_identifier_columns(codebook, plan)
    declared = {p.column for p in plan if any(codebook.elements[s].sensitivity == "quasi_identifier"
                                              for s in p.sources)}
    assert set(chosen) == declared | set(ALWAYS_QUASI_IDENTIFIERS)
    assert {"ageBroad", "citizenship", "CountryOfExploitation"} <= set(chosen)


def test_check_safe__refuses_a_plan_reading_a_name(codebook):
    """should raise UnsafeExport when a column would read a direct identifier"""
    plan = (*column_plan(codebook, 2)[:-1], ColumnPlan("recruiterRelationOther", "value", ("person_given_names",)))
    with pytest.raises(UnsafeExport, match="person_given_names"):
        check_safe(plan, ctdc_columns(2), codebook, 2)


def test_check_safe__refuses_a_column_set_not_the_standard(codebook):
    """should raise UnsafeExport for a missing, extra or reordered column"""
    plan = column_plan(codebook, 2)
    with pytest.raises(UnsafeExport):
        check_safe(plan, (*ctdc_columns(2), "person_given_names"), codebook, 2)
    with pytest.raises(UnsafeExport):
        check_safe(plan, tuple(reversed(ctdc_columns(2))), codebook, 2)


# --- derivations -------------------------------------------------------------------------------------

def row(codebook, generation: int, **values: Any) -> dict[str, Any]:
    return ctdc_row(values, column_plan(codebook, generation), codebook, generation)


def test_ctdc_row__gen1_flags_concatenations_and_recoding(codebook):
    """should set gen-1 flags from option standards, join them, and recode gender, age and citizenship"""
    out = row(codebook, 1, ident_date=dt.date(2024, 5, 2), person_gender_identity="woman", person_age=16,
              person_citizenship=("NG", "GH"), expl_palermo_purpose=("forced_labour", "sexual_exploitation"),
              ctrl_means=("debt_bondage", "threatens_children_family"), recr_abducted=True,
              recr_recruiter_relation=("intimate_partner", "stranger"), ident_data_source="hotline",
              ident_age_at_entry=15, expl_country=("IT",))
    assert (out["yearOfRegistration"], out["gender"], out["ageBroad"], out["majorityStatus"]) == \
        (2024, "Female", "9--17", "Minor")
    assert (out["citizenship"], out["CountryOfExploitation"], out["Datasource"]) == ("NG", "IT", "Hotline")
    assert (out["majorityStatusAtExploit"], out["majorityEntry"]) == ("Minor", "Minor")
    assert out["isForcedLabour"] == out["isSexualExploit"] == out["isSexAndLabour"] == 1
    assert out["isOrganRemoval"] == 0 and out["isAbduction"] == 1
    assert out["meansOfControlDebtBondage"] == out["meansOfControlUsesChildren"] == 1
    assert out["meansOfControlConcatenated"] == "Debt Bondage;Uses Children"
    assert out["RecruiterRelationship"] == "Intimate Partner;Other"
    assert out["typeOfLabourAgriculture"] is None  # labour sector not asked: empty, not 0


def test_ctdc_row__gen2_alpha3_and_composite_means(codebook):
    """should give gen-2 alpha-3 countries, gen-2 gender words and OR-composite means flags"""
    out = row(codebook, 2, person_sex="male", person_citizenship=("GH",), expl_country=("NG",),
              ctrl_means=("restricts_movement",), expl_duration_months=30, person_age_band="age_24_26")
    assert (out["gender"], out["citizenship"], out["CountryOfExploitation"]) == ("Man", "GHA", "NGA")
    assert out["meansDenyBasicNeeds"] == 1 and out["meansThreats"] == 0 and out["ageBroad"] == "24--26"
    assert out["traffickMonths"] == "25+ (2+ yrs)"


@pytest.mark.parametrize("generation, missing", [(1, "-99"), (2, None)])
def test_ctdc_row__age_band_falls_back_to_age_then_missing(codebook, generation, missing):
    """should take the recorded band, else band the age, else CTDC's missing value"""
    assert row(codebook, generation, person_age_band="age_0_8", person_age=40)["ageBroad"] == "0--8"
    assert row(codebook, generation, person_age_band="unknown", person_age=40)["ageBroad"] == "39--47"
    assert row(codebook, generation, person_age_reported=48)["ageBroad"] == "48+"
    assert row(codebook, generation)["ageBroad"] == missing


def test_ctdc_export__only_consented_victim_case_records(codebook):
    """should leave out records without statistics consent, non-case records and non-victims"""
    records = [victim(i, person_sex="female") for i in range(4)]
    records += [victim(10, ident_trafficking_status="not_victim"),
                record({"ident_date": dt.date(2025, 1, 1)}, 11, consent=frozenset({"service_referral"})),
                record({"svc_case_reference": "TIP-00001", "ref_date": dt.date(2025, 2, 1)}, 12,
                       form_id="tip_referral")]
    export = ctdc_export(records, codebook, 2, k=2)
    assert export.excluded == {"not_a_victim": 1, "without_consent": 1, "not_a_case_record": 1}
    assert export.records_eligible == 4 and len(export.data) == 4


def test_ctdc_export__small_groups_are_suppressed(codebook):
    """should drop the records whose quasi-identifiers only few others share, and say how many"""
    records = [victim(i, person_sex="female", person_age=25) for i in range(5)]
    records.append(victim(99, person_sex="male", person_age=70, person_citizenship=("GH",)))
    export = ctdc_export(records, codebook, 1, k=5)
    assert export.records_suppressed == 1 and len(export.data) == 5 and export.smallest_group == 5


def test_ctdc_export__whole_numbers_stay_whole_next_to_gaps(codebook):
    """should keep years and flags as integers in a column that also has empty cells"""
    records = [victim(i, person_sex="female", ctrl_means=("threats",)) for i in range(3)]
    records.append(victim(9, person_sex="female", ident_date=None))
    export = ctdc_export(records, codebook, 1, k=1)
    assert sorted(export.data["yearOfRegistration"], key=str) == [2025, 2025, 2025, None]
    assert {type(v) for v in export.data["meansOfControlThreats"]} == {int, type(None)}


# --- files and the command ---------------------------------------------------------------------------

def test_write__csv_and_xlsx_cells_are_inert_and_private(codebook, tmp_path):
    """should write formula-like text as inert text in CSV and XLSX, files readable by the owner only"""
    columns = ctdc_columns(2)
    data = pd.DataFrame([["=HYPERLINK(\"http://x\")", *([None] * (len(columns) - 2)), -99]], columns=list(columns),
                        dtype=object)
    export = CtdcExport(2, data, 11, ("gender",), 1, {}, 1, 0, 1)
    csv_path = write_ctdc_csv(export, tmp_path / "out.csv")
    xlsx_path = write_ctdc_xlsx(export, tmp_path / "out.xlsx")
    with csv_path.open(newline="", encoding="utf-8") as handle:
        header, first = list(csv.reader(handle))
    assert header == list(columns) and first[0].startswith("'=") and first[-1] == "-99"
    sheet = load_workbook(xlsx_path).active
    assert sheet.cell(2, 1).data_type == "s" and sheet.cell(2, 1).value.startswith("'=")
    for path in (csv_path, xlsx_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.fixture
def ledger_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codebook) -> Path:
    monkeypatch.setenv("TIPDATA_LEDGER_KEY", DataKey.generate().to_base64())
    monkeypatch.delenv("TIPDATA_LEDGER_KEY_FILE", raising=False)
    path = tmp_path / "ledger.sqlite"
    ledger = open_ledger(str(path), codebook=codebook)
    try:
        with ledger.transaction() as tx:
            tx.upsert_records([victim(i, person_sex="female", person_age=30, person_citizenship=("NG",))
                               for i in range(6)] + [victim(50, person_sex="male", person_age=61)])
    finally:
        ledger.close()
    return path


def test_cli_export_ctdc__writes_files_and_prints_counts_only(ledger_path, tmp_path):
    """should write the CSV and XLSX from the ledger, print counts and paths, and no case value"""
    out = tmp_path / "ctdc.csv"
    result = CliRunner().invoke(app, ["export", "ctdc", "--generation", "1", "--k", "3", "--ledger",
                                      str(ledger_path), "--out", str(out), "--xlsx"])
    assert result.exit_code == 0, result.output
    assert out.exists() and out.with_suffix(".xlsx").exists()
    assert "1 suppressed" in result.output and "6 published" in result.output
    assert NAME not in result.output and NAME not in out.read_text(encoding="utf-8")
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == ctdc_columns(1) and len(rows) == 7
    assert {r[0] for r in rows[1:]} == {"2025"}  # a year stays a whole number


def test_cli_export_ctdc__missing_ledger_exits_1(tmp_path):
    """should refuse a ledger path that does not exist instead of creating an empty one"""
    missing = tmp_path / "nope.sqlite"
    result = CliRunner().invoke(app, ["export", "ctdc", "--generation", "2", "--ledger", str(missing)])
    assert result.exit_code == 1 and "no ledger" in result.output and not missing.exists()
