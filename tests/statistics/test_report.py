"""The published report: golden tables, numbers counted independently, nothing below k, linked
tables, determinism, the linkage inputs and the `tipdata report` command."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.statistics.golden.dataset import (
    AREA,
    PERIOD,
    build_dataset,
    expected_numbers,
    golden_dataset,
    golden_report,
)
from tests.statistics.golden.regenerate import GOLDEN_DIR
from tests.statistics.test_report_protection import joint_intervals
from tipdata.cli.main import app
from tipdata.crypto.at_rest import generate_key_text
from tipdata.ledger import open_ledger
from tipdata.statistics.report import (
    SUPPRESSED_MARK,
    Report,
    ReportOptions,
    build_report,
    write_report,
)
from tipdata.statistics.report_linkage import LinkageInputError, LinkageView
from tipdata.statistics.report_tidy import report_csv_files

K = 11


@pytest.fixture(scope="module")
def report() -> Report:
    return golden_report()


@pytest.fixture(scope="module")
def written(report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(report, out)
    return out


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _golden_cell(code: str, **categories: str) -> str:
    """The value of one cell in the committed golden CSV file (others dimensions at _T)."""
    rows = _csv_rows((GOLDEN_DIR / f"{code}.csv").read_text(encoding="utf-8"))
    dims = [c for c in rows[0] if f"{c}_label" in rows[0]]
    for row in rows:
        if all(row[d] == categories.get(d, "_T") for d in dims):
            return row["value"]
    raise KeyError(categories)


# --- golden ---------------------------------------------------------------------------------------

def test_report__matches_the_golden_files(report: Report) -> None:
    """should publish exactly the committed golden tables (regenerate: python -m tests.statistics.golden.regenerate)."""
    files = report_csv_files(report)
    # line ends compared as \n: a checkout may turn the files' \r\n into \n
    golden = {p.name: p.read_text(encoding="utf-8") for p in GOLDEN_DIR.glob("*.csv")}
    assert sorted(files) == sorted(golden)
    for name, text in files.items():
        assert text.replace("\r\n", "\n") == golden[name], f"{name} differs from the golden file"


def test_report__golden_headlines_agree_with_independent_counts() -> None:
    """should hold, in the golden files, the numbers counted from the synthetic persons with plain Python."""
    expected = expected_numbers(golden_dataset())
    assert all(value >= K for value in expected.values())  # so none of them may be suppressed
    assert int(_golden_cell("VIC_IDENT")) == expected["records"]
    assert int(_golden_cell("VIC_IDENT_PERSONS")) == expected["persons"]
    assert int(_golden_cell("VIC_IDENT_PERSONS", sex="female")) == expected["female_persons"]
    assert int(_golden_cell("VIC_IDENT_PERSONS", age_group="child")) == expected["children_persons"]
    assert int(_golden_cell("VIC_PERSONS_OVERLAP", seen_by="ngo")) == expected["ngo_only"]
    assert int(_golden_cell("VIC_PERSONS_OVERLAP", seen_by="police")) == expected["police_only"]
    assert int(_golden_cell("VIC_PERSONS_OVERLAP", seen_by="ngo+police")) == expected["both"]
    assert int(_golden_cell("REF_MADE")) == expected["referrals"]


def test_report__headlines_read_the_protected_tables(report: Report) -> None:
    """should put the raw and de-duplicated totals and the overlap at the top of the report."""
    expected = expected_numbers(golden_dataset())
    headlines = {h.key: h.cell for h in report.headlines}
    assert headlines["victims_records"].value == expected["records"]
    assert headlines["victims_persons"].value == expected["persons"]
    assert headlines["seen_by_several"].value == expected["both"]
    assert headlines["victims_records"].value > headlines["victims_persons"].value


# --- protection -----------------------------------------------------------------------------------

def _published_counts(report: Report) -> Iterator[tuple[str, float]]:
    for code, table in report.tables.items():
        for value in table.data.loc[~table.data["suppressed"], table.count_column]:
            yield code, float(value)


def test_report__no_published_count_is_below_k(report: Report) -> None:
    """should publish only zeros and counts of at least k, in every table."""
    small = [(code, v) for code, v in _published_counts(report) if 0 < v < K]
    assert small == []
    assert report.suppressed_cells > 0  # the golden data do have small cells


def test_report__written_files_hide_what_the_report_hides(report: Report, written: Path) -> None:
    """should leave suppressed values empty in every CSV file and show [c] in the workbook, nothing below k."""
    from tipdata.spreadsheet import read_xlsx

    for code, table in report.tables.items():
        rows = _csv_rows((written / "csv" / f"{code}.csv").read_text(encoding="utf-8"))
        assert len(rows) == len(table.data)
        for row in rows:
            counts = row[table.count_column]
            if row["suppressed"] == "true":
                assert all(row[c] == "" for c in table.value_columns)
            elif counts:
                assert float(counts) == 0 or float(counts) >= K
    sheets = read_xlsx((written / "report.xlsx").read_bytes())
    overlap = sheets["VIC_IDENT"]
    column = overlap[0].index("value")
    assert {r[column] for r in overlap[1:] if r[-1] is True} == {SUPPRESSED_MARK}
    assert all(r[column] == 0 or r[column] >= K for r in overlap[1:] if r[-1] is False)


def _as_linked(report: Report, codes: list[str]) -> list[tuple]:
    """The published tables of `codes` as (table with attrs, suppressed) for `joint_intervals`."""
    out = []
    for code in codes:
        table = report.tables[code]
        frame = table.data.copy()
        frame.attrs = {"dimensions": list(table.dimensions), "total_code": table.total_code,
                       "count_column": table.count_column, "non_additive": list(table.non_additive)}
        frame[table.count_column] = frame[table.count_column].fillna(0)
        out.append((frame, frame["suppressed"].to_numpy(bool)))
    return out


@pytest.mark.parametrize("group", [
    ["VIC_IDENT_PERSONS", "SDG_16_2_2", "VIC_PERSONS_OVERLAP", "VIC_PERSONS_TREND"],
    ["VIC_IDENT", "VIC_IDENT_TREND"],
    ["JUS_CONVICTIONS", "JUS_SENTENCES"],
])
def test_report__linked_tables_do_not_reveal_each_others_cells(report: Report, group: list[str]) -> None:
    """should hide the same cells in tables that count the same units, so that no suppressed cell
    can be pinned down (interval < 1) from all of them together."""
    intervals = joint_intervals(_as_linked(report, group))
    assert intervals, "the group has suppressed cells to attack"
    narrow = {cell: bounds for cell, bounds in intervals.items() if bounds[1] - bounds[0] < 1 - 1e-9}
    assert narrow == {}


def test_report__says_how_the_numbers_are_protected(report: Report, written: Path) -> None:
    """should state k and the rules in the HTML report and the workbook's README."""
    from tipdata.spreadsheet import read_xlsx

    html = (written / "report.html").read_text(encoding="utf-8")
    assert f"k = {K}" in html and "Secondary suppression" in html and SUPPRESSED_MARK in html
    readme = dict((r[0], r[1]) for r in read_xlsx((written / "report.xlsx").read_bytes())["README"][1:])
    assert f"k = {K}" in readme["Disclosure control"]
    assert SUPPRESSED_MARK in readme["Marker"]


# --- determinism and inputs -----------------------------------------------------------------------

def test_report__same_data_give_the_same_bytes(report: Report, written: Path, tmp_path: Path) -> None:
    """should write byte-identical HTML, workbook and CSV files when built again from the same data."""
    dataset = golden_dataset()
    again = build_report(dataset.records, None, ReportOptions(period=PERIOD, area=AREA, linkage=dataset.linkage))
    write_report(again, tmp_path)
    for name in ("report.html", "report.xlsx", "csv/SDG_16_2_2.csv"):
        assert (tmp_path / name).read_bytes() == (written / name).read_bytes(), name


def test_report__linkage_result_and_its_json_give_the_same_report() -> None:
    """should accept a LinkageResult from match_batches as well as the JSON `link match --out` writes."""
    from tipdata.linkage.encoding import PersonIdentifiers, encode_records
    from tipdata.linkage.matching import match_batches
    from tipdata.linkage.schema import load_schema

    dataset = build_dataset(seed=7, persons=60)
    secret, schema = b"report test secret, not a real one", load_schema()
    people = {p.pid: p for p in dataset.persons}
    batches = []
    for source in ("ngo", "police"):
        identifiers = [PersonIdentifiers(case.record_id, f"Given{pid[1:]}", f"Family{pid[1:]}",
                                         f"19{60 + int(pid[1:]) % 40}-0{1 + int(pid[1:]) % 9}-1{int(pid[1:]) % 10}",
                                         people[pid].sex if people[pid].sex in ("female", "male") else None)
                       for pid, person in people.items() if person.consents
                       for case in person.cases if case.agency == source]
        batches.append(encode_records(identifiers, secret, schema, source=source))
    result = match_batches(batches)
    options = {"period": PERIOD, "area": AREA, "k": 3}
    from_result = build_report(dataset.records, None, ReportOptions(**options, linkage=result))
    from_json = build_report(dataset.records, None, ReportOptions(**options, linkage=json.loads(json.dumps(result.to_json()))))
    assert report_csv_files(from_result) == report_csv_files(from_json)
    assert from_result.deduplicated and from_result.linkage_sources == ("ngo", "police")
    persons, records = from_result.tables["VIC_IDENT_PERSONS"].cell(), from_result.tables["VIC_IDENT"].cell()
    assert persons.value is not None and records.value is not None and persons.value <= records.value


def test_report__without_linkage_counts_records_and_says_so() -> None:
    """should leave out the persons tables and the overlap, and note that victims are not de-duplicated."""
    dataset = golden_dataset()
    report = build_report(dataset.records, None, ReportOptions(period=PERIOD, area=AREA, trend="none",
                                                               codes=["VIC_IDENT", "VIC_IDENT_PERSONS", "SDG_16_2_2"]))
    assert list(report.tables) == ["VIC_IDENT", "SDG_16_2_2"]
    assert not report.deduplicated
    assert any("No record linkage" in note for note in report.notes)
    assert {h.key for h in report.headlines} == {"victims_records", "children"}


def test_report__quarterly_trend_adds_up_to_the_period(report: Report) -> None:
    """should bucket a period of over two years by quarter, the quarters adding up to VIC_IDENT's total."""
    dataset = golden_dataset()
    two_years = build_report(dataset.records, None, ReportOptions(
        period="2024-01-01/2026-02-28", area=AREA, codes=["VIC_IDENT"], k=1))
    trend = two_years.tables["VIC_IDENT_TREND"]
    quarters = trend.data[trend.data["quarter"] != "_T"]
    assert list(quarters["quarter"]) == [f"{y}-Q{q}" for y in (2024, 2025) for q in range(1, 5)] + ["2026-Q1"]
    assert int(quarters["value"].sum()) == two_years.tables["VIC_IDENT"].cell().value


def test_report__rejects_a_linkage_that_assigns_a_record_twice() -> None:
    """should refuse a linkage JSON naming one record under two persons, saying how to fix it."""
    with pytest.raises(LinkageInputError, match="assigned twice.*tipdata link match"):
        LinkageView.from_json({"sources": ["ngo"], "assignments": [
            {"source": "ngo", "id": "r1", "person": "P1"}, {"source": "ngo", "id": "r1", "person": "P2"}]})


def test_write_report__rejects_an_unknown_format(report: Report, tmp_path: Path) -> None:
    """should name the formats it knows."""
    with pytest.raises(ValueError, match="html"):
        write_report(report, tmp_path, formats=("pdf",))


# --- command --------------------------------------------------------------------------------------

def test_report_command__writes_the_report_from_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """should read the ledger, write HTML, XLSX and CSV, and print paths and counts, no case contents."""
    monkeypatch.setenv("TIPDATA_LEDGER_KEY", generate_key_text())
    dataset = build_dataset(seed=11, persons=250)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url)
    try:
        with ledger.transaction() as tx:
            tx.upsert_records(dataset.records)
    finally:
        ledger.close()
    linkage = tmp_path / "links.json"
    linkage.write_text(json.dumps(dataset.linkage), encoding="utf-8")
    out = tmp_path / "published"
    result = CliRunner().invoke(app, ["report", "--period", PERIOD, "--area", AREA, "--ledger", url,
                                      "--linkage", str(linkage), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and (out / "report.xlsx").is_file()
    assert (out / "csv" / "VIC_PERSONS_OVERLAP.csv").is_file()
    assert f"{len(dataset.records):,} record(s) read" in result.output
    assert "NGO-" not in result.output and "POLICE-" not in result.output  # no case references


def test_report_command__exits_1_on_a_bad_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """should explain the period formats and exit 1."""
    monkeypatch.setenv("TIPDATA_LEDGER_KEY", generate_key_text())
    result = CliRunner().invoke(app, ["report", "--period", "last year", "--ledger",
                                      f"sqlite:///{tmp_path / 'l.sqlite'}", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "2025-Q2" in result.output
