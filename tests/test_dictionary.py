"""The data dictionary (HTML and XLSX) and the CTDC/HTCDS crosswalk coverage it shows."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tipdata.crosswalk import (
    ctdc_coverage,
    element_standards,
    flag_columns_via_options,
    htcds_coverage,
    standards_codes,
)
from tipdata.dictionary import (
    HTML_NAME,
    XLSX_NAME,
    dictionary_sheets,
    render_dictionary_html,
    write_dictionary,
)
from tipdata.model import (
    Codebook,
    Element,
    Form,
    FormElement,
    FormGroup,
    FormNote,
    FormTexts,
    Option,
    OptionList,
    TextSet,
    Translation,
)
from tipdata.spreadsheet import read_xlsx
from tipdata.standards import CTDC_GEN1_COLUMNS, CTDC_GEN2_COLUMNS


# --- a small inline codebook -------------------------------------------------------------------
def element(code: str, **fields: Any) -> Element:
    base: dict[str, Any] = {"type": "text", "label": code.replace("_", " ").capitalize(),
                            "level": "person", "sensitivity": "operational", "section": "person"}
    return Element(code=code, **{**base, **fields})


def codebook(elements: list[Element] | None = None, **fields: Any) -> Codebook:
    """Three languages, a sex list, a means-of-control list with flag columns and one form."""
    elements = elements if elements is not None else [
        element("person_sex", type="select_one", options="sex", label="Sex",
                sensitivity="quasi_identifier", consent=("statistics",),
                crosswalk={"htcds": "prs_Gender", "ctdc_gen1": ("gender",),
                           "ctdc_gen2": ("gender",)}),
        element("person_age", type="integer", label="Age in years", description="Age when seen.",
                sensitivity="quasi_identifier", constraint=". >= 0 and . <= 120",
                constraint_message="Age must be between 0 and 120.",
                crosswalk={"ctdc_gen1": ("ageBroad", "majorityStatus")}),
        element("case_means", type="select_multiple", options="means", label="Means of control",
                section="exploitation", level="case", sensitivity="sensitive",
                relevant="person_age >= 18", crosswalk={"iccs": ("0204",)}),
    ]
    base: dict[str, Any] = {
        "id": "tiny", "version": "1.2.3", "title": "Tiny codebook", "source_language": "en",
        "source_language_name": "English",
        "levels": {"person": "About the person.", "case": "About the case."},
        "sensitivity_classes": {"direct_identifier": "Alone.", "quasi_identifier": "Combined.",
                                "restricted": "Harm.", "sensitive": "Intimate.",
                                "operational": "Process."},
        "consent_purposes": {"statistics": "Statistics.", "service_referral": "Referral."},
        "elements": {e.code: e for e in elements},
        "option_lists": {
            "sex": OptionList(name="sex", description="Sex as recorded.", options=(
                Option(code="female", label="Female",
                       standards={"htcds": "Feminine", "ctdc_gen1": "Female",
                                  "ctdc_gen2": "Woman"}),
                Option(code="male", label="Male"),
            )),
            "means": OptionList(name="means", options=(
                Option(code="debt", label="Debt bondage",
                       standards={"ctdc_gen1": "meansOfControlDebtBondage"}),
                Option(code="threats", label="Threats",
                       standards={"ctdc_gen1": "meansOfControlThreats",
                                  "ctdc_gen2": "meansThreats"}),
            )),
        },
        "forms": {"intake": Form(id="intake", title="Intake", level="person", items=(
            FormGroup(name="grp_person", label="About you", items=(
                FormElement(element="person_sex"),
                FormNote(name="note_age", label="Ask the age next."),
                FormElement(element="person_age", relevant="person_sex = 'female'"),
            )),
            FormElement(element="case_means"),
        ))},
        "translations": {
            "fr": Translation(language="fr", name="Français",
                              elements={"person_sex": TextSet(label="Sexe"),
                                        "person_age": TextSet(label="Âge en années")},
                              options={"sex": {"female": "Féminin", "male": "Masculin"}},
                              forms={"intake": FormTexts(title="Accueil")}),
            "es": Translation(language="es", name="Español",
                              elements={"person_sex": TextSet(label="Sexo")},
                              options={"sex": {"female": "Femenino"}}),
        },
    }
    return Codebook(**{**base, **fields})


def only(sheet: list[list[Any]], column: str, value: Any) -> dict[str, Any]:
    header = sheet[0]
    rows = [dict(zip(header, row, strict=False)) for row in sheet[1:]]
    found = [r for r in rows if r[column] == value]
    assert len(found) == 1, f"{len(found)} rows with {column} = {value!r}"
    return found[0]


# --- crosswalk ---------------------------------------------------------------------------------
def test_ctdc_coverage__lists_every_column_in_published_order() -> None:
    """should return one entry per published column, gen-1 and gen-2 alike, in order."""
    cb = codebook()
    assert [c.column for c in ctdc_coverage(cb, 1)] == list(CTDC_GEN1_COLUMNS)
    assert [c.column for c in ctdc_coverage(cb, 2)] == list(CTDC_GEN2_COLUMNS)


def test_ctdc_coverage__reports_a_gap_when_no_element_names_the_column() -> None:
    """should mark a column as a gap when neither an element nor an asked option derives it."""
    coverage = {c.column: c for c in ctdc_coverage(codebook(), 1)}
    assert coverage["citizenship"].is_gap
    assert coverage["citizenship"].derived_by == ()


def test_ctdc_coverage__reports_no_gap_when_an_element_names_the_column() -> None:
    """should attribute a column to every element whose crosswalk lists it."""
    coverage = {c.column: c for c in ctdc_coverage(codebook(), 1)}
    assert not coverage["gender"].is_gap
    assert coverage["gender"].elements == ("person_sex",)
    assert coverage["majorityStatus"].elements == ("person_age",)


def test_ctdc_coverage__counts_flag_columns_set_by_options() -> None:
    """should derive a flag column from an option naming it, through the element asking the list."""
    coverage = {c.column: c for c in ctdc_coverage(codebook(), 2)}
    threats = coverage["meansThreats"]
    assert not threats.is_gap
    assert [o.ref for o in threats.options] == ["means.threats"]
    assert threats.derived_by == ("case_means",)


def test_ctdc_coverage__treats_an_option_of_an_unasked_list_as_a_gap() -> None:
    """should report a gap when the only option naming a column is in a list no element asks."""
    cb = codebook([element("person_note")])
    coverage = {c.column: c for c in ctdc_coverage(cb, 1)}
    debt = coverage["meansOfControlDebtBondage"]
    assert debt.is_gap
    assert [(o.ref, o.elements) for o in debt.options] == [("means.debt", ())]


def test_ctdc_coverage__rejects_an_unknown_generation() -> None:
    """should refuse a CTDC generation other than 1 or 2."""
    with pytest.raises(ValueError, match="generation must be 1 or 2"):
        ctdc_coverage(codebook(), 3)  # type: ignore[arg-type]


def test_htcds_coverage__maps_fields_named_by_elements() -> None:
    """should list every HTCDS field, person fields before victim fields, with its elements."""
    coverage = htcds_coverage(codebook())
    by_field = {f.field: f for f in coverage}
    assert by_field["prs_Gender"].elements == ("person_sex",)
    assert by_field["prs_Birthdate"].is_gap
    tables = [f.table for f in coverage]
    assert tables.index("prs") < tables.index("vic")


def test_standards_codes__keeps_only_standards_that_have_a_code() -> None:
    """should return the option's codes per standard, leaving out empty ones."""
    option = codebook().option_lists["sex"].option("female")
    assert option is not None
    assert standards_codes(option) == {"htcds": "Feminine", "ctdc_gen1": "Female",
                                       "ctdc_gen2": "Woman"}


def test_element_standards__leaves_out_unmapped_standards() -> None:
    """should give the element's crosswalk per standard, without empty entries."""
    assert element_standards(codebook().elements["person_age"]) == {
        "ctdc_gen1": ("ageBroad", "majorityStatus")}


def test_flag_columns_via_options__lists_the_columns_of_the_elements_options() -> None:
    """should list the flag columns an element sets through its options, in column order."""
    cb = codebook()
    assert flag_columns_via_options(cb, cb.elements["case_means"], 1) == (
        "meansOfControlDebtBondage", "meansOfControlThreats")
    assert flag_columns_via_options(cb, cb.elements["person_age"], 1) == ()


# --- HTML --------------------------------------------------------------------------------------
def test_render_dictionary_html__contains_every_element_code_and_language_label() -> None:
    """should show each element's code and its label in every language that translates it."""
    html = render_dictionary_html(codebook())
    for code in ("person_sex", "person_age", "case_means"):
        assert f'id="el-{code}"' in html
    for label in ("Sex", "Sexe", "Sexo", "Age in years", "Âge en années", "Means of control"):
        assert label in html
    assert "tiny" in html and "1.2.3" in html


def test_render_dictionary_html__marks_untranslated_labels() -> None:
    """should say 'not translated' where a language lacks a label instead of repeating English."""
    html = render_dictionary_html(codebook())
    row = re.search(r'<tbody class="element" id="el-case_means">.*?</tbody>', html, re.S)
    assert row is not None
    assert row.group(0).count("not translated") == 2


def test_render_dictionary_html__escapes_html_in_labels() -> None:
    """should escape markup in codebook texts so a label cannot inject a script."""
    cb = codebook([element("person_note", label="<script>alert('x')</script> & more",
                           description='"quoted" <b>bold</b>')])
    html = render_dictionary_html(cb)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more" in html
    assert "&#34;quoted&#34; &lt;b&gt;bold&lt;/b&gt;" in html


def test_render_dictionary_html__shows_logic_as_written() -> None:
    """should show relevant and constraint expressions as written in the codebook language."""
    html = render_dictionary_html(codebook())
    assert "person_age &gt;= 18" in html
    assert ". &gt;= 0 and . &lt;= 120" in html
    assert "Age must be between 0 and 120." in html


def test_render_dictionary_html__summarises_counts_by_level_and_sensitivity() -> None:
    """should count elements per level and per sensitivity class, including classes with none."""
    html = render_dictionary_html(codebook())
    summary = html[html.index('id="summary"'):html.index('class="chapter"')]
    assert re.search(r"<code>person</code></td><td[^>]*>About the person.</td>"
                     r"<td class=\"num\">2</td>", summary)
    assert re.search(r"quasi identifier</span></td><td[^>]*>Combined.</td>"
                     r"<td class=\"num\">2</td>", summary)
    assert re.search(r"restricted</span></td><td[^>]*>Harm.</td><td class=\"num\">0</td>", summary)


def test_render_dictionary_html__has_sections_in_the_table_of_contents() -> None:
    """should link each element section, the option lists, the forms and both CTDC tables."""
    html = render_dictionary_html(codebook())
    toc = html[html.index('<nav class="toc"'):html.index("</nav>")]
    for anchor in ("#section-person", "#section-exploitation", "#option-lists", "#forms",
                   "#ctdc-gen1", "#ctdc-gen2"):
        assert f'href="{anchor}"' in toc


def test_render_dictionary_html__highlights_ctdc_gaps() -> None:
    """should mark gap rows in the coverage tables and not mark derived columns."""
    html = render_dictionary_html(codebook())
    gen1 = html[html.index('id="ctdc-gen1"'):html.index('id="ctdc-gen2"')]
    assert re.search(r'<tr class="gap">\s*<td class="num">\d+</td>\s*<td><code>citizenship</code>',
                     gen1)
    assert not re.search(r'<tr class="gap">\s*<td class="num">\d+</td>\s*<td><code>gender</code>',
                         gen1)


def test_render_dictionary_html__summarises_generated_lists_instead_of_listing_them() -> None:
    """should show a note and a count for an ISO list rather than one row per country."""
    countries = OptionList(name="country", generated="iso3166", options=tuple(
        Option(code=c, label=n) for c, n in (("FR", "France"), ("KE", "Kenya"))))
    cb = codebook()
    cb = cb.model_copy(update={"option_lists": {**cb.option_lists, "country": countries}})
    html = render_dictionary_html(cb)
    assert "Generated list: 2 ISO 3166-1 countries" in html
    assert "Kenya" not in html


def test_render_dictionary_html__is_self_contained() -> None:
    """should load no external resources and carry print styles."""
    html = render_dictionary_html(codebook())
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "<script" not in html
    assert "@media print" in html


def test_render_dictionary_html__is_deterministic() -> None:
    """should render the same codebook to the same text every time."""
    assert render_dictionary_html(codebook()) == render_dictionary_html(codebook())


# --- XLSX --------------------------------------------------------------------------------------
def test_dictionary_sheets__has_the_documented_sheets() -> None:
    """should produce Elements, Options, Forms and one crosswalk sheet per CTDC generation."""
    assert list(dictionary_sheets(codebook())) == [
        "Elements", "Options", "Forms", "Crosswalk CTDC gen-1", "Crosswalk CTDC gen-2"]


def test_write_dictionary__writes_html_and_a_workbook_that_round_trips(tmp_path: Path) -> None:
    """should write index.html and an xlsx whose rows read back as the sheets."""
    cb = codebook()
    paths = write_dictionary(cb, tmp_path / "dict")
    assert paths == [tmp_path / "dict" / HTML_NAME, tmp_path / "dict" / XLSX_NAME]
    assert paths[0].read_text(encoding="utf-8") == render_dictionary_html(cb)
    sheets = read_xlsx(paths[1].read_bytes())
    expected = dictionary_sheets(cb)
    assert list(sheets) == list(expected)
    for name, rows in expected.items():
        assert sheets[name] == [list(r) for r in rows], name


def test_dictionary_sheets__one_element_row_with_a_label_column_per_language() -> None:
    """should give each element one row with its label in each language (blank if untranslated)."""
    elements = dictionary_sheets(codebook())["Elements"]
    assert elements[0][:11] == ["code", "section", "type", "options", "level", "sensitivity",
                                "consent", "required", "label (en)", "label (es)", "label (fr)"]
    assert len(elements) == 4
    sex = only(elements, "code", "person_sex")
    assert (sex["label (en)"], sex["label (fr)"], sex["label (es)"]) == ("Sex", "Sexe", "Sexo")
    assert sex["ctdc_gen1"] == "gender" and sex["forms"] == "intake"
    age = only(elements, "code", "person_age")
    assert age["label (es)"] is None


def test_dictionary_sheets__options_carry_labels_and_standard_codes() -> None:
    """should give each option one row with its labels per language and its standard codes."""
    options = dictionary_sheets(codebook())["Options"]
    female = only(options, "code", "female")
    assert (female["list"], female["label (fr)"], female["htcds"], female["ctdc_gen2"]) == (
        "sex", "Féminin", "Feminine", "Woman")
    assert only(options, "code", "male")["label (es)"] is None


def test_dictionary_sheets__forms_list_items_in_order() -> None:
    """should list each form's items depth first, numbered, with the element each one asks."""
    forms = dictionary_sheets(codebook())["Forms"]
    assert forms[0][:5] == ["form", "order", "item", "kind", "element"]
    assert [row[:6] for row in forms[1:]] == [
        ["intake", 1, "grp_person", "group", None, None],
        ["intake", 2, "person_sex", "element", "person_sex", "grp_person"],
        ["intake", 3, "note_age", "note", None, "grp_person"],
        ["intake", 4, "person_age", "element", "person_age", "grp_person"],
        ["intake", 5, "case_means", "element", "case_means", None],
    ]


def test_dictionary_sheets__crosswalk_sheets_mark_gaps() -> None:
    """should give one row per CTDC column with 'gap' or 'covered' and what derives it."""
    sheets = dictionary_sheets(codebook())
    gen1 = sheets["Crosswalk CTDC gen-1"]
    assert len(gen1) == 1 + len(CTDC_GEN1_COLUMNS)
    assert only(gen1, "column", "gender")["status"] == "covered"
    assert only(gen1, "column", "citizenship")["status"] == "gap"
    threats = only(sheets["Crosswalk CTDC gen-2"], "column", "meansThreats")
    assert (threats["status"], threats["options"], threats["derived by"]) == (
        "covered", "means.threats", "case_means")


def test_write_dictionary__writes_formula_like_labels_as_text(tmp_path: Path) -> None:
    """should store a label starting with '=' as text, never as a formula."""
    cb = codebook([element("person_note", label="=HYPERLINK(\"http://x\",\"y\")")])
    xlsx = write_dictionary(cb, tmp_path)[1].read_bytes()
    row = only(read_xlsx(xlsx)["Elements"], "code", "person_note")
    assert isinstance(row["label (en)"], str)
    assert not row["label (en)"].startswith("=")
    assert row["label (en)"].endswith('=HYPERLINK("http://x","y")')
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in archive.read(name).decode("utf-8")


def test_write_dictionary__is_reproducible(tmp_path: Path) -> None:
    """should write the same page and the same workbook rows for an identical codebook."""
    first_html, first_xlsx = write_dictionary(codebook(), tmp_path / "a")
    second_html, second_xlsx = write_dictionary(codebook(), tmp_path / "b")
    assert first_html.read_bytes() == second_html.read_bytes()
    # Rows, not bytes: openpyxl stamps the save time into docProps/core.xml (dcterms:modified).
    assert read_xlsx(first_xlsx.read_bytes()) == read_xlsx(second_xlsx.read_bytes())
