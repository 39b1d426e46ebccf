"""`tipdata build` writes every artifact deterministically and `--check` catches stale ones."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from tipdata.build import build_artifacts, compare_artifacts, write_artifacts
from tipdata.cli.main import app
from tipdata.codebook import load_codebook

from .conftest import REPO_ROOT

runner = CliRunner()


def test_build__is_byte_for_byte_deterministic(mini_codebook):
    """should produce identical bytes from two builds of the same codebook"""
    codebook = load_codebook(mini_codebook())
    first = build_artifacts(codebook, targets=["xlsforms", "dhis2"])
    second = build_artifacts(load_codebook(mini_codebook()), targets=["xlsforms", "dhis2"])
    assert [(a.path, a.content) for a in first] == [(a.path, a.content) for a in second]
    assert [a.path for a in first] == ["xlsforms/mini_form.xlsx",
                                       "plugins/dhis2_app/metadata/tipdata-dhis2-metadata.json"]


def test_build__repository_codebook_is_byte_for_byte_deterministic():
    """should produce identical bytes for every target from two builds of the real codebook"""
    first = build_artifacts(load_codebook())
    second = build_artifacts(load_codebook())
    assert {a.target for a in first} == {"xlsforms", "dhis2", "frappe"}
    assert [(a.path, a.content) for a in first] == [(a.path, a.content) for a in second]


def test_build__xlsx_carry_no_build_time(mini_codebook):
    """should stamp fixed times into the xlsx so a rebuild later in the day gives the same bytes"""
    import io
    import zipfile

    [artifact] = build_artifacts(load_codebook(mini_codebook()), targets=["xlsforms"])
    archive = zipfile.ZipFile(io.BytesIO(artifact.content))
    core = archive.read("docProps/core.xml").decode()
    assert "<dcterms:modified" in core and "2000-01-01T00:00:00Z</dcterms:modified>" in core
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_check__reports_missing_then_current(mini_codebook, tmp_path):
    """should fail --check before a build and pass after it"""
    root = mini_codebook()
    out = tmp_path / "project"
    args = ["build", "--codebook", str(root), "--out", str(out), "--target", "xlsforms"]
    missing = runner.invoke(app, [*args, "--check"])
    assert missing.exit_code == 1
    assert "xlsforms/mini_form.xlsx: missing" in missing.output
    assert runner.invoke(app, args).exit_code == 0
    current = runner.invoke(app, [*args, "--check"])
    assert current.exit_code == 0, current.output


def test_check__fails_when_codebook_edit_is_not_rebuilt(mini_codebook, tmp_path):
    """should report an artifact as changed after a label edit that was not rebuilt"""
    out = tmp_path / "project"
    root = mini_codebook()
    assert runner.invoke(app, ["build", "--codebook", str(root), "--out", str(out),
                               "--target", "xlsforms"]).exit_code == 0
    edited = mini_codebook(edit={"elements/person.yaml": ("label: Age", "label: Age in years")})
    stale = runner.invoke(app, ["build", "--check", "--codebook", str(edited), "--out", str(out),
                                "--target", "xlsforms"])
    assert stale.exit_code == 1
    assert "xlsforms/mini_form.xlsx: changed" in stale.output


def test_build__removes_artifacts_of_removed_forms(mini_codebook, tmp_path):
    """should treat a leftover XLSForm as stale and remove it on build"""
    codebook = load_codebook(mini_codebook())
    out = tmp_path / "project"
    artifacts = build_artifacts(codebook, targets=["xlsforms"])
    write_artifacts(artifacts, out, ["xlsforms"])
    (out / "xlsforms" / "old_form.xlsx").write_bytes(b"old")
    assert [(d.path, d.state) for d in compare_artifacts(artifacts, out, ["xlsforms"])] == [
        ("xlsforms/old_form.xlsx", "extra")]
    report = write_artifacts(artifacts, out, ["xlsforms"])
    assert report.removed == ["xlsforms/old_form.xlsx"]
    assert report.unchanged == ["xlsforms/mini_form.xlsx"]


def test_build__refuses_invalid_codebook(mini_codebook, tmp_path):
    """should build nothing from a codebook with errors"""
    root = mini_codebook(edit={"elements/person.yaml": ("options: sex", "options: gender")})
    out = tmp_path / "project"
    result = runner.invoke(app, ["build", "--codebook", str(root), "--out", str(out)])
    assert result.exit_code == 1
    assert "CB112" in result.output
    assert not (out / "xlsforms").exists()


def test_build__reports_a_target_that_cannot_render(mini_codebook, tmp_path):
    """should exit 1 with the target's reason, not a traceback, when a target cannot render"""
    result = runner.invoke(app, ["build", "--codebook", str(mini_codebook()),
                                 "--out", str(tmp_path), "--target", "frappe"])
    assert result.exit_code == 1
    assert "target frappe:" in result.output


def test_repository_artifacts__are_current(tmp_path):
    """should find the committed xlsforms/ in step with the packaged codebook"""
    codebook = load_codebook()
    differences = compare_artifacts(build_artifacts(codebook), REPO_ROOT)
    assert differences == [], "run `tipdata build` and commit: " + ", ".join(
        f"{d.path} ({d.state})" for d in differences)


def test_repository_check__fails_after_an_unbuilt_codebook_edit(tmp_path):
    """should make `tipdata build --check` fail on a copy of the repo whose codebook was edited"""
    copy = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "common" / "codebook", copy / "codebook")
    for folder in ("xlsforms", "plugins/dhis2_app/metadata", "plugins/erpnext_casework/app"):
        shutil.copytree(REPO_ROOT / folder, copy / folder)
    path = copy / "codebook" / "elements" / "screening.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("label: How old are you?", "label: What is your age?"), encoding="utf-8")
    result = runner.invoke(app, ["build", "--check", "--codebook", str(copy / "codebook"),
                                 "--out", str(copy)])
    assert result.exit_code == 1
    assert "xlsforms/tip_screening_adult.xlsx: changed" in result.output
    assert "xlsforms/tip_screening_child.xlsx: changed" in result.output
    assert "plugins/dhis2_app/metadata/tipdata-dhis2-metadata.json: changed" in result.output
    assert "plugins/erpnext_casework/app/tip_casework/translations/fr.csv: changed" in result.output
    assert "missing" not in result.output
