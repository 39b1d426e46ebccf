"""The Kobo double behaves as kobo-api.md documents, over real HTTP (requests → 127.0.0.1)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.doubles.kobo import KoboDouble, SubmissionRefused
from tests.doubles.kobo_query import UnsupportedQuery, matches, parse_json_param
from tests.doubles.kobo_submissions import flatten_instance_xml, normalize_answers
from tests.doubles.kobo_workbooks import (
    SMALL_FORM_CHOICES,
    SMALL_FORM_SURVEY,
    build_xlsform,
    small_xlsform,
)
from tipdata.kobo_forms.odk_encryption import decrypt_submission, encrypt_submission

if TYPE_CHECKING:
    from tests.doubles.kobo_fixtures import KoboForm

pytest_plugins = ("tests.doubles.kobo_fixtures",)

TIMEOUT = 10


def get(double: KoboDouble, path_or_url: str, token: str | None = None, **params: Any):
    url = path_or_url if path_or_url.startswith("http") else double.base_url + path_or_url
    return requests.get(url, headers=double.auth_headers(token), params=params or None,
                        timeout=TIMEOUT)


def send(double: KoboDouble, method: str, path: str, token: str | None = None, **kwargs: Any):
    return requests.request(method, double.base_url + path, headers=double.auth_headers(token),
                            timeout=TIMEOUT, **kwargs)


def import_form(double: KoboDouble, xlsform: bytes, **fields: str) -> dict[str, Any]:
    """POST an import and poll it until it leaves `processing`; return the final task."""
    data = {"name": "TIP screening", "library": "false", **fields}
    created = send(double, "POST", "/api/v2/imports/", files={"file": ("form.xlsx", xlsform)},
                   data=data)
    assert created.status_code == 201, created.text
    task = created.json()
    for _ in range(10):
        task = get(double, task["url"] if "url" in task else f"/api/v2/imports/{task['uid']}/").json()
        if task["status"] not in ("created", "processing"):
            return task
    raise AssertionError("import never finished")


def all_pages(double: KoboDouble, url: str, **params: Any) -> tuple[list[dict], list[str]]:
    """Follow `next` from the first page; return every record and every URL requested."""
    results: list[dict] = []
    urls: list[str] = []
    response = get(double, url, **params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        urls.append(response.url)
        results.extend(body["results"])
        if not body["next"]:
            return results, urls
        response = get(double, body["next"])


def numbers(index: int) -> dict[str, Any]:
    return {"grp_person": {"age": 20 + index % 50, "sex": "female" if index % 2 else "male"}}


# --------------------------------------------------------------------------- a hook receiver


@dataclass
class HookReceiver:
    """A tiny HTTP endpoint that records what Kobo POSTs and answers with scripted statuses."""

    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    delay: float = 0.0
    server: ThreadingHTTPServer | None = None

    def start(self) -> HookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                payload = b'{"ok": true}' if status < 400 else b"<h1>down</h1>"
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kobo/hook"
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    hook_receiver = HookReceiver().start()
    yield hook_receiver
    hook_receiver.stop()


def create_hook(double: KoboDouble, asset_uid: str, endpoint: str, **fields: Any) -> dict:
    response = send(double, "POST", f"/api/v2/assets/{asset_uid}/hooks/",
                    json={"name": "tipdata-ingest", "endpoint": endpoint, **fields})
    assert response.status_code == 201, response.text
    return response.json()


# --------------------------------------------------------------------------- server, auth


def test_server__serves_on_loopback_and_stops(kobo_double: KoboDouble) -> None:
    """start() should return an http://127.0.0.1 URL that answers, and stop() should close it."""
    assert kobo_double.base_url.startswith("http://127.0.0.1:")
    assert get(kobo_double, "/api/v2/assets/").status_code == 200
    kobo_double.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(kobo_double.base_url + "/api/v2/assets/", timeout=2)


def test_auth__missing_credentials_answer_401_with_detail(kobo_double: KoboDouble) -> None:
    """A request without Authorization should get 401 and DRF's 'not provided' detail."""
    response = requests.get(kobo_double.base_url + "/api/v2/assets/", timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response.headers["WWW-Authenticate"] == "Session"


def test_auth__invalid_token_answers_401_invalid_token(kobo_double: KoboDouble) -> None:
    """A wrong token should get 401 {"detail": "Invalid token."}."""
    response = get(kobo_double, "/api/v2/assets/", token="0" * 40)
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_auth__other_users_asset_is_404_everywhere(kobo_form: KoboForm) -> None:
    """Another user's asset, data, deployment and hooks should all be 404, never 403."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    other = double.add_user("someone_else")
    for path in (f"/api/v2/assets/{uid}/", f"/api/v2/assets/{uid}/data/",
                 f"/api/v2/assets/{uid}/deployment/", f"/api/v2/assets/{uid}/hooks/"):
        response = get(double, path, token=other)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}
    assert get(double, "/api/v2/assets/", token=other).json()["count"] == 0


def test_auth__sharing_view_submissions_opens_data_but_not_deploy(kobo_form: KoboForm) -> None:
    """A user granted view rights should read data, but deploying should be 403."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    double.add_submission(uid, numbers(1))
    other = double.add_user("analyst")
    double.share_asset(uid, "analyst", "view_asset", "view_submissions")
    assert get(double, f"/api/v2/assets/{uid}/data/", token=other).json()["count"] == 1
    response = send(double, "PATCH", f"/api/v2/assets/{uid}/deployment/", token=other,
                    json={"active": False})
    assert response.status_code == 403


def test_auth__basic_auth_works_for_users_with_a_password(kobo_double: KoboDouble) -> None:
    """Basic credentials should authenticate, and /token/ should hand out the API token."""
    token = kobo_double.add_user("basic_user", password="pw")
    response = requests.get(kobo_double.base_url + "/token/", auth=("basic_user", "pw"),
                            params={"format": "json"}, timeout=TIMEOUT)
    assert response.json() == {"token": token}
    bad = requests.get(kobo_double.base_url + "/token/", auth=("basic_user", "nope"),
                       timeout=TIMEOUT)
    assert bad.status_code == 401


def test_routing__missing_trailing_slash_redirects_301(kobo_form: KoboForm) -> None:
    """A path without its trailing slash should redirect like Django's APPEND_SLASH."""
    url = f"{kobo_form.double.base_url}/api/v2/assets/{kobo_form.asset_uid}"
    response = requests.get(url, headers=kobo_form.double.auth_headers(), allow_redirects=False,
                            timeout=TIMEOUT)
    assert response.status_code == 301
    assert response.headers["Location"] == url + "/"


# --------------------------------------------------------------------------- imports


def test_imports__poll_moves_processing_to_complete_and_asset_appears(
        kobo_double: KoboDouble) -> None:
    """An import should start 'processing', complete on a later poll, and create a survey."""
    created = send(kobo_double, "POST", "/api/v2/imports/",
                   files={"file": ("upload.xlsx", small_xlsform("TIP screening"))},
                   data={"name": "ignored name", "library": "false"}).json()
    assert created["status"] == "processing"
    assert created["uid"].startswith("i") and len(created["uid"]) == 22
    first = get(kobo_double, f"/api/v2/imports/{created['uid']}/").json()
    assert first["status"] == "processing"
    assert get(kobo_double, "/api/v2/assets/").json()["count"] == 0
    done = get(kobo_double, f"/api/v2/imports/{created['uid']}/").json()
    assert done["status"] == "complete"
    asset_uid = done["messages"]["created"][0]["uid"]
    asset = get(kobo_double, f"/api/v2/assets/{asset_uid}/").json()
    assert asset["asset_type"] == "survey"
    assert asset["name"] == "TIP screening"  # settings.form_title wins over `name`
    assert asset["has_deployment"] is False
    listed = get(kobo_double, "/api/v2/assets/").json()
    assert [a["uid"] for a in listed["results"]] == [asset_uid]


def test_imports__name_field_names_the_asset_without_form_title(kobo_double: KoboDouble) -> None:
    """Without form_title the `name` field (minus extension) should become the asset name."""
    xlsform = build_xlsform([("type", "name", "label"), ("integer", "age", "Age")])
    task = import_form(kobo_double, xlsform, name="screening.xlsx")
    asset = get(kobo_double, f"/api/v2/assets/{task['messages']['created'][0]['uid']}/").json()
    assert asset["name"] == "screening"


@pytest.mark.parametrize(("survey", "error", "error_type"), [
    ([("type", "name", "label"), ("integer", "age", "Age"), ("text", "age", "Again")],
     "Duplicate node name: age", "DuplicateNameException"),
    ([("type", "name", "label"), ("integer", "1age", "Age")],
     "Invalid node name: 1age", "ValueError"),
])
def test_imports__broken_names_end_in_error(kobo_double: KoboDouble, survey: list,
                                            error: str, error_type: str) -> None:
    """Invalid or duplicate node names should end the task in error with kpi's message."""
    task = import_form(kobo_double, build_xlsform(survey))
    assert task["status"] == "error"
    assert task["messages"] == {"error": error, "error_type": error_type}
    assert get(kobo_double, "/api/v2/assets/").json()["count"] == 0


def test_imports__corrupt_upload_and_missing_survey_sheet_error(kobo_double: KoboDouble) -> None:
    """A non-workbook should fail as XlsFormatException; a workbook without survey as SyntaxError."""
    corrupt = import_form(kobo_double, b"PK\x03\x04 not really a zip")
    assert corrupt["messages"] == {"error": "Unsupported format, or corrupt file",
                                   "error_type": "XlsFormatException"}
    no_survey = import_form(kobo_double, build_xlsform(
        [("type", "name", "label"), ("integer", "age", "Age")], survey_sheet="questions"))
    assert no_survey["messages"] == {
        "error": "xls upload must have one of these sheets: survey, library",
        "error_type": "SyntaxError"}


def test_imports__absent_library_field_makes_a_block(kobo_double: KoboDouble) -> None:
    """Leaving out library=false should create a 'block', which cannot be deployed (500)."""
    created = send(kobo_double, "POST", "/api/v2/imports/",
                   files={"file": ("f.xlsx", small_xlsform())}, data={"name": "x"}).json()
    get(kobo_double, f"/api/v2/imports/{created['uid']}/")
    task = get(kobo_double, f"/api/v2/imports/{created['uid']}/").json()
    uid = task["messages"]["created"][0]["uid"]
    assert get(kobo_double, f"/api/v2/assets/{uid}/").json()["asset_type"] == "block"
    deploy = send(kobo_double, "POST", f"/api/v2/assets/{uid}/deployment/", json={"active": True})
    assert deploy.status_code == 500


def test_imports__base64_upload_is_accepted(kobo_double: KoboDouble) -> None:
    """base64Encoded 'base64:<b64>' should import like a file upload."""
    encoded = "base64:" + base64.b64encode(small_xlsform()).decode()
    created = send(kobo_double, "POST", "/api/v2/imports/",
                   data={"base64Encoded": encoded, "name": "b64", "library": "false"}).json()
    get(kobo_double, f"/api/v2/imports/{created['uid']}/")
    assert get(kobo_double, f"/api/v2/imports/{created['uid']}/").json()["status"] == "complete"


def test_imports__destination_replaces_content_without_redeploying(kobo_form: KoboForm) -> None:
    """A destination import should report 'updated' + audit_logs and leave the deployment alone."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    before = get(double, f"/api/v2/assets/{uid}/").json()
    survey = [*SMALL_FORM_SURVEY, ("text", "extra", "Extra")]
    task = import_form(double, build_xlsform(survey, SMALL_FORM_CHOICES),
                       destination=f"{double.base_url}/api/v2/assets/{uid}/")
    assert task["status"] == "complete", task
    assert task["messages"]["updated"][0]["uid"] == uid
    audit = task["messages"]["audit_logs"][0]
    after = get(double, f"/api/v2/assets/{uid}/").json()
    assert audit["latest_version_uid"] == after["version_id"] != before["version_id"]
    assert after["deployed_version_id"] == before["deployed_version_id"]
    redeploy = send(double, "PATCH", f"/api/v2/assets/{uid}/deployment/",
                    json={"active": True, "version_id": after["version_id"]})
    assert redeploy.status_code == 200
    assert redeploy.json()["version_id"] == after["version_id"]


def test_imports__destination_of_another_user_errors(kobo_form: KoboForm) -> None:
    """Importing into an asset the caller cannot change should fail with PermissionDenied."""
    double = kobo_form.double
    other = double.add_user("intruder")
    created = send(double, "POST", "/api/v2/imports/", token=other,
                   files={"file": ("f.xlsx", small_xlsform())},
                   data={"name": "x", "library": "false",
                         "destination": f"/api/v2/assets/{kobo_form.asset_uid}/"}).json()
    processing = get(double, f"/api/v2/imports/{created['uid']}/", token=other).json()
    assert (processing["status"], processing["messages"]) == ("processing", {})
    task = get(double, f"/api/v2/imports/{created['uid']}/", token=other).json()
    assert task["messages"] == {"error": "user cannot update asset",
                                "error_type": "PermissionDenied"}
    assert get(double, f"/api/v2/imports/{created['uid']}/").status_code == 404


# --------------------------------------------------------------------------- deployment


def new_survey(double: KoboDouble, xlsform: bytes | None = None) -> str:
    task = import_form(double, xlsform or small_xlsform())
    return task["messages"]["created"][0]["uid"]


def test_deployment__post_is_200_and_a_second_post_is_405(kobo_double: KoboDouble) -> None:
    """First deploy should answer 200 with deployment JSON; deploying again should be 405."""
    uid = new_survey(kobo_double)
    assert get(kobo_double, f"/api/v2/assets/{uid}/deployment/").status_code == 404
    first = send(kobo_double, "POST", f"/api/v2/assets/{uid}/deployment/", json={"active": True})
    assert first.status_code == 200
    body = first.json()
    assert body["backend"] == "openrosa" and body["active"] is True
    assert body["version_id"] == body["asset"]["version_id"]
    assert body["asset"]["deployment__links"]["url"].startswith("https://")
    second = send(kobo_double, "POST", f"/api/v2/assets/{uid}/deployment/", json={"active": True})
    assert second.status_code == 405
    assert second.json() == {"detail": "Use PATCH to update an existing deployment"}


def test_deployment__active_omitted_deploys_archived_without_links(kobo_double: KoboDouble) -> None:
    """POST without `active` should deploy archived, with empty deployment__links."""
    uid = new_survey(kobo_double)
    send(kobo_double, "POST", f"/api/v2/assets/{uid}/deployment/", data={"backend": "openrosa"})
    asset = get(kobo_double, f"/api/v2/assets/{uid}/").json()
    assert asset["deployment_status"] == "archived"
    assert asset["deployment__links"] == {}
    with pytest.raises(SubmissionRefused):
        kobo_double.add_submission(uid, numbers(1))


def test_deployment__patch_before_post_is_405(kobo_double: KoboDouble) -> None:
    """PATCHing a never-deployed asset should be 405 'Use POST…'."""
    uid = new_survey(kobo_double)
    response = send(kobo_double, "PATCH", f"/api/v2/assets/{uid}/deployment/",
                    json={"active": True})
    assert response.status_code == 405
    assert response.json() == {"detail": "Use POST to create a new deployment"}


def test_deployment__stale_version_id_is_500(kobo_form: KoboForm) -> None:
    """Redeploying a version_id that is not the current one should fail with 500 (kpi#2205)."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    old = get(double, f"/api/v2/assets/{uid}/").json()["version_id"]
    import_form(double, build_xlsform([*SMALL_FORM_SURVEY, ("text", "x", "X")],
                                      SMALL_FORM_CHOICES),
                destination=f"/api/v2/assets/{uid}/")
    response = send(double, "PATCH", f"/api/v2/assets/{uid}/deployment/",
                    json={"active": True, "version_id": old})
    assert response.status_code == 500
    assert "text/html" in response.headers["Content-Type"]


def test_deployment__pyxform_error_is_400_error(kobo_double: KoboDouble) -> None:
    """Content pyxform rejects should import fine and fail to deploy with 400 {"error": …}."""
    uid = new_survey(kobo_double, build_xlsform([("type", "name"), ("integer", "age")]))
    response = send(kobo_double, "POST", f"/api/v2/assets/{uid}/deployment/",
                    json={"active": True})
    assert response.status_code == 400
    assert response.json() == {"error": "The survey element named 'age' has no label or hint."}


def test_deployment__patch_active_toggles_archive_only(kobo_form: KoboForm) -> None:
    """PATCH {"active": false} should archive without a new deployed version."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    before = get(double, f"/api/v2/assets/{uid}/").json()
    response = send(double, "PATCH", f"/api/v2/assets/{uid}/deployment/", json={"active": False})
    assert response.json()["active"] is False
    after = get(double, f"/api/v2/assets/{uid}/").json()
    assert after["deployment_status"] == "archived"
    assert after["deployed_versions"]["count"] == before["deployed_versions"]["count"] == 1


def test_deployment__xform_carries_uid_version_string_and_version_row(kobo_form: KoboForm) -> None:
    """The deployed XForm should use the asset uid as id, 'N (date)' as version, and a __version__ calculate."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    version_id = get(double, f"/api/v2/assets/{uid}/").json()["deployed_version_id"]
    xform = double.deployed_xform(uid) or ""
    assert f'<{uid} id="{uid}" version="{double.form_version(uid)}"' in xform
    assert (double.form_version(uid) or "").startswith("1 (")
    assert f"'{version_id}'" in xform and "__version__" in xform


# --------------------------------------------------------------------------- data paging


def test_data__default_page_is_100_and_limit_is_capped_at_1000(kobo_form: KoboForm) -> None:
    """No limit should give 100 rows; limit=5000 should silently give 1000 and a capped next link."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    double.add_generated_submissions(uid, 1005, numbers)
    default = get(double, kobo_form.data_url).json()
    assert default["count"] == 1005 and len(default["results"]) == 100
    capped = get(double, kobo_form.data_url, limit=5000).json()
    assert len(capped["results"]) == 1000
    assert parse_qs(urlsplit(capped["next"]).query) == {"limit": ["1000"], "start": ["1000"]}
    assert capped["previous"] is None


def test_data__next_links_cover_every_record_exactly_once(kobo_form: KoboForm) -> None:
    """Following next from limit=1000 should visit 3 pages and each of 2500 records once."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    ids = double.add_generated_submissions(uid, 2500, numbers)
    records, urls = all_pages(double, kobo_form.data_url, limit=1000, sort='{"_id": 1}')
    assert [r["_id"] for r in records] == ids
    assert len(urls) == 3
    assert all(parse_qs(urlsplit(u).query)["sort"] == ['{"_id": 1}'] for u in urls[1:])
    last = get(double, urls[-1]).json()
    assert parse_qs(urlsplit(last["previous"]).query)["start"] == ["1000"]
    second = get(double, urls[1]).json()
    assert "start" not in parse_qs(urlsplit(second["previous"]).query)


@pytest.mark.parametrize("limit", ["0", "-5", "abc"])
def test_data__non_positive_limit_is_400(kobo_form: KoboForm, limit: str) -> None:
    """limit=0, negative or non-integer should be 400 {"limit": "A positive integer is required"}."""
    response = get(kobo_form.double, kobo_form.data_url, limit=limit)
    assert response.status_code == 400
    assert response.json() == {"limit": "A positive integer is required"}


def test_data__count_parameter_and_bad_query_are_400(kobo_form: KoboForm) -> None:
    """`count` should be refused, invalid JSON and unknown operators answered 400."""
    double = kobo_form.double
    assert get(double, kobo_form.data_url, count=1).status_code == 400
    bad_json = get(double, kobo_form.data_url, query="{not json")
    assert bad_json.status_code == 400 and bad_json.json() == {"query": "Value must be valid JSON."}
    unsupported = get(double, kobo_form.data_url, query='{"_id": {"$bogus": 1}}')
    assert unsupported.status_code == 400 and unsupported.json() == ["Unsupported query"]


def test_data__undeployed_asset_is_400(kobo_double: KoboDouble) -> None:
    """/data/ on a draft asset should answer 400 'has not been deployed'."""
    uid = new_survey(kobo_double)
    response = get(kobo_double, f"/api/v2/assets/{uid}/data/")
    assert response.status_code == 400
    assert response.json() == {"detail": "The specified asset has not been deployed"}


def test_data__query_filters_by_id_and_submission_time(kobo_form: KoboForm) -> None:
    """`_id` $gt and `_submission_time` $gte filters should select the right rows and counts."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    start = dt.datetime(2026, 3, 1, 10, 0, 0, tzinfo=dt.UTC)
    ids = double.add_generated_submissions(uid, 300, numbers, first_time=start,
                                           interval=dt.timedelta(minutes=1))
    by_id, _ = all_pages(double, kobo_form.data_url, limit=100,
                         query=json.dumps({"_id": {"$gt": ids[249]}}))
    assert [r["_id"] for r in by_id] == ids[250:]
    response = get(double, kobo_form.data_url, limit=20,
                   query=json.dumps({"_submission_time": {"$gte": "2026-03-01T14:00:00"}}))
    body = response.json()
    assert body["count"] == 60
    assert body["results"][0]["_submission_time"] == "2026-03-01T14:00:00"
    assert parse_qs(urlsplit(body["next"]).query)["query"] == [
        json.dumps({"_submission_time": {"$gte": "2026-03-01T14:00:00"}})]
    by_answer = get(double, kobo_form.data_url,
                    query=json.dumps({"grp_person/sex": "female", "grp_person/age": "21"})).json()
    assert by_answer["count"] == 6  # index 1, 51, 101, … (age 21 is odd, so female)


def test_data__sort_descending_by_submission_time(kobo_form: KoboForm) -> None:
    """sort={"_submission_time": -1} should return the newest record first."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    first = double.add_submission(uid, numbers(1), submitted_at=base)
    newest = double.add_submission(uid, numbers(2), submitted_at=base + dt.timedelta(days=2))
    middle = double.add_submission(uid, numbers(3), submitted_at=base + dt.timedelta(days=1))
    body = get(double, kobo_form.data_url, sort='{"_submission_time": -1}').json()
    assert [r["_id"] for r in body["results"]] == [newest, middle, first]


def test_data__records_are_kobo_shaped(kobo_form: KoboForm) -> None:
    """Values should be strings, groups `/` paths, repeats lists with full-path keys, empties omitted."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    sid = double.add_submission(uid, {
        "grp_person": {"age": 34, "sex": "female"},
        "grp_contacts": [{"contact_name": "A"}, {"grp_contacts/contact_name": "B"}],
        "photo": "",
    }, submitted_at=dt.datetime(2026, 3, 1, 10, 20, 0, 123456, tzinfo=dt.UTC))
    record = get(double, kobo_form.data_url).json()["results"][0]
    assert record["_id"] == sid
    assert record["grp_person/age"] == "34" and record["grp_person/sex"] == "female"
    assert record["grp_contacts"] == [{"grp_contacts/contact_name": "A"},
                                      {"grp_contacts/contact_name": "B"}]
    assert "photo" not in record
    assert record["_submission_time"] == "2026-03-01T10:20:00"
    assert record["_uuid"] == record["meta/instanceID"].removeprefix("uuid:")
    assert record["meta/rootUuid"] == record["meta/instanceID"]
    assert record["__version__"] == get(double, f"/api/v2/assets/{uid}/").json()[
        "deployed_version_id"]
    assert record["_xform_id_string"] == uid
    assert record["_validation_status"] == {} and record["_attachments"] == []
    assert record["_status"] == "submitted_via_web" and record["_submitted_by"] is None
    assert len(record["formhub/uuid"]) == 32


def test_data__fields_projection_always_adds_uuid_and_root_uuid(kobo_form: KoboForm) -> None:
    """fields=["_id"] should return _id plus _uuid and meta/rootUuid only."""
    kobo_form.double.add_submission(kobo_form.asset_uid, numbers(1))
    record = get(kobo_form.double, kobo_form.data_url, fields='["_id"]').json()["results"][0]
    assert set(record) == {"_id", "_uuid", "meta/rootUuid"}


def test_data__single_record_by_id_uuid_and_as_xml(kobo_form: KoboForm) -> None:
    """/data/{id}/ should accept `_id` or `_uuid`, and /data/{id}.xml give the instance XML."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    sid = double.add_submission(uid, {"grp_person": {"age": 7}})
    record = get(double, f"/api/v2/assets/{uid}/data/{sid}/").json()
    assert get(double, f"/api/v2/assets/{uid}/data/{record['_uuid']}/").json()["_id"] == sid
    xml = get(double, f"/api/v2/assets/{uid}/data/{sid}.xml")
    assert xml.headers["Content-Type"].startswith("application/xml")
    assert "<grp_person><age>7</age></grp_person>" in xml.text
    assert f"<instanceID>{record['meta/instanceID']}</instanceID>" in xml.text
    assert get(double, f"/api/v2/assets/{uid}/data/999999/").status_code == 404


def test_data__offset_moves_the_links_but_not_the_results(kobo_form: KoboForm) -> None:
    """`offset` should shape next/previous but not the rows: only `start` reaches the query."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    ids = double.add_generated_submissions(uid, 30, numbers)
    body = get(double, kobo_form.data_url, limit=10, offset=10).json()
    assert [r["_id"] for r in body["results"]] == ids[:10]
    assert parse_qs(urlsplit(body["next"]).query)["start"] == ["20"]


def test_data__xml_list_wraps_raw_instances(kobo_form: KoboForm) -> None:
    """/data.xml should give <root> with count, next, previous and the raw instances."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    double.add_submission(uid, numbers(1))
    double.add_submission(uid, numbers(2))
    text = get(double, f"/api/v2/assets/{uid}/data.xml", limit=1).text
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?><root><count>2</count><next>')
    assert text.count(f"<{uid} id=") == 1
    assert get(double, f"/api/v2/assets/{uid}/data.xml", sort='{"_id": -1}').status_code == 400


def test_assets__list_pages_with_next_links(kobo_double: KoboDouble) -> None:
    """The asset list should page with start/limit and report the total count."""
    uids = {kobo_double.create_form(small_xlsform(f"Form {n}")) for n in range(3)}
    records, urls = all_pages(kobo_double, "/api/v2/assets/", limit=2)
    assert {r["uid"] for r in records} == uids and len(urls) == 2
    assert all(r["deployment_status"] == "deployed" for r in records)
    versions = get(kobo_double, f"/api/v2/assets/{records[0]['uid']}/versions/").json()
    assert versions["count"] == 1 and versions["results"][0]["uid"] == records[0]["version_id"]


def test_imports__task_list_shows_only_the_callers_tasks(kobo_double: KoboDouble) -> None:
    """GET /api/v2/imports/ should list the caller's tasks with their URLs."""
    task = import_form(kobo_double, small_xlsform())
    other = kobo_double.add_user("other")
    mine = get(kobo_double, "/api/v2/imports/").json()
    assert [t["uid"] for t in mine["results"]] == [task["uid"]]
    assert mine["results"][0]["url"].endswith(f"/api/v2/imports/{task['uid']}/")
    assert get(kobo_double, "/api/v2/imports/", token=other).json()["count"] == 0


# --------------------------------------------------------------------------- edits, deletes


def test_edit__keeps_id_and_time_changes_uuid_and_sets_deprecated_id(kobo_form: KoboForm) -> None:
    """An edit should keep _id, rootUuid and _submission_time, and move the old instanceID."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    sid = double.add_submission(uid, numbers(1))
    before = get(double, f"/api/v2/assets/{uid}/data/{sid}/").json()
    double.advance_clock(3600)
    new_instance = double.edit_submission(uid, sid, {"grp_person/age": 35})
    after = get(double, f"/api/v2/assets/{uid}/data/{sid}/").json()
    assert after["_id"] == before["_id"]
    assert after["_submission_time"] == before["_submission_time"]
    assert after["meta/rootUuid"] == before["meta/rootUuid"]
    assert after["meta/instanceID"] == new_instance != before["meta/instanceID"]
    assert after["meta/deprecatedID"] == before["meta/instanceID"]
    assert after["_uuid"] != before["_uuid"]
    assert after["grp_person/age"] == "35"


def test_edit__found_by_deprecated_id_query_not_by_submission_time(kobo_form: KoboForm) -> None:
    """After an edit `_submission_time > X` should miss it and `meta/deprecatedID` $exists find it."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    sid = double.add_submission(uid, numbers(1))
    cutoff = double.submission(uid, sid)["_submission_time"]
    double.advance_clock(60)
    double.edit_submission(uid, sid, {"grp_person/sex": "male"})
    newer = get(double, kobo_form.data_url,
                query=json.dumps({"_submission_time": {"$gt": cutoff}})).json()
    assert newer["count"] == 0
    edited = get(double, kobo_form.data_url,
                 query='{"meta/deprecatedID": {"$exists": true}}').json()
    assert [r["_id"] for r in edited["results"]] == [sid]


def test_delete__http_delete_answers_204_and_the_record_is_gone(kobo_form: KoboForm) -> None:
    """DELETE /data/{id}/ should be 204, and the test API delete should shrink the count too."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    first, second = double.add_submission(uid, numbers(1)), double.add_submission(uid, numbers(2))
    assert send(double, "DELETE", f"/api/v2/assets/{uid}/data/{first}/").status_code == 204
    double.delete_submission(uid, second)
    assert get(double, kobo_form.data_url).json()["count"] == 0


def test_validation_status__patch_sets_and_record_shows_it(kobo_form: KoboForm) -> None:
    """PATCH validation_status should store Kobo's status object on the record."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    sid = double.add_submission(uid, numbers(1))
    response = send(double, "PATCH", f"/api/v2/assets/{uid}/data/{sid}/validation_status/",
                    json={"validation_status.uid": "validation_status_approved"})
    assert response.json()["label"] == "Approved"
    assert double.submission(uid, sid)["_validation_status"]["uid"] == "validation_status_approved"


# --------------------------------------------------------------------------- attachments


def test_attachments__download_needs_the_token(kobo_form: KoboForm) -> None:
    """_attachments download_url should serve the bytes with a token and 401 without one."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    sid = double.add_submission(uid, {"photo": "face.jpg"}, attachments={"face.jpg": b"JPEGDATA"})
    attachment = double.submission(uid, sid)["_attachments"][0]
    assert attachment["question_xpath"] == "photo" and attachment["mimetype"] == "image/jpeg"
    assert attachment["download_small_url"].endswith("/small/")
    response = get(double, attachment["download_url"])
    assert response.content == b"JPEGDATA"
    assert response.headers["Content-Type"] == "image/jpeg"
    assert requests.get(attachment["download_url"], timeout=TIMEOUT).status_code == 401
    by_xpath = get(double, f"/api/v2/assets/{uid}/data/{sid}/attachments/", xpath="photo")
    assert by_xpath.content == b"JPEGDATA"


# --------------------------------------------------------------------------- encrypted forms


def test_encrypted__manifest_is_served_and_decrypts(kobo_double: KoboDouble) -> None:
    """An encrypted record should show the flattened manifest, serve .enc files, and decrypt."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    uid = kobo_double.create_form(small_xlsform(
        public_key=public, submission_url="https://kc.kobotoolbox.org/submission"))
    assert get(kobo_double, f"/api/v2/assets/{uid}/").json()["deployment__encrypted"] is True
    instance_id = "uuid:3f6c2a8e-1b7d-4c9e-a5f0-2d8b6e4a1c97"
    plaintext = f"<{uid} id=\"{uid}\"><meta><instanceID>{instance_id}</instanceID></meta></{uid}>"
    encrypted = encrypt_submission(
        key.public_key(), form_id=uid, version=kobo_double.form_version(uid),
        instance_id=instance_id, submission_xml=plaintext.encode(),
        media={"photo.jpg": b"p" * 40, "signature.png": b"s" * 17})
    sid = kobo_double.add_encrypted_submission(uid, encrypted.manifest_xml, encrypted.files)

    record = get(kobo_double, f"/api/v2/assets/{uid}/data/{sid}/").json()
    assert record["encryptedXmlFile"] == "submission.xml.enc"
    assert record["media"] == [{"media/file": "photo.jpg.enc"}, {"media/file": "signature.png.enc"}]
    assert len(record["base64EncryptedKey"]) == 344
    assert record["meta/instanceID"] == instance_id and record["_uuid"] == instance_id[5:]
    assert "__version__" not in record and "formhub/uuid" not in record
    names = [a["media_file_basename"] for a in record["_attachments"]]
    assert names == ["submission.xml.enc", "photo.jpg.enc", "signature.png.enc"]
    manifest = get(kobo_double, f"/api/v2/assets/{uid}/data/{sid}.xml").content
    files = {a["media_file_basename"]: get(kobo_double, a["download_url"]).content
             for a in record["_attachments"]}
    decrypted = decrypt_submission(manifest, files, key)
    assert decrypted.submission_xml == plaintext.encode()
    assert dict(decrypted.media) == {"photo.jpg": b"p" * 40, "signature.png": b"s" * 17}
    with pytest.raises(SubmissionRefused):
        kobo_double.edit_submission(uid, sid, {"x": "y"})


def test_encrypted__manifest_for_another_form_is_refused(kobo_form: KoboForm) -> None:
    """A manifest whose id is not the asset uid should be refused like OpenRosa's 404."""
    manifest = (b'<data xmlns="http://opendatakit.org/submissions" id="aOther" encrypted="yes">'
                b"<base64EncryptedKey>k</base64EncryptedKey><encryptedXmlFile>submission.xml.enc"
                b'</encryptedXmlFile><meta xmlns="http://openrosa.org/xforms"><instanceID>uuid:1'
                b"</instanceID></meta></data>")
    with pytest.raises(SubmissionRefused):
        kobo_form.double.add_encrypted_submission(kobo_form.asset_uid, manifest, {})


# --------------------------------------------------------------------------- REST Services


def test_hooks__create_list_detail_patch_delete(kobo_form: KoboForm) -> None:
    """Hooks should round-trip through POST, GET list/detail, PATCH and DELETE."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    created = create_hook(double, uid, "https://sync.example.org/kobo/hook",
                          settings={"custom_headers": {"X-Tipdata-Source": "kobo"}},
                          subset_fields=["_id", "grp_person"])
    assert created["uid"].startswith("h") and created["active"] is True
    assert created["export_type"] == "json" and created["auth_level"] == "no_auth"
    assert created["logs_url"].endswith(f"/hooks/{created['uid']}/logs/")
    assert (created["success_count"], created["failed_count"], created["pending_count"]) == (0, 0, 0)
    listing = get(double, f"/api/v2/assets/{uid}/hooks/").json()
    assert [h["uid"] for h in listing["results"]] == [created["uid"]]
    patched = send(double, "PATCH", f"/api/v2/assets/{uid}/hooks/{created['uid']}/",
                   json={"active": False}).json()
    assert patched["active"] is False and patched["name"] == "tipdata-ingest"
    assert send(double, "DELETE", f"/api/v2/assets/{uid}/hooks/{created['uid']}/").status_code == 204
    assert get(double, f"/api/v2/assets/{uid}/hooks/{created['uid']}/").status_code == 404


@pytest.mark.parametrize(("body", "errors"), [
    ({"endpoint": "https://x.org"}, {"name": ["This field is required."]}),
    ({"name": "n"}, {"endpoint": ["This field is required."]}),
    ({"name": "n", "endpoint": "ftp://x.org"}, {"endpoint": ["Invalid scheme"]}),
    ({"name": "n", "endpoint": "https://x.org", "payload_template": "{oops"},
     {"payload_template": ["Invalid JSON"]}),
    ({"name": "n", "endpoint": "https://x.org", "export_type": "xml",
      "payload_template": '{"s": %SUBMISSION%}'},
     {"payload_template": ["Can be used only with JSON submission format"]}),
    ({"name": "n", "endpoint": "https://x.org", "export_type": "csv"},
     {"export_type": ['"csv" is not a valid choice.']}),
])
def test_hooks__bad_bodies_are_400(kobo_form: KoboForm, body: dict, errors: dict) -> None:
    """Invalid hook bodies should be refused with 400 and DRF field errors."""
    response = send(kobo_form.double, "POST", f"/api/v2/assets/{kobo_form.asset_uid}/hooks/",
                    json=body)
    assert response.status_code == 400
    assert response.json() == errors


def test_hooks__fire_posts_submission_with_headers_subset_and_template(
        kobo_form: KoboForm, receiver: HookReceiver) -> None:
    """A delivery should POST JSON with custom headers, Kobo's User-Agent, subset and template."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    hook = create_hook(double, uid, receiver.url, auth_level="basic_auth",
                       settings={"username": "kobo", "password": "s3cret",
                                 "custom_headers": {"X-Tipdata-Source": "kobo"}},
                       subset_fields=["_id", "meta/rootUuid", "grp_person"],
                       payload_template='{"submission": %SUBMISSION%}')
    sid = double.add_submission(uid, numbers(3))
    assert len(receiver.received) == 1
    delivered = receiver.received[0]
    headers = {k.lower(): v for k, v in delivered["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-tipdata-source"] == "kobo"
    assert headers["user-agent"] == f"KoboToolbox external service #{hook['uid']}"
    assert headers["authorization"] == "Basic " + base64.b64encode(b"kobo:s3cret").decode()
    body = json.loads(delivered["body"])
    record = double.submission(uid, sid)
    assert body == {"submission": {"_id": sid, "grp_person/age": "23", "grp_person/sex": "female",
                                   "meta/rootUuid": record["meta/rootUuid"]}}
    logs = get(double, f"/api/v2/assets/{uid}/hooks/{hook['uid']}/logs/").json()["results"]
    assert [(log["submission_id"], log["status"], log["status_code"]) for log in logs] == [
        (sid, 2, 200)]


def test_hooks__only_on_creation_never_on_edit_or_for_older_records(
        kobo_form: KoboForm, receiver: HookReceiver) -> None:
    """Edits and repeated fire_hooks should send nothing; a newer hook never sees older records."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    older = double.add_submission(uid, numbers(1))
    create_hook(double, uid, receiver.url)
    assert double.fire_hooks(uid, older) == []
    sid = double.add_submission(uid, numbers(2))
    double.edit_submission(uid, sid, {"grp_person/age": 99})
    assert double.fire_hooks(uid, sid) == []
    assert len(receiver.received) == 1
    assert json.loads(receiver.received[0]["body"])["_id"] == sid


def test_hooks__retries_only_502_503_504_and_at_most_four_attempts(
        kobo_form: KoboForm, receiver: HookReceiver) -> None:
    """503 should leave the log pending for a retry; 4 retriable failures fail it; 400 fails at once."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    create_hook(double, uid, receiver.url)
    receiver.statuses = [503, 200]
    recovered = double.add_submission(uid, numbers(1))
    assert double.hook_logs(uid)[0]["status"] == 1
    assert double.run_hook_retries() == 1
    log = next(lg for lg in double.hook_logs(uid) if lg["submission_id"] == recovered)
    assert (log["status"], log["tries"], log["status_code"]) == (2, 2, 200)

    receiver.statuses = [502, 503, 504, 503, 200]
    gave_up = double.add_submission(uid, numbers(2))
    while double.run_hook_retries():
        pass
    log = next(lg for lg in double.hook_logs(uid) if lg["submission_id"] == gave_up)
    assert (log["status"], log["status_str"], log["tries"]) == (0, "failed", 4)

    receiver.statuses = [400]
    refused = double.add_submission(uid, numbers(3))
    log = next(lg for lg in double.hook_logs(uid) if lg["submission_id"] == refused)
    assert (log["status"], log["tries"], log["status_code"]) == (0, 1, 400)
    assert double.run_hook_retries() == 0


def test_hooks__read_timeout_counts_as_504_and_is_retried(
        kobo_form: KoboForm, receiver: HookReceiver) -> None:
    """A receiver slower than the hook timeout should log 504 and stay pending."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    double.hook_timeout = 0.2
    receiver.delay = 0.6
    create_hook(double, uid, receiver.url)
    double.add_submission(uid, numbers(1))
    log = double.hook_logs(uid)[0]
    assert (log["status"], log["status_code"]) == (1, 504)


def test_hooks__retry_endpoint_requeues_failed_logs(kobo_form: KoboForm,
                                                    receiver: HookReceiver) -> None:
    """PATCH hooks/{uid}/retry/ should requeue failed logs, then 304 when nothing is left."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    hook = create_hook(double, uid, receiver.url)
    receiver.statuses = [500]
    double.add_submission(uid, numbers(1))
    retry = send(double, "PATCH", f"/api/v2/assets/{uid}/hooks/{hook['uid']}/retry/")
    assert retry.status_code == 200
    assert retry.json()["detail"] == "Task successfully scheduled"
    assert len(retry.json()["pending_uids"]) == 1
    double.run_hook_retries()
    assert double.hook_logs(uid)[0]["status"] == 2
    again = send(double, "PATCH", f"/api/v2/assets/{uid}/hooks/{hook['uid']}/retry/")
    assert again.status_code == 304


def test_hooks__duplicate_delivery_fault_posts_twice(kobo_form: KoboForm,
                                                     receiver: HookReceiver) -> None:
    """With the duplicate fault armed one submission should reach the receiver twice."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    create_hook(double, uid, receiver.url)
    double.faults.duplicate_hook_deliveries(1)
    sid = double.add_submission(uid, numbers(1))
    assert [json.loads(r["body"])["_id"] for r in receiver.received] == [sid, sid]
    assert len(double.hook_deliveries) == 2


def test_hooks__xml_export_posts_the_pruned_instance(kobo_form: KoboForm,
                                                     receiver: HookReceiver) -> None:
    """An xml hook should POST application/xml holding only the subset fields."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    create_hook(double, uid, receiver.url, export_type="xml", subset_fields=["age"])
    double.add_submission(uid, numbers(4))
    delivered = receiver.received[0]
    headers = {k.lower(): v for k, v in delivered["headers"].items()}
    assert headers["content-type"] == "application/xml"
    body = delivered["body"].decode()
    assert "<grp_person><age>24</age></grp_person>" in body
    assert "<sex>" not in body and "<meta>" not in body


# --------------------------------------------------------------------------- faults


def test_faults__status_faults_answer_html_with_retry_after_then_recover(
        kobo_form: KoboForm) -> None:
    """fail_next(2, 503, retry_after=7) should give two 503s with Retry-After, then a 200."""
    double = kobo_form.double
    double.faults.fail_next(2, 503, retry_after=7, path_contains="/data/")
    assert get(double, "/api/v2/assets/").status_code == 200  # path filter: not /data/
    first = get(double, kobo_form.data_url)
    assert first.status_code == 503 and first.headers["Retry-After"] == "7"
    assert "text/html" in first.headers["Content-Type"]
    assert get(double, kobo_form.data_url).status_code == 503
    assert get(double, kobo_form.data_url).status_code == 200
    double.faults.fail_next(1, 502)
    bare = get(double, kobo_form.data_url)
    assert bare.status_code == 502 and "Retry-After" not in bare.headers


def test_faults__delay_makes_the_client_time_out(kobo_form: KoboForm) -> None:
    """delay_next should hold the answer long enough for a short client timeout to fire."""
    double = kobo_form.double
    double.faults.delay_next(1, seconds=1.5)
    with pytest.raises(requests.ReadTimeout):
        requests.get(kobo_form.data_url, headers=double.auth_headers(), timeout=0.3)
    assert get(double, kobo_form.data_url).status_code == 200


def test_faults__truncated_bodies(kobo_form: KoboForm) -> None:
    """A cut body should fail JSON parsing; a cut connection should fail the read itself."""
    double = kobo_form.double
    double.add_submission(kobo_form.asset_uid, numbers(1))
    double.faults.truncate_next(1, mode="body")
    cut = get(double, kobo_form.data_url)
    assert cut.status_code == 200
    with pytest.raises(ValueError):
        cut.json()
    double.faults.truncate_next(1, mode="connection")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(double, kobo_form.data_url)


def test_faults__insert_while_paging_shifts_newest_first_pages(kobo_form: KoboForm) -> None:
    """A record inserted after page 1 should make a newest-first pull see one record twice."""
    double, uid = kobo_form.double, kobo_form.asset_uid
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    double.add_generated_submissions(uid, 6, numbers, first_time=base)
    double.faults.change_data_while_paging(
        uid, lambda: double.add_submission(uid, numbers(9), submitted_at=base + dt.timedelta(days=9)))
    records, _ = all_pages(double, kobo_form.data_url, limit=3, sort='{"_submission_time": -1}')
    ids = [r["_id"] for r in records]
    assert len(ids) == 7 and len(set(ids)) == 6  # one duplicate, the new record never seen
    assert get(double, kobo_form.data_url).json()["count"] == 7


def test_faults__server_error_answers_html_500_and_keeps_serving(kobo_double: KoboDouble) -> None:
    """A request kpi crashes on (base64Encoded without 'base64') should be an HTML 500, then 200s."""
    response = send(kobo_double, "POST", "/api/v2/imports/", data={"base64Encoded": "abc"})
    assert response.status_code == 500
    assert "Server Error (500)" in response.text
    assert get(kobo_double, "/api/v2/assets/").status_code == 200


# --------------------------------------------------------------------------- request log


def test_request_log__records_method_path_params_status_only(kobo_form: KoboForm) -> None:
    """The request log should hold method, path, parameters and status — no body or token."""
    double = kobo_form.double
    double.clear_requests()
    get(double, kobo_form.data_url, limit=5)
    requests.get(kobo_form.data_url, timeout=TIMEOUT)
    log = double.requests
    assert [(r.method, r.status, dict(r.params)) for r in log] == [("GET", 200, {"limit": "5"}),
                                                                  ("GET", 401, {})]
    assert all(r.path == urlsplit(kobo_form.data_url).path for r in log)
    assert double.token not in repr(log)


# --------------------------------------------------------------------------- pure parts


def test_query__comparisons_respect_bson_type_classes() -> None:
    """A string should never compare with a number, as in Mongo."""
    assert matches({"_id": 5}, {"_id": {"$gt": 3}})
    assert not matches({"_id": 5}, {"_id": {"$gt": "3"}})
    assert not matches({"age": "40"}, {"age": {"$gt": 3}})
    assert matches({"age": "40"}, {"age": {"$gt": "3"}})  # string order, like Kobo's strings


def test_query__logical_array_and_regex_operators() -> None:
    """$or, $in, $exists, $regex/$options, $elemMatch and $not should follow Mongo semantics."""
    doc = {"a": "Jane", "rep": [{"rep/q": "x"}, {"rep/q": "y"}]}
    assert matches(doc, {"$or": [{"a": "x"}, {"a": {"$regex": "^ja", "$options": "i"}}]})
    assert matches(doc, {"a": {"$in": ["Jane", "Joe"]}, "b": {"$exists": False}})
    assert matches(doc, {"rep": {"$elemMatch": {"rep/q": "y"}}})
    assert matches(doc, {"rep.rep/q": "y"})
    assert matches(doc, {"a": {"$not": {"$regex": "^x"}}})
    with pytest.raises(UnsupportedQuery):
        matches(doc, {"a": {"$in": "Jane"}})
    assert parse_json_param('{"t": {"$date": "2026-01-01T00:00:00Z"}}')["t"].year == 2026


def test_normalize_answers__strings_paths_repeats_and_empties() -> None:
    """Answers should become Kobo strings with full paths, dropping empty values."""
    assert normalize_answers({"g": {"n": 3, "b": True, "e": None}, "m": ["a", "b"],
                              "r": [{"x": 1.5}, {}]}) == {
        "g/n": "3", "g/b": "true", "m": "a b", "r": [{"r/x": "1.5"}]}
    with pytest.raises(ValueError):
        normalize_answers({"_id": 3})


def test_flatten_instance_xml__single_and_repeated_media() -> None:
    """One <media> should flatten to media/file, several to a list of objects, prefixes kept."""
    one = flatten_instance_xml(b"<data id='a'><media><file>p.enc</file></media>"
                               b"<orx:meta xmlns:orx='x'><orx:instanceID>u</orx:instanceID>"
                               b"</orx:meta></data>")
    assert one == ("data", {"id": "a"}, {"media/file": "p.enc", "orx:meta/orx:instanceID": "u"})
    two = flatten_instance_xml(b"<data><media><file>a</file></media><media><file>b</file>"
                               b"</media><empty/></data>")[2]
    assert two == {"media": [{"media/file": "a"}, {"media/file": "b"}]}
