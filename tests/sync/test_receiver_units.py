"""The receiver's parts on their own: placing a delivery, the secret, the sync trigger, the CLI."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from tests.sync.conftest import INTAKE, NAME, PHONE, intake_values, kobo_answers
from tipdata.cli.main import app
from tipdata.crypto.at_rest import DataKey
from tipdata.problems import CATALOGUE
from tipdata.sync.receiver import (
    Delivery,
    ReceiverSecretError,
    Rejection,
    SharedSecret,
    SyncTrigger,
    load_receiver_secret,
    read_delivery,
)
from tipdata.sync.receiver.intake import RECEIVER_SOURCE, body_digest

ASSET = "aJ7sd2kqWcH5YbVfXe8mLp"
FORMS = {ASSET: INTAKE}
SECRET = "0123456789abcdef-test-only"


def body(**row: object) -> bytes:
    return json.dumps({"_xform_id_string": ASSET, **row}).encode()


# --- placing a delivery -------------------------------------------------------------------------


@pytest.mark.parametrize("submission_id, expected", [(16, 16), ("16", 16), (2 ** 40, 2 ** 40), ("016", 16),
                                                     ("9" * 18, 10 ** 18 - 1)])
def test_read_delivery__places_a_submission_by_asset_and_id(submission_id, expected):
    """should name the form by the asset uid and the submission by `_id` (number or digits)"""
    placed = read_delivery(body(_id=submission_id), FORMS)
    assert isinstance(placed, Delivery)
    assert (placed.form_id, placed.submission_id, placed.source, placed.encrypted) == \
        (INTAKE, expected, f"kobo:{ASSET}", False)


def test_read_delivery__flags_an_encrypted_manifest():
    """should recognise the flattened ODK manifest Kobo delivers for an encrypted form"""
    placed = read_delivery(body(_id=57, base64EncryptedKey="AAAA", encryptedXmlFile="submission.xml.enc"),
                           FORMS)
    assert isinstance(placed, Delivery) and placed.encrypted


@pytest.mark.parametrize("raw", [
    b"", b"nope", b"\xff\xfe", b"[1, 2]", b'"text"', b"null", b'{"_id": NaN}', b'{"_id": 1e999}',
    b"[" * 100_000,
])
def test_read_delivery__rejects_what_is_not_one_json_object(raw: bytes):
    """should reject bodies that are not one finite JSON object (SY720), keyed by their digest"""
    placed = read_delivery(raw, FORMS)
    assert isinstance(placed, Rejection)
    assert (placed.reason, placed.source, placed.source_id, placed.raw) == \
        ("SY720", RECEIVER_SOURCE, body_digest(raw), raw)


@pytest.mark.parametrize("submission_id", [None, True, 0, -3, 1.5, "²", "١٢٣", "16a", "", " 16", "+16",
                                           "0", "0" * 19 + "16", "9" * 19, "9" * 5000, 10 ** 18,
                                           10 ** 30, [16]])
def test_read_delivery__rejects_a_delivery_without_an_integer_id(submission_id):
    """should quarantine a delivery without a usable `_id` as KB302 under its asset"""
    raw = body(_id=submission_id)
    placed = read_delivery(raw, FORMS)
    assert isinstance(placed, Rejection)
    assert (placed.reason, placed.source, placed.source_id) == ("KB302", f"kobo:{ASSET}", body_digest(raw))


def test_read_delivery__rejects_an_unknown_form_keeping_its_id():
    """should reject a form not under [kobo.forms] (SY721) under its own asset and `_id`"""
    placed = read_delivery(body(_id=5), {})
    assert isinstance(placed, Rejection)
    assert (placed.reason, placed.source, placed.source_id) == ("SY721", f"kobo:{ASSET}", "5")
    assert placed.record_id is not None


def test_read_delivery__rejects_a_too_large_body_keeping_its_start():
    """should reject a body over the limit (SY720) and keep only its first `max_bytes`"""
    raw = body(_id=5, padding="x" * 500)
    placed = read_delivery(raw, FORMS, max_bytes=100)
    assert isinstance(placed, Rejection) and placed.reason == "SY720"
    assert placed.raw == raw[:100]
    assert isinstance(read_delivery(raw[:101], FORMS, max_bytes=100, truncated=True), Rejection)


def test_receiver_codes__are_in_the_catalogue():
    """should give every reason the receiver uses a catalogue name and fix"""
    assert all(code in CATALOGUE for code in ("SY720", "SY721", "SY722", "KB302"))


# --- the secret ---------------------------------------------------------------------------------


def test_load_receiver_secret__from_the_environment_or_a_file(tmp_path: Path):
    """should read the secret from TIPDATA_RECEIVER_SECRET, its _FILE, or TIPDATA_HOOK_SECRET"""
    file = tmp_path / "secret"
    file.write_text(SECRET + "\n", encoding="utf-8")
    for environ in ({"TIPDATA_RECEIVER_SECRET": SECRET}, {"TIPDATA_RECEIVER_SECRET_FILE": str(file)},
                    {"TIPDATA_HOOK_SECRET": SECRET},
                    {"TIPDATA_RECEIVER_SECRET": SECRET, "TIPDATA_HOOK_SECRET": SECRET}):
        assert load_receiver_secret(environ).matches(SECRET.encode())


@pytest.mark.parametrize("environ, says", [
    ({}, "no receiver secret"),
    ({"TIPDATA_RECEIVER_SECRET": SECRET, "TIPDATA_HOOK_SECRET": SECRET + "2"}, "different secrets"),
    ({"TIPDATA_RECEIVER_SECRET": "short"}, "shorter than 16"),
    ({"TIPDATA_RECEIVER_SECRET": "naïve-secret-0123456789"}, "printable ASCII"),
    ({"TIPDATA_RECEIVER_SECRET_FILE": "/nonexistent/secret"}, "cannot read"),
])
def test_load_receiver_secret__refuses_a_missing_or_unusable_secret(environ, says):
    """should refuse to produce a secret the server could not use safely"""
    with pytest.raises(ReceiverSecretError, match=says) as raised:
        load_receiver_secret(environ)
    assert SECRET not in str(raised.value)


def test_shared_secret__matches_only_the_exact_bytes_and_never_shows_them():
    """should accept exactly the secret and keep it out of its repr"""
    secret = SharedSecret(SECRET)
    assert secret.matches(SECRET.encode())
    assert not any(secret.matches(other) for other in (None, b"", SECRET.encode()[:-1],
                                                      SECRET.encode() + b"x", SECRET.upper().encode()))
    assert SECRET not in repr(secret)


def test_serve_command__refuses_to_start_without_a_secret(tmp_path: Path, monkeypatch):
    """should exit 1 naming the variables when no secret is set, before opening anything"""
    monkeypatch.chdir(tmp_path)
    for name in ("TIPDATA_RECEIVER_SECRET", "TIPDATA_RECEIVER_SECRET_FILE", "TIPDATA_HOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["serve", "--config", str(tmp_path / "missing.toml")])
    assert result.exit_code == 1
    assert "TIPDATA_RECEIVER_SECRET" in result.output
    assert not (tmp_path / "tipdata-ledger.sqlite").exists()


# --- the sync trigger ---------------------------------------------------------------------------


def test_sync_trigger__requests_during_a_run_cause_exactly_one_more_run():
    """should run once at a time, and once more after a run during which deliveries arrived"""
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def run() -> None:
        runs.append(len(runs))
        started.set()
        release.wait(30)

    trigger = SyncTrigger(run, debounce=0)
    try:
        trigger.request()
        assert started.wait(30)
        for _ in range(5):
            trigger.request()
        release.set()
        assert trigger.wait_idle(30)
        assert runs == [0, 1]
        assert (trigger.requested, trigger.completed) == (6, 2)
    finally:
        trigger.close()


def test_sync_trigger__a_failed_run_is_logged_by_type_and_tried_again(caplog: pytest.LogCaptureFixture):
    """should log a failed run by exception type only, then run again after `retry_after`"""
    outcomes = iter([RuntimeError("quotes Amina Testname"), None])

    def run() -> None:
        failure = next(outcomes)
        if failure is not None:
            raise failure

    trigger = SyncTrigger(run, debounce=0, retry_after=0)
    try:
        trigger.request()
        assert trigger.wait_idle(30)
        assert (trigger.requested, trigger.failed, trigger.completed) == (1, 1, 1)
    finally:
        trigger.close()
    assert "RuntimeError" in caplog.text and "Amina" not in caplog.text


class _Busy(Exception):
    """Stands for RunLockBusy: another run holds the lock."""


def test_sync_trigger__a_busy_lock_defers_the_run_without_an_error(caplog: pytest.LogCaptureFixture):
    """should re-schedule a run that met a busy lock (no error, one INFO line per streak), and run it once the lock is free"""
    attempts: list[int] = []
    requests_during_busy = threading.Event()

    def run() -> None:
        attempts.append(len(attempts))
        if len(attempts) <= 3:
            requests_during_busy.set()
            raise _Busy()

    caplog.set_level(logging.DEBUG, logger="tipdata.serve")
    trigger = SyncTrigger(run, debounce=0, busy=(_Busy,), busy_retry=0.05, retry_after=0.2)
    try:
        trigger.request()
        assert requests_during_busy.wait(30)
        for _ in range(20):  # deliveries while the lock is busy: no extra attempts
            trigger.request()
        assert trigger.wait_idle(30)
        assert (trigger.deferred, trigger.failed, trigger.completed) == (3, 0, 1)
        assert len(attempts) == 4
    finally:
        trigger.close()
    records = [r for r in caplog.records if r.name == "tipdata.serve"]
    assert not [r for r in records if r.levelno >= logging.WARNING]
    assert [r.levelno for r in records].count(logging.INFO) == 2  # deferred, then ran


def test_sync_trigger__busy_waits_grow_up_to_retry_after():
    """should double the wait between attempts while the lock stays busy, capped at retry_after"""
    times: list[float] = []

    def run() -> None:
        times.append(time.monotonic())
        if len(times) <= 4:
            raise _Busy()

    trigger = SyncTrigger(run, debounce=0, busy=(_Busy,), busy_retry=0.05, retry_after=0.15)
    try:
        trigger.request()
        assert trigger.wait_idle(30)
    finally:
        trigger.close()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) == 4
    assert 0.04 <= gaps[0] < gaps[1] and gaps[1] >= 0.09 and all(g < 0.15 + 0.5 for g in gaps)
    assert gaps[3] >= 0.14  # capped at retry_after, not 0.4


def test_sync_trigger__idle_without_requests():
    """should be idle (nothing wanted, nothing running) before any delivery"""
    calls: list[int] = []
    trigger = SyncTrigger(lambda: calls.append(1), debounce=0)
    try:
        assert trigger.wait_idle(0)
        assert calls == []
    finally:
        trigger.close()


def test_serve_command__serves_until_interrupted_and_logs_no_contents(tmp_path: Path):
    """should run `tipdata serve`, store a delivery, stop cleanly on SIGINT, and log no answers"""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "tipdata.toml"
    config.write_text(f'[ledger]\nurl = "ledger.sqlite"\n[kobo]\nurl = "http://127.0.0.1:9"\n'
                      f'[kobo.forms]\n{INTAKE} = "{ASSET}"\n', encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TIPDATA_")}
    environ.update(TIPDATA_RECEIVER_SECRET=SECRET, TIPDATA_LEDGER_KEY=DataKey.generate().to_base64())
    server = subprocess.Popen(
        [sys.executable, "-m", "tipdata.cli.main", "serve", "--port", str(port), "--config",
         str(config), "--no-sync"], env=environ, cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "tipdata serve did not start"
            time.sleep(0.1)
        row = {**kobo_answers(ASSET, intake_values(1)), "_id": 3, "_xform_id_string": ASSET,
               "_submission_time": "2026-02-10T09:30:00"}
        answer = requests.post(base + "/kobo/hook", json=row,
                               headers={"X-Tipdata-Hook-Secret": SECRET}, timeout=30)
        assert (answer.status_code, answer.json()["status"]) == (200, "stored")
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err.decode(errors="replace")
    logged = out + err
    assert b"/kobo/hook" in out and b"stored" in err
    assert NAME.encode() not in logged and PHONE.encode() not in logged
