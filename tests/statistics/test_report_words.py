"""The report in French and Spanish: every text translated, the same numbers in every language,
the French golden files, valid sheet names and the `--lang` option."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import string
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.statistics.golden.dataset import (
    AREA,
    PERIOD,
    build_dataset,
    golden_report,
)
from tests.statistics.golden.regenerate import FRENCH_DIR, french_files
from tipdata.cli.main import app
from tipdata.crypto.at_rest import generate_key_text
from tipdata.ledger import open_ledger
from tipdata.spreadsheet import read_xlsx
from tipdata.statistics.catalogue import default_codebook, load_catalogue
from tipdata.statistics.report import Report, ReportOptions, build_report
from tipdata.statistics.report_html import render_report_html
from tipdata.statistics.report_labels import _option_list_of, category_labels
from tipdata.statistics.report_tidy import report_csv_files
from tipdata.statistics.report_words import (
    ReportLanguageError,
    missing_translations,
    report_languages,
    report_words,
    words_document,
)
from tipdata.statistics.report_xlsx import MAX_SHEET_NAME, report_workbook, workbook_sheet_names

OTHER_LANGUAGES = [lang for lang in report_languages() if lang != "en"]


@pytest.fixture(scope="module", params=OTHER_LANGUAGES)
def translated(request: pytest.FixtureRequest) -> Report:
    return golden_report(request.param)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- completeness -----------------------------------------------------------------------------------


def test_missing_translations__none_in_the_shipped_words() -> None:
    """should find a French and a Spanish text for every sentence, indicator, dimension, category and standard."""
    assert missing_translations(load_catalogue()) == []


def test_missing_translations__names_each_missing_text() -> None:
    """should name a sentence, an indicator part, a dimension and a placeholder a translation lacks."""
    document = copy.deepcopy(words_document())
    del document["strings"]["page.charts"]["fr"]
    del document["indicators"]["JUS_CONVICTIONS"]["es"]["definition"]
    del document["dimensions"]["sex"]["es"]
    document["strings"]["page.protected"]["fr"] = "protégé"  # lost its {k}
    problems = missing_translations(load_catalogue(), document)
    assert "string page.charts: no 'fr' text" in problems
    assert "indicator JUS_CONVICTIONS: no 'es' definition" in problems
    assert "dimension sex: no 'es' text" in problems
    assert any(p.startswith("string page.protected: 'fr' has placeholders []") for p in problems)


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_category_labels__every_category_has_a_translated_label(language: str) -> None:
    """should label every category of every dimension from the report's words or the codebook's
    translation of its option, never from the English text or the code."""
    codebook, catalogue = default_codebook(), load_catalogue()
    words = report_words(language)
    translation = codebook.translations[language]
    untranslated = []
    for dimension in catalogue.dimensions:
        option_list = _option_list_of(dimension, codebook, catalogue)
        for code in catalogue.categories(dimension, codebook):
            if words.category(code) is None and not translation.options.get(
                option_list or "", {}
            ).get(code):
                untranslated.append(f"{dimension}:{code}")
    assert untranslated == []
    labels = category_labels("sex", ("female", "other", "unknown"), codebook, catalogue, words)
    assert labels["female"] == translation.options["sex"]["female"]


def test_report_words__rejects_a_language_it_has_no_words_for() -> None:
    """should name the languages it has when asked for another."""
    with pytest.raises(ReportLanguageError, match="en, fr, es"):
        report_words("de")
    with pytest.raises(ValueError, match="en, fr, es"):
        build_report([], None, ReportOptions(period=PERIOD, language="de"))


def test_report_words__writes_numbers_the_languages_way() -> None:
    """should group thousands and mark decimals as each language writes them."""
    assert report_words("en").number(12345.5, 1) == "12,345.5"
    assert report_words("fr").number(12345.5, 1) == "12\u202f345,5"
    assert report_words("es").number(12345.5, 1) == "12.345,5"


# --- the translated report --------------------------------------------------------------------------


def test_report__french_matches_the_golden_files() -> None:
    """should publish exactly the committed French golden files (regenerate: python -m tests.statistics.golden.regenerate)."""
    files = french_files(golden_report("fr"))
    golden = {p.name: p.read_text(encoding="utf-8") for p in FRENCH_DIR.glob("*.csv")}
    assert sorted(files) == sorted(golden)
    for name, text in files.items():
        assert text.replace("\r\n", "\n") == golden[name].replace("\r\n", "\n"), (
            f"{name} differs from the golden file"
        )


def test_report__every_language_publishes_the_same_cells(translated: Report) -> None:
    """should change words only: the same tables, codes, values and suppressed cells as in English."""
    english = report_csv_files(golden_report())
    other = report_csv_files(translated)
    assert sorted(other) == sorted(english)
    for name, text in english.items():
        ours, theirs = _rows(text), _rows(other[name])
        assert [{k: v for k, v in r.items() if not k.endswith("_label")} for r in ours] == [
            {k: v for k, v in r.items() if not k.endswith("_label")} for r in theirs
        ], name
    assert translated.suppressed_cells == golden_report().suppressed_cells


def test_report__labels_names_and_definitions_are_translated(translated: Report) -> None:
    """should name and define every table and label its categories in the report's language."""
    english = golden_report()
    words = report_words(translated.language)
    persons = translated.tables["VIC_IDENT_PERSONS"]
    assert (
        persons.name
        == words.indicators["VIC_IDENT_PERSONS"]["name"]
        != english.tables["VIC_IDENT_PERSONS"].name
    )
    assert persons.labels["age_group"]["child"] == words.categories["child"]
    assert persons.labels["sex"]["_T"] == words("total")
    for code, table in translated.tables.items():
        assert table.definition != english.tables[code].definition, code
        assert set(table.dimension_names.values()).isdisjoint(
            {
                n
                for d, n in english.tables[code].dimension_names.items()
                if n != words.dimensions.get(d)
            }
        ), code
    assert translated.title == words("title")
    assert [h.label for h in translated.headlines] != [h.label for h in english.headlines]


def _english_fragments() -> set[str]:
    """Pieces of the report's own English sentences long enough to be recognised (placeholders cut out)."""
    document = words_document()
    texts = [t["en"] for key, t in document["strings"].items() if t["en"] != t.get("fr")]
    catalogue = load_catalogue()
    texts += [spec.name for spec in catalogue.indicators.values()]
    texts += [spec.definition for spec in catalogue.indicators.values()]
    texts += [d.name for d in catalogue.dimensions.values()]
    fragments = set()
    for text in texts:
        for literal, *_ in string.Formatter().parse(text):
            fragments |= {
                part.strip() for part in re.split(r"[:;()]", literal) if len(part.strip()) >= 14
            }
    return fragments


def test_report_html__has_no_english_left(translated: Report) -> None:
    """should say nothing in English in a French or Spanish page (charts included), and declare its language."""
    page = render_report_html(translated)
    assert f'<html lang="{translated.language}">' in page
    import html

    text = html.unescape(page)
    left = sorted(f for f in _english_fragments() if f in text)
    assert left == []
    months = report_words(translated.language).months
    assert all(f">{month}<" in page for month in months)  # the trend chart's axis


def test_report_workbook__sheets_are_named_in_the_language(translated: Report) -> None:
    """should name the README and Contents sheets in the report's language, with translated headings."""
    words = report_words(translated.language)
    sheets = read_xlsx(report_workbook(translated))
    assert list(sheets)[:2] == [words("sheet.readme"), words("sheet.contents")]
    readme = dict((r[0], r[1]) for r in sheets[words("sheet.readme")][1:])
    assert "k = 11" in readme[words("readme.disclosure")]
    contents = sheets[words("sheet.contents")]
    assert contents[0][2] == words("contents.name")
    assert contents[1][2] == translated.tables[contents[1][1]].name


@pytest.mark.parametrize("language", report_languages())
def test_workbook_sheet_names__valid_and_unique_in_every_language(language: str) -> None:
    """should give every sheet a name Excel accepts: at most 31 characters, none of []:*?/\\, unique ignoring case."""
    names = list(workbook_sheet_names(golden_report(language)).values())
    assert all(0 < len(n) <= MAX_SHEET_NAME for n in names)
    assert not [
        n for n in names if re.search(r"[\[\]:*?/\\]", n) or n.startswith("'") or n.endswith("'")
    ]
    assert len({n.casefold() for n in names}) == len(names)


# --- command ----------------------------------------------------------------------------------------


def test_report_command__writes_the_report_in_spanish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """should write the whole report in the language --lang names."""
    monkeypatch.setenv("TIPDATA_LEDGER_KEY", generate_key_text())
    dataset = build_dataset(seed=5, persons=120)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = open_ledger(url)
    try:
        with ledger.transaction() as tx:
            tx.upsert_records(dataset.records)
    finally:
        ledger.close()
    linkage = tmp_path / "links.json"
    linkage.write_text(json.dumps(dataset.linkage), encoding="utf-8")
    out = tmp_path / "publicado"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--period",
            PERIOD,
            "--area",
            AREA,
            "--ledger",
            url,
            "--linkage",
            str(linkage),
            "--out",
            str(out),
            "--lang",
            "es",
            "--format",
            "html",
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="es">' in page and "Cómo se protegen las cifras" in page
    overlap = _rows((out / "csv" / "VIC_PERSONS_OVERLAP.csv").read_text(encoding="utf-8"))
    assert {r["seen_by_label"] for r in overlap} >= {"solo ngo", "solo police", "Total"}


def test_report_command__exits_2_on_an_unknown_language(tmp_path: Path) -> None:
    """should name the languages it has and read nothing."""
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--period",
            PERIOD,
            "--lang",
            "de",
            "--ledger",
            f"sqlite:///{tmp_path / 'none.sqlite'}",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 2
    assert "en, fr, es" in result.output
    assert not (tmp_path / "none.sqlite").exists()
