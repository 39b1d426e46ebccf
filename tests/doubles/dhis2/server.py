"""`Dhis2Double`: a contract double of the DHIS2 Web API (2.40–2.43), served over real HTTP.

It is NOT a DHIS2 server. It implements what /work/shared/reference/dhis2-api.md documents, so the
connector can be tested against each version's behaviour: auth (`ApiToken` PAT or Basic), version
detection, metadata import, tracker import (sync and async jobs), tracker export envelopes,
aggregate data values, category option combo generation (maintenance). Faults (502/503 for the next N requests, delays for timeouts) are set from
Python; every request is logged.

    with Dhis2Double(version="2.41") as dhis2:
        dhis2.base_url        # http://127.0.0.1:<port>  (the API is under /api)
        dhis2.fail_next(2, status=503)
        dhis2.requests[-1].path
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict

from .category_combos import maintenance_route
from .data_values import import_data_values
from .fields import apply_fields, parse_fields
from .metadata_import import TYPES, import_metadata
from .store import Store
from .tracker_export import ExportError, event_view, export, page_url_for, tracked_entity_view
from .tracker_import import BadRequest, run_import

VERSIONS = {"2.40": "2.40.4.1", "2.41": "2.41.3", "2.42": "2.42.1", "2.43": "2.43.1"}
TOKEN_RE = re.compile(r"^ApiToken (?P<token>[a-z0-9-._~+/]+=*)$", re.IGNORECASE)
LEGACY_TRACKER = ("trackedEntityInstances", "events", "enrollments", "relationships")
_BOOL_TRUE = ("true", "on", "yes", "1")
_BOOL_FALSE = ("false", "off", "no", "0")


@dataclass
class LoggedRequest:
    """One request as the double saw it (bodies kept unless the double was told not to)."""

    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: dict[str, str]
    body: bytes = b""
    status: int | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Fault:
    status: int | None = None
    delay: float = 0.0
    path_contains: str | None = None
    retry_after: str | None = None


@dataclass
class _Job:
    report: dict[str, Any]
    polls_before_ready: int
    notifications: list[dict[str, Any]] = field(default_factory=list)


def web_message(
    status_code: int, message: str, status: str = "ERROR", **extra: Any
) -> dict[str, Any]:
    reason = http.HTTPStatus(status_code).phrase
    return {
        "httpStatus": reason,
        "httpStatusCode": status_code,
        "status": status,
        "message": message,
        **extra,
    }


class Dhis2Double:
    """An in-memory DHIS2 API of one version; start() serves it on 127.0.0.1 in a thread."""

    def __init__(
        self,
        version: str = "2.42",
        *,
        token: str = "d2p_doubletoken0000000000000000000000000000000000",
        username: str = "admin",
        password: str = "district",
        org_units: tuple[str, ...] = ("ImspTQPwCqd",),
        max_page_size: int = 1000,
        job_polls_before_report: int = 1,
        log_bodies: bool = True,
        authorities: tuple[str, ...] = ("ALL",),
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}")
        self.version = version
        self.minor = int(version.split(".")[1])
        self.token = token
        self.username = username
        self.password = password
        self.max_page_size = max_page_size
        self.job_polls_before_report = job_polls_before_report
        self.log_bodies = log_bodies
        #: the authorities of the API user (only maintenance checks them)
        self.authorities = frozenset(authorities)
        self.store = Store(org_units)
        self.requests: list[LoggedRequest] = []
        self.jobs: dict[str, _Job] = {}
        self._faults: list[_Fault] = []
        self._fault_lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Dhis2Double:
        double = self

        class Handler(_Handler):
            pass

        Handler.double = double
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="dhis2-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Dhis2Double:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The server root; the API lives under `/api` as on a real server."""
        if self._server is None:
            raise RuntimeError("the double is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- faults -------------------------------------------------------------------------------
    def fail_next(
        self,
        count: int,
        status: int = 503,
        path_contains: str | None = None,
        *,
        retry_after: str | None = None,
    ) -> None:
        """Answer the next `count` (matching) requests with `status` before touching any state
        (with a `Retry-After` header when given, as a proxy or rate limiter sends it)."""
        with self._fault_lock:
            self._faults.extend(
                _Fault(status=status, path_contains=path_contains, retry_after=retry_after)
                for _ in range(count)
            )

    def delay_next(self, count: int, seconds: float, path_contains: str | None = None) -> None:
        """Hold the next `count` (matching) requests for `seconds`, then serve them normally."""
        with self._fault_lock:
            self._faults.extend(
                _Fault(delay=seconds, path_contains=path_contains) for _ in range(count)
            )

    def _take_fault(self, path: str) -> _Fault | None:
        with self._fault_lock:
            for index, fault in enumerate(self._faults):
                if fault.path_contains is None or fault.path_contains in path:
                    return self._faults.pop(index)
        return None

    # --- inspection helpers for tests ----------------------------------------------------------
    def metadata_of(self, type_key: str) -> dict[str, dict[str, Any]]:
        with self.store.lock:
            return dict(self.store.metadata.get(type_key, {}))

    def counts(self) -> dict[str, int]:
        """Live (not deleted) tracker objects, to prove re-pushes create no duplicates."""
        with self.store.lock:
            return {
                "trackedEntities": sum(not t.deleted for t in self.store.tracked_entities.values()),
                "enrollments": sum(not e.deleted for e in self.store.enrollments.values()),
                "events": sum(not e.deleted for e in self.store.events.values()),
            }

    def requests_to(self, path_part: str, method: str | None = None) -> list[LoggedRequest]:
        return [
            r
            for r in self.requests
            if path_part in r.path and (method is None or r.method == method)
        ]

    # --- request handling (called by the handler thread) -----------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes, host: str
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        path, raw_query = parts.path, parts.query
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        query = dict(pairs)
        # header names are case-insensitive on the wire (dhis2.py sends `user-agent`)
        logged = LoggedRequest(
            method,
            path,
            query,
            raw_query,
            CaseInsensitiveDict(headers),  # type: ignore[arg-type]
            body if self.log_bodies else b"",
        )
        self.requests.append(logged)
        fault = self._take_fault(path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status:
            logged.status = fault.status
            reason = http.HTTPStatus(fault.status).phrase
            page = (
                f"<html><head><title>{fault.status} {reason}</title></head><body><center><h1>"
                f"{fault.status} {reason}</h1></center><hr><center>nginx</center></body></html>"
            )
            headers = {"Content-Type": "text/html"}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            return fault.status, headers, page.encode()
        status, extra, payload = self._route(
            method, path, query, pairs, raw_query, headers, body, host
        )
        logged.status = status
        if status == 204:
            return status, extra, b""
        return (
            status,
            {"Content-Type": "application/json;charset=UTF-8", **extra},
            json.dumps(payload).encode(),
        )

    def _authorised(self, headers: Mapping[str, str]) -> bool:
        value = headers.get("Authorization") or headers.get("authorization") or ""
        match = TOKEN_RE.match(value)
        if match:
            return match.group("token") == self.token
        if value.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(value[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return user == self.username and password == self.password
        return False

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        pairs: list[tuple[str, str]],
        raw_query: str,
        headers: Mapping[str, str],
        body: bytes,
        host: str,
    ) -> tuple[int, dict[str, str], Any]:
        match = re.match(r"^/api(?:/(\d{2}))?(/.*)?$", path)
        if not match:
            return 404, {}, web_message(404, f"No endpoint {path}")
        if not self._authorised(headers):
            return (
                401,
                {"WWW-Authenticate": 'Basic realm="DHIS2"'},
                web_message(401, "Unauthorized"),
            )
        api_version = int(match.group(1)) if match.group(1) else None
        route = (match.group(2) or "/").removesuffix(".json").strip("/")
        payload: Any = None
        if method in ("POST", "PUT") and (body or not route.startswith("maintenance/")):
            content_type = (
                headers.get("Content-Type") or headers.get("content-type") or ""
            ).lower()
            if not content_type.startswith("application/json"):
                return 415, {}, web_message(415, f"Content type '{content_type}' not supported")
            try:
                payload = json.loads(body or b"null")
            except ValueError as exc:
                return 400, {}, web_message(400, f"JSON parse error: {exc}")
        with self.store.lock:
            return self._dispatch(
                method, route, query, pairs, raw_query, payload, api_version, host, path
            )

    def _dispatch(
        self,
        method: str,
        route: str,
        query: dict[str, str],
        pairs: list[tuple[str, str]],
        raw_query: str,
        payload: Any,
        api_version: int | None,
        host: str,
        path: str,
    ) -> tuple[int, dict[str, str], Any]:
        segments = route.split("/") if route else []
        if route == "system/info" and method == "GET":
            return 200, {}, self._system_info(host)
        if route == "metadata" and method == "POST":
            status, body = import_metadata(self.store, payload, query, self.minor)
            if api_version is not None and api_version < 38:
                return 200, {}, body["response"]  # legacy unwrapped report
            return status, {}, body
        if route == "metadata" and method == "GET":
            return 200, {}, self._metadata_export(query)
        if route == "tracker" and method == "POST":
            return self._tracker_import(payload, query, raw_query, host)
        if segments[:2] == ["tracker", "jobs"] and method == "GET" and len(segments) in (3, 4):
            return self._job(segments[2], report=len(segments) == 4, query=query)
        if segments[:1] == ["tracker"] and method == "GET" and len(segments) in (2, 3):
            resource = segments[1]
            if resource not in ("trackedEntities", "enrollments", "events"):
                return 404, {}, web_message(404, f"No endpoint /api/{route}")
            if len(segments) == 3:
                return self._tracker_single(resource, segments[2], query)
            try:
                body = export(
                    self.store,
                    resource,
                    query,
                    self.minor,
                    self.max_page_size,
                    page_url_for(f"http://{host}", path, pairs),
                )
            except ExportError as exc:
                return exc.status, {}, web_message(exc.status, str(exc))
            return 200, {"Cache-Control": "no-cache"}, body
        if route == "dataValueSets" and method == "POST":
            status, body = import_data_values(self.store, payload, query, self.minor)
            return status, {}, body
        if segments[:1] == ["maintenance"] and method in ("POST", "PUT"):
            answer = maintenance_route(self.store, segments, self.authorities)
            if answer is not None:
                return answer[0], {}, answer[1]
        if segments and segments[0] in LEGACY_TRACKER:
            if self.minor >= 42:
                return 404, {}, web_message(404, f"No endpoint /api/{route} (removed in 2.42)")
            return (
                501,
                {},
                web_message(
                    501,
                    f"/api/{segments[0]} is deprecated and not modelled by "
                    "the double; use /api/tracker",
                ),
            )
        if segments and segments[0] in TYPES and method == "GET" and len(segments) in (1, 2):
            return self._metadata_list(
                segments[0], segments[1] if len(segments) == 2 else None, query
            )
        return 404, {}, web_message(404, f"No endpoint {method} /api/{route}")

    def _system_info(self, host: str) -> dict[str, Any]:
        return {
            "contextPath": f"http://{host}",
            "userAgent": "",
            "calendar": "iso8601",
            "dateFormat": "yyyy-mm-dd",
            "serverDate": time.strftime("%Y-%m-%dT%H:%M:%S.000"),
            "version": VERSIONS[self.version],
            "revision": "d0ub1e0",
            "buildTime": "2025-01-01T00:00:00.000",
            "systemId": "00000000-0000-0000-0000-000000000000",
            "systemName": "DHIS2 contract double",
            "encryption": False,
            "emailConfigured": False,
            "isMetadataVersionEnabled": False,
        }

    # --- tracker import ---------------------------------------------------------------------------
    def _sync_requested(self, raw_query: str) -> bool | None:
        """None when the value is not a boolean (HTTP 400 on 2.42+)."""
        values = [v for k, v in parse_qsl(raw_query, keep_blank_values=True) if k == "async"]
        if not values:
            return False
        if self.minor <= 41:
            # 2.40–2.41 map the sync handler with params = {"async=false"}: literal match only
            return values[-1] == "false"
        value = values[-1].strip().lower()
        if value in _BOOL_FALSE:
            return True
        if value in _BOOL_TRUE:
            return False
        return None

    def _tracker_import(
        self, payload: Any, query: dict[str, str], raw_query: str, host: str
    ) -> tuple[int, dict[str, str], Any]:
        sync = self._sync_requested(raw_query)
        if sync is None:
            return 400, {}, web_message(400, "Value for parameter async is not a boolean")
        try:
            report = run_import(self.store, payload, query, self.minor)
        except BadRequest as exc:
            return 400, {}, web_message(400, str(exc))
        if sync:
            return (409 if report["status"] == "ERROR" else 200), {}, report
        job_id = self.store.generate_uid()
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000")
        notifications = [
            {
                "uid": job_id,
                "level": "INFO",
                "category": "TRACKER_IMPORT_JOB",
                "time": now,
                "message": f"TRACKER_IMPORT_JOB ( {job_id} ) finished in 0.01000 sec. Import:Done",
                "completed": True,
                "id": job_id,
            },
            {
                "uid": job_id,
                "level": "DEBUG",
                "category": "TRACKER_IMPORT_JOB",
                "time": now,
                "message": f"TRACKER_IMPORT_JOB ( {job_id} ) commit completed in 0.01000 sec. Import:commit",
                "completed": True,
                "id": job_id,
            },
        ]
        self.jobs[job_id] = _Job(report, self.job_polls_before_report, notifications)
        return (
            200,
            {},
            web_message(
                200,
                "Tracker job added",
                "OK",
                response={
                    "responseType": "TrackerJob",
                    "id": job_id,
                    "location": f"http://{host}/api/tracker/jobs/{job_id}",
                },
            ),
        )

    def _job(
        self, job_id: str, *, report: bool, query: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        job = self.jobs.get(job_id)
        headers = {"Cache-Control": "no-store"}
        if job is None:
            return 404, headers, web_message(404, f"Job with id {job_id} not found")
        if not report:
            return 200, headers, job.notifications
        if job.polls_before_ready > 0:
            job.polls_before_ready -= 1
            return (
                404,
                headers,
                web_message(404, f"Import report for job {job_id} not yet available"),
            )
        body = dict(job.report)
        if (query.get("reportMode") or "ERRORS").upper() == "ERRORS":
            body["bundleReport"] = {
                **body["bundleReport"],
                "typeReportMap": {
                    key: {**value, "objectReports": []}
                    for key, value in body["bundleReport"]["typeReportMap"].items()
                },
            }
        return 200, headers, body

    def _tracker_single(
        self, resource: str, uid: str, query: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        include_deleted = (query.get("includeDeleted") or "").lower() == "true"
        if resource == "trackedEntities":
            te = self.store.tracked_entities.get(uid)
            if te is None or te.deleted:
                return 404, {}, web_message(404, f"TrackedEntity with id {uid} could not be found.")
            spec = parse_fields(
                query.get("fields") or "*,!relationships,!enrollments,!events,!programOwners"
            )
            return (
                200,
                {},
                tracked_entity_view(self.store, te, spec, query.get("program"), include_deleted),
            )
        if resource == "events":
            event = self.store.events.get(uid)
            if event is None or event.deleted:
                return 404, {}, web_message(404, f"Event with id {uid} could not be found.")
            return (
                200,
                {},
                event_view(
                    self.store, event, parse_fields(query.get("fields") or "*,!relationships")
                ),
            )
        return 404, {}, web_message(404, f"No endpoint /api/tracker/{resource}/{uid}")

    # --- metadata export ----------------------------------------------------------------------
    def _metadata_list(
        self, type_key: str, uid: str | None, query: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        if uid is not None:
            obj = self.store.get(type_key, uid)
            if obj is None:
                return (
                    404,
                    {},
                    web_message(404, f"{type_key[:-1]} with id {uid} could not be found."),
                )
            return 200, {}, apply_fields(obj, parse_fields(query.get("fields") or "*"))
        objects = list(self.store.objects(type_key))
        for text in [v for k, v in query.items() if k == "filter"]:
            prop, _, rest = text.partition(":")
            operator, _, value = rest.partition(":")
            if operator == "eq":
                objects = [o for o in objects if str(_property(o, prop)) == value]
            elif operator == "in":
                wanted = set(value.strip("[]").split(","))
                objects = [o for o in objects if str(_property(o, prop)) in wanted]
        spec = parse_fields(query.get("fields") or "id,displayName")
        views = [apply_fields({**o, "displayName": o.get("name")}, spec) for o in objects]
        if (query.get("paging") or "").lower() == "false":
            return 200, {}, {type_key: views}
        page = max(1, int(query.get("page") or 1))
        size = int(query.get("pageSize") or 50)
        total = len(views)
        return (
            200,
            {},
            {
                "pager": {
                    "page": page,
                    "pageCount": max(1, -(-total // size)),
                    "total": total,
                    "pageSize": size,
                },
                type_key: views[(page - 1) * size : page * size],
            },
        )

    def _metadata_export(self, query: dict[str, str]) -> dict[str, Any]:
        asked = [k for k in TYPES if (query.get(k) or "").lower() == "true"]
        result: dict[str, Any] = {"system": {"version": VERSIONS[self.version], "rev": "d0ub1e0"}}
        for type_key in asked or list(TYPES):
            objects = list(self.store.objects(type_key))
            if objects:
                result[type_key] = objects
        return result


def _property(obj: Mapping[str, Any], path: str) -> Any:
    """A filter's property, following dots into referenced objects (`categoryCombo.id`)."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    double: Dhis2Double

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "127.0.0.1"
        status, headers, payload = self.double.handle(
            self.command, self.path, dict(self.headers.items()), body, host
        )
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout); the work is done anyway

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass
