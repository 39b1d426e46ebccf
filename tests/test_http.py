"""The shared connector session: retries, timeouts, errors that explain, secrets never shown."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest
import requests

from tipdata.http import (
    PlatformError,
    PlatformSession,
    PlatformUnreachable,
    ServiceConfig,
    resolve_secret,
)

SECRET = "s3cr3t-token-value"


class ScriptedServer(http.server.ThreadingHTTPServer):
    """Answers each request with the next scripted (status, headers, body); records requests."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[tuple[int, dict[str, str], bytes]] = []
        self.seen: list[tuple[str, str, str | None]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ScriptedServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        status, headers, body = self.server.script.pop(0) if self.server.script else (200, {}, b"{}")
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def session_for(server: ScriptedServer, sleeps: list[float], **config: float) -> PlatformSession:
    host, port = server.server_address[:2]
    cfg = ServiceConfig(f"http://{host}:{port}/api", SECRET, timeout=config.get("timeout", 5),
                        retries=int(config.get("retries", 3)), backoff=0.01)
    return PlatformSession(cfg, {"Authorization": f"Token {SECRET}"},
                           hint=lambda status, message: "check the token" if status == 401 else "",
                           sleep=sleeps.append)


def test_request__retries_503_then_succeeds(server):
    """should retry a transient 503 and return the later success"""
    server.script = [(503, {}, b'{"detail": "busy"}'), (503, {}, b"{}"), (200, {}, b'{"ok": 1}')]
    sleeps: list[float] = []
    assert session_for(server, sleeps).get_json("things/") == {"ok": 1}
    assert len(server.seen) == 3 and len(sleeps) == 2
    assert server.seen[0][:2] == ("GET", "/api/things/")


def test_request__honours_retry_after(server):
    """should wait at least what Retry-After asks (jitter only ever shortens the backoff)"""
    server.script = [(429, {"Retry-After": "4"}, b"{}")] * 3 + [(200, {}, b"{}")]
    sleeps: list[float] = []
    session_for(server, sleeps).request("GET", "x")
    assert len(sleeps) == 3 and all(s >= 4.0 for s in sleeps)


def test_request__error_names_method_url_status_message_and_fix(server):
    """should raise with everything needed to act, and never the token"""
    server.script = [(401, {}, b'{"detail": "Invalid token."}')]
    with pytest.raises(PlatformError) as caught:
        session_for(server, []).request("GET", "assets/")
    text = str(caught.value)
    assert "GET http://127.0.0.1:" in text and "/api/assets/" in text
    assert "HTTP 401" in text and "Invalid token." in text and "check the token" in text
    assert SECRET not in text and SECRET not in repr(session_for(server, []))
    assert SECRET not in repr(session_for(server, []).config)


def test_request__does_not_retry_a_post_the_server_may_have_acted_on(server):
    """should not repeat a non-idempotent POST after a 502, but should when marked idempotent"""
    server.script = [(502, {}, b"{}")]
    with pytest.raises(PlatformError):
        session_for(server, []).request("POST", "imports/", json={})
    assert len(server.seen) == 1
    server.script = [(502, {}, b"{}"), (200, {}, b"{}")]
    session_for(server, []).request("POST", "tracker", json={}, idempotent=True)
    assert len(server.seen) == 3


def test_request__gives_up_after_the_retry_budget(server):
    """should raise after the configured number of retries"""
    server.script = [(503, {}, b"{}")] * 5
    with pytest.raises(PlatformError) as caught:
        session_for(server, [], retries=2).request("GET", "x")
    assert caught.value.status == 503 and len(server.seen) == 3


def test_request__unreachable_server():
    """should report a refused connection as unreachable, naming the URL"""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = ServiceConfig(f"http://127.0.0.1:{port}", SECRET, retries=1, backoff=0.01)
    with pytest.raises(PlatformUnreachable) as caught:
        PlatformSession(cfg, {}, sleep=lambda s: None).request("GET", "x")
    assert f"127.0.0.1:{port}/x" in str(caught.value)


def test_get_json__truncated_body_is_an_error(server):
    """should turn a truncated JSON body into a PlatformError, not a decoding traceback"""
    server.script = [(200, {"Content-Type": "application/json"}, json.dumps({"a": 1})[:-3].encode())]
    with pytest.raises(PlatformError, match="not valid JSON"):
        session_for(server, []).get_json("x")


def test_resolve_secret__precedence(tmp_path, monkeypatch):
    """should prefer the argument, then the environment, then a key file, then the config"""
    key_file = tmp_path / "token"
    key_file.write_text("from-file\n")
    monkeypatch.delenv("T_TOKEN", raising=False)
    monkeypatch.setenv("T_TOKEN_FILE", str(key_file))
    assert resolve_secret("arg", "T_TOKEN", "T_TOKEN_FILE") == "arg"
    assert resolve_secret(None, "T_TOKEN", "T_TOKEN_FILE") == "from-file"
    monkeypatch.setenv("T_TOKEN", "from-env")
    assert resolve_secret(None, "T_TOKEN", "T_TOKEN_FILE") == "from-env"
    monkeypatch.delenv("T_TOKEN")
    monkeypatch.delenv("T_TOKEN_FILE")
    assert resolve_secret(None, "T_TOKEN", config={"token": "cfg"}, config_key="token") == "cfg"
    with pytest.raises(ValueError, match="T_TOKEN"):
        resolve_secret(None, "T_TOKEN")


def test_request__token_survives_a_netrc_entry_for_the_host(server, tmp_path, monkeypatch):
    """should send the platform token although ~/.netrc names the host (requests would swap in
    Basic credentials for a bare header)"""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    bare = requests.Session()  # control: what a bare header gets with this netrc
    bare.headers["Authorization"] = f"Token {SECRET}"
    bare.get(url + "/control")
    assert server.seen[-1][2].startswith("Basic ")
    session = PlatformSession(ServiceConfig(url, SECRET), {"Authorization": f"Token {SECRET}"})
    session.request("GET", "api/v2/assets/")
    assert server.seen[-1] == ("GET", "/api/v2/assets/", f"Token {SECRET}")
    assert SECRET not in repr(session.http.auth)


def test_session__reads_proxies_and_ca_bundle_once_with_requests_rules(monkeypatch, tmp_path):
    """should take HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE from the environment when the
    session is made, the way requests would per request"""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.org:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.org")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    outside = PlatformSession(ServiceConfig("https://kf.example.org", SECRET), {})
    assert outside.http.proxies.get("https") == "http://proxy.example.org:3128"
    assert outside.http.verify == str(bundle)
    assert outside.http.trust_env is False
    inside = PlatformSession(ServiceConfig("https://internal.example.org", SECRET), {})
    assert "https" not in inside.http.proxies
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert PlatformSession(ServiceConfig("https://kf.example.org", SECRET), {}).http.verify is True
