"""The XLSForm builder: codebook form → survey/choices/settings that pyxform and ODK accept."""

from __future__ import annotations

import shutil

import pytest
from pyxform.xls2xform import convert

from tipdata.build import BuildOptions, build_artifacts
from tipdata.codebook import load_codebook
from tipdata.kobo_forms.xlsform import build_xlsform
from tipdata.spreadsheet import read_xlsx, write_xlsx

JAVA = shutil.which("java")


def rows_by_name(xlsform):
    header = xlsform.survey[0]
    rows = {}
    for row in xlsform.survey[1:]:
        rows.setdefault(row[1], dict(zip(header, row, strict=True)))  # begin_group before end_group
    return rows


def to_xform(xlsform, validate=False):
    data = write_xlsx(xlsform.sheets(), escape_formulas=False)
    return convert(data, validate=validate).xform


def test_build_xlsform__renders_types_logic_and_languages(mini_codebook):
    """should render questions, groups, notes, calculations and per-language labels"""
    codebook = load_codebook(mini_codebook())
    xlsform = build_xlsform(codebook, "mini_form")
    rows = rows_by_name(xlsform)
    assert rows["person_sex"]["type"] == "select_one sex"
    assert rows["person_sex"]["required"] == "yes"
    assert rows["person_sex"]["label::Français (fr)"] == "Sexe"
    assert rows["person_age"]["constraint"] == ". >= 0 and . <= 120"
    assert rows["person_age"]["constraint_message::English (en)"] == "Age between 0 and 120."
    assert rows["scr_forced"]["relevant"] == "${person_age} >= 0"
    assert rows["scr_is_child"]["type"] == "calculate"
    assert "${person_age} < 18" in rows["scr_is_child"]["calculation"]
    assert rows["grp_main"]["type"] == "begin_group"
    assert rows["note_done"]["label::Français (fr)"] == "Fini"
    assert [r[:2] for r in xlsform.choices[1:]] == [
        ["sex", "female"], ["sex", "male"], ["yes_no", "yes"], ["yes_no", "no"]]


def test_build_xlsform__settings_carry_id_version_language(mini_codebook):
    """should derive the version from the codebook version and set the default language"""
    xlsform = build_xlsform(load_codebook(mini_codebook()), "mini_form")
    settings = dict(zip(*xlsform.settings, strict=True))
    assert settings["form_id"] == "mini_form"
    assert settings["version"].startswith("1.2.3.")
    assert settings["default_language"] == "English (en)"


def test_build_xlsform__version_changes_with_content(mini_codebook):
    """should change the form version when its wording changes, so devices fetch the new form"""
    before = build_xlsform(load_codebook(mini_codebook()), "mini_form").version
    edited = mini_codebook(edit={"elements/person.yaml": ("label: Age", "label: Age (years)")})
    assert build_xlsform(load_codebook(edited), "mini_form").version != before


def test_build_xlsform__encryption_settings_reach_the_xform(mini_codebook):
    """should put public_key and submission_url in settings and base64RsaPublicKey in the XForm"""
    from tipdata.kobo_forms.xlsform import Encryption

    key = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "A" * 20
    xlsform = build_xlsform(load_codebook(mini_codebook()), "mini_form",
                            Encryption(key, "https://kc.example.org/submission"))
    settings = dict(zip(*xlsform.settings, strict=True))
    assert settings["public_key"] == key
    xform = to_xform(xlsform)
    assert f'base64RsaPublicKey="{key}"' in xform
    assert 'action="https://kc.example.org/submission"' in xform


def test_build_artifacts__written_xlsx_reads_back(mini_codebook):
    """should write an .xlsx whose sheets read back as the built rows"""
    codebook = load_codebook(mini_codebook())
    [artifact] = build_artifacts(codebook, BuildOptions(), targets=["xlsforms"])
    sheets = read_xlsx(artifact.content)
    xlsform = build_xlsform(codebook, "mini_form")
    assert sheets["survey"][0] == xlsform.survey[0]
    assert [r[1] for r in sheets["survey"][1:]] == [r[1] for r in xlsform.survey[1:]]


@pytest.mark.engine
@pytest.mark.parametrize("form_id", sorted(load_codebook().forms))
def test_repository_forms__pass_pyxform_and_odk_validate(form_id):
    """should convert every shipped form with pyxform and pass ODK Validate (JavaRosa)"""
    if JAVA is None:
        pytest.fail("java is required for ODK Validate; run scripts/setup-engines")
    xform = to_xform(build_xlsform(load_codebook(), form_id), validate=True)
    assert f'id="{form_id}"' in xform
    for lang in ("English (en)", "Français (fr)", "Español (es)"):
        assert f'<translation lang="{lang}"' in xform


def test_screening_forms__ask_consent_first_and_never_immigration_status():
    """should put consent before any sensitive question and ask nothing restricted in screening"""
    codebook = load_codebook()
    screening = [f for f in codebook.forms.values() if f.level == "screening"]
    assert {f.id for f in screening} >= {"tip_screening_adult", "tip_screening_child"}
    for form in screening:
        codes = list(form.element_codes())
        classes = [codebook.elements[c].sensitivity for c in codes]
        assert "restricted" not in classes, form.id
        assert not any("immigration" in c for c in codes), form.id
        first_sensitive = classes.index("sensitive")
        assert codes.index("consent_screening") < first_sensitive, form.id
