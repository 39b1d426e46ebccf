"""DHIS2 connector transport: config precedence, PAT header, version detection, retries, timeouts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dhis2.connector_support import VERSIONS, connect, intake
from tests.doubles.dhis2 import Dhis2Double
from tipdata.codebook import load_codebook
from tipdata.dhis2_app.connector import (
    Dhis2Client,
    parse_version,
    resolve_dhis2_config,
)
from tipdata.http import PlatformError, PlatformUnreachable


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(params=VERSIONS)
def double(request: pytest.FixtureRequest) -> Iterator[Dhis2Double]:
    with Dhis2Double(request.param) as running:
        yield running


def test_config__argument_beats_environment_beats_token_file(monkeypatch, tmp_path):
    """should take URL and token from arguments, else TIPDATA_DHIS2_URL/TOKEN, else the token file"""
    token_file = tmp_path / "token"
    token_file.write_text("d2p_from_file\n")
    monkeypatch.setenv("TIPDATA_DHIS2_URL", "https://env.example.org/dhis/api/")
    monkeypatch.setenv("TIPDATA_DHIS2_TOKEN_FILE", str(token_file))
    from_file = resolve_dhis2_config()
    monkeypatch.setenv("TIPDATA_DHIS2_TOKEN", "d2p_from_env")
    from_env = resolve_dhis2_config()
    explicit = resolve_dhis2_config("https://arg.example.org", "d2p_from_arg")
    assert (from_file.base_url, from_file.secret) == (
        "https://env.example.org/dhis",
        "d2p_from_file",
    )
    assert from_env.secret == "d2p_from_env"
    assert (explicit.base_url, explicit.secret) == ("https://arg.example.org", "d2p_from_arg")
    assert "d2p_from_arg" not in repr(explicit)


def test_config__names_the_missing_setting(monkeypatch):
    """should say which variable to set when the URL or the token is missing"""
    for name in ("TIPDATA_DHIS2_URL", "TIPDATA_DHIS2_TOKEN", "TIPDATA_DHIS2_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="TIPDATA_DHIS2_URL"):
        resolve_dhis2_config()
    with pytest.raises(ValueError, match="TIPDATA_DHIS2_TOKEN"):
        resolve_dhis2_config("https://dhis.example.org")


def test_session__sends_the_personal_access_token_on_every_request(double, codebook):
    """should authenticate every request with `Authorization: ApiToken <token>` and a User-Agent"""
    connector = connect(double, codebook)
    connector.install()
    connector.push([intake("P-1", "TIP-1")])
    assert len(double.requests) >= 4
    assert {r.headers.get("Authorization") for r in double.requests} == {f"ApiToken {double.token}"}
    assert all(r.headers.get("User-Agent", "").startswith("tipdata/") for r in double.requests)


def test_version__detected_from_system_info(double, codebook):
    """should read the minor version from /api/system/info once"""
    client = connect(double, codebook).client
    assert client.version.minor == int(double.version.split(".")[1])
    assert client.version.minor == client.version.minor
    assert len(double.requests_to("/system/info")) == 1


@pytest.mark.parametrize(
    "text, minor", [("2.40.4.1", 40), ("2.41-SNAPSHOT", 41), ("2.43.1", 43), ("2.44.0", 44)]
)
def test_parse_version__reads_the_minor_number(text, minor):
    """should read the minor number from every version format /api/system/info uses"""
    assert parse_version(text).minor == minor


def test_version__older_than_240_is_refused():
    """should refuse a 2.39 server with an explanation instead of calling the wrong API"""
    client = Dhis2Client(resolve_dhis2_config("https://old.example.org", "t"))
    client.api._info = {"version": "2.39.6"}  # dhis2.py's cache of /api/system/info
    with pytest.raises(PlatformError, match="older than 2.40"):
        client.version  # noqa: B018


def test_retries__502_and_503_then_success(double, codebook):
    """should retry the import on 502/503 and finish without duplicates"""
    connector = connect(double, codebook)
    connector.install()
    double.fail_next(1, status=502, path_contains="/api/tracker")
    double.fail_next(1, status=503, path_contains="/api/tracker")
    result = connector.push([intake("P-1", "TIP-1")])
    assert result.ok and result.pushed == 1
    assert [r.status for r in double.requests_to("/api/tracker", "POST")] == [502, 503, 200]
    assert double.counts() == {"trackedEntities": 1, "enrollments": 1, "events": 2}


def test_retries__metadata_install_survives_a_busy_proxy(double, codebook):
    """should retry VALIDATE and COMMIT on 503 and still import the package once"""
    connector = connect(double, codebook)
    double.fail_next(2, status=503, path_contains="/api/metadata")
    result = connector.install()
    assert result.ok and result.phase == "commit"
    assert [
        r.query["importMode"]
        for r in double.requests_to("/api/metadata", "POST")
        if r.status == 200
    ] == ["VALIDATE", "COMMIT"]


def test_retries__give_up_with_an_explanation(double, codebook):
    """should stop after the configured retries and name method, URL, status and a fix"""
    connector = connect(double, codebook, retries=2)
    connector.client.version  # noqa: B018 - detected before the faults
    double.fail_next(5, status=503, path_contains="/api/metadata")
    with pytest.raises(PlatformError) as caught:
        connector.install()
    text = str(caught.value)
    assert "POST" in text and "/api/metadata" in text and "HTTP 503" in text and "Fix:" in text
    assert double.token not in text


def test_timeouts__a_slow_import_is_retried_and_stays_idempotent(double, codebook):
    """should time out, retry the same import and end with one copy (the slow one also landed)"""
    connector = connect(double, codebook, timeout=0.3)
    connector.install()
    double.delay_next(1, 0.8, path_contains="/api/tracker")
    result = connector.push([intake("P-1", "TIP-1")])
    assert result.ok
    assert len(double.requests_to("/api/tracker", "POST")) == 2
    assert double.counts() == {"trackedEntities": 1, "enrollments": 1, "events": 2}


def test_timeouts__exhausted_retries_raise_unreachable(codebook):
    """should raise PlatformUnreachable naming the timeout when every attempt is too slow"""
    with Dhis2Double("2.42") as double:
        connector = connect(double, codebook, timeout=0.2, retries=1)
        double.delay_next(3, 0.6)
        with pytest.raises(PlatformUnreachable, match="timed out after 2 attempt"):
            connector.client.version  # noqa: B018


def test_async_fallback__a_job_answer_is_awaited(double, codebook, monkeypatch):
    """should poll the job report (404 until ready) if a server runs the import as a job"""
    monkeypatch.setattr(Dhis2Double, "_sync_requested", lambda self, raw_query: False)
    connector = connect(double, codebook)
    connector.install()
    result = connector.push([intake("P-1", "TIP-1", person_sex="bogus")])
    reports = double.requests_to("/report", "GET")
    assert [r.status for r in reports] == [404, 200]
    assert len(result.quarantined) == 1 and "E1125" in result.quarantined[0].message
