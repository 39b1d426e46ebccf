"""`tipdata kobo pull` against the Kobo double: JSON-lines output, exit codes, nothing leaked."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.progress import Progress, TaskID
from typer.testing import CliRunner

from tests.kobo.kobo_connector_fixtures import (
    SCREENING,
    add_screenings,
    encrypted_xlsform,
    screening_answers,
    submit_encrypted,
)
from tipdata.kobo_forms import pull_cmd
from tipdata.kobo_forms.cli import kobo_app
from tipdata.kobo_forms.form_assets import FormAsset, FormAssetRegistry
from tipdata.records import record_from_json

pytest_plugins = ("tests.kobo.kobo_connector_fixtures",)

SECRET_ANSWER = "SECRET-MARKER-ANSWER"


@pytest.fixture
def pull_args(kobo, screening_asset, monkeypatch, tmp_path) -> list[str]:
    monkeypatch.setenv("TIPDATA_KOBO_URL", kobo.base_url)
    monkeypatch.setenv("TIPDATA_KOBO_TOKEN", kobo.token)
    registry = FormAssetRegistry(tmp_path / "registry.json")
    registry.put(kobo.base_url, SCREENING, FormAsset(screening_asset))
    registry.save()
    return [
        "pull",
        SCREENING,
        "--out",
        str(tmp_path / "out"),
        "--state",
        str(tmp_path / "state.json"),
        "--registry",
        str(tmp_path / "registry.json"),
    ]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_pull_command__writes_records_as_json_lines(
    kobo, screening_asset, pull_args, codebook, tmp_path
):
    """should append one canonical record per line, readable back with record_from_json"""
    ids = add_screenings(kobo, screening_asset, 30)
    result = CliRunner().invoke(kobo_app, pull_args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / f"{SCREENING}.jsonl"
    records = [record_from_json(codebook, line) for line in lines(out)]
    assert [int(r.envelope.source_id) for r in records] == ids
    assert records[0].values["age_at_screening"] == 20
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert "30 record(s)" in result.stdout
    again = CliRunner().invoke(kobo_app, [*pull_args, "--no-reconcile"])
    assert again.exit_code == 0 and len(lines(out)) == 30  # nothing new, nothing repeated


def test_pull_command__quarantine_file_and_exit_1(kobo, screening_asset, pull_args, tmp_path):
    """should write unfit submissions to <form>.quarantine.jsonl, name the reason, exit 1"""
    add_screenings(kobo, screening_asset, 2)
    bad = kobo.add_submission(screening_asset, screening_answers(scr_safe_now=SECRET_ANSWER))
    result = CliRunner().invoke(kobo_app, [*pull_args, "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)["forms"][0]
    assert (summary["records"], summary["quarantined"], summary["reasons"]) == (2, 1, {"RC202": 1})
    [quarantined] = lines(tmp_path / "out" / f"{SCREENING}.quarantine.jsonl")
    assert quarantined["source_id"] == str(bad) and quarantined["reason"] == "RC202"
    assert quarantined["payload"]["grp_safety/scr_safe_now"] == SECRET_ANSWER
    assert SECRET_ANSWER not in result.output


def test_pull_command__edits_and_deletions(kobo, screening_asset, pull_args, tmp_path):
    """should append the edited record again and list deleted record ids with --reconcile"""
    ids = add_screenings(kobo, screening_asset, 3)
    CliRunner().invoke(kobo_app, pull_args)
    kobo.edit_submission(screening_asset, ids[0], {"grp_safety": {"age_at_screening": 70}})
    kobo.delete_submission(screening_asset, ids[2])
    result = CliRunner().invoke(kobo_app, [*pull_args, "--reconcile", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["forms"][0]
    assert (summary["edited"], summary["deleted"]) == (1, 1)
    records = lines(tmp_path / "out" / f"{SCREENING}.jsonl")
    latest = {r["envelope"]["record_id"]: r for r in records}
    assert len(records) == 4 and len(latest) == 3
    assert records[-1]["values"]["age_at_screening"] == 70
    [deleted] = lines(tmp_path / "out" / f"{SCREENING}.deleted.jsonl")
    assert deleted["record_id"] in latest


def test_pull_command__form_not_deployed(kobo, monkeypatch, tmp_path):
    """should name a form that has no asset on the server and exit 1"""
    monkeypatch.setenv("TIPDATA_KOBO_URL", kobo.base_url)
    monkeypatch.setenv("TIPDATA_KOBO_TOKEN", kobo.token)
    result = CliRunner().invoke(
        kobo_app,
        [
            "pull",
            "tip_referral",
            "--out",
            str(tmp_path / "o"),
            "--state",
            str(tmp_path / "s.json"),
            "--registry",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 1 and "tip_referral: not deployed" in result.output


def test_pull_command__server_failure_exits_1_and_resumes(
    kobo, screening_asset, pull_args, tmp_path
):
    """should exit 1 with the failing request explained, and finish on the next run"""
    ids = add_screenings(kobo, screening_asset, 5)
    kobo.faults.fail_next(30, 500, path_contains="/data/")
    failed = CliRunner().invoke(kobo_app, pull_args)
    assert failed.exit_code == 1 and "HTTP 500" in failed.output
    kobo.faults.clear()
    assert CliRunner().invoke(kobo_app, pull_args).exit_code == 0
    records = lines(tmp_path / "out" / f"{SCREENING}.jsonl")
    assert [int(r["envelope"]["source_id"]) for r in records] == ids


def test_pull_command__private_key_option(kobo, codebook, private_key, monkeypatch, tmp_path):
    """should decrypt with --key (an unprotected PEM needs no passphrase)"""
    uid = kobo.create_form(encrypted_xlsform(codebook, private_key), name="e.xlsx")
    sid = submit_encrypted(kobo, uid, private_key, screening_answers())
    key_path = tmp_path / "key.pem"
    key_path.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("TIPDATA_KOBO_URL", kobo.base_url)
    monkeypatch.setenv("TIPDATA_KOBO_TOKEN", kobo.token)
    result = CliRunner().invoke(
        kobo_app,
        [
            "pull",
            SCREENING,
            "--key",
            str(key_path),
            "--out",
            str(tmp_path / "out"),
            "--state",
            str(tmp_path / "s.json"),
            "--registry",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    [record] = lines(tmp_path / "out" / f"{SCREENING}.jsonl")
    assert record["envelope"]["source_id"] == str(sid)


class FinishedTasks(Progress):
    """The command's own progress display, also remembering each task as it was when removed."""

    finished: list[tuple[str, float, float | None]] = []

    def remove_task(self, task_id: TaskID) -> None:
        task = self._tasks[task_id]
        FinishedTasks.finished.append((task.description, task.completed, task.total))
        super().remove_task(task_id)


def test_pull_command__progress_counts_every_submission_of_a_long_pull(
    kobo, screening_asset, pull_args, monkeypatch
):
    """should keep a bar per form whose total is the server's count and which reaches it"""
    add_screenings(kobo, screening_asset, 2500)  # three pages of at most 1,000
    screen = io.StringIO()
    drawn = pull_cmd._progress()
    FinishedTasks.finished = []
    monkeypatch.setattr(
        pull_cmd,
        "_progress",
        lambda: FinishedTasks(
            *drawn.columns, console=Console(file=screen, force_terminal=True, width=120)
        ),
    )
    result = CliRunner().invoke(kobo_app, [*pull_args, "--no-reconcile"])
    assert result.exit_code == 0, result.output
    assert FinishedTasks.finished == [(SCREENING, 2500, 2500)]


def test_pull_command__default_state_takes_over_the_old_json_file(
    kobo, screening_asset, pull_args, monkeypatch, tmp_path
):
    """should import the old default JSON state into the SQLite default once, saying so, and
    pull only what is new"""
    monkeypatch.chdir(tmp_path)
    at = pull_args.index("--state")
    old_default = [*pull_args[: at + 1], ".tipdata/kobo-pull-state.json", *pull_args[at + 2 :]]
    default = [*pull_args[:at], *pull_args[at + 2 :]]
    first = add_screenings(kobo, screening_asset, 4)
    assert CliRunner().invoke(kobo_app, old_default).exit_code == 0  # what tipdata did before
    later = add_screenings(kobo, screening_asset, 2)

    upgraded = CliRunner().invoke(kobo_app, [*default, "--no-reconcile"])
    assert upgraded.exit_code == 0, upgraded.output
    said = [line for line in upgraded.output.splitlines() if "Imported" in line]
    assert said == [
        "Imported the pull state of 1 form(s) (4 seen submission(s)) from "
        ".tipdata/kobo-pull-state.json into .tipdata/kobo-pull-state.sqlite; the JSON "
        "file is no longer read."
    ]
    records = lines(tmp_path / "out" / f"{SCREENING}.jsonl")
    assert [int(r["envelope"]["source_id"]) for r in records] == first + later
    state_file = tmp_path / ".tipdata" / "kobo-pull-state.sqlite"
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"

    again = CliRunner().invoke(kobo_app, [*default, "--reconcile"])
    assert again.exit_code == 0 and "Imported" not in again.output
    assert len(lines(tmp_path / "out" / f"{SCREENING}.jsonl")) == 6  # revisions came along
