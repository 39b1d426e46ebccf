"""Frappe translation files (`tip_casework/translations/<lang>.csv`) from the codebook.

Select fields store option codes, and the desk shows `__(code, null, doctype)`
(`frappe.ui.form.add_options`), so each code gets a row `code,label,<DocType>` in every
language, English included. Field labels and hints get rows `English,translation,<DocType>`
(the desk and `_()` try `text:context` first). Rows are sorted, so the files are byte-stable.

Clashes: the desk's default context is the DocType, not the field. When two option lists used
in one DocType give one code different labels (the language list's `no` is Norwegian, the yes/no
list's is No; `unknown` is "Not known" or "Age not known"), one row per DocType cannot hold both:
that row keeps the label of the list most fields use, and every Select field whose options hold a
clashing code also gets rows `code,label,<DocType>.<fieldname>` for all its options. The desk's
Select control translates with `df.context || df.parent || doctype` (Frappe 15,
`controls/select.js`), so `public/js/select_labels.js` sets `df.context` to `<DocType>.<fieldname>`
on exactly the fields that have such rows. `option_label_clashes` lists the clashes.

Example row: ``confirmed,Victime confirmée,TIP Case``.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

from tipdata.model import Codebook

from .doctypes import CASE, DocTypeSet, field_label

Row = tuple[str, str, str]


def _option_rows(codebook: Codebook, doctype_set: DocTypeSet, lang: str) -> list[Row]:
    """(code, label, DocType) for every Select of every generated DocType."""
    votes: dict[tuple[str, str], Counter[str]] = {}
    for code, doctype in doctype_set.placement.items():
        element = codebook.elements[code]
        if element.type != "select_one" or not element.options:
            continue
        for option in codebook.option_lists[element.options].options:
            label = codebook.option_text(lang, element.options, option.code)
            votes.setdefault((doctype, option.code), Counter())[label] += 1
    for list_name, child in doctype_set.option_doctypes.items():
        for option in codebook.option_lists[list_name].options:
            votes.setdefault((child, option.code), Counter())[
                codebook.option_text(lang, list_name, option.code)
            ] += 1
    if "trafficking_status" in codebook.option_lists and "case_status" in codebook.option_lists:
        # tip_status on TIP Case: the decision codes, plus 'closed' worded as the case status
        votes.setdefault((CASE, "closed"), Counter())[
            codebook.option_text(lang, "case_status", "closed")
        ] += 1
    rows = []
    for (doctype, code), counter in votes.items():
        label = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[0][0]
        rows.append((code, label, doctype))
    return rows


def option_label_clashes(
    codebook: Codebook, doctype_set: DocTypeSet
) -> dict[tuple[str, str], set[str]]:
    """(DocType, code) -> option lists in that DocType that word the code differently in some language.

    Only Selects placed on a DocType count: option child tables hold one list each.
    """
    lists_by_code: dict[tuple[str, str], set[str]] = {}
    for code, doctype in doctype_set.placement.items():
        element = codebook.elements[code]
        if element.type == "select_one" and element.options:
            for option in codebook.option_lists[element.options].options:
                lists_by_code.setdefault((doctype, option.code), set()).add(element.options)
    clashes = {}
    for key, lists in lists_by_code.items():
        for lang in codebook.languages:
            if len({codebook.option_text(lang, name, key[1]) for name in lists}) > 1:
                clashes[key] = lists
                break
    return clashes


def field_context(doctype: str, fieldname: str) -> str:
    """The translation context of one Select field, as `select_labels.js` builds it."""
    return f"{doctype}.{fieldname}"


def _field_option_rows(codebook: Codebook, doctype_set: DocTypeSet, lang: str) -> list[Row]:
    """(code, label, DocType.field) for every option of each Select holding a clashing code."""
    clashing = option_label_clashes(codebook, doctype_set)
    rows = []
    for code, doctype in doctype_set.placement.items():
        element = codebook.elements[code]
        if element.type != "select_one" or not element.options:
            continue
        options = codebook.option_lists[element.options].options
        if any((doctype, option.code) in clashing for option in options):
            context = field_context(doctype, code)
            rows += [
                (o.code, codebook.option_text(lang, element.options, o.code), context)
                for o in options
            ]
    return rows


def _text_rows(codebook: Codebook, doctype_set: DocTypeSet, lang: str) -> list[Row]:
    rows = []
    for code, doctype in doctype_set.placement.items():
        element = codebook.elements[code]
        for part in ("label", "hint"):
            source = getattr(element, part)
            translated = codebook.element_text(lang, code, part)
            if source and translated and translated != source:
                rows.append(
                    (field_label(source) if part == "label" else source, translated, doctype)
                )
    return rows


def translation_rows(codebook: Codebook, doctype_set: DocTypeSet, lang: str) -> list[Row]:
    """Every row of `<lang>.csv`, sorted; English has only the option rows."""
    rows = set(_option_rows(codebook, doctype_set, lang)) | set(
        _field_option_rows(codebook, doctype_set, lang)
    )
    if lang != codebook.source_language:
        rows |= set(_text_rows(codebook, doctype_set, lang))
    return sorted(rows, key=lambda row: (row[2], row[0], row[1]))


def dump_translations(rows: list[Row]) -> bytes:
    """CSV as Frappe reads it (`frappe.translate.read_csv_file`: csv.reader, UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8")


def translation_files(codebook: Codebook, doctype_set: DocTypeSet) -> dict[str, Any]:
    """Language code -> CSV bytes, for the source language and every translation."""
    return {
        lang: dump_translations(translation_rows(codebook, doctype_set, lang))
        for lang in codebook.languages
    }
