"""The operations commands: init, sync (--dry-run), status, quarantine list|show|retry, audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.sync.conftest import (
    FRAPPE_KEY,
    FRAPPE_SECRET,
    INTAKE,
    NAME,
    ORG_UNIT,
    Platforms,
    kobo_path,
)
from tipdata.cli.audit_cmd import audit_command
from tipdata.cli.init_cmd import example_config, init_command
from tipdata.cli.quarantine_cmd import quarantine_app
from tipdata.cli.status_cmd import status_command
from tipdata.cli.sync_cmd import sync_command
from tipdata.crypto.at_rest import DataKey

CASE = "TIP Case"


def make_app() -> typer.Typer:
    """The commands as the lead registers them in tipdata.cli.main."""
    app = typer.Typer()
    app.command("init")(init_command)
    app.command("sync")(sync_command)
    app.command("status")(status_command)
    app.command("audit")(audit_command)
    app.add_typer(quarantine_app, name="quarantine")
    return app


@pytest.fixture
def cli(platforms: Platforms, database: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run a command against a tipdata.toml naming the doubles; secrets in the environment."""
    schema = f'schema = "{database["schema"]}"\n' if database["schema"] else ""
    config = tmp_path / "tipdata.toml"
    config.write_text(f"""
[ledger]
url = "{database['url']}"
{schema}
[kobo]
url = "{platforms.kobo.base_url}"
state = "state/kobo.json"
reconcile = "always"
retries = 1
[kobo.forms]
{INTAKE} = "{platforms.asset_uid}"

[frappe]
url = "{platforms.frappe.base_url}"
retries = 1

[dhis2]
url = "{platforms.dhis2.base_url}"
org_unit = "{ORG_UNIT}"
retries = 1
""", encoding="utf-8")
    for name, value in {"TIPDATA_KOBO_TOKEN": platforms.kobo.token,
                        "TIPDATA_FRAPPE_API_KEY": FRAPPE_KEY, "TIPDATA_FRAPPE_API_SECRET": FRAPPE_SECRET,
                        "TIPDATA_DHIS2_TOKEN": platforms.dhis2.token,
                        "TIPDATA_LEDGER_KEY": DataKey.generate().to_base64()}.items():
        monkeypatch.setenv(name, value)
    for name in ("TIPDATA_LEDGER_URL", "TIPDATA_CONFIG", "TIPDATA_KOBO_URL", "TIPDATA_FRAPPE_URL",
                 "TIPDATA_DHIS2_URL", "TIPDATA_DHIS2_ORG_UNIT"):
        monkeypatch.delenv(name, raising=False)
    app, runner = make_app(), CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, [*args, "--config", str(config)] if args[0] != "init" else list(args))

    return run


def test_init__writes_the_example_and_keeps_an_existing_file(tmp_path: Path):
    """should write the commented example once, and replace it only with --force"""
    runner, app = CliRunner(), make_app()
    target = tmp_path / "tipdata.toml"
    assert runner.invoke(app, ["init", str(target)]).exit_code == 0
    assert target.read_text(encoding="utf-8") == example_config()
    target.write_text("# mine\n", encoding="utf-8")
    refused = runner.invoke(app, ["init", str(target)])
    assert refused.exit_code == 1 and target.read_text(encoding="utf-8") == "# mine\n"
    assert runner.invoke(app, ["init", str(target), "--force"]).exit_code == 0
    assert "TIPDATA_KOBO_TOKEN" in target.read_text(encoding="utf-8")


def test_sync__dry_run_then_apply_then_status_and_audit(cli, platforms: Platforms):
    """should print a plan that writes nothing, apply it, then report watermarks, runs and the audit trail"""
    platforms.add_intake(1)
    platforms.add_intake(2, "none")
    dry = cli("sync", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] and plan["targets"]["frappe"]["new"] == 1
    assert plan["targets"]["dhis2"]["withheld_reasons"] == {"consent_missing": 1}
    assert platforms.frappe.count(CASE) == 0

    applied = cli("sync")
    assert applied.exit_code == 0, applied.output
    assert "frappe" in applied.stdout and "dhis2" in applied.stdout
    assert NAME not in applied.output
    assert platforms.frappe.count(CASE) == 1

    status = json.loads(cli("status", "--json").stdout)
    assert status["records"] == 2
    [mark] = [m for m in status["watermarks"] if m["source"].startswith("kobo:")]
    assert mark["position"] == f"#{platforms.submissions[2]}"
    assert [r["status"] for r in status["runs"]] == ["succeeded"]
    assert status["targets"]["frappe"] == {"pending": 0, "current": 1}

    record_id = platforms.record_id(1)
    audit = json.loads(cli("audit", "--record", record_id, "--json").stdout)
    assert {(a["action"], a["target"]) for a in audit} >= {("pull", None), ("push", "frappe"),
                                                             ("push", "dhis2")}
    assert all(record_id in a["record_ids"] for a in audit)
    pushes = json.loads(cli("audit", "--target", "dhis2", "--action", "withhold", "--json").stdout)
    assert [a["record_ids"] for a in pushes] == [[platforms.record_id(2)]]
    assert json.loads(cli("audit", "--since", "2999-01-01", "--json").stdout) == []


def test_quarantine__list_show_and_retry(cli, platforms: Platforms):
    """should list a refused record without contents, show why, and send it on retry"""
    refusing = {"on": True}
    platforms.frappe.add_rule(CASE, lambda doc: "Supervisor approval missing" if refusing["on"] else None)
    platforms.add_intake(1)
    synced = cli("sync")
    assert synced.exit_code == 1  # a record was quarantined
    listed = json.loads(cli("quarantine", "list", "--json").stdout)
    assert [(e["source"], e["reason"]) for e in listed] == [("push:frappe", "FR400")]
    table = cli("quarantine", "list")
    assert "FR400" in table.stdout and NAME not in table.stdout
    shown = cli("quarantine", "show", str(listed[0]["id"]))
    assert "Supervisor approval missing" in shown.stdout and NAME not in shown.stdout
    assert NAME in cli("quarantine", "show", str(listed[0]["id"]), "--payload").stdout
    status = json.loads(cli("status", "--json").stdout)
    assert status["quarantine"] == [{"source": "push:frappe", "reason": "FR400",
                                     "name": "frappe-rejected", "count": 1}]
    refusing["on"] = False
    retried = cli("quarantine", "retry", "--all")
    assert retried.exit_code == 0, retried.output
    assert platforms.frappe.count(CASE) == 1
    assert json.loads(cli("quarantine", "list", "--json").stdout) == []
    resolved = json.loads(cli("audit", "--action", "resolve", "--json").stdout)
    assert [(a["source"], a["record_ids"]) for a in resolved] == [("push:frappe", [platforms.record_id(1)])]
    assert json.loads(cli("audit", "--action", "conflict", "--json").stdout) == []  # not a conflict


def test_audit__shows_conflicts_with_the_stream_overridden_and_the_owner(cli, platforms: Platforms):
    """should list a conflict (both platforms changed a value) as a `conflict` entry: stream, owner, elements overridden"""
    submission = platforms.add_intake(1)
    assert cli("sync").exit_code == 0
    record_id = platforms.record_id(1)
    platforms.frappe.edit(CASE, record_id, case_risk_level="high")
    platforms.kobo.edit_submission(platforms.asset_uid, submission,
                                   {kobo_path("case_risk_level"): "low", kobo_path("case_status"): "follow_up"})
    assert cli("sync").exit_code == 0
    [entry] = json.loads(cli("audit", "--action", "conflict", "--json").stdout)
    assert (entry["source"], entry["target"], entry["record_ids"], entry["withheld_count"]) == \
        (f"kobo:{platforms.asset_uid}", "frappe", [record_id], 2)
    table = cli("audit", "--action", "conflict", "--record", record_id)
    assert table.exit_code == 0 and "Audit log (1 entries)" in table.stdout
    refused = cli("audit", "--action", "conflicts")
    assert refused.exit_code == 2 and "conflict" in refused.output


def test_sync__prints_retractions_and_what_to_delete(cli, platforms: Platforms):
    """should show a record retracted after consent was withdrawn, tell what to delete, and audit it"""
    platforms.add_intake(1)
    assert cli("sync").exit_code == 0
    record_id = platforms.record_id(1)
    platforms.clients()["frappe"].update(CASE, record_id, {
        "consent_withdrawn": "yes", "consent_withdrawn_purposes": [{"option": "data_recording"}],
        "consent_withdrawn_date": "2026-02-20"}, modified=None)
    plan = json.loads(cli("sync", "--dry-run", "--json").stdout)
    assert plan["targets"]["frappe"]["retracted_reasons"] == {"delete_on_platform": 1}
    applied = cli("sync")
    assert applied.exit_code == 0, applied.output
    assert "delete them on frappe" in applied.output and NAME not in applied.output
    [entry] = json.loads(cli("audit", "--action", "retract", "--target", "frappe", "--json").stdout)
    assert (entry["record_ids"], entry["consent_purposes"]) == ([record_id], [])
    again = json.loads(cli("sync", "--json").stdout)
    assert again["targets"]["frappe"]["retracted"] == 0 and again["targets"]["frappe"]["to_delete"] == []


def test_sync__invalid_configuration_exits_1_naming_file_and_line(tmp_path: Path):
    """should print every configuration problem with its line and do nothing"""
    config = tmp_path / "tipdata.toml"
    config.write_text("[kobo]\nurl = \"https://kf.kobotoolbox.org\"\ntoken = \"abc\"\n", encoding="utf-8")
    result = CliRunner().invoke(make_app(), ["sync", "--config", str(config)])
    assert result.exit_code == 1
    assert f"{config}:3" in result.output and "SY703" in result.output and "abc" not in result.output
