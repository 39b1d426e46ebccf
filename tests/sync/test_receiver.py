"""`tipdata serve` end to end: the real app under uvicorn, fed by the Kobo double's REST Service.

Each test runs on a SQLite and a PostgreSQL ledger (`ledger` fixture). Deliveries come from the
Kobo double (`fire_hooks` POSTs them as Kobo does, with the header `tipdata kobo hook`
registered) or are POSTed with `requests`; pushes go to the Frappe and DHIS2 doubles.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from tests.kobo.kobo_connector_fixtures import instance_xml
from tests.ledger.conftest import raw_database_bytes
from tests.sync.conftest import (
    CONSENT_VARIANTS,
    IMMIGRATION,
    INTAKE,
    NAME,
    PHONE,
    Platforms,
    codebook,
    intake_values,
    kobo_answers,
    kobo_path,
)
from tests.sync.test_receiver_support import SECRET, headers, serving
from tipdata.cli.quarantine_cmd import quarantine_app
from tipdata.crypto.at_rest import DataKey
from tipdata.kobo_forms.hooks import HookSpec, ensure_hook
from tipdata.kobo_forms.odk_encryption import encrypt_submission
from tipdata.ledger import Ledger
from tipdata.ledger.errors import LedgerUnavailable
from tipdata.ledger.run_lock import run_lock_for
from tipdata.records import record_id_for
from tipdata.sync.receiver import RECEIVE_PATH, ReceiverService, SharedSecret, open_receiver
from tipdata.sync.session import open_session

CASE = "TIP Case"
PASSPHRASE = "correct horse battery staple (test only)"


@pytest.fixture
def service_for(platforms: Platforms, ledger: Ledger, tmp_path: Path) -> Iterator[Any]:
    """Open the receiver over the doubles and the test's ledger (closed at the end)."""
    opened: list[ReceiverService] = []

    def make(**options: Any) -> ReceiverService:
        options.setdefault("debounce", 0.0)
        service = open_receiver(platforms.config(tmp_path), SharedSecret(SECRET),
                                codebook=codebook(), ledger=ledger,
                                platforms=platforms.clients(), **options)
        opened.append(service)
        return service

    yield make
    for service in opened:
        service.close()


def register_hook(platforms: Platforms, base: str, secret: str = SECRET) -> None:
    """Point the intake form's REST Service at the receiver, as `tipdata kobo hook` does."""
    client = platforms.clients()["kobo"]
    result = ensure_hook(client, INTAKE, platforms.asset_uid, HookSpec(base + RECEIVE_PATH, secret))
    assert result.action == "create"


def submit(platforms: Platforms, n: int, consent: str = "full", **overrides: Any) -> int:
    """A new intake on Kobo; active hooks fire (the delivery happens before this returns)."""
    return platforms.kobo.add_submission(
        platforms.asset_uid, kobo_answers(platforms.asset_uid, intake_values(n, consent, **overrides)))


def submission_row(platforms: Platforms, n: int, submission_id: int) -> dict[str, Any]:
    """The JSON Kobo would deliver for intake `n` under `_id` (without storing it on Kobo)."""
    row = kobo_answers(platforms.asset_uid, intake_values(n))
    row.update({"_id": submission_id, "_xform_id_string": platforms.asset_uid,
                "_uuid": str(uuid.uuid4()), "_submission_time": "2026-02-10T09:30:00",
                "_attachments": []})
    return row


def deliveries(platforms: Platforms) -> list[int | None]:
    return [d.status_code for d in platforms.kobo.hook_deliveries]


def quarantine_rows(ledger: Ledger) -> list[tuple[str, str, str]]:
    return [(e.source, e.source_id, e.reason_code) for e in ledger.quarantined(include_resolved=True)]


# --- the secret ---------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-of-the-same-length-abcdef", SECRET + "x"])
def test_receiver__bad_or_missing_secret_is_401_and_keeps_nothing(service_for, ledger: Ledger,
                                                                   platforms: Platforms, secret):
    """should answer 401 without reading or keeping anything when the secret header is not exact"""
    service = service_for()
    body = json.dumps(submission_row(platforms, 1, 7)).encode()
    with serving(service.app) as base:
        answer = requests.post(base + RECEIVE_PATH, data=body, headers=headers(secret), timeout=10)
    assert answer.status_code == 401
    assert (ledger.count_records(), ledger.quarantined(include_resolved=True)) == (0, [])


def test_receiver__secret_header_given_twice_is_401(service_for, ledger: Ledger, platforms: Platforms):
    """should refuse a request carrying the secret header twice, even if one copy is right"""
    service = service_for()
    body = json.dumps(submission_row(platforms, 1, 7)).encode()
    with serving(service.app) as base:
        parts = urlsplit(base)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.putrequest("POST", RECEIVE_PATH)
        for name, value in [("Content-Type", "application/json"), ("X-Tipdata-Hook-Secret", SECRET),
                            ("X-Tipdata-Hook-Secret", "other"), ("Content-Length", str(len(body)))]:
            connection.putheader(name, value)
        connection.endheaders(body)
        status = connection.getresponse().status
        connection.close()
    assert status == 401
    assert ledger.count_records() == 0


# --- storing deliveries -------------------------------------------------------------------------


def test_receiver__kobo_delivery_becomes_a_ledger_record_with_its_consent(
        service_for, ledger: Ledger, platforms: Platforms):
    """should map a hook delivery with the pull's code and store it with the consent given"""
    service = service_for(sync=False)
    with serving(service.app) as base:
        register_hook(platforms, base)
        submission_id = submit(platforms, 1, "no_law_enforcement")
    assert deliveries(platforms) == [200]
    record = ledger.get_record(record_id_for(f"kobo:{platforms.asset_uid}", str(submission_id)))
    assert record is not None
    wanted = {p for p, answer in CONSENT_VARIANTS["no_law_enforcement"].items() if answer == "yes"}
    assert record.envelope.consent_purposes == frozenset(wanted)
    assert record.values["person_given_names"] == NAME
    assert record.envelope.form_id == INTAKE
    assert ledger.watermark(f"kobo:{platforms.asset_uid}") is None  # the pull still reads earlier ones
    [log] = platforms.kobo.hook_logs(platforms.asset_uid)
    assert (log["status_code"], json.loads(log["message"])["status"]) == (200, "stored")


def test_receiver__duplicate_delivery_stores_one_record_and_says_duplicate(
        service_for, ledger: Ledger, platforms: Platforms):
    """should store a submission Kobo delivers twice once, and answer the second `duplicate`"""
    service = service_for(sync=False)
    body = json.dumps(submission_row(platforms, 1, 41)).encode()
    with serving(service.app) as base:
        register_hook(platforms, base)
        platforms.kobo.faults.duplicate_hook_deliveries(1)
        submit(platforms, 2)
        first = requests.post(base + RECEIVE_PATH, data=body, headers=headers(), timeout=10)
        audit_before = len(ledger.audit_entries())
        again = requests.post(base + RECEIVE_PATH, data=body, headers=headers(), timeout=10)
    assert deliveries(platforms) == [200, 200]
    assert (first.json()["status"], again.status_code, again.json()["status"]) == \
        ("stored", 200, "duplicate")
    assert again.json()["record_id"] == first.json()["record_id"]
    assert ledger.count_records() == 2  # one per _id, whatever the number of deliveries
    assert len(ledger.audit_entries()) == audit_before  # the duplicate wrote nothing
    assert ledger.quarantined(include_resolved=True) == []


def test_receiver__submission_already_pulled_is_a_duplicate(service_for, session_for,
                                                             ledger: Ledger, platforms: Platforms):
    """should treat a delivery of a submission the pull stored first as a duplicate"""
    submission_id = platforms.add_intake(1)
    session_for().engine.run()
    row = platforms.kobo.submission(platforms.asset_uid, submission_id)
    service = service_for(sync=False)
    with serving(service.app) as base:
        answer = requests.post(base + RECEIVE_PATH, json=row, headers=headers(), timeout=10)
    assert (answer.status_code, answer.json()["status"]) == (200, "duplicate")
    assert answer.json()["record_id"] == platforms.record_id(1)


def test_receiver__invalid_submission_is_quarantined_like_the_pull(service_for, ledger: Ledger,
                                                                   platforms: Platforms):
    """should keep a submission that breaks the codebook in quarantine (200, not retried by Kobo)"""
    service = service_for(sync=False)
    row = submission_row(platforms, 1, 9)
    row[kobo_path("person_age_reported")] = "not a number"
    with serving(service.app) as base:
        answer = requests.post(base + RECEIVE_PATH, json=row, headers=headers(), timeout=10)
        again = requests.post(base + RECEIVE_PATH, json=row, headers=headers(), timeout=10)
    assert (answer.status_code, answer.json()["status"], answer.json()["reason"]) == \
        (200, "quarantined", "RC201")
    assert again.json()["status"] == "duplicate"
    assert ledger.count_records() == 0
    [entry] = ledger.quarantined()
    assert (entry.source, entry.source_id, entry.reason_code, entry.retried_count) == \
        (f"kobo:{platforms.asset_uid}", "9", "RC201", 0)
    assert json.loads(ledger.quarantined_contents(entry.id).raw_payload) == row


@pytest.mark.parametrize("case", ["not_json", "not_utf8", "a_list", "no_id", "unknown_form",
                                  "unreadable_asset", "too_large"])
def test_receiver__malformed_body_is_400_and_quarantined_with_its_raw_payload(
        service_for, ledger: Ledger, platforms: Platforms, case: str):
    """should answer 400 to a body that is not a submission of a configured form, and keep it"""
    service = service_for(sync=False)
    good = submission_row(platforms, 1, 12)
    bodies: dict[str, tuple[bytes, str, str]] = {
        "not_json": (b"<data>not json</data>", "SY720", "serve:kobo"),
        "not_utf8": (b"\xff\xfe{\x00", "SY720", "serve:kobo"),
        "a_list": (json.dumps([good]).encode(), "SY720", "serve:kobo"),
        "no_id": (json.dumps({k: v for k, v in good.items() if k != "_id"}).encode(), "KB302",
                  f"kobo:{platforms.asset_uid}"),
        "unknown_form": (json.dumps({**good, "_xform_id_string": "aNotConfigured123"}).encode(),
                         "SY721", "kobo:aNotConfigured123"),
        "unreadable_asset": (json.dumps({**good, "_xform_id_string": "../x y"}).encode(), "SY721",
                             "serve:kobo"),
        "too_large": (json.dumps({**good, "padding": "x" * (service.receiver.max_body_bytes)}).encode(),
                      "SY720", "serve:kobo"),
    }
    body, reason, source = bodies[case]
    with serving(service.app) as base:
        answer = requests.post(base + RECEIVE_PATH, data=body, headers=headers(), timeout=30)
    assert (answer.status_code, answer.json()["status"], answer.json()["reason"]) == \
        (400, "rejected", reason)
    assert ledger.count_records() == 0
    [entry] = ledger.quarantined()
    assert (entry.id, entry.source, entry.reason_code) == (answer.json()["quarantine_id"], source, reason)
    kept = ledger.quarantined_contents(entry.id).raw_payload
    assert kept == body[:service.receiver.max_body_bytes]
    if case == "unknown_form":
        assert entry.source_id == "12"  # retried by _id once the form is configured


def test_receiver__quarantined_payloads_are_sealed_at_rest(service_for, ledger: Ledger,
                                                           platforms: Platforms):
    """should never leave a rejected delivery's contents readable in the database"""
    service = service_for(sync=False)
    row = {**submission_row(platforms, 1, 12), "_xform_id_string": "aNotConfigured123"}
    with serving(service.app) as base:
        assert requests.post(base + RECEIVE_PATH, json=row, headers=headers(), timeout=10).status_code == 400
    stored = raw_database_bytes(ledger)
    assert NAME.encode() not in stored and PHONE.encode() not in stored


def test_receiver__unknown_form_delivered_again_after_configuring_it_is_stored(
        service_for, ledger: Ledger, platforms: Platforms, tmp_path: Path):
    """should place a redelivered `_id` again when it was only rejected for an unknown form"""
    row = submission_row(platforms, 1, 13)
    body = json.dumps(row).encode()
    unconfigured = service_for(sync=False)
    unconfigured.receiver.forms_by_asset.clear()
    with serving(unconfigured.app) as base:
        assert requests.post(base + RECEIVE_PATH, data=body, headers=headers(), timeout=10).status_code == 400
    configured = service_for(sync=False)
    with serving(configured.app) as base:
        answer = requests.post(base + RECEIVE_PATH, data=body, headers=headers(), timeout=10)
    assert answer.json()["status"] == "stored"
    assert ledger.count_records() == 1
    assert [(e.reason_code, e.resolution) for e in ledger.quarantined(include_resolved=True)] == \
        [("SY721", "ingested")]


# --- failures and health ------------------------------------------------------------------------


def test_receiver__internal_failure_is_503_so_kobo_retries(service_for, ledger: Ledger,
                                                           platforms: Platforms, monkeypatch,
                                                           caplog: pytest.LogCaptureFixture):
    """should answer 503 (never 500) when storing fails, log no contents, and store Kobo's retry"""
    service = service_for(sync=False)
    real_ingest = service.receiver.engine.ingest

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"database exploded while holding {NAME}")

    monkeypatch.setattr(service.receiver.engine, "ingest", broken)
    caplog.set_level(logging.DEBUG)
    with serving(service.app) as base:
        register_hook(platforms, base)
        submit(platforms, 1)
        [log] = platforms.kobo.hook_logs(platforms.asset_uid)
        assert (log["status_code"], log["status_str"]) == (503, "pending")
        monkeypatch.setattr(service.receiver.engine, "ingest", real_ingest)
        assert platforms.kobo.run_hook_retries() == 1
    assert deliveries(platforms) == [503, 200]
    assert ledger.count_records() == 1
    assert NAME not in caplog.text and "RuntimeError" in caplog.text


def test_receiver__healthz_needs_no_secret_and_shows_no_data(service_for, platforms: Platforms,
                                                             monkeypatch):
    """should answer GET /healthz with a bare ok, and 503 once the ledger is gone"""
    service = service_for(sync=False)

    def unreachable() -> Any:
        raise LedgerUnavailable("cannot reach the ledger database", "check it runs")

    with serving(service.app) as base:
        answer = requests.get(base + "/healthz", timeout=10)
        assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
        monkeypatch.setattr(service.receiver.ledger, "reading", unreachable)
        down = requests.get(base + "/healthz", timeout=10)
    assert (down.status_code, down.json()["status"]) == (503, "unavailable")
    assert down.headers["Retry-After"] == "60"


# --- sync after deliveries ----------------------------------------------------------------------


def test_receiver__stored_delivery_triggers_a_push_to_the_targets(service_for, ledger: Ledger,
                                                                   platforms: Platforms):
    """should push what a delivery stored to Frappe and DHIS2 in the background"""
    service = service_for()
    with serving(service.app) as base:
        register_hook(platforms, base)
        submit(platforms, 1)
        submit(platforms, 2)
        assert service.trigger is not None and service.trigger.wait_idle(60)
    assert deliveries(platforms) == [200, 200]
    ids = {record_id_for(f"kobo:{platforms.asset_uid}", str(i)) for i in
           platforms.kobo.submission_ids(platforms.asset_uid)}
    assert {doc["name"] for doc in platforms.frappe.docs(CASE)} == ids
    assert all(IMMIGRATION not in json.dumps(doc) for doc in platforms.frappe.docs(CASE))
    assert len(platforms.dhis2.store.enrollments) == 2
    assert service.trigger.failed == 0 and 1 <= service.trigger.completed <= 2


def test_receiver__deliveries_are_stored_while_a_sync_holds_the_lock_and_pushed_after(
        service_for, ledger: Ledger, platforms: Platforms, caplog: pytest.LogCaptureFixture):
    """should answer 200 and store deliveries while another run holds the run lock, defer the push without errors, and push once it is free"""
    service = service_for(lock_wait=0.1, lock_retry=0.2)
    caplog.set_level(logging.INFO, logger="tipdata.serve")
    sync_elsewhere = run_lock_for(ledger, "sync")  # a long `tipdata sync` (another connection / file handle)
    sync_elsewhere.acquire(timeout=5)
    try:
        with serving(service.app) as base:
            register_hook(platforms, base)
            submit(platforms, 1)
            submit(platforms, 2)
            assert deliveries(platforms) == [200, 200]
            assert ledger.count_records() == 2  # stored while the lock is held
            trigger = service.trigger
            assert trigger is not None
            deadline = time.monotonic() + 30
            while trigger.deferred < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert trigger.deferred >= 2 and trigger.failed == 0
            assert platforms.frappe.docs(CASE) == []  # nothing pushed behind the sync's back
            assert not trigger.wait_idle(0)  # the push is still wanted: not lost
            sync_elsewhere.release()
            assert trigger.wait_idle(60)
    finally:
        sync_elsewhere.release()
    assert len(platforms.frappe.docs(CASE)) == 2 and len(platforms.dhis2.store.enrollments) == 2
    assert trigger.completed == 1 and trigger.failed == 0
    assert not [r for r in caplog.records if r.name == "tipdata.serve" and r.levelno >= logging.WARNING]


def test_receiver__no_sync_stores_without_pushing(service_for, ledger: Ledger, platforms: Platforms):
    """should only store deliveries with sync off (a later `tipdata sync` sends them)"""
    service = service_for(sync=False)
    with serving(service.app) as base:
        register_hook(platforms, base)
        submit(platforms, 1)
    assert service.trigger is None
    assert ledger.count_records() == 1 and platforms.frappe.docs(CASE) == []


# --- encrypted submissions ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def form_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def submit_encrypted(platforms: Platforms, key: rsa.RSAPrivateKey, n: int) -> int:
    """Encrypt intake `n` as Enketo does and store it on Kobo (hooks fire); its `_id`."""
    instance_id = f"uuid:{uuid.uuid4()}"
    version = platforms.kobo.form_version(platforms.asset_uid)
    answers = kobo_answers(platforms.asset_uid, intake_values(n))
    xml = instance_xml(platforms.asset_uid, version, answers, instance_id)
    encrypted = encrypt_submission(key.public_key(), form_id=platforms.asset_uid, version=version,
                                   instance_id=instance_id, submission_xml=xml,
                                   media={"photo.jpg": b"\xff\xd8 not really a photo"})
    return platforms.kobo.add_encrypted_submission(platforms.asset_uid, encrypted.manifest_xml,
                                                   dict(encrypted.files))


def write_key(key: rsa.RSAPrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    return path


def test_receiver__encrypted_submission_stays_ciphertext_until_retry_with_the_key(
        service_for, ledger: Ledger, platforms: Platforms, form_key, tmp_path: Path):
    """should hold an encrypted delivery unopened, and decrypt it only on retry with the key"""
    service = service_for(sync=False)
    with serving(service.app) as base:
        register_hook(platforms, base)
        submission_id = submit_encrypted(platforms, form_key, 1)
        [log] = platforms.kobo.hook_logs(platforms.asset_uid)
        platforms.kobo.faults.duplicate_hook_deliveries(1)
        row = platforms.kobo.submission(platforms.asset_uid, submission_id)
        again = requests.post(base + RECEIVE_PATH, json=row, headers=headers(), timeout=10)
    assert json.loads(log["message"])["status"] == "held"
    assert again.json()["status"] == "duplicate"
    record_id = record_id_for(f"kobo:{platforms.asset_uid}", str(submission_id))
    assert ledger.get_record(record_id) is None
    [entry] = ledger.quarantined()
    assert (entry.source_id, entry.reason_code) == (str(submission_id), "SY722")
    held = json.loads(ledger.quarantined_contents(entry.id).raw_payload)
    assert held["encryptedXmlFile"] == "submission.xml.enc" and "base64EncryptedKey" in held
    assert NAME.encode() not in raw_database_bytes(ledger)

    config = platforms.config(tmp_path)
    without_key = open_session(config, codebook=codebook(), ledger=ledger,
                               platforms=platforms.clients(), environ={})
    assert without_key.engine.retry([entry.id]).not_retryable == [entry.id]
    assert [e.reason_code for e in ledger.quarantined()] == ["SY722"]

    keyed = replace(config, kobo=replace(config.kobo, private_key=write_key(form_key, tmp_path / "k.pem")))
    with_key = open_session(keyed, codebook=codebook(), ledger=ledger, platforms=platforms.clients(),
                            environ={"TIPDATA_KEY_PASSPHRASE": PASSPHRASE})
    report = with_key.engine.retry([entry.id])
    assert report.ingested == [entry.id]
    record = ledger.get_record(record_id)
    assert record is not None and record.values["person_given_names"] == NAME
    assert ledger.quarantined() == []
    assert platforms.frappe.doc(CASE, record_id) is not None  # retry pushes too


def test_quarantine_retry_command__decrypts_held_submissions(
        service_for, ledger: Ledger, platforms: Platforms, form_key, database: dict[str, Any],
        key: DataKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """should decrypt held submissions with `tipdata quarantine retry --reason SY722`"""
    service = service_for(sync=False)
    with serving(service.app) as base:
        register_hook(platforms, base)
        submission_id = submit_encrypted(platforms, form_key, 1)
    write_key(form_key, tmp_path / "form.pem")
    schema = f'schema = "{database["schema"]}"\n' if database["schema"] else ""
    config = tmp_path / "tipdata.toml"
    config.write_text(f"""
[ledger]
url = "{database['url']}"
{schema}
[kobo]
url = "{platforms.kobo.base_url}"
state = "state/kobo.json"
private_key = "form.pem"
retries = 1
[kobo.forms]
{INTAKE} = "{platforms.asset_uid}"
""", encoding="utf-8")
    for name, value in {"TIPDATA_KOBO_TOKEN": platforms.kobo.token,
                        "TIPDATA_LEDGER_KEY": key.to_base64(),
                        "TIPDATA_KEY_PASSPHRASE": PASSPHRASE}.items():
        monkeypatch.setenv(name, value)
    for name in ("TIPDATA_LEDGER_URL", "TIPDATA_CONFIG", "TIPDATA_KOBO_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(quarantine_app, ["retry", "--reason", "SY722", "--config", str(config),
                                                 "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["ingested"]) == 1
    assert ledger.get_record(record_id_for(f"kobo:{platforms.asset_uid}", str(submission_id))) is not None
