"""The data dictionary: the codebook rendered for people, as printable HTML and as a workbook.

Caseworkers, analysts and reviewers read the codebook here rather than in YAML: every element with
its wording in each language, its sensitivity and consent purposes, its logic as written, its
crosswalk and the forms that ask it; the option lists; the forms in order; and how much of each
CTDC dataset the codebook can derive. Both renderings are pure functions of the codebook and
deterministic (no dates, no machine names), so a rebuilt dictionary differs only when the
codebook does. Only `write_dictionary` touches the file system.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment
from markupsafe import Markup, escape

from tipdata.codebook import generated_option_label
from tipdata.crosswalk import (
    OPTION_STANDARDS,
    ColumnCoverage,
    Generation,
    ctdc_coverage,
    element_standards,
    flag_columns_via_options,
    htcds_coverage,
    standards_codes,
)
from tipdata.html_templates import template_environment
from tipdata.model import Codebook, Element, FormElement, FormGroup, FormItem, OptionList
from tipdata.spreadsheet import Cell, write_xlsx
from tipdata.standards import ICCS_CODES, ICD10CM_CODES, STANDARDS
from tipdata.validation import translation_coverage

HTML_NAME = "index.html"
XLSX_NAME = "tipdata-codebook.xlsx"

#: Short names of the standards for table headers and cells.
STANDARD_LABELS: dict[str, str] = {
    "htcds": "HTCDS", "ctdc_gen1": "CTDC gen-1", "ctdc_gen2": "CTDC gen-2", "iccs": "ICCS",
    "icd10cm": "ICD-10-CM", "iso": "ISO alpha-3",
}

#: Badge colours per sensitivity class: (text, background, border). Light backgrounds so the
#: badges print; a class the codebook adds later falls back to grey.
SENSITIVITY_COLOURS: dict[str, tuple[str, str, str]] = {
    "direct_identifier": ("#8a1c13", "#fde2e1", "#e39a93"),
    "quasi_identifier": ("#7a4700", "#fff0d4", "#e3b765"),
    "restricted": ("#5b2386", "#f1e5fb", "#c3a0e2"),
    "sensitive": ("#8a1850", "#fde4f0", "#e3a1c3"),
    "operational": ("#1e5b34", "#e5f2e9", "#9fcbac"),
}
_FALLBACK_COLOURS = ("#3d4451", "#eceff3", "#b8bfca")

_GENERATIONS: tuple[Generation, ...] = (1, 2)

_GENERATED_SOURCES: dict[str, str] = {
    "iso3166": "ISO 3166-1 countries",
    "iso639": "ISO 639-1 languages",
}


# --- the view the template reads ---------------------------------------------------------------
@dataclass(frozen=True)
class Text:
    """A text in one language; `text` is None when the language has no translation for it."""

    lang: str
    text: str | None


@dataclass(frozen=True)
class LogicLine:
    """One piece of an element's logic; expressions are shown as code, messages as prose."""

    key: str
    text: str
    is_expression: bool = True


@dataclass(frozen=True)
class CrosswalkLine:
    """The codes of one standard an element maps to; `titles` holds each code's published title
    where the standard has titles (ICCS, ICD-10-CM), else None."""

    standard: str
    codes: tuple[str, ...]
    titles: tuple[str | None, ...]


@dataclass(frozen=True)
class ElementView:
    element: Element
    labels: tuple[Text, ...]
    #: expressions as written in the codebook's logic language
    logic: tuple[LogicLine, ...]
    crosswalk: tuple[CrosswalkLine, ...]
    forms: tuple[str, ...]


@dataclass(frozen=True)
class SectionView:
    name: str
    anchor: str
    elements: tuple[ElementView, ...]


@dataclass(frozen=True)
class OptionRow:
    code: str
    labels: tuple[Text, ...]
    standards: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class OptionListView:
    option_list: OptionList
    anchor: str
    used_by: tuple[str, ...]
    #: a note for generated (ISO) lists, shown instead of their rows
    generated_note: str | None
    rows: tuple[OptionRow, ...]


@dataclass(frozen=True)
class FormItemView:
    order: int
    depth: int
    kind: str
    name: str
    label: str | None
    element: str | None
    group: str | None
    fixed: str | None
    relevant: str | None
    calculated: bool


@dataclass(frozen=True)
class FormView:
    id: str
    anchor: str
    titles: tuple[Text, ...]
    description: str | None
    level: str
    items: tuple[FormItemView, ...]


@dataclass(frozen=True)
class CoverageView:
    title: str
    anchor: str
    standard: str
    columns: tuple[ColumnCoverage, ...]

    @property
    def gaps(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.is_gap)


# --- public API --------------------------------------------------------------------------------
def render_dictionary_html(codebook: Codebook) -> str:
    """The printable data dictionary as one self-contained HTML page (inline CSS, no external
    resources), every codebook text escaped.

    >>> html = render_dictionary_html(load_codebook())
    >>> "age_at_screening" in html
    True
    """
    template = _environment().get_template("dictionary.html.j2")
    return template.render(**_context(codebook))


def dictionary_sheets(codebook: Codebook) -> dict[str, list[list[Cell]]]:
    """The codebook as workbook sheets (header row first): Elements, Options, Forms and one
    crosswalk sheet per CTDC generation; `write_xlsx` makes the text cells formula-safe.

    >>> dictionary_sheets(load_codebook())["Elements"][0][:3]
    ['code', 'section', 'type']
    """
    return {
        "Elements": _elements_sheet(codebook),
        "Options": _options_sheet(codebook),
        "Forms": _forms_sheet(codebook),
        "Crosswalk CTDC gen-1": _coverage_sheet(codebook, 1),
        "Crosswalk CTDC gen-2": _coverage_sheet(codebook, 2),
    }


def write_dictionary(codebook: Codebook, out: Path) -> list[Path]:
    """Write `index.html` and `tipdata-codebook.xlsx` into `out` (created if missing).

    >>> write_dictionary(load_codebook(), Path("docs/codebook"))
    [PosixPath('docs/codebook/index.html'), PosixPath('docs/codebook/tipdata-codebook.xlsx')]
    """
    out.mkdir(parents=True, exist_ok=True)
    html_path, xlsx_path = out / HTML_NAME, out / XLSX_NAME
    html_path.write_text(render_dictionary_html(codebook), encoding="utf-8")
    xlsx_path.write_bytes(write_xlsx(dictionary_sheets(codebook), column_widths=_XLSX_WIDTHS))
    return [html_path, xlsx_path]


# --- HTML --------------------------------------------------------------------------------------
def _environment() -> Environment:
    environment = template_environment()
    environment.filters["breakable"] = breakable
    return environment


_BREAK_POINTS = re.compile(r"(?<=[_./])(?=\w)")


def breakable(value: object) -> Markup:
    """Escaped text with line-break opportunities after `_`, `.` and `/`, so long codes such as
    `case_incoming_referral_details` wrap between words instead of mid-word.

    >>> breakable("case_incoming_referral")
    Markup('case_<wbr>incoming_<wbr>referral')
    """
    return Markup(_BREAK_POINTS.sub("<wbr>", str(escape(str(value)))))


def _context(cb: Codebook) -> dict[str, object]:
    sections = _sections(cb)
    coverage = translation_coverage(cb)
    by_level = Counter(e.level for e in cb.elements.values())
    by_sensitivity = Counter(e.sensitivity for e in cb.elements.values())
    return {
        "cb": cb,
        "languages": [(lang, cb.language_name(lang)) for lang in cb.languages],
        "sections": sections,
        "levels": [(name, text, by_level.get(name, 0)) for name, text in cb.levels.items()],
        "sensitivities": [(name, text, by_sensitivity.get(name, 0))
                          for name, text in cb.sensitivity_classes.items()],
        "sensitivity_colours": {name: SENSITIVITY_COLOURS.get(name, _FALLBACK_COLOURS)
                                for name in sorted({*cb.sensitivity_classes, *by_sensitivity})},
        "coverage": [(lang, cb.language_name(lang), c) for lang, c in coverage.items()],
        "option_lists": [_option_list_view(cb, ol) for ol in cb.option_lists.values()],
        "forms": [_form_view(cb, f.id) for f in cb.forms.values()],
        "ctdc": [
            CoverageView("CTDC generation-1 coverage", "ctdc-gen1", STANDARDS["ctdc_gen1"],
                         tuple(ctdc_coverage(cb, 1))),
            CoverageView("CTDC generation-2 coverage", "ctdc-gen2", STANDARDS["ctdc_gen2"],
                         tuple(ctdc_coverage(cb, 2))),
        ],
        "htcds": htcds_coverage(cb),
        "standards": STANDARDS,
    }


def _sections(cb: Codebook) -> list[SectionView]:
    grouped: dict[str, list[ElementView]] = {}
    for element in cb.elements.values():
        grouped.setdefault(element.section or "elements", []).append(_element_view(cb, element))
    return [SectionView(name, f"section-{name}", tuple(views)) for name, views in grouped.items()]


def _element_view(cb: Codebook, element: Element) -> ElementView:
    logic: list[LogicLine] = []
    if element.required is True:
        logic.append(LogicLine("required", "always", is_expression=False))
    elif isinstance(element.required, str):
        logic.append(LogicLine("required if", element.required))
    if element.relevant:
        logic.append(LogicLine("relevant", element.relevant))
    if element.constraint:
        logic.append(LogicLine("constraint", element.constraint))
    if element.constraint_message:
        logic.append(LogicLine("message", element.constraint_message, is_expression=False))
    if element.calculation:
        logic.append(LogicLine("calculation", element.calculation))
    if element.default:
        logic.append(LogicLine("default", element.default, is_expression=False))
    return ElementView(
        element=element,
        labels=tuple(Text(lang, _element_label(cb, lang, element)) for lang in cb.languages),
        logic=tuple(logic),
        crosswalk=tuple(_crosswalk_lines(cb, element)),
        forms=cb.forms_using(element.code),
    )


def _element_label(cb: Codebook, lang: str, element: Element) -> str | None:
    if lang == cb.source_language:
        return element.label
    texts = cb.translations[lang].elements.get(element.code)
    return texts.label if texts else None


def _crosswalk_lines(cb: Codebook, element: Element) -> Iterator[CrosswalkLine]:
    titles = {"iccs": ICCS_CODES, "icd10cm": ICD10CM_CODES}
    own = element_standards(element)
    for standard, codes in own.items():
        named = titles.get(standard, {})
        yield CrosswalkLine(STANDARD_LABELS[standard], codes, tuple(named.get(c) for c in codes))
    for generation in _GENERATIONS:
        listed = own.get(f"ctdc_gen{generation}", ())
        flags = tuple(c for c in flag_columns_via_options(cb, element, generation)
                      if c not in listed)
        if flags:
            yield CrosswalkLine(f"{STANDARD_LABELS[f'ctdc_gen{generation}']} via options", flags,
                                (None,) * len(flags))


def _option_list_view(cb: Codebook, option_list: OptionList) -> OptionListView:
    used_by = tuple(e.code for e in cb.elements.values() if e.options == option_list.name)
    anchor = f"list-{option_list.name}"
    if option_list.generated:
        source = _GENERATED_SOURCES.get(option_list.generated, option_list.generated)
        carried = dict.fromkeys(s for o in option_list.options for s in standards_codes(o))
        names = [STANDARD_LABELS[s] for s in carried]
        also = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        note = (f"Generated list: {len(option_list.options)} {source}, taken from the ISO data "
                "that pycountry ships; names in other languages come from the iso-codes "
                "translation catalogues. Codes are the two-letter ISO codes"
                + (f"; each option also carries its code in {also}." if also else "."))
        return OptionListView(option_list, anchor, used_by, note, ())
    rows = tuple(
        OptionRow(
            code=option.code,
            labels=tuple(Text(lang, _option_label(cb, lang, option_list, option.code))
                         for lang in cb.languages),
            standards=tuple((STANDARD_LABELS[s], c) for s, c in standards_codes(option).items()),
        )
        for option in option_list.options
    )
    return OptionListView(option_list, anchor, used_by, None, rows)


def _option_label(cb: Codebook, lang: str, option_list: OptionList, code: str) -> str | None:
    option = option_list.option(code)
    source = option.label if option else code
    if lang == cb.source_language:
        return source
    if option_list.generated:
        return generated_option_label(option_list.generated, lang, source)
    return cb.translations[lang].options.get(option_list.name, {}).get(code)


def _form_view(cb: Codebook, form_id: str) -> FormView:
    form = cb.forms[form_id]
    titles = tuple(Text(lang, _form_title(cb, lang, form_id)) for lang in cb.languages)
    return FormView(form.id, f"form-{form.id}", titles, form.description, form.level,
                    tuple(_form_items(cb, form.items)))


def _form_title(cb: Codebook, lang: str, form_id: str) -> str | None:
    if lang == cb.source_language:
        return cb.forms[form_id].title
    texts = cb.translations[lang].forms.get(form_id)
    return texts.title if texts else None


def _form_items(cb: Codebook, items: tuple[FormItem, ...]) -> Iterator[FormItemView]:
    """Depth first in form order, numbered from 1, with each item's depth and enclosing group."""
    counter = 0

    def visit(items: tuple[FormItem, ...], depth: int, group: str | None) -> Iterator[FormItemView]:
        nonlocal counter
        for item in items:
            counter += 1
            if isinstance(item, FormElement):
                element = cb.elements.get(item.element)
                yield FormItemView(
                    counter, depth, item.kind, item.name, element.label if element else None,
                    item.element, group, item.fixed, item.relevant,
                    element is not None and element.is_calculated)
            else:
                yield FormItemView(counter, depth, item.kind, item.name, item.label, None, group,
                                   None, item.relevant, False)
            if isinstance(item, FormGroup):
                yield from visit(item.items, depth + 1, item.name)

    yield from visit(items, 0, None)


# --- XLSX --------------------------------------------------------------------------------------
_XLSX_WIDTHS = {"A": 30, "B": 18, "C": 16, "D": 22}


def _elements_sheet(cb: Codebook) -> list[list[Cell]]:
    header: list[Cell] = [
        "code", "section", "type", "options", "level", "sensitivity", "consent", "required",
        *(f"label ({lang})" for lang in cb.languages),
        "hint", "description", "relevant", "constraint", "constraint message", "calculation",
        "default", "htcds", "ctdc_gen1", "ctdc_gen2", "iccs", "icd10cm", "crosswalk note", "forms",
    ]
    rows: list[list[Cell]] = [header]
    for el in cb.elements.values():
        required = el.required if isinstance(el.required, str) else ("yes" if el.required else "no")
        rows.append([
            el.code, el.section, el.type, el.options, el.level, el.sensitivity,
            _joined(el.consent), required,
            *(_element_label(cb, lang, el) for lang in cb.languages),
            el.hint, el.description, el.relevant, el.constraint, el.constraint_message,
            el.calculation, el.default, el.crosswalk.htcds, _joined(el.crosswalk.ctdc_gen1),
            _joined(el.crosswalk.ctdc_gen2), _joined(el.crosswalk.iccs),
            _joined(el.crosswalk.icd10cm), el.crosswalk.note, _joined(cb.forms_using(el.code)),
        ])
    return rows


def _options_sheet(cb: Codebook) -> list[list[Cell]]:
    header: list[Cell] = ["list", "code", *(f"label ({lang})" for lang in cb.languages),
                          *OPTION_STANDARDS, "generated"]
    rows: list[list[Cell]] = [header]
    for option_list in cb.option_lists.values():
        for option in option_list.options:
            codes = standards_codes(option)
            rows.append([
                option_list.name, option.code,
                *(_option_label(cb, lang, option_list, option.code) for lang in cb.languages),
                *(codes.get(s) for s in OPTION_STANDARDS), option_list.generated,
            ])
    return rows


def _forms_sheet(cb: Codebook) -> list[list[Cell]]:
    rows: list[list[Cell]] = [["form", "order", "item", "kind", "element", "group", "label",
                               "fixed", "relevant"]]
    for form in cb.forms.values():
        for item in _form_items(cb, form.items):
            rows.append([form.id, item.order, item.name, item.kind, item.element, item.group,
                         item.label, item.fixed, item.relevant])
    return rows


def _joined(values: Iterable[str]) -> str | None:
    """Several codes in one cell; None (an empty cell) rather than an empty string."""
    return "; ".join(values) or None


def _coverage_sheet(cb: Codebook, generation: Generation) -> list[list[Cell]]:
    rows: list[list[Cell]] = [["order", "column", "status", "elements", "options",
                               "derived by"]]
    for order, column in enumerate(ctdc_coverage(cb, generation), start=1):
        rows.append([
            order, column.column, "gap" if column.is_gap else "covered",
            _joined(column.elements), _joined(o.ref for o in column.options),
            _joined(column.derived_by),
        ])
    return rows
