"""Codebook form → XLSForm (survey, choices, settings), the format KoboToolbox and ODK upload.

The builder is pure: it returns the sheets as rows; writing the .xlsx is `tipdata.spreadsheet`.
Every language of the codebook becomes a `label::<Name> (<code>)` column, so one file serves
English, French and Spanish enumerators, switched on the device.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from tipdata.logic import Symbol, calculation_to_xpath, parse, to_xpath
from tipdata.model import (
    SELECT_TYPES,
    Codebook,
    Element,
    Form,
    FormElement,
    FormGroup,
    FormItem,
    FormNote,
)
from tipdata.validation import symbols_of

_XLSFORM_TYPES = {
    "text": "text",
    "integer": "integer",
    "decimal": "decimal",
    "date": "date",
    "datetime": "dateTime",
    "geopoint": "geopoint",
}
BOOLEAN_LIST = "tipdata_boolean"


@dataclass(frozen=True)
class Encryption:
    """Settings that make every submission encrypted on the device before it is sent."""

    public_key: str  # base64 DER SubjectPublicKeyInfo, one line
    submission_url: str


@dataclass(frozen=True)
class XlsForm:
    form_id: str
    version: str
    survey: list[list[str]]
    choices: list[list[str]]
    settings: list[list[str]]
    warnings: list[str] = field(default_factory=list)

    def sheets(self) -> dict[str, list[list[str]]]:
        return {"survey": self.survey, "choices": self.choices, "settings": self.settings}


def language_column(codebook: Codebook, lang: str) -> str:
    """pyxform's language naming: `English (en)`."""
    return f"{codebook.language_name(lang)} ({lang})"


class _Survey:
    """Accumulates survey rows with one column per (text kind, language)."""

    def __init__(self, codebook: Codebook) -> None:
        self.cb = codebook
        self.langs = codebook.languages
        self.columns = (
            ["type", "name"]
            + [f"label::{language_column(codebook, lang)}" for lang in self.langs]
            + [f"hint::{language_column(codebook, lang)}" for lang in self.langs]
            + ["required", "relevant", "constraint"]
            + [f"constraint_message::{language_column(codebook, lang)}" for lang in self.langs]
            + ["calculation", "default", "appearance"]
        )
        self.rows: list[list[str]] = [self.columns]

    def add(self, **cells: str | dict[str, str | None] | None) -> None:
        row = []
        for column in self.columns:
            base, _, lang_col = column.partition("::")
            value = cells.get(base)
            if isinstance(value, dict):
                lang = lang_col.rsplit("(", 1)[-1].rstrip(")")
                value = value.get(lang)
            row.append(value or "")
        self.rows.append(row)


def build_xlsform(
    codebook: Codebook, form_id: str, encryption: Encryption | None = None
) -> XlsForm:
    """Compile one codebook form into XLSForm sheets.

    >>> xf = build_xlsform(load_codebook(), "tip_screening_adult")
    >>> xf.settings[1][1]
    'tip_screening_adult'
    """
    form = codebook.forms[form_id]
    symbols = symbols_of(codebook)
    survey = _Survey(codebook)
    survey.add(type="start", name="start")
    survey.add(type="end", name="end")
    lists_used: list[str] = []
    _add_items(codebook, form, form.items, survey, symbols, lists_used)
    choices = _choices(codebook, lists_used)
    settings_header = ["form_title", "form_id", "version", "default_language", "style"]
    settings_row = [
        form.title,
        form.id,
        "",
        language_column(codebook, codebook.source_language),
        form.style or "",
    ]
    if encryption is not None:
        settings_header += ["public_key", "submission_url"]
        settings_row += [encryption.public_key, encryption.submission_url]
    version = _version(codebook, survey.rows, choices, settings_header, settings_row)
    settings_row[2] = version
    return XlsForm(form.id, version, survey.rows, choices, [settings_header, settings_row])


def _version(codebook: Codebook, *parts: object) -> str:
    """Codebook version plus a digest of the form's content: a form edit always changes it."""
    digest = hashlib.sha256(
        json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    return f"{codebook.version}.{int(digest[:8], 16) % 10**8:08d}"


def _texts(codebook: Codebook, getter: object) -> dict[str, str | None]:
    return {lang: getter(lang) for lang in codebook.languages}  # type: ignore[operator]


def _combine(*conditions: str | None) -> str | None:
    present = [c for c in conditions if c]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return " and ".join(f"({c})" for c in present)


def _add_items(
    cb: Codebook,
    form: Form,
    items: tuple[FormItem, ...],
    survey: _Survey,
    symbols: dict[str, Symbol],
    lists_used: list[str],
) -> None:
    for item in items:
        relevant = to_xpath(parse(item.relevant), symbols) if item.relevant else None
        if isinstance(item, FormGroup):
            survey.add(
                type="begin_group",
                name=item.name,
                relevant=relevant,
                label=_texts(cb, lambda lang, i=item: cb.form_text(lang, form.id, i.name)),
                appearance=item.appearance or ("field-list" if form.style == "pages" else None),
            )
            _add_items(cb, form, item.items, survey, symbols, lists_used)
            survey.add(type="end_group", name=item.name)
        elif isinstance(item, FormNote):
            survey.add(
                type="note",
                name=item.name,
                relevant=relevant,
                label=_texts(cb, lambda lang, i=item: cb.form_text(lang, form.id, i.name)),
                hint=_texts(cb, lambda lang, i=item: cb.form_text(lang, form.id, i.name, "hint")),
            )
        else:
            _add_element(cb, cb.elements[item.element], item, relevant, survey, symbols, lists_used)


def _add_element(
    cb: Codebook,
    el: Element,
    item: FormElement,
    form_relevant: str | None,
    survey: _Survey,
    symbols: dict[str, Symbol],
    lists_used: list[str],
) -> None:
    relevant = _combine(
        to_xpath(parse(el.relevant), symbols, self_symbol=symbols[el.code]) if el.relevant else None, form_relevant
    )
    if item.fixed is not None or el.is_calculated:
        if item.fixed is not None:
            calculation = _literal(item.fixed)
        else:
            calculation = calculation_to_xpath(
                parse(el.calculation or ""), symbols, symbols[el.code]
            )
        survey.add(type="calculate", name=el.code, calculation=calculation, relevant=relevant)
        return
    if el.type in SELECT_TYPES:
        xls_type = f"{el.type} {el.options}"
        _use(lists_used, el.options or "")
    elif el.type == "boolean":
        xls_type = f"select_one {BOOLEAN_LIST}"
        _use(lists_used, BOOLEAN_LIST)
    else:
        xls_type = _XLSFORM_TYPES[el.type]
    constraints = [to_xpath(parse(el.constraint), symbols, self_symbol=symbols[el.code]) if el.constraint else None]
    if el.max_length and el.type == "text":
        constraints.append(f"string-length(.) <= {el.max_length}")
    required = el.required
    survey.add(
        type=xls_type,
        name=el.code,
        label=_texts(cb, lambda lang: cb.element_text(lang, el.code)),
        hint=_texts(cb, lambda lang: cb.element_text(lang, el.code, "hint")),
        required=("yes" if required else None)
        if isinstance(required, bool)
        else to_xpath(parse(required), symbols, self_symbol=symbols[el.code]),
        relevant=relevant,
        constraint=_combine(*constraints),
        constraint_message=_texts(
            cb, lambda lang: cb.element_text(lang, el.code, "constraint_message")
        )
        if el.constraint
        else None,
        default=el.default,
        appearance=el.appearance,
    )


def _use(lists_used: list[str], name: str) -> None:
    if name not in lists_used:
        lists_used.append(name)


def _literal(value: str) -> str:
    if "'" in value:
        return f'"{value}"'
    return f"'{value}'"


def _choices(cb: Codebook, lists_used: list[str]) -> list[list[str]]:
    from tipdata.codebook import generated_option_label

    header = ["list_name", "name"] + [
        f"label::{language_column(cb, lang)}" for lang in cb.languages
    ]
    rows = [header]
    for name in lists_used:
        if name == BOOLEAN_LIST:
            for code, source in (("true", "yes"), ("false", "no")):
                rows.append(
                    [name, code] + [cb.option_text(lang, "yes_no", source) for lang in cb.languages]
                )
            continue
        option_list = cb.option_lists[name]
        for option in option_list.options:
            labels = []
            for lang in cb.languages:
                if option_list.generated and lang != cb.source_language:
                    override = cb.translations[lang].options.get(name, {}).get(option.code)
                    labels.append(
                        override
                        or generated_option_label(option_list.generated, lang, option.label)
                    )
                else:
                    labels.append(cb.option_text(lang, name, option.code))
            rows.append([name, option.code, *labels])
    return rows
