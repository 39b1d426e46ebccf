"""`tipdata frappe push|pull` against the casework double: counts out, values never shown."""

from __future__ import annotations

import json
import stat

import pytest
from typer.testing import CliRunner

from tests.frappe.conftest import KEY, SECRET, client_for, intake_record, referral_record
from tipdata.erpnext_casework import cli
from tipdata.erpnext_casework.cli import frappe_app

runner = CliRunner()


@pytest.fixture
def env(casework_site, monkeypatch):
    monkeypatch.setenv("TIPDATA_FRAPPE_URL", casework_site.base_url)
    monkeypatch.setenv("TIPDATA_FRAPPE_API_KEY", KEY)
    monkeypatch.setenv("TIPDATA_FRAPPE_API_SECRET", SECRET)
    monkeypatch.delenv("TIPDATA_FRAPPE_TIME_ZONE", raising=False)
    return casework_site


def write_records(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_push__saves_good_records_and_quarantines_the_rest(env, tmp_path):
    """should save valid records, quarantine a broken line and an invalid record, and exit 1"""
    bad_option = intake_record(3, case_status="frozen")
    records = write_records(tmp_path / "batch.jsonl", [
        json.dumps(intake_record(1).to_json()), "{not json",
        json.dumps(bad_option.to_json()), json.dumps(referral_record(1, "TIP-2026-0001").to_json()),
    ])
    result = runner.invoke(frappe_app, ["push", "--records", str(records)])
    assert result.exit_code == 1
    assert "Created 2, updated 0, unchanged 0, quarantined 2 record(s)" in result.stdout
    assert "Amina" not in result.output and "TIP-2026" not in result.output
    kept = [json.loads(line) for line in (tmp_path / "batch.quarantine.jsonl").read_text().splitlines()]
    assert sorted((k["reason"], k["source_id"]) for k in kept) == [
        ("RC202", "intake-3"), ("RC206", "line 2")]
    assert stat.S_IMODE((tmp_path / "batch.quarantine.jsonl").stat().st_mode) == 0o600
    assert env.count("TIP Case") == 1 and env.count("TIP Referral") == 1


def test_push__dry_run_json_summary_writes_nothing(env, tmp_path):
    """should print what would happen as JSON and leave the site untouched"""
    records = write_records(tmp_path / "r.jsonl", [json.dumps(intake_record(1).to_json())])
    result = runner.invoke(frappe_app, ["push", "--records", str(records), "--dry-run", "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert (summary["created"], summary["dry_run"], summary["quarantined"]) == (1, True, 0)
    assert env.count("TIP Case") == 0


def test_pull__writes_changed_records_as_json_lines(env, tmp_path):
    """should write one canonical record per line, owner-only, and exit 0"""
    records = write_records(tmp_path / "r.jsonl", [json.dumps(intake_record(n).to_json())
                                                   for n in (1, 2)])
    assert runner.invoke(frappe_app, ["push", "--records", str(records)]).exit_code == 0
    out = tmp_path / "pulled.jsonl"
    result = runner.invoke(frappe_app, ["pull", "--since", "2000-01-01T00:00:00Z", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["envelope"]["record_id"] for r in lines) == sorted(
        intake_record(n).record_id for n in (1, 2))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "Amina" not in result.output


def test_pull__since_without_a_zone_is_a_usage_error(env, tmp_path):
    """should refuse a --since that has no time zone (exit 2)"""
    result = runner.invoke(frappe_app, ["pull", "--since", "2026-01-01T00:00:00",
                                        "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "no time zone" in result.output


def test_push__missing_site_setting_is_a_usage_error(tmp_path, monkeypatch):
    """should name the variable to set when the site is not configured (exit 2)"""
    for name in ("TIPDATA_FRAPPE_URL", "TIPDATA_FRAPPE_API_KEY", "TIPDATA_FRAPPE_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    records = write_records(tmp_path / "r.jsonl", [json.dumps(intake_record(1).to_json())])
    result = runner.invoke(frappe_app, ["push", "--records", str(records)])
    assert result.exit_code == 2 and "TIPDATA_FRAPPE_URL" in result.output


def test_push__site_down_exits_1_and_says_nothing_is_lost(env, tmp_path, monkeypatch):
    """should report a failed request with its fix and exit 1, without a traceback"""
    monkeypatch.setattr(cli, "_connect", lambda url, key: client_for(env))  # no real backoff
    env.fail_next(20, 503)
    records = write_records(tmp_path / "r.jsonl", [json.dumps(intake_record(1).to_json())])
    result = runner.invoke(frappe_app, ["push", "--records", str(records)])
    assert result.exit_code == 1 and "HTTP 503" in result.output
    assert "Traceback" not in result.output and "Nothing is lost" in result.output
