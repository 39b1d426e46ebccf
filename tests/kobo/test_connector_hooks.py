"""REST Service registration on the Kobo double: idempotent, secret in a header, never printed."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from tests.kobo.kobo_connector_fixtures import SCREENING, make_client, screening_answers
from tipdata.kobo_forms.cli import kobo_app
from tipdata.kobo_forms.form_assets import FormAsset, FormAssetRegistry
from tipdata.kobo_forms.hooks import HOOK_NAME, SECRET_HEADER, HookSpec, ensure_hook, plan_hook

pytest_plugins = ("tests.kobo.kobo_connector_fixtures",)

SECRET = "hook-secret-value-123"
ENDPOINT = "https://sync.example.org/kobo/hook"


class Receiver(http.server.ThreadingHTTPServer):
    """A stand-in for the tipdata receiver: records the headers and bodies Kobo sends."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.received: list[tuple[dict[str, str], dict]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/kobo/hook"


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_hook_spec__body_carries_the_secret_header():
    """should ask Kobo for JSON of all fields, with the secret as a custom header"""
    body = HookSpec(ENDPOINT, SECRET).body()
    assert body["settings"] == {"custom_headers": {SECRET_HEADER: SECRET}}
    assert (body["export_type"], body["active"], body["subset_fields"]) == ("json", True, [])
    assert SECRET not in repr(HookSpec(ENDPOINT, SECRET))


def test_hook_spec__refuses_bad_urls_and_empty_secret():
    """should refuse what Kobo would refuse ('Invalid scheme') and a missing secret"""
    with pytest.raises(ValueError, match="Invalid scheme"):
        HookSpec("ftp://sync.example.org/hook", SECRET)
    with pytest.raises(ValueError, match="TIPDATA_HOOK_SECRET"):
        HookSpec(ENDPOINT, "")


def test_plan_hook__matches_by_endpoint_or_name():
    """should update our hook found by endpoint or name, and report further matches"""
    spec = HookSpec(ENDPOINT, SECRET)
    same_endpoint = {"uid": "hA", "name": "other", "endpoint": ENDPOINT + "/"}
    same_name = {"uid": "hB", "name": HOOK_NAME, "endpoint": "https://old.example.org/h"}
    assert plan_hook([same_name, same_endpoint], spec) == ("update", "hA", ("hB",))
    assert plan_hook([{"uid": "hC", "name": "x", "endpoint": "https://x.org"}], spec)[0] == \
        "create"


def test_ensure_hook__idempotent(kobo, client, screening_asset):
    """should create the hook once, leave it unchanged on a re-run, and update it in place"""
    spec = HookSpec(ENDPOINT, SECRET)
    first = ensure_hook(client, SCREENING, screening_asset, spec)
    second = ensure_hook(client, SCREENING, screening_asset, spec)
    rotated = ensure_hook(client, SCREENING, screening_asset, HookSpec(ENDPOINT, "new-secret"))
    assert (first.action, second.action, rotated.action) == ("create", "unchanged", "update")
    assert first.hook_uid == second.hook_uid == rotated.hook_uid
    [hook] = client.hooks.list(screening_asset)
    assert hook["settings"]["custom_headers"] == {SECRET_HEADER: "new-secret"}
    assert hook["endpoint"] == ENDPOINT and hook["active"] is True


def test_ensure_hook__dry_run_changes_nothing(kobo, client, screening_asset):
    """should only report what it would do"""
    result = ensure_hook(client, SCREENING, screening_asset, HookSpec(ENDPOINT, SECRET),
                         dry_run=True)
    assert result.action == "create" and client.hooks.list(screening_asset) == []


def test_ensure_hook__kobo_delivers_with_the_secret(kobo, client, screening_asset, receiver):
    """should make Kobo POST new submissions to the receiver with the secret header"""
    ensure_hook(client, SCREENING, screening_asset, HookSpec(receiver.url, SECRET))
    sid = kobo.add_submission(screening_asset, screening_answers())
    [(headers, body)] = receiver.received
    assert headers[SECRET_HEADER] == SECRET
    assert body["_id"] == sid and body["grp_start/consent_screening"] == "yes"


def test_hook_command__registers_once_and_never_prints_the_secret(kobo, screening_asset,
                                                                monkeypatch, tmp_path):
    """should register the hook on the form's asset, idempotently, without echoing the secret"""
    registry = FormAssetRegistry(tmp_path / "registry.json")
    registry.put(kobo.base_url, SCREENING, FormAsset(screening_asset))
    registry.save()
    monkeypatch.setenv("TIPDATA_KOBO_URL", kobo.base_url)
    monkeypatch.setenv("TIPDATA_KOBO_TOKEN", kobo.token)
    monkeypatch.setenv("TIPDATA_HOOK_SECRET", SECRET)
    args = ["hook", "--url", ENDPOINT, SCREENING, "--registry", str(tmp_path / "registry.json")]
    runner = CliRunner()
    first = runner.invoke(kobo_app, args)
    second = runner.invoke(kobo_app, [*args, "--json"])
    assert first.exit_code == 0, first.output
    assert "create hook" in first.stdout
    assert json.loads(second.stdout)["hooks"][0]["action"] == "unchanged"
    [hook] = make_client(kobo).hooks.list(screening_asset)
    assert hook["settings"]["custom_headers"] == {SECRET_HEADER: SECRET}
    assert SECRET not in first.output + second.output


def test_hook_command__needs_the_secret(kobo, monkeypatch):
    """should exit 2 naming TIPDATA_HOOK_SECRET when it is not set"""
    monkeypatch.delenv("TIPDATA_HOOK_SECRET", raising=False)
    result = CliRunner().invoke(kobo_app, ["hook", "--url", ENDPOINT])
    assert result.exit_code == 2 and "TIPDATA_HOOK_SECRET" in result.output


def test_hook_command__undeployed_form_exits_1(kobo, monkeypatch, tmp_path):
    """should say which forms are not deployed and exit 1"""
    monkeypatch.setenv("TIPDATA_KOBO_URL", kobo.base_url)
    monkeypatch.setenv("TIPDATA_KOBO_TOKEN", kobo.token)
    monkeypatch.setenv("TIPDATA_HOOK_SECRET", SECRET)
    result = CliRunner().invoke(kobo_app, ["hook", "--url", ENDPOINT, SCREENING, "--registry",
                                           str(tmp_path / "r.json")])
    assert result.exit_code == 1 and "not deployed" in result.output
