"""`tipdata dhis2 install|push|pull` through typer's CliRunner against the double."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.dhis2.connector_support import build_package, intake, make_record, referral
from tests.doubles.dhis2 import Dhis2Double
from tipdata.codebook import load_codebook
from tipdata.dhis2_app import cli
from tipdata.dhis2_app.cli import dhis2_app


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(params=["2.40", "2.42"])
def double(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, codebook) -> Iterator[Dhis2Double]:
    monkeypatch.setattr(cli, "load_codebook", lambda path: codebook)  # loaded once per module
    with Dhis2Double(request.param) as running:
        monkeypatch.setenv("TIPDATA_DHIS2_URL", running.base_url)
        monkeypatch.setenv("TIPDATA_DHIS2_TOKEN", running.token)
        monkeypatch.delenv("TIPDATA_DHIS2_TOKEN_FILE", raising=False)
        monkeypatch.delenv("TIPDATA_DHIS2_ORG_UNIT", raising=False)
        yield running


@pytest.fixture
def package_file(tmp_path: Path, codebook) -> Path:
    path = tmp_path / "package.json"
    path.write_text(json.dumps(build_package(codebook)))
    return path


def run(*args: str):
    return CliRunner().invoke(dhis2_app, list(args))


def write_records(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    return path


def test_cli_install__imports_and_exits_0(double, package_file):
    """should validate and import the package and report it"""
    result = run("install", "--metadata", str(package_file))
    assert result.exit_code == 0, result.output
    assert "imported" in result.stdout and double.metadata_of("programs")


def test_cli_install__validation_errors_exit_1_with_each_object(double, package_file, codebook):
    """should list object, property and DHIS2 code and exit 1 when validation fails"""
    package = build_package(codebook)
    package["dataElements"][0]["code"] = "x" * 60
    package_file.write_text(json.dumps(package))
    result = run("install", "--metadata", str(package_file), "--json")
    body = json.loads(result.stdout)
    assert result.exit_code == 1
    assert body["phase"] == "validate"
    assert [(p["object_type"], p["property"], p["code"]) for p in body["problems"]] == [
        ("DataElement", "code", "E4001")]
    assert double.metadata_of("dataElements") == {}


def test_cli_push__pushes_and_never_prints_values(double, package_file, tmp_path):
    """should push the records file, print counts only and exit 0"""
    run("install", "--metadata", str(package_file))
    records = write_records(tmp_path / "records.jsonl", [intake("P-1", "TIP-1"), referral("TIP-1")])
    result = run("push", "--records", str(records), "--metadata", str(package_file))
    assert result.exit_code == 0, result.output
    assert "2 of 2 records pushed" in result.stdout
    assert "P-1" not in result.output and "Never Sent" not in result.output
    assert double.counts()["events"] == 3


def test_cli_push__quarantine_file_is_private_and_exit_is_1(double, package_file, tmp_path):
    """should append rejected records to an owner-only quarantine file and exit 1"""
    run("install", "--metadata", str(package_file))
    bad = intake("P-2", "TIP-2", person_sex="bogus")
    records = write_records(tmp_path / "records.jsonl", [intake("P-1", "TIP-1"), bad])
    (tmp_path / "records.jsonl").open("a").write("{not json\n")
    result = run("push", "--records", str(records), "--metadata", str(package_file), "--json")
    summary = json.loads(result.stdout)
    quarantine = tmp_path / "records.dhis2-quarantine.jsonl"
    lines = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert result.exit_code == 1
    assert (summary["pushed"], summary["quarantined"], summary["unreadable_lines"]) == (1, 1, [3])
    assert summary["dhis2_codes"]["E1125"] == 1
    assert [line["record_id"] for line in lines] == [bad.record_id] and lines[0]["reason"] == "DH400"
    assert stat.S_IMODE(quarantine.stat().st_mode) == 0o600


def test_cli_pull__writes_records_and_the_next_watermark(double, package_file, tmp_path):
    """should append pulled records as JSON lines and print the next --since"""
    run("install", "--metadata", str(package_file))
    run("push", "--records", str(write_records(tmp_path / "in.jsonl", [intake("P-1", "TIP-1")])),
        "--metadata", str(package_file))
    out = tmp_path / "pulled.jsonl"
    result = run("pull", "--since", "2000-01-01T00:00:00Z", "--out", str(out), "--metadata", str(package_file))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.exit_code == 0, result.output
    assert len(lines) == 2 and {line["values"]["person_pseudo_id"] for line in lines} == {"P-1"}
    assert "next --since" in result.stdout and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_cli__missing_token_is_a_usage_error(double, package_file, monkeypatch):
    """should exit 2 naming the variable when no token is configured"""
    monkeypatch.delenv("TIPDATA_DHIS2_TOKEN")
    result = run("install", "--metadata", str(package_file))
    assert result.exit_code == 2 and "TIPDATA_DHIS2_TOKEN" in result.output


def test_cli_push__record_without_keys_exits_1(double, package_file, tmp_path):
    """should quarantine a record DHIS2 cannot file (DH401) and exit 1"""
    run("install", "--metadata", str(package_file))
    records = write_records(tmp_path / "r.jsonl", [make_record({"person_sex": "female"},
                                                               form_id="tip_referral")])
    result = run("push", "--records", str(records), "--metadata", str(package_file))
    assert result.exit_code == 1 and "DH401" in result.output
