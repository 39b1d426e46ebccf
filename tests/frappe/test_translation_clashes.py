"""Option codes that two option lists in one DocType word differently get a per-field context.

The desk translates a Select option with the DocType as context unless the field has its own
(`df.context`); one row per (code, DocType) cannot hold two labels, so the generator adds rows
under `<DocType>.<fieldname>` for every Select that holds a clashing code.
"""

from __future__ import annotations

import pytest

from tipdata.codebook import load_codebook
from tipdata.erpnext_casework.doctypes import CASE, build_doctypes
from tipdata.erpnext_casework.translations import (
    field_context,
    option_label_clashes,
    translation_rows,
)


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(scope="module")
def built(codebook):
    return build_doctypes(codebook)


def _selects_by_doctype(codebook, built):
    for code, doctype in built.placement.items():
        element = codebook.elements[code]
        if element.type == "select_one" and element.options:
            yield doctype, code, element.options


def _desk_label(rows, doctype, fieldname, code):
    """What `__(code, null, df.context || doctype)` finds, with df.context set as select_labels.js does."""
    messages = {f"{source}:{context}": label for source, label, context in rows}
    field_keys = {key for key in messages if key.endswith(":" + field_context(doctype, fieldname))}
    context = field_context(doctype, fieldname) if field_keys else doctype
    return messages.get(f"{code}:{context}")


def test_option_label_clashes__finds_codes_worded_twice_in_one_doctype(codebook, built):
    """should report TIP Case's `unknown` (age band vs care status) and `no` (yes/no vs language)."""
    clashes = option_label_clashes(codebook, built)
    assert {"age_band", "care_status"} <= clashes[(CASE, "unknown")]
    assert {"yes_no", "language"} <= clashes[(CASE, "no")]
    assert (CASE, "age_0_8") not in clashes


def test_translation_rows__every_select_option_shows_its_own_list_label(codebook, built):
    """should give every option of every Select its own list's label in every language, clash or not."""
    wrong = []
    for lang in codebook.languages:
        rows = translation_rows(codebook, built, lang)
        for doctype, fieldname, list_name in _selects_by_doctype(codebook, built):
            for option in codebook.option_lists[list_name].options:
                expected = codebook.option_text(lang, list_name, option.code)
                if _desk_label(rows, doctype, fieldname, option.code) != expected:
                    wrong.append((lang, doctype, fieldname, option.code))
    assert wrong == []


def test_translation_rows__doctype_context_alone_shows_a_wrong_label(codebook, built):
    """should show that without field rows a clashing field gets another list's label (the check can fail)."""
    rows = [row for row in translation_rows(codebook, built, "en") if "." not in row[2]]
    age_band = codebook.option_text("en", "age_band", "unknown")
    care = codebook.option_text("en", "care_status", "unknown")
    labels = {
        _desk_label(rows, CASE, "person_age_band", "unknown"),
        _desk_label(rows, CASE, "person_care_status", "unknown"),
    }
    assert labels != {age_band, care}
    assert len(labels) == 1


def test_translation_rows__field_rows_only_for_clashing_fields(codebook, built):
    """should leave every Select without a clashing code on the DocType context (no per-field rows)."""
    contexts = {row[2] for row in translation_rows(codebook, built, "fr")}
    clashes = option_label_clashes(codebook, built)
    plain = [
        (doctype, fieldname)
        for doctype, fieldname, list_name in _selects_by_doctype(codebook, built)
        if not any((doctype, o.code) in clashes for o in codebook.option_lists[list_name].options)
    ]
    assert plain
    assert field_context(CASE, "person_age_band") in contexts
    assert [field for field in plain if field_context(*field) in contexts] == []
