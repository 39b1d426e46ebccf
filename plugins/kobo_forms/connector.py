"""KoboToolbox API v2 client: one session, one small service per remote resource.

    client = KoboClient.from_environment()           # TIPDATA_KOBO_URL + TIPDATA_KOBO_TOKEN
    asset = client.assets.get("aJ7sd2kqWcH5YbVfXe8mLp")
    for page in client.data.iter_pages(asset["uid"], since=1200):
        ...

The shape follows the other connectors (`tipdata.http`): `PlatformSession` owns timeouts,
retries on 429/502/503/504 and dropped connections, the User-Agent and the `Authorization: Token`
header; this module adds the resources (`assets`, `imports`, `deployment`, `data`, `attachments`,
`hooks`), Kobo's failure modes as fix hints, and two retries Kobo needs beyond the shared ones:
GETs are also retried on HTTP 500 and on a body that is not valid JSON (a response cut short),
because reading is idempotent and both happen on busy servers. Writes are never retried after
they may have reached the server (a second import would create a second asset).

Paging never trusts the page size: Kobo caps `limit` (1000 today, 30000 on older servers,
kobo-api.md §5.1) without saying so. `data.iter_pages` asks for `_id` > the last id it saw,
ordered by `_id`, and stops when the server says there is no `next` page; see its docstring for
why it re-anchors on `_id` instead of following the offset link.

Where Kobo is and the token come from the arguments, else the environment (`TIPDATA_KOBO_URL`,
`TIPDATA_KOBO_TOKEN`, or `TIPDATA_KOBO_TOKEN_FILE` naming a file that holds it), else the
`[kobo]` table of the config file (`--config`, `TIPDATA_CONFIG`, `~/.config/tipdata/config.toml`).
The token is never printed, logged or put in an error.
"""

from __future__ import annotations

import json
import logging
import os
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tipdata.http import PlatformError, PlatformSession, ServiceConfig, resolve_secret

log = logging.getLogger("tipdata.kobo")

URL_ENV = "TIPDATA_KOBO_URL"
TOKEN_ENV = "TIPDATA_KOBO_TOKEN"
TOKEN_FILE_ENV = "TIPDATA_KOBO_TOKEN_FILE"
CONFIG_ENV = "TIPDATA_CONFIG"
DEFAULT_CONFIG_PATH = Path("~/.config/tipdata/config.toml")
#: The most Kobo returns per page today; the server caps larger requests silently (§5.1).
MAX_PAGE_SIZE = 1000
#: `$in` lists are kept short so the query string stays well below URL length limits.
IDS_PER_QUERY = 100


class KoboImportFailed(PlatformError):
    """An import task ended in `error`; carries Kobo's message and exception class name."""


def load_config_file(path: Path | None = None) -> dict[str, Any]:
    """The `[kobo]` table of the tipdata config file, or {} when there is none.

    Lookup: the given path, else `TIPDATA_CONFIG`, else `~/.config/tipdata/config.toml`. A file
    that was named explicitly must exist.
    """
    named = path or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    candidate = (named or DEFAULT_CONFIG_PATH).expanduser()
    if not candidate.is_file():
        if named is not None:
            raise ValueError(f"config file {candidate} does not exist")
        return {}
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read config file {candidate}: {exc}") from None
    table = data.get("kobo", {})
    if not isinstance(table, dict):
        raise ValueError(f"config file {candidate}: [kobo] must be a table")
    if "token_file" in table and "token" not in table:
        token_path = Path(str(table["token_file"])).expanduser()
        try:
            table = {**table, "token": token_path.read_text(encoding="utf-8").strip()}
        except OSError as exc:
            raise ValueError(f"cannot read the token file {token_path} named in {candidate}: "
                             f"{exc.strerror}") from None
    return table


def resolve_kobo_config(url: str | None = None, token: str | None = None, *,
                        config_file: Path | None = None, timeout: float = 30.0,
                        retries: int = 4) -> ServiceConfig:
    """Server and token: argument > environment > token file > config file.

    >>> resolve_kobo_config("https://kf.kobotoolbox.org", "0123abcd…").base_url
    'https://kf.kobotoolbox.org'
    """
    config = load_config_file(config_file) if not (url and token) else {}
    base_url = url or os.environ.get(URL_ENV) or config.get("url")
    if not base_url:
        raise ValueError(f"no KoboToolbox server given; set {URL_ENV} (e.g. "
                         "https://kf.kobotoolbox.org or https://eu.kobotoolbox.org) or `url` "
                         "under [kobo] in the config file")
    secret = resolve_secret(token, TOKEN_ENV, TOKEN_FILE_ENV, config, "token")
    return ServiceConfig(str(base_url), secret, timeout=float(config.get("timeout", timeout)),
                         retries=retries)


def kobo_hint(status: int | None, message: str) -> str:
    """How to fix a failed Kobo request, from its status and Kobo's own words."""
    lowered = message.lower()
    if status is None:
        return (f"check {URL_ENV}: it must be the KPI host (https://kf.kobotoolbox.org, "
                "https://eu.kobotoolbox.org, or your own kf. host — not the kc. host), and that "
                "this machine can reach it")
    if status == 401:
        return (f"the API token was refused; copy it again from Kobo → Account Settings → "
                f"Security (or GET /token/?format=json) into {TOKEN_ENV}")
    if status == 403:
        return ("this account can see the project but not change it; ask the owner for the "
                "'Edit form' permission (change_asset)")
    if status == 404:
        return ("no access or wrong uid: Kobo answers 404 both when the asset does not exist "
                "and when this token's account may not view it; check the uid and that the "
                "project is shared with the account")
    if status == 400 and "not been deployed" in lowered:
        return "deploy the form first: tipdata kobo deploy FORM"
    if status == 400 and "limit" in lowered:
        return "ask for a positive page size (limit); Kobo caps it at 1000"
    if status == 402:
        return "the Kobo account is over its usage limit; free space or upgrade the plan"
    if status == 405 and "patch" in lowered:
        return "the form is already deployed; redeploy with PATCH (tipdata kobo deploy does)"
    if status == 405 and "post" in lowered:
        return "the form was never deployed; deploy with POST first (tipdata kobo deploy does)"
    if status == 500:
        return ("a server error; if this was a deployment, the version_id was not the asset's "
                "current one (kpi#2205) — re-read the asset and retry")
    if status in (502, 503, 504):
        return "the server is busy or restarting; retry in a few minutes"
    return ""


@dataclass(frozen=True)
class DataPage:
    """One page of submissions as Kobo returned it."""

    results: list[dict[str, Any]]
    count: int | None
    has_more: bool


class KoboClient:
    """A KoboToolbox server: `client.assets`, `.imports`, `.deployment`, `.data`, `.hooks`."""

    def __init__(self, config: ServiceConfig, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self.session = PlatformSession(config, {"Authorization": f"Token {config.secret}"},
                                       hint=kobo_hint, session=session, sleep=sleep)
        self.assets = AssetService(self)
        self.imports = ImportService(self)
        self.deployment = DeploymentService(self)
        self.data = DataService(self)
        self.attachments = AttachmentService(self)
        self.hooks = HookService(self)

    @classmethod
    def from_environment(cls, url: str | None = None, token: str | None = None, *,
                         config_file: Path | None = None, **kwargs: Any) -> KoboClient:
        """A client configured from arguments, environment or the config file (in that order)."""
        return cls(resolve_kobo_config(url, token, config_file=config_file), **kwargs)

    def __repr__(self) -> str:
        return f"KoboClient({self.config.base_url!r})"

    # --- the raw escape hatch -------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON resource, retrying transient failures; `path` is relative to the server."""
        return self._read(path, params, lambda response: response.json())

    def get_bytes(self, path: str, params: Mapping[str, Any] | None = None, *,
                  accept: str = "*/*") -> bytes:
        """GET raw bytes (XML, attachments) with the same retries as `get`."""
        return self._read(path, params, lambda response: response.content,
                          headers={"Accept": accept})

    def request(self, method: str, path: str, *, expected: Sequence[int] = (200,),
                **kwargs: Any) -> requests.Response:
        """Any request through the shared session (writes are not retried once sent)."""
        return self.session.request(method, path, expected=expected, **kwargs)

    def _read(self, path: str, params: Mapping[str, Any] | None,
              decode: Callable[[requests.Response], Any],
              headers: Mapping[str, str] | None = None) -> Any:
        attempts = self.config.retries + 1
        url = self.session.url(path)
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.request("GET", path, params=params, headers=headers)
            except PlatformError as exc:
                if exc.status != 500 or attempt == attempts:
                    raise
            except (requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:  # body cut mid-transfer
                if attempt == attempts:
                    raise PlatformError("GET", url, None, f"the response was cut short "
                                        f"({type(exc).__name__})", kobo_hint(None, "")) from None
            else:
                try:
                    return decode(response)
                except ValueError:  # JSON cut short, or an HTML page in place of JSON
                    if attempt == attempts:
                        raise PlatformError("GET", url, response.status_code, "the response is "
                                            "not valid JSON (cut short, or an HTML page instead "
                                            "of the API)", "retry; if it persists, check the "
                                            "server URL is the KPI host (kf.…)") from None
            self._sleep(min(self.config.backoff * 2 ** (attempt - 1), self.config.max_backoff))
        raise AssertionError("unreachable")

    def asset_path(self, asset_uid: str) -> str:
        _check_uid(asset_uid, "a", "asset")
        return f"api/v2/assets/{asset_uid}/"

    def same_server(self, url: str) -> bool:
        """True when `url` points at this server (so the token may be sent there)."""
        ours, theirs = urlsplit(self.config.base_url), urlsplit(url)
        return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)


def _check_uid(uid: str, prefix: str, what: str) -> None:
    if not uid or not uid.startswith(prefix) or not uid.isalnum():
        raise ValueError(f"{uid!r} is not a Kobo {what} uid (they look like "
                         f"{prefix}J7sd2kqWcH5YbVfXe8mLp)")


def _paged(client: KoboClient, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every result of a list endpoint, following `next` (lists other than /data/)."""
    body = client.get(path, params)
    while True:
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise PlatformError("GET", client.session.url(path), 200,
                                "the answer is not a Kobo list ({count, next, results})",
                                "check the server URL is the KPI host (kf.…)")
        yield from body["results"]
        next_url = body.get("next")
        if not next_url:
            return
        if not client.same_server(next_url):
            raise PlatformError("GET", next_url, None, "the next-page link points at another "
                                "server; not following it with the token",
                                f"set {URL_ENV} to the server's public URL")
        body = client.get(next_url)


class AssetService:
    """`/api/v2/assets/`: projects (surveys), blocks and templates."""

    def __init__(self, client: KoboClient) -> None:
        self._client = client

    def list(self, *, query: str | None = None,
             page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every asset the token's account can view (matching kpi's `q` search), page by page.

        The list view is a summary without `content`; `get` reads one asset in full.
        """
        params: dict[str, Any] = {"limit": page_size, "format": "json"}
        if query:
            params["q"] = query
        return _paged(self._client, "api/v2/assets/", params)

    def get(self, asset_uid: str) -> dict[str, Any]:
        """One asset with its content, version ids and deployment fields (§4.3)."""
        return self._client.get(self._client.asset_path(asset_uid), {"format": "json"})

    def url(self, asset_uid: str) -> str:
        """The asset's API URL, as `destination` of a replacing import wants it."""
        return self._client.session.url(self._client.asset_path(asset_uid))


class ImportService:
    """`/api/v2/imports/`: create or replace an asset from an XLSForm (§3)."""

    def __init__(self, client: KoboClient) -> None:
        self._client = client

    def create(self, xlsx: bytes, *, name: str, destination: str | None = None,
               filename: str = "form.xlsx") -> str:
        """Start an import; returns the task uid (poll it with `wait`).

        Always sends `library=false` (an absent field means `library=True` and a multi-row form
        becomes a library block, §3.1) and `name` (the filename, hence the title when the
        settings sheet has none; the uploaded file's own name is not used).
        """
        data = {"name": name, "library": "false"}
        if destination:
            data["destination"] = destination
        files = {"file": (filename, xlsx,
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
        response = self._client.request("POST", "api/v2/imports/", expected=(200, 201),
                                        data=data, files=files)
        body = response.json()
        uid = body.get("uid") if isinstance(body, dict) else None
        if not uid:
            raise PlatformError("POST", response.url, response.status_code,
                                "the import answer has no task uid", kobo_hint(None, ""))
        return str(uid)

    def get(self, import_uid: str) -> dict[str, Any]:
        _check_uid(import_uid, "i", "import")
        return self._client.get(f"api/v2/imports/{import_uid}/", {"format": "json"})

    def wait(self, import_uid: str, *, timeout: float = 300.0, first_delay: float = 0.5,
             max_delay: float = 5.0, clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
        """Poll until `complete` (returns the task) or `error` (raises `KoboImportFailed`).

        Back-off doubles from `first_delay` to `max_delay`, as Kobo's own UI polls.
        """
        deadline = clock() + timeout
        delay = first_delay
        url = self._client.session.url(f"api/v2/imports/{import_uid}/")
        while True:
            task = self.get(import_uid)
            status = task.get("status")
            log.debug("kobo import %s: %s", import_uid, status)
            if status == "complete":
                return task
            if status == "error":
                messages = task.get("messages") or {}
                error = str(messages.get("error") or "no message")[:300]
                kind = messages.get("error_type") or "error"
                raise KoboImportFailed("POST", url, 200, f"import failed ({kind}): {error}",
                                       "fix the XLSForm (tipdata codebook validate; tipdata "
                                       "build) and deploy again")
            if status not in ("created", "processing"):
                raise PlatformError("GET", url, 200, f"unknown import status {status!r}",
                                    "check the server is KoboToolbox (KPI) API v2")
            if clock() >= deadline:
                raise PlatformError("GET", url, 200, f"import still {status} after {timeout:.0f}s",
                                    "the server is slow; run deploy again later (it will "
                                    "find the asset if the import finished)")
            self._client._sleep(delay)
            delay = min(delay * 2, max_delay)


class DeploymentService:
    """`/api/v2/assets/{uid}/deployment/`: publish the asset as a web form (§4.1)."""

    def __init__(self, client: KoboClient) -> None:
        self._client = client

    def _path(self, asset_uid: str) -> str:
        return self._client.asset_path(asset_uid) + "deployment/"

    def get(self, asset_uid: str) -> dict[str, Any] | None:
        """The deployment, or None when the (visible) asset was never deployed."""
        try:
            return self._client.get(self._path(asset_uid), {"format": "json"})
        except PlatformError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, asset_uid: str, *, active: bool = True) -> dict[str, Any]:
        """First deployment. `active` is sent explicitly: omitted means archived (§4.1)."""
        response = self._client.request("POST", self._path(asset_uid), expected=(200, 201),
                                        json={"active": active})
        return response.json()

    def redeploy(self, asset_uid: str, version_id: str) -> dict[str, Any]:
        """Publish the asset's current content; `version_id` must be the current one."""
        response = self._client.request("PATCH", self._path(asset_uid),
                                        json={"active": True, "version_id": version_id})
        return response.json()

    def set_active(self, asset_uid: str, active: bool) -> dict[str, Any]:
        """Archive (False) or un-archive (True) without redeploying."""
        response = self._client.request("PATCH", self._path(asset_uid), json={"active": active})
        return response.json()


class DataService:
    """`/api/v2/assets/{uid}/data/`: submissions (§5)."""

    def __init__(self, client: KoboClient) -> None:
        self._client = client

    def iter_pages(self, asset_uid: str, *, since: int | None = None, until: int | None = None,
                   ids: Sequence[int] | None = None, fields: Sequence[str] | None = None,
                   page_size: int = MAX_PAGE_SIZE, prefetch: bool = False) -> Iterator[DataPage]:
        """Submissions with `since` < `_id` (≤ `until`, or among `ids`), in `_id` order.

        Each request asks for `_id` > the last id received, from offset 0, and whatever page
        size the server grants is taken as it comes (Kobo caps `limit` silently). The server's
        `next` link says whether more follow; it is not fetched itself because its offset
        (`start=1000`) counts rows of a result that may have changed since: a submission deleted
        meanwhile would shift every later row and one would never be seen. Re-anchoring on `_id`
        keeps each request correct on its own. A row whose `_id` is not above the previous
        page's last id (a duplicate, or a server ignoring the filter) is dropped here, so no
        submission is yielded twice.

        With `prefetch`, the request for the next page (the one the server announced) goes out
        on a worker thread before this page is yielded, so the server prepares it while the
        caller maps this one; at most one page waits in memory. It asks for exactly what the
        walk would ask for next, so results and errors are the same; an error surfaces when
        the page is due.
        """
        if page_size < 1:
            raise ValueError("page_size must be a positive number of submissions")
        path = self._client.asset_path(asset_uid) + "data/"

        def request(cursor: int | None) -> Any:
            condition: dict[str, Any] = {}
            if cursor is not None:
                condition["$gt"] = cursor
            if until is not None:
                condition["$lte"] = until
            if ids is not None:
                condition["$in"] = sorted(ids)
            params: dict[str, Any] = {"format": "json", "start": 0, "limit": page_size,
                                      "sort": json.dumps({"_id": 1})}
            if condition:
                params["query"] = json.dumps({"_id": condition}, separators=(",", ":"))
            if fields is not None:
                params["fields"] = json.dumps(list(fields), separators=(",", ":"))
            return self._client.get(path, params)

        pool = ThreadPoolExecutor(1, thread_name_prefix="kobo-prefetch") if prefetch else None
        ahead: Future[Any] | None = None
        cursor = since
        try:
            while True:
                body = ahead.result() if ahead is not None else request(cursor)
                ahead = None
                page, next_cursor = self._page_of(body, path, cursor)
                if pool is not None and next_cursor is not None:
                    ahead = pool.submit(request, next_cursor)
                yield page
                if next_cursor is None:
                    return
                cursor = next_cursor
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)

    def _page_of(self, body: Any, path: str,
                 cursor: int | None) -> tuple[DataPage, int | None]:
        """One response as a page, and the cursor of the next request (None: the last page)."""
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise PlatformError("GET", self._client.session.url(path), 200,
                                "the answer is not a Kobo list ({count, next, results})",
                                "check the server URL is the KPI host (kf.…)")
        results = []
        ids_in_page: set[int] = set()
        for row in body["results"]:
            row_id = row.get("_id") if isinstance(row, dict) else None
            if isinstance(row_id, int) and not isinstance(row_id, bool):
                if (cursor is not None and row_id <= cursor) or row_id in ids_in_page:
                    continue  # already received in this walk
                ids_in_page.add(row_id)
            results.append(row)
        more_announced = bool(body.get("next"))
        if more_announced and not ids_in_page:
            raise PlatformError("GET", self._client.session.url(path), 200,
                                "the server announced more submissions but sent none past "
                                f"_id {cursor}; it may not support `query` on _id",
                                "check the server is KoboToolbox (KPI) API v2")
        page = DataPage(results, body.get("count"), more_announced)
        return page, (max(ids_in_page) if more_announced else None)

    def iter_by_ids(self, asset_uid: str, ids: Sequence[int]) -> Iterator[DataPage]:
        """The submissions with these `_id`s (missing ones are simply absent)."""
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), IDS_PER_QUERY):
            yield from self.iter_pages(asset_uid, ids=wanted[start:start + IDS_PER_QUERY])

    def get(self, asset_uid: str, submission_id: int) -> dict[str, Any]:
        return self._client.get(self._client.asset_path(asset_uid) + f"data/{int(submission_id)}/",
                                {"format": "json"})

    def get_xml(self, asset_uid: str, submission_id: int) -> bytes:
        """The raw instance XML (for encrypted submissions: the manifest, §8.2)."""
        path = self._client.asset_path(asset_uid) + f"data/{int(submission_id)}.xml"
        return self._client.get_bytes(path, accept="application/xml, text/xml")


class AttachmentService:
    """Attachment downloads (`_attachments[].download_url`), with the Token header."""

    def __init__(self, client: KoboClient) -> None:
        self._client = client

    def download(self, url: str) -> bytes:
        """The file's bytes. Only from this server: the token is never sent elsewhere."""
        if url.startswith(("http://", "https://")) and not self._client.same_server(url):
            raise PlatformError("GET", url, None, "the attachment link points at another "
                                "server; not sending the token there",
                                f"set {URL_ENV} to the host Kobo uses in download_url")
        return self._client.get_bytes(url)


class HookService:
    """`/api/v2/assets/{uid}/hooks/`: REST Services Kobo calls on each new submission (§7)."""

    def __init__(self, client: KoboClient) -> None:
        self._client = client

    def _path(self, asset_uid: str) -> str:
        return self._client.asset_path(asset_uid) + "hooks/"

    def list(self, asset_uid: str) -> list[dict[str, Any]]:
        return list(_paged(self._client, self._path(asset_uid), {"format": "json"}))

    def create(self, asset_uid: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        response = self._client.request("POST", self._path(asset_uid), expected=(200, 201),
                                        json=dict(spec))
        return response.json()

    def update(self, asset_uid: str, hook_uid: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        _check_uid(hook_uid, "h", "hook")
        response = self._client.request("PATCH", f"{self._path(asset_uid)}{hook_uid}/",
                                        json=dict(spec))
        return response.json()

    def logs(self, asset_uid: str, hook_uid: str) -> list[dict[str, Any]]:
        _check_uid(hook_uid, "h", "hook")
        return list(_paged(self._client, f"{self._path(asset_uid)}{hook_uid}/logs/",
                           {"format": "json"}))
