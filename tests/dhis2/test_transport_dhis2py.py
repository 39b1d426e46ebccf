"""The DHIS2 transport is dhis2.py's `Api`, hardened: these tests show both halves.

Every request goes through dhis2.py (its URL handling, request methods, version parsing); the
hardening (token header instead of Basic auth, mounted timeouts, retries, 409 reports read) is
checked against the double over real HTTP, next to what plain dhis2.py does in the same place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dhis2
import pytest
import requests

from tests.dhis2.connector_support import VERSIONS, build_package, connect, intake
from tests.doubles.dhis2 import Dhis2Double
from tipdata.codebook import load_codebook
from tipdata.dhis2_app.connector import Dhis2Client, resolve_dhis2_config
from tipdata.dhis2_app.transport import ApiTokenAuth, Dhis2Api
from tipdata.dhis2_app.uids import uid_for
from tipdata.http import PlatformError

ORG_UNIT = "ImspTQPwCqd"


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(params=VERSIONS)
def double(request: pytest.FixtureRequest) -> Iterator[Dhis2Double]:
    with Dhis2Double(request.param) as running:
        yield running


def api_for(double: Dhis2Double, **config: Any) -> Dhis2Api:
    return Dhis2Api(
        resolve_dhis2_config(double.base_url, double.token, **config), sleep=lambda s: None
    )


def invalid_tracker_payload() -> dict[str, Any]:
    """A tracked entity of an unknown type: DHIS2 answers 409 with a validation report."""
    return {
        "trackedEntities": [
            {
                "trackedEntity": uid_for("trackedEntity", "P-409"),
                "trackedEntityType": uid_for("trackedEntityType", "no_such_type"),
                "orgUnit": ORG_UNIT,
                "attributes": [],
                "enrollments": [],
            }
        ]
    }


TRACKER_SYNC = {"async": "false", "importStrategy": "CREATE_AND_UPDATE", "atomicMode": "OBJECT"}


# --- built on dhis2.py -------------------------------------------------------------------------------


def test_client__every_request_goes_through_dhis2py(double, codebook, monkeypatch):
    """should send install, push and pull requests through dhis2.Api._make_request, and only through it"""
    calls: list[tuple[str, str]] = []
    original = dhis2.Api._make_request

    def spy(self: dhis2.Api, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        calls.append((method, endpoint))
        return original(self, method, endpoint, **kwargs)

    monkeypatch.setattr(dhis2.Api, "_make_request", spy)
    connector = connect(double, codebook)
    assert isinstance(connector.client.api, dhis2.Api)
    assert connector.install().ok
    assert connector.push([intake("P-1", "TIP-1")]).ok
    assert connector.pull().count > 0
    assert len(calls) == len(double.requests) >= 5
    assert {m for m, _ in calls} == {"get", "post"}
    # dhis2.py's `get` appends `.json` (DHIS2 accepts the suffix on every endpoint)
    assert all(r.path.endswith(".json") for r in double.requests if r.method == "GET")
    assert ("post", "tracker") in calls and ("get", "system/info") in calls


def test_api__url_handling_is_dhis2py_with_a_context_path():
    """should build api_url the dhis2.py way from a server root with a context path"""
    api = Dhis2Api(resolve_dhis2_config("https://dhis.example.org/hmis/api/", "d2p_x"))
    assert api.base_url == "https://dhis.example.org/hmis"
    assert api.api_url == "https://dhis.example.org/hmis/api"
    assert api.url("tracker") == "https://dhis.example.org/hmis/api/tracker"
    api.base_url = "dhis.example.org/hmis/"  # dhis2.py adds the scheme; the trailing slash goes
    assert api.api_url == "https://dhis.example.org/hmis/api"


def test_api__a_host_named_api_is_accepted():
    """should accept https://api.example.org, which plain dhis2.py refuses as if it named /api"""
    with pytest.raises(dhis2.ClientException):
        dhis2.Api("https://api.example.org", "u", "p")
    api = Dhis2Api(resolve_dhis2_config("https://api.example.org/dhis", "d2p_x"))
    assert api.api_url == "https://api.example.org/dhis/api"
    with pytest.raises(dhis2.ClientException, match="/api/"):
        api.base_url = "https://dhis.example.org/api/40"


def test_version__dhis2py_reads_and_caches_system_info(double):
    """should read the minor version with dhis2.py's version_int from one GET /api/system/info"""
    client = Dhis2Client(resolve_dhis2_config(double.base_url, double.token), sleep=lambda s: None)
    assert client.api.version_int == double.minor
    assert client.version.minor == double.minor and client.version.text == client.api.version
    assert len(double.requests_to("/system/info")) == 1


# --- hardened ----------------------------------------------------------------------------------------


def test_auth__token_header_never_basic_even_with_a_netrc(codebook, tmp_path, monkeypatch):
    """should send only `ApiToken` although dhis2.py sets Basic auth and a netrc names the host"""
    with Dhis2Double("2.42") as double:
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login {double.username} password {double.password}\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
        # control: a session with the header but no auth object is rewritten to Basic by the netrc
        bare = requests.Session()
        bare.headers["Authorization"] = f"ApiToken {double.token}"
        bare.get(f"{double.base_url}/api/system/info")
        assert double.requests[-1].headers["Authorization"].startswith("Basic ")
        connector = connect(double, codebook)
        connector.install()
        connector.push([intake("P-1", "TIP-1")])
        sent = [r.headers.get("Authorization") for r in double.requests[1:]]
        assert sent and set(sent) == {f"ApiToken {double.token}"}


def test_auth__the_token_is_in_no_repr_or_string():
    """should keep the token out of the repr and str of the Api, its session auth and the client"""
    config = resolve_dhis2_config("https://dhis.example.org", "d2p_secret_token_value")
    client = Dhis2Client(config)
    shown = " ".join(
        [
            repr(client),
            repr(client.api),
            str(client.api),
            repr(client.api.session.auth),
            repr(config),
        ]
    )
    assert "d2p_secret_token_value" not in shown
    assert isinstance(client.api.session.auth, ApiTokenAuth)
    assert "Basic" not in str(client.api.session.headers)


def test_auth__basic_credentials_of_dhis2py_are_replaced():
    """should replace the (username, password) Basic auth dhis2.py puts on its session by the token"""
    assert dhis2.Api("https://dhis.example.org", "u", "p").session.auth == ("u", "p")
    api = Dhis2Api(resolve_dhis2_config("https://dhis.example.org", "d2p_x"))
    prepared = api.session.prepare_request(requests.Request("POST", api.url("tracker")))
    assert prepared.headers["Authorization"] == "ApiToken d2p_x"


def test_timeouts__dhis2py_post_gets_the_mounted_timeout(codebook):
    """should time out dhis2.py's own post (which passes no timeout) after the configured seconds"""
    with Dhis2Double("2.41") as double:
        api = api_for(double, timeout=0.2)
        double.delay_next(1, 0.6)
        with pytest.raises(requests.Timeout):
            api.post("metadata", json=build_package(codebook), params={"importMode": "VALIDATE"})


def test_status__409_import_report_is_returned_not_raised(double):
    """should return DHIS2's 409 import report where plain dhis2.py raises RequestException"""
    plain = dhis2.Api(double.base_url, double.username, double.password)
    with pytest.raises(dhis2.RequestException) as caught:
        plain.post("tracker", json=invalid_tracker_payload(), params=TRACKER_SYNC)
    assert caught.value.code == 409
    api = api_for(double)
    response = api.post("tracker", json=invalid_tracker_payload(), params=TRACKER_SYNC)
    assert response.status_code == 409
    report = response.json()
    assert report["status"] == "ERROR" and report["validationReport"]["errorReports"]
    client = Dhis2Client(api.config, api=api)
    assert client.import_tracker(invalid_tracker_payload())["validationReport"]["errorReports"]


def test_status__unexpected_status_names_method_url_status_message_and_fix(double):
    """should raise PlatformError with method, URL, status, DHIS2's message and a fix, never the token"""
    client = Dhis2Client(
        resolve_dhis2_config(double.base_url, "d2p_wrong_token"), sleep=lambda s: None
    )
    with pytest.raises(PlatformError) as caught:
        client.version  # noqa: B018
    text = str(caught.value)
    assert text.startswith(f"GET {double.base_url}/api/system/info → HTTP 401:")
    assert "Fix:" in text and "personal access token" in text
    assert "d2p_wrong_token" not in text


def test_async__sent_as_the_literal_string_false(double, codebook):
    """should send `async=false` literally (dhis2.py would send a Python False as `False`)"""
    connector = connect(double, codebook)
    connector.install()
    connector.push([intake("P-1", "TIP-1")])
    [post] = double.requests_to("/api/tracker", "POST")
    assert "async=false" in post.raw_query.split("&") and "async=False" not in post.raw_query
    assert not double.requests_to("/jobs/")  # synchronous: no job was started or polled


def test_retries__429_waits_at_least_retry_after():
    """should retry a 429 after the Retry-After seconds the server asked for (backoff never shorter)"""
    with Dhis2Double("2.42") as double:
        sleeps: list[float] = []
        api = Dhis2Api(
            resolve_dhis2_config(double.base_url, double.token, retries=3), sleep=sleeps.append
        )
        double.fail_next(2, status=429, path_contains="/system/info", retry_after="7")
        assert api.version_int == 42
        assert len(sleeps) == 2 and all(7 <= s <= 30 for s in sleeps)
        assert [r.status for r in double.requests_to("/system/info")] == [429, 429, 200]


def test_retries__connection_refused_is_retried_then_explained():
    """should retry a refused connection with backoff, then name the attempts and the fix"""
    with Dhis2Double("2.42") as double:
        url = double.base_url
    sleeps: list[float] = []
    api = Dhis2Api(resolve_dhis2_config(url, "d2p_x", retries=2, timeout=1.0), sleep=sleeps.append)
    with pytest.raises(PlatformError, match="could not connect after 3 attempt"):
        api.get_json("system/info")
    assert len(sleeps) == 2 and sleeps[1] > 0
