"""Never 500: random bodies and headers thrown at the receiver (hypothesis).

Kobo retries only 502/503/504 and logs anything else as failed for good, so the receiver must
answer every input with 200 (kept), 400 (rejected and quarantined) or 401 (wrong secret) — and
internal failures with 503. The inputs mix raw bytes, arbitrary JSON, and real intake
submissions with random keys and values written over them, with the right secret, a wrong one,
none, or the header twice. In-process through Starlette's TestClient (many examples), then
fewer over real HTTP under uvicorn.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.sync.conftest import INTAKE, codebook, intake_values, kobo_answers
from tests.sync.test_receiver_support import ASSET, SECRET, local_config, serving
from tipdata.crypto.at_rest import DataKey, Keyring
from tipdata.ledger import Ledger, open_ledger
from tipdata.sync.receiver import RECEIVE_PATH, ReceiverService, SharedSecret, open_receiver

HEADER = "X-Tipdata-Hook-Secret"
KEPT_OR_REFUSED = {200, 400, 401}


@functools.cache
def intake_row() -> dict[str, Any]:
    row = kobo_answers(ASSET, intake_values(1))
    row.update({"_id": 1, "_xform_id_string": ASSET, "_submission_time": "2026-02-10T09:30:00"})
    return row


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
#: strings that look like numbers to str.isdigit() without being ASCII digits ("²", "٣")
digit_like = st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=4)
known_keys = st.sampled_from(sorted(intake_row()) + [
    "_id", "_xform_id_string", "start", "_submission_time", "__version__", "meta/instanceID",
    "base64EncryptedKey", "encryptedXmlFile", "_attachments", "media"])


@st.composite
def submissions(draw: st.DrawFn) -> bytes:
    """A real intake submission with random keys and values written over it."""
    row = dict(intake_row())
    row["_id"] = draw(st.integers(1, 10 ** 6) | digit_like | json_values)
    for key in draw(st.lists(known_keys | st.text(max_size=20), max_size=6)):
        if draw(st.booleans()):
            row.pop(key, None)
        else:
            row[key] = draw(json_values)
    return json.dumps(row).encode()


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    submissions(),
)
header_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), max_size=40)
secrets = st.one_of(st.just([SECRET]), st.just([]), header_text.map(lambda s: [s]),
                    st.just([SECRET, SECRET]))
extra_headers = st.dictionaries(
    st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
        lambda name: name.lower() not in ("content-length", "host", "transfer-encoding",
                                          "x-tipdata-hook-secret", "expect", "connection")),
    header_text, max_size=3)
content_types = st.sampled_from(["application/json", "application/xml", "text/plain", ""])


def request_headers(secret: list[str], extra: dict[str, str], content_type: str) -> list[tuple[str, str]]:
    found = [(name, value) for name, value in extra.items()]
    if content_type:
        found.append(("Content-Type", content_type))
    return found + [(HEADER, value) for value in secret]


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReceiverService, Ledger]]:
    """One receiver over a SQLite ledger for every example (deliveries accumulate in it)."""
    folder: Path = tmp_path_factory.mktemp("receiver")
    ledger = open_ledger(str(folder / "ledger.sqlite"), codebook=codebook(),
                         keys=Keyring(DataKey.generate()), environ={})
    service = open_receiver(local_config(folder), SharedSecret(SECRET), codebook=codebook(),
                            ledger=ledger, max_body_bytes=4096)
    yield service, ledger
    service.close()
    ledger.close()


@pytest.fixture(scope="module")
def base_url(receiver: tuple[ReceiverService, Ledger]) -> Iterator[str]:
    with serving(receiver[0].app) as base:
        yield base


def check(status: int, secret: list[str], answer: bytes) -> None:
    assert status in KEPT_OR_REFUSED, status
    assert (status == 401) == (secret != [SECRET])
    json.loads(answer)  # always a JSON answer, never a traceback page


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, secret=secrets, extra=extra_headers, content_type=content_types)
def test_receiver__never_answers_500_in_process(receiver, body: bytes, secret: list[str],
                                                extra: dict[str, str], content_type: str):
    """should answer any body and headers with 200, 400 or 401 (TestClient, in process)"""
    service, _ledger = receiver
    with TestClient(service.app, raise_server_exceptions=True) as client:
        answer = client.post(RECEIVE_PATH, content=body,
                             headers=request_headers(secret, extra, content_type))
    check(answer.status_code, secret, answer.content)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, secret=secrets, extra=extra_headers, content_type=content_types)
def test_receiver__never_answers_500_over_http(base_url: str, body: bytes, secret: list[str],
                                               extra: dict[str, str], content_type: str):
    """should answer any body and headers with 200, 400 or 401 under uvicorn too"""
    with requests.Session() as http:
        request = requests.Request("POST", base_url + RECEIVE_PATH, data=body).prepare()
        for name, value in request_headers(secret[:1], extra, content_type):
            request.headers[name] = value
        answer = http.send(request, timeout=30)
    check(answer.status_code, secret[:1], answer.content)


def test_receiver__stores_a_valid_submission_among_the_random_ones(receiver):
    """should still store a valid submission (the property is not met by refusing everything)"""
    service, ledger = receiver
    with TestClient(service.app) as client:
        answer = client.post(RECEIVE_PATH, content=json.dumps({**intake_row(), "_id": 10 ** 7}),
                             headers={HEADER: SECRET})
    assert answer.json()["status"] in ("stored", "duplicate")
    assert ledger.count_records() >= 1
    assert service.receiver.forms_by_asset == {ASSET: INTAKE}
