"""KoboClient against the Kobo double over HTTP: config, errors with Kobo hints, retries, paging."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from tests.kobo.kobo_connector_fixtures import add_screenings, make_client
from tipdata.http import PlatformError, PlatformUnreachable, ServiceConfig
from tipdata.kobo_forms.connector import (
    KoboClient,
    kobo_hint,
    load_config_file,
    resolve_kobo_config,
)

pytest_plugins = ("tests.kobo.kobo_connector_fixtures",)

TOKEN = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIPDATA_KOBO_URL", "TIPDATA_KOBO_TOKEN", "TIPDATA_KOBO_TOKEN_FILE",
                 "TIPDATA_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent-home-for-tests")


# --- configuration ------------------------------------------------------------------------


def test_resolve_kobo_config__argument_wins(monkeypatch):
    """should take URL and token from arguments before the environment"""
    monkeypatch.setenv("TIPDATA_KOBO_URL", "https://eu.kobotoolbox.org")
    monkeypatch.setenv("TIPDATA_KOBO_TOKEN", "from-env")
    config = resolve_kobo_config("https://kf.kobotoolbox.org", TOKEN)
    assert (config.base_url, config.secret) == ("https://kf.kobotoolbox.org", TOKEN)


def test_resolve_kobo_config__environment_then_token_file(monkeypatch, tmp_path):
    """should read the URL from the environment and the token from the file the env names"""
    token_file = tmp_path / "kobo.token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("TIPDATA_KOBO_URL", "https://eu.kobotoolbox.org")
    monkeypatch.setenv("TIPDATA_KOBO_TOKEN_FILE", str(token_file))
    config = resolve_kobo_config()
    assert (config.base_url, config.secret) == ("https://eu.kobotoolbox.org", TOKEN)


def test_resolve_kobo_config__config_file_last(monkeypatch, tmp_path):
    """should fall back to the [kobo] table of the config file, also for a token_file"""
    token_file = tmp_path / "t"
    token_file.write_text(TOKEN)
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[kobo]\nurl = "https://kobo.example.org"\ntoken_file = "{token_file}"\n')
    monkeypatch.setenv("TIPDATA_CONFIG", str(config_file))
    config = resolve_kobo_config()
    assert (config.base_url, config.secret) == ("https://kobo.example.org", TOKEN)


def test_resolve_kobo_config__missing_says_where_to_look():
    """should name the settings to set, never a value, when nothing is configured"""
    with pytest.raises(ValueError, match="TIPDATA_KOBO_URL"):
        resolve_kobo_config()
    with pytest.raises(ValueError, match="TIPDATA_KOBO_TOKEN"):
        resolve_kobo_config("https://kf.kobotoolbox.org")


def test_load_config_file__named_file_must_exist(tmp_path):
    """should refuse a config file named explicitly that is not there"""
    with pytest.raises(ValueError, match="does not exist"):
        load_config_file(tmp_path / "nope.toml")


def test_client__token_never_shown():
    """should keep the token out of the client's and the config's repr"""
    client = KoboClient(ServiceConfig("https://kf.kobotoolbox.org", TOKEN))
    assert TOKEN not in repr(client) and TOKEN not in repr(client.config)
    prepared = client.session.http.prepare_request(
        requests.Request("GET", "https://kf.kobotoolbox.org/api/v2/assets/"))
    assert prepared.headers["Authorization"] == f"Token {TOKEN}"  # set by the session's auth
    assert TOKEN not in repr(client.session.http.auth)


# --- errors and hints ---------------------------------------------------------------------


def test_client__bad_token_is_401_with_hint(kobo, screening_asset):
    """should explain a refused token (401) and point at where tokens come from"""
    client = make_client(kobo, token="0" * 40)
    with pytest.raises(PlatformError) as caught:
        client.assets.get(screening_asset)
    assert caught.value.status == 401
    assert "Invalid token" in caught.value.server_message
    assert "Account Settings" in caught.value.hint and "TIPDATA_KOBO_TOKEN" in caught.value.hint
    assert "0" * 40 not in str(caught.value)


def test_client__unknown_asset_is_404_no_access_or_wrong_uid(kobo, client):
    """should say that a 404 means 'no access or wrong uid' (Kobo hides existence)"""
    with pytest.raises(PlatformError) as caught:
        client.assets.get("aDoesNotExist0000000000")
    assert caught.value.status == 404
    assert "no access or wrong uid" in caught.value.hint


def test_client__someone_elses_asset_is_404_too(kobo, screening_asset):
    """should get the same 404 hint for an asset that exists but is not shared"""
    other = make_client(kobo, token=kobo.add_user("someone_else"))
    with pytest.raises(PlatformError) as caught:
        other.data.iter_pages(screening_asset).__next__()
    assert caught.value.status == 404 and "no access" in caught.value.hint


def test_client__unreachable_server_names_the_setting():
    """should report an unreachable server as such, with the URL setting to check"""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = KoboClient(ServiceConfig(f"http://127.0.0.1:{port}", TOKEN, retries=1,
                                      backoff=0.0), sleep=lambda _s: None)
    with pytest.raises(PlatformUnreachable) as caught:
        client.assets.get("aJ7sd2kqWcH5YbVfXe8mLp")
    assert caught.value.status is None and "TIPDATA_KOBO_URL" in caught.value.hint


def test_kobo_hint__deployment_states():
    """should turn Kobo's 405 and 500 deployment answers into the fix"""
    assert "PATCH" in kobo_hint(405, "Use PATCH to update an existing deployment")
    assert "POST" in kobo_hint(405, "Use POST to create a new deployment")
    assert "kpi#2205" in kobo_hint(500, "Server Error (500)")
    assert "deploy the form first" in kobo_hint(400, "The specified asset has not been deployed")


def test_client__uid_shapes_are_checked(client):
    """should refuse a value that is not an asset uid before building a URL from it"""
    with pytest.raises(ValueError, match="asset uid"):
        client.assets.get("../../admin")


# --- retries ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_client__get_retries_server_errors_then_succeeds(kobo, client, screening_asset, status):
    """should retry a GET after 500/502/503/504 and return the answer of the recovered server"""
    kobo.faults.fail_next(2, status, path_contains=f"/assets/{screening_asset}/")
    assert client.assets.get(screening_asset)["uid"] == screening_asset
    gets = [r for r in kobo.requests if r.path == f"/api/v2/assets/{screening_asset}/"]
    assert [r.status for r in gets] == [status, status, 200]


def test_client__gives_up_after_the_retries(kobo, screening_asset):
    """should stop after its retries and report the server's status and the fix"""
    client = make_client(kobo, retries=2)
    kobo.faults.fail_next(5, 500, path_contains="/assets/")
    with pytest.raises(PlatformError) as caught:
        client.assets.get(screening_asset)
    assert caught.value.status == 500
    assert len([r for r in kobo.requests if "/assets/" in r.path]) == 3


@pytest.mark.parametrize("mode", ["body", "connection"])
def test_client__truncated_response_is_retried(kobo, client, screening_asset, mode):
    """should retry a response cut short (invalid JSON or a dropped connection)"""
    kobo.faults.truncate_next(1, mode=mode, path_contains=f"/assets/{screening_asset}/")
    assert client.assets.get(screening_asset)["uid"] == screening_asset
    assert len([r for r in kobo.requests if r.path == f"/api/v2/assets/{screening_asset}/"]) >= 2


def test_client__timeout_is_retried(kobo, screening_asset):
    """should retry a GET that timed out and succeed when the server answers in time"""
    client = make_client(kobo, timeout=0.3)
    kobo.faults.delay_next(1, seconds=1.0, path_contains=f"/assets/{screening_asset}/")
    assert client.assets.get(screening_asset)["uid"] == screening_asset


def test_client__import_post_not_retried_after_500(kobo, client, screening_xlsx):
    """should not resend an import the server may have acted on (it would duplicate the asset)"""
    kobo.faults.fail_next(1, 500, path_contains="/imports/", method="POST")
    with pytest.raises(PlatformError) as caught:
        client.imports.create(screening_xlsx, name="TIP")
    assert caught.value.status == 500
    assert len([r for r in kobo.requests if r.method == "POST"]) == 1


# --- paging -------------------------------------------------------------------------------


def test_data_iter_pages__capped_limit_every_record_once(kobo, client, screening_asset):
    """should walk past the server's silent 1000 cap and yield each submission exactly once"""
    ids = add_screenings(kobo, screening_asset, 2345)
    pages = list(client.data.iter_pages(screening_asset, page_size=5000))
    got = [row["_id"] for page in pages for row in page.results]
    assert got == ids
    assert [len(page.results) for page in pages] == [1000, 1000, 345]
    data_requests = [r for r in kobo.requests if r.path.endswith("/data/")]
    assert all(r.params["limit"] == "5000" for r in data_requests)
    assert pages[0].count == 2345


@pytest.mark.parametrize("kobo", [{"max_page_size": 7}], indirect=True)
def test_data_iter_pages__small_page_size_server(kobo, client, screening_asset):
    """should not assume a page size: a server granting 7 per page still yields everything"""
    ids = add_screenings(kobo, screening_asset, 30)
    pages = list(client.data.iter_pages(screening_asset))
    assert [row["_id"] for page in pages for row in page.results] == ids
    assert [len(page.results) for page in pages] == [7, 7, 7, 7, 2]


def test_data_iter_pages__since_watermark(kobo, client, screening_asset):
    """should return only submissions with _id above the watermark"""
    ids = add_screenings(kobo, screening_asset, 12)
    got = [row["_id"] for page in client.data.iter_pages(screening_asset, since=ids[4])
           for row in page.results]
    assert got == ids[5:]


@pytest.mark.parametrize("kobo", [{"max_page_size": 10}], indirect=True)
def test_data_iter_pages__deletion_between_pages_skips_nothing(kobo, client, screening_asset):
    """should still yield every remaining submission when one is deleted between two pages"""
    ids = add_screenings(kobo, screening_asset, 25)
    kobo.faults.change_data_while_paging(
        screening_asset, lambda: kobo.delete_submission(screening_asset, ids[2]))
    got = [row["_id"] for page in client.data.iter_pages(screening_asset)
           for row in page.results]
    assert got == ids  # ids[2] came with the first page, before it was deleted
    assert len([r for r in kobo.requests if r.path.endswith("/data/")]) == 3


@pytest.mark.parametrize("kobo", [{"max_page_size": 10}], indirect=True)
def test_data_iter_pages__insertion_between_pages_is_picked_up(kobo, client, screening_asset):
    """should include a submission that arrives while paging, once"""
    ids = add_screenings(kobo, screening_asset, 15)
    late: list[int] = []
    kobo.faults.change_data_while_paging(
        screening_asset, lambda: late.extend(add_screenings(kobo, screening_asset, 1)))
    got = [row["_id"] for page in client.data.iter_pages(screening_asset)
           for row in page.results]
    assert got == ids + late


def test_data_iter_pages__projection(kobo, client, screening_asset):
    """should ask for only the fields named (the server adds _uuid and meta/rootUuid)"""
    add_screenings(kobo, screening_asset, 3)
    rows = next(client.data.iter_pages(screening_asset, fields=["_id", "_uuid"])).results
    assert {key for row in rows for key in row} <= {"_id", "_uuid", "meta/rootUuid"}


def test_data_iter_by_ids__batches(kobo, client, screening_asset):
    """should fetch exactly the requested ids, in batches small enough for a URL"""
    ids = add_screenings(kobo, screening_asset, 250)
    wanted = ids[::2]
    got = [row["_id"] for page in client.data.iter_by_ids(screening_asset, wanted)
           for row in page.results]
    assert got == wanted


def test_data__undeployed_asset_hint(kobo, client, screening_xlsx):
    """should say to deploy first when reading data of an undeployed asset"""
    uid = kobo.create_form(screening_xlsx, name="x.xlsx", deploy=False)
    with pytest.raises(PlatformError) as caught:
        next(client.data.iter_pages(uid))
    assert caught.value.status == 400 and "deploy" in caught.value.hint


def test_attachments__token_never_sent_to_another_host(client):
    """should refuse to download an attachment link that points at another server"""
    with pytest.raises(PlatformError, match="another server"):
        client.attachments.download("https://evil.example.org/api/v2/assets/a/data/1/")


def test_client__escape_hatch_get(kobo, client, screening_asset):
    """should offer a raw GET for routes without a service"""
    assert client.get(f"api/v2/assets/{screening_asset}/")["uid"] == screening_asset


def test_client__path_independent_of_trailing_slash(kobo, screening_asset):
    """should build the same URLs whether the configured server URL ends in / or not"""
    client = KoboClient(ServiceConfig(kobo.base_url + "/", kobo.token))
    assert client.assets.get(screening_asset)["uid"] == screening_asset
    assert Path(client.assets.url(screening_asset)).name == screening_asset
