"""Frappe v15 REST client and the casework sync built on it: push canonical records, pull changes.

    client = FrappeClient.from_environment()     # TIPDATA_FRAPPE_URL, _API_KEY, _API_SECRET
    for doc in client.list_modified_since("TIP Case", since):
        ...
    result = CaseworkSync(client, mapping, codebook).upsert(records)

The session (`tipdata.http.PlatformSession`) owns timeouts, retries on 429/502/503/504 with
backoff and Retry-After, the User-Agent and `Authorization: token <key>:<secret>`. This module adds
what is Frappe's own (frappe-v15.md §4): the v1 error body (`exc_type`, `_server_messages` decoded
twice) turned into typed errors; timestamps that are naive strings in the site's time zone, read
from the server (`frappe.client.get_time_zone`) and converted to aware UTC; paging that cannot
truncate (keyset on `modified, name`, stopping only at an empty page); and `insert_many`, which
takes at most 200 documents and is all-or-nothing.

Writes are safe to retry because every casework DocType is named by `external_id`: an insert that
reached the server before its answer was lost comes back as 409 DuplicateEntryError and is then
handled as an update; an update carries the `modified` it read (optimistic lock), so a repeated
PUT ends in TimestampMismatchError and a re-read that finds nothing left to change.

Where Frappe is and the key pair come from the arguments, else `TIPDATA_FRAPPE_URL`,
`TIPDATA_FRAPPE_API_KEY`, `TIPDATA_FRAPPE_API_SECRET` (or `TIPDATA_FRAPPE_API_SECRET_FILE`
naming a file that holds it). The secret is never printed, logged or put in an error. Logs carry
counts and DocType names only: never field values, names of people or record ids.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from tipdata.erpnext_casework.mapping import (
    CaseworkMapping,
    DocumentDraft,
    RecordDocuments,
    case_reference_of,
    changed_fields,
    documents_for_record,
    dst_margin,
    record_doctype,
    record_from_documents,
    site_naive_to_utc,
    utc_to_site_naive,
)
from tipdata.http import (
    RETRY_STATUSES,
    PlatformError,
    PlatformSession,
    ServiceConfig,
    resolve_secret,
)
from tipdata.model import Codebook
from tipdata.problems import Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord

log = logging.getLogger("tipdata.frappe")

URL_ENV = "TIPDATA_FRAPPE_URL"
KEY_ENV = "TIPDATA_FRAPPE_API_KEY"
SECRET_ENV = "TIPDATA_FRAPPE_API_SECRET"
SECRET_FILE_ENV = "TIPDATA_FRAPPE_API_SECRET_FILE"
TIME_ZONE_ENV = "TIPDATA_FRAPPE_TIME_ZONE"
#: What Frappe uses when System Settings has no time zone (frappe/utils/data.py).
FRAPPE_DEFAULT_TIME_ZONE = "Asia/Kolkata"
#: frappe.client.insert_many refuses more ("Only 200 inserts allowed in one request").
MAX_INSERT_MANY = 200
DEFAULT_PAGE_SIZE = 500
#: `GET /api/resource/<DocType>` is this whitelisted function; the connector POSTs to it
LIST_METHOD = "api/method/frappe.client.get_list"
#: Names per `name in (...)` list read: the size of an insert_many batch (the list is POSTed,
#: so no URL length limit applies; MariaDB takes far longer IN lists).
NAMES_PER_QUERY = 200
#: How often an update is re-read and retried after someone else saved the document first.
CONFLICT_RETRIES = 2
#: Refusals that concern one record (its values, its document): quarantine it, go on.
RECORD_ERROR_STATUSES = frozenset({403, 404, 409, 417})
#: Every status except the transient ones comes back to us, so we can read Frappe's error body.
_FINAL_STATUSES = tuple(s for s in range(100, 600) if s not in RETRY_STATUSES)


# --- configuration ------------------------------------------------------------------------------

def resolve_frappe_config(url: str | None = None, api_key: str | None = None,
                          api_secret: str | None = None, *, timeout: float = 30.0,
                          retries: int = 4) -> ServiceConfig:
    """Site and key pair: argument > environment > secret file.

    The ServiceConfig's secret is the `key:secret` token, so neither part is ever shown.

    >>> resolve_frappe_config("https://casework.example.org", "k3y", "s3cret").base_url
    'https://casework.example.org'
    """
    base_url = url or os.environ.get(URL_ENV)
    if not base_url:
        raise ValueError(f"no Frappe site given; set {URL_ENV} (e.g. https://casework.example.org)")
    key = api_key or os.environ.get(KEY_ENV)
    if not key:
        raise ValueError(f"no API key given; set {KEY_ENV} (User → Settings → API Access → "
                         "Generate Keys on the Frappe site)")
    secret = resolve_secret(api_secret, SECRET_ENV, SECRET_FILE_ENV)
    return ServiceConfig(str(base_url), f"{key}:{secret}", timeout=timeout, retries=retries)


# --- errors -------------------------------------------------------------------------------------

class FrappeError(PlatformError):
    """A refused Frappe request, with Frappe's exception class name and its messages."""

    def __init__(self, method: str, url: str, status: int | None, server_message: str,
                 hint: str = "", *, exc_type: str | None = None,
                 messages: Sequence[str] = ()) -> None:
        super().__init__(method, url, status, server_message, hint)
        self.exc_type = exc_type
        self.messages = tuple(messages)


class FrappeAuthenticationError(FrappeError):
    """401: the key pair was refused."""


class FrappePermissionDenied(FrappeError):
    """403: the API user's roles do not allow this on this DocType (or the request had no key)."""


class DocumentNotFound(FrappeError):
    """404 DoesNotExistError: no such document."""


class DuplicateDocument(FrappeError):
    """409 DuplicateEntryError: a document with this name already exists."""


class FrappeValidationFailed(FrappeError):
    """417 ValidationError or a subclass: the site's rules refused the document."""


class StaleDocument(FrappeValidationFailed):
    """417 TimestampMismatchError: the document was saved by someone else since it was read."""


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text).strip()


def server_messages(body: Any) -> list[str]:
    """Frappe's `_server_messages`: a JSON string holding a list of JSON strings (decode twice)."""
    if not isinstance(body, dict):
        return []
    raw = body.get("_server_messages")
    out: list[str] = []
    try:
        entries = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        entries = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            decoded = json.loads(entry) if isinstance(entry, str) else entry
        except ValueError:
            decoded = entry
        text = decoded.get("message") if isinstance(decoded, dict) else decoded
        if text:
            out.append(_strip_tags(str(text)))
    if not out and body.get("_error_message"):
        out.append(_strip_tags(str(body["_error_message"])))
    return out


def frappe_hint(status: int | None, exc_type: str | None) -> str:
    """How to fix a failed Frappe request, from its status and exception class."""
    if status is None:
        return (f"check {URL_ENV} is the site's address (https://casework.example.org) and that "
                "this machine can reach it")
    if status == 401:
        return (f"the API key pair was refused; generate keys for the sync user on the site "
                f"(User → Settings → API Access) and set {KEY_ENV} and {SECRET_ENV}")
    if status == 403:
        return ("give the sync user a role with this permission on the DocType (Role Permissions "
                "Manager), or check the request carried the key pair")
    if status == 404:
        return "the document is not on the site (deleted, or renamed)"
    if status == 409:
        return "a document with this name already exists; update it instead of inserting"
    if exc_type == "TimestampMismatchError":
        return "the document changed on the site after it was read; read it again and retry"
    if status == 417:
        return "correct the record (or the site's rule) named in the message, then push again"
    if status == 500 and exc_type in ("ImportError", "ModuleNotFoundError"):
        return ("the DocType is not installed: install the tipdata casework app on the site "
                "(bench --site SITE install-app) and restart the web server")
    if status in (429, 502, 503, 504):
        return "the site is busy, restarting or in maintenance; retry in a few minutes"
    return ""


_ERROR_CLASSES: dict[int, type[FrappeError]] = {
    401: FrappeAuthenticationError, 403: FrappePermissionDenied, 404: DocumentNotFound,
    409: DuplicateDocument, 417: FrappeValidationFailed,
}


def error_from_response(method: str, response: requests.Response) -> FrappeError:
    """The typed error for a non-2xx Frappe answer, with Frappe's own words."""
    try:
        body = response.json()
    except ValueError:
        body = None
    exc_type = body.get("exc_type") if isinstance(body, dict) else None
    messages = server_messages(body)
    text = "; ".join(messages) or (exc_type or "") or response.text.strip()[:200] or response.reason
    if exc_type and messages:
        text = f"{exc_type}: {text}"
    status = response.status_code
    cls = StaleDocument if exc_type == "TimestampMismatchError" else _ERROR_CLASSES.get(
        status, FrappeError)
    return cls(method, response.url, status, text[:500], frappe_hint(status, exc_type),
               exc_type=exc_type, messages=messages)


# --- the client ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListedDocument:
    """One row of a modified-since listing: raw `modified` kept for the optimistic lock."""

    doctype: str
    name: str
    modified: str
    modified_at: dt.datetime
    values: Mapping[str, Any] = field(repr=False)


class FrappeClient:
    """A Frappe site: documents (`/api/resource`), whitelisted methods, the site's time zone."""

    def __init__(self, config: ServiceConfig, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 time_zone: str | None = None) -> None:
        self.config = config
        self.session = PlatformSession(config, {"Authorization": f"token {config.secret}"},
                                       hint=lambda status, message: frappe_hint(status, None),
                                       session=session, sleep=sleep)
        self._time_zone_name = time_zone or os.environ.get(TIME_ZONE_ENV) or None
        self._time_zone: ZoneInfo | None = None
        #: HTTP requests sent, retries included (for results and benchmarks)
        self.requests_made = 0
        self.session.http.hooks["response"].append(self._count_response)

    def _count_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests_made += 1

    @classmethod
    def from_environment(cls, url: str | None = None, api_key: str | None = None,
                         api_secret: str | None = None, **kwargs: Any) -> FrappeClient:
        """A client configured from arguments, else the environment."""
        return cls(resolve_frappe_config(url, api_key, api_secret), **kwargs)

    def __repr__(self) -> str:
        return f"FrappeClient({self.config.base_url!r})"

    # --- raw requests ---------------------------------------------------------------------------
    def call(self, method: str, path: str, *, expected: Iterable[int] = (200,),
             idempotent: bool | None = None, **kwargs: Any) -> Any:
        """One request; the decoded JSON body, or a typed FrappeError."""
        expected = tuple(expected)
        try:
            response = self.session.request(method, path, expected=_FINAL_STATUSES,
                                            idempotent=idempotent, **kwargs)
        except PlatformError as exc:  # transient status after the retry budget, or unreachable
            raise FrappeError(exc.method, exc.url, exc.status, exc.server_message,
                              frappe_hint(exc.status, None)) from None
        if response.status_code not in expected:
            raise error_from_response(method, response)
        try:
            return response.json()
        except ValueError:
            raise FrappeError(method, response.url, response.status_code,
                              "the answer is not JSON (an HTML page or a body cut short)",
                              f"check {URL_ENV} points at the Frappe site itself") from None

    def call_method(self, dotted_path: str, *, http_method: str = "GET",
                    idempotent: bool | None = None, **args: Any) -> Any:
        """A whitelisted method (`/api/method/<dotted.path>`); its `message`."""
        if http_method == "GET":
            body = self.call("GET", f"api/method/{dotted_path}", params=args or None)
        else:
            body = self.call(http_method, f"api/method/{dotted_path}", json=args,
                             idempotent=idempotent)
        return body.get("message") if isinstance(body, dict) else None

    # --- documents ------------------------------------------------------------------------------
    @staticmethod
    def _resource(doctype: str, name: str | None = None) -> str:
        path = f"api/resource/{quote(doctype, safe='')}"
        return f"{path}/{quote(name, safe='')}" if name is not None else path

    def get_list(self, doctype: str, *, fields: Sequence[str] = ("name",),
                 filters: Sequence[Sequence[Any]] | None = None, order_by: str | None = None,
                 limit_start: int = 0, limit_page_length: int = DEFAULT_PAGE_SIZE,
                 parent: str | None = None) -> list[dict]:
        """One page of a list: `frappe.client.get_list`, the function `GET /api/resource/<DocType>`
        calls, POSTed with a JSON body. Always names its page length (Frappe's default is 20).
        A child DocType is listed through its `parent` DocType.

        Why POST: the bulk reads filter on up to NAMES_PER_QUERY names, and requests/urllib3
        re-encode a long query string byte by byte in Python on every request (most of the
        client's CPU in a re-sync); a JSON body costs a fraction of that and has no URL limit.
        Read-only, so it is retried like a GET.
        """
        body: dict[str, Any] = {"doctype": doctype, "fields": list(fields),
                                "limit_start": limit_start, "limit_page_length": limit_page_length}
        if parent:
            body["parent"] = parent
        if filters:
            body["filters"] = [list(f) for f in filters]
        if order_by:
            body["order_by"] = order_by
        data = self.call("POST", LIST_METHOD, json=body, idempotent=True).get("message")
        if not isinstance(data, list):
            raise FrappeError("POST", self.session.url(LIST_METHOD), 200,
                              "the answer has no `message` list", f"check {URL_ENV}")
        if limit_page_length and len(data) > limit_page_length:
            raise FrappeError("POST", self.session.url(LIST_METHOD), 200,
                              f"asked for {limit_page_length} rows of {doctype}, got {len(data)}",
                              "the site ignored limit_page_length; report it")
        return data

    def get_doc(self, doctype: str, name: str) -> dict[str, Any]:
        return self.call("GET", self._resource(doctype, name))["data"]

    def insert(self, doctype: str, doc: Mapping[str, Any], *, retry: bool = False) -> dict[str, Any]:
        """POST one document. `retry=True` only for DocTypes named by a field (a repeat → 409)."""
        return self.call("POST", self._resource(doctype), json=dict(doc), idempotent=retry)["data"]

    def update(self, doctype: str, name: str, changes: Mapping[str, Any], *,
               modified: str | None) -> dict[str, Any]:
        """PUT a partial document; with `modified`, a stale copy fails with StaleDocument."""
        body = dict(changes)
        if modified is not None:
            body["modified"] = modified
        return self.call("PUT", self._resource(doctype, name), json=body)["data"]

    def delete(self, doctype: str, name: str) -> None:
        self.call("DELETE", self._resource(doctype, name), expected=(202,))

    def insert_many(self, docs: Sequence[Mapping[str, Any]], *, retry: bool = False) -> list[str]:
        """`frappe.client.insert_many`: at most 200 documents, all inserted or none."""
        if len(docs) > MAX_INSERT_MANY:
            raise ValueError(f"insert_many takes at most {MAX_INSERT_MANY} documents, "
                             f"got {len(docs)}")
        names = self.call_method("frappe.client.insert_many", http_method="POST",
                                 idempotent=retry, docs=[dict(d) for d in docs])
        return list(names or [])

    def documents(self, doctype: str, names: Iterable[str],
                  tables: Mapping[str, tuple[str, str]] | None = None) -> dict[str, dict[str, Any]]:
        """The documents among `names` that exist, read in bulk: name → document.

        Parent fields come from one list request per NAMES_PER_QUERY names (`fields=["*"]`);
        the child tables named in `tables` (fieldname → (child DocType, its value field)) from
        one list of each child DocType through its parent. A fraction of the requests of one
        GET per document, with the same content.
        """
        wanted = sorted(set(names))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), NAMES_PER_QUERY):
            chunk = wanted[start:start + NAMES_PER_QUERY]
            for row in self.get_list(doctype, fields=("*",), filters=[["name", "in", chunk]],
                                     limit_page_length=len(chunk)):
                found[str(row["name"])] = {"doctype": doctype, **row}
        by_child: dict[tuple[str, str], list[str]] = {}
        for fieldname, (child, value_field) in (tables or {}).items():
            by_child.setdefault((child, value_field), []).append(fieldname)
        present = sorted(found)
        for doc in found.values():
            for fieldname in tables or {}:
                doc[fieldname] = []
        for (child, value_field), fieldnames in sorted(by_child.items()):
            for start in range(0, len(present), NAMES_PER_QUERY):
                chunk = present[start:start + NAMES_PER_QUERY]
                rows = self.get_list(child, parent=doctype, order_by="idx asc",
                                     fields=("name", "parent", "parentfield", "idx", value_field),
                                     filters=[["parent", "in", chunk],
                                              ["parentfield", "in", sorted(fieldnames)]],
                                     limit_page_length=0)
                for row in rows:
                    found[str(row["parent"])][str(row["parentfield"])].append(row)
        return found

    # --- time -----------------------------------------------------------------------------------
    def site_time_zone(self) -> ZoneInfo:
        """The zone of the site's naive timestamps: configured, else asked of the server.

        Frappe stamps `modified` in System Settings' time zone and, when none is set, in
        Asia/Kolkata; `frappe.client.get_time_zone` reports the setting (or null).
        """
        if self._time_zone is None:
            name = self._time_zone_name
            if not name:
                answer = self.call_method("frappe.client.get_time_zone")
                name = (answer or {}).get("time_zone") if isinstance(answer, dict) else None
                if not name:
                    log.warning("the site has no time zone set; Frappe then uses %s",
                                FRAPPE_DEFAULT_TIME_ZONE)
                    name = FRAPPE_DEFAULT_TIME_ZONE
            try:
                self._time_zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"the site's time zone {name!r} is not a known IANA zone; set "
                                 f"{TIME_ZONE_ENV} to the zone of System Settings") from None
        return self._time_zone

    # --- incremental listing --------------------------------------------------------------------
    def list_modified_since(self, doctype: str, since: dt.datetime | None, *,
                            fields: Sequence[str] = (), page_size: int = DEFAULT_PAGE_SIZE,
                            ) -> Iterator[ListedDocument]:
        """Every document modified at or after `since` (aware), ordered `modified asc, name asc`.

        Keyset paging: after each page, first the rest of the documents sharing the last
        `modified` (`name >` the last name), then `modified >` the last one; the listing ends
        only on an empty answer, so neither the default page length of 20 nor a site that
        quietly caps pages can cut it short, and documents saved meanwhile are not skipped
        (offset paging would skip one for every document that moved ahead of the cursor).

        Timestamps are naive site time; near a change back from summer time the local clock
        repeats an hour, so the query starts that much earlier and rows are kept if either
        reading of an ambiguous time is at or after `since`: a document may come twice, never
        not at all.
        """
        if since is not None and since.tzinfo is None:
            raise ValueError("since must carry a time zone (e.g. 2026-01-31T10:00:00+00:00)")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        zone = self.site_time_zone()
        wanted = ["name", "modified", *(f for f in fields if f not in ("name", "modified"))]
        first: list[list[Any]] = []
        if since is not None:
            start = utc_to_site_naive(since, zone) - dst_margin(since, zone)
            first = [["modified", ">=", _frappe_datetime(start)]]
        cursor: tuple[str, str] | None = None
        pages = rows_seen = 0
        while True:
            if cursor is not None:
                while True:  # the rest of the documents sharing the last `modified`
                    rows = self.get_list(doctype, fields=wanted, order_by="name asc",
                                         filters=[["modified", "=", cursor[0]],
                                                  ["name", ">", cursor[1]]],
                                         limit_page_length=page_size)
                    pages += 1
                    if not rows:
                        break
                    rows_seen += len(rows)
                    yield from self._listed(doctype, rows, since, zone)
                    cursor = (str(rows[-1]["modified"]), str(rows[-1]["name"]))
            filters = [["modified", ">", cursor[0]]] if cursor is not None else first
            rows = self.get_list(doctype, fields=wanted, filters=filters,
                                 order_by="modified asc, name asc", limit_page_length=page_size)
            pages += 1
            if not rows:
                log.info("listed %d %s document(s) in %d request(s)", rows_seen, doctype, pages)
                return
            rows_seen += len(rows)
            yield from self._listed(doctype, rows, since, zone)
            cursor = (str(rows[-1]["modified"]), str(rows[-1]["name"]))

    @staticmethod
    def _listed(doctype: str, rows: list[dict[str, Any]], since: dt.datetime | None,
                zone: ZoneInfo) -> Iterator[ListedDocument]:
        for row in rows:
            naive = dt.datetime.fromisoformat(str(row["modified"]))
            if since is not None and site_naive_to_utc(naive, zone, later=True) < since:
                continue  # only fetched because of the summer-time margin
            yield ListedDocument(doctype, str(row["name"]), str(row["modified"]),
                                 site_naive_to_utc(naive, zone), row)


def _frappe_datetime(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


# --- the casework sync: push records, pull changes ---------------------------------------------

@dataclass
class UpsertResult:
    """What a push did, by record id; the quarantined records carry the site's words."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    #: restricted element code → how many values were withheld (no policy named them)
    withheld: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    def counts(self) -> dict[str, int]:
        return {"created": len(self.created), "updated": len(self.updated),
                "unchanged": len(self.unchanged), "quarantined": len(self.quarantined),
                "requests": self.requests}


@dataclass(frozen=True)
class DocumentUpdate:
    """A planned PUT: the changed fields and the `modified` they were computed against."""

    doctype: str
    name: str
    changes: Mapping[str, Any]
    modified: str


@dataclass
class UpsertPlan:
    """What a push would do, computed from reads only (`--dry-run` shows it)."""

    inserts: list[RecordDocuments] = field(default_factory=list)
    #: record → (documents to PUT, documents missing on the site to insert)
    updates: list[tuple[RecordDocuments, list[DocumentUpdate], list[DocumentDraft]]] = field(
        default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    withheld: dict[str, int] = field(default_factory=dict)


def quarantine_for(record: CanonicalRecord, problems: Sequence[Problem]) -> QuarantinedRecord:
    """A record kept whole with every reason it could not be written."""
    return QuarantinedRecord.from_problems(
        record.envelope.source_system, record.envelope.source_id, problems,
        payload=record.to_json(), record_id=record.record_id, form_id=record.envelope.form_id)


def quarantine_for_error(record: CanonicalRecord, error: FrappeError) -> QuarantinedRecord:
    """A record the site refused, with the site's own words."""
    code = "FR402" if error.status == 403 else "FR401" if isinstance(error, StaleDocument) \
        else "FR400"
    text = "; ".join(error.messages) or error.server_message
    kind = f" {error.exc_type}" if error.exc_type else ""
    message = f"{error.method} {error.url} → HTTP {error.status}{kind}: {text}"
    return quarantine_for(record, [Problem(code, message, f"record {record.record_id}")])


class CaseworkSync:
    """Canonical records in and out of the tip_casework DocTypes of one Frappe site.

    Example::

        sync = CaseworkSync(FrappeClient.from_environment(), casework_mapping(codebook), codebook)
        result = sync.upsert(records)          # result.counts(), result.quarantined
        for item in sync.pull(since):          # CanonicalRecord or QuarantinedRecord
            ...
    """

    def __init__(self, client: FrappeClient, mapping: CaseworkMapping, codebook: Codebook, *,
                 allow_restricted: Iterable[str] = ()) -> None:
        self.client = client
        self.mapping = mapping
        self.codebook = codebook
        self.allow_restricted = frozenset(allow_restricted)

    # --- push -----------------------------------------------------------------------------------
    def upsert(self, records: Iterable[CanonicalRecord], *, batch_size: int = MAX_INSERT_MANY,
               dry_run: bool = False) -> UpsertResult:
        """Create or update every record's documents; quarantine only what the site refuses.

        Case records go first, so the referrals, services, ... of the same push find their case.
        New records go out through `insert_many` in batches of at most `batch_size` documents (a
        record's documents never split across batches); a refused batch is retried record by
        record, so one bad record is quarantined and the others saved. Existing documents are
        read, compared, and updated with only the changed fields, carrying the `modified` read; a
        document saved meanwhile is read again (after CONFLICT_RETRIES it is quarantined).
        With `dry_run` only reads happen and the result says what would be done.
        """
        requests_before = self.client.requests_made
        latest: dict[str, CanonicalRecord] = {}
        for record in records:  # the same record twice: the later version wins
            seen = latest.get(record.record_id)
            if seen is None or record.envelope.updated_at >= seen.envelope.updated_at:
                latest[record.record_id] = record
        case_doctype = self.mapping.case_doctype
        cases = [r for r in latest.values()
                 if record_doctype(r, self.codebook, self.mapping) == case_doctype]
        others = [r for r in latest.values()
                  if record_doctype(r, self.codebook, self.mapping) != case_doctype]
        pushed_cases: dict[str, set[str]] = {}
        for record in cases:
            reference = record.values.get(self.mapping.case_reference[1])
            if isinstance(reference, str):
                pushed_cases.setdefault(reference, set()).add(record.record_id)
        result = UpsertResult()
        for group in (cases, others):
            if not group:
                continue
            plan = self.plan(group, pending_cases=pushed_cases if dry_run else None)
            result.unchanged += plan.unchanged
            result.quarantined += plan.quarantined
            for code, count in plan.withheld.items():
                result.withheld[code] = result.withheld.get(code, 0) + count
            if dry_run:
                result.created += [r.record_id for r in plan.inserts]
                result.updated += [r.record_id for r, _, _ in plan.updates]
                continue
            self._apply_inserts(plan.inserts, batch_size, result)
            for record_docs, updates, missing in plan.updates:
                self._apply_update(record_docs, updates, missing, result)
        result.requests = self.client.requests_made - requests_before
        log.info("push%s: %s", " (dry run)" if dry_run else "", result.counts())
        return result

    def plan(self, records: Sequence[CanonicalRecord], *,
             pending_cases: Mapping[str, set[str]] | None = None) -> UpsertPlan:
        """Map the records and compare them with the site (reads only).

        `pending_cases`: case reference → record ids of case records about to be pushed (a dry
        run counts them as if they were on the site).
        """
        zone = self.client.site_time_zone()
        plan = UpsertPlan()
        cases = self._cases_by_reference(records, pending_cases or {})
        mapped: list[RecordDocuments] = []
        for record in records:
            reference = case_reference_of(record, self.codebook, self.mapping)
            found = cases.get(reference, set()) if reference else set()
            if len(found) > 1:
                plan.quarantined.append(quarantine_for(record, [Problem(
                    "FR405", f"{len(found)} cases on the site share the case reference the "
                    "record quotes; the record cannot tell which is its case",
                    f"record {record.record_id}", None, self.mapping.case_reference[0])]))
                continue
            docs = documents_for_record(record, self.codebook, self.mapping, zone,
                                        case_name=next(iter(found), None),
                                        allow_restricted=self.allow_restricted)
            if isinstance(docs, list):
                plan.quarantined.append(quarantine_for(record, docs))
                continue
            for code in docs.withheld:
                plan.withheld[code] = plan.withheld.get(code, 0) + 1
            mapped.append(docs)
        current = self._current_documents(mapped)
        for docs in mapped:
            if docs.insertable and not any((d.doctype, d.name) in current for d in docs.drafts):
                plan.inserts.append(docs)
            else:
                self._plan_update(docs, plan, current)
        return plan

    def _current_documents(self, mapped: Sequence[RecordDocuments],
                           ) -> dict[tuple[str, str], dict[str, Any]]:
        """What the site holds of every document the records write, read in bulk."""
        names: dict[str, set[str]] = {}
        tables: dict[str, dict[str, tuple[str, str]]] = {}
        for docs in mapped:
            for draft in docs.drafts:
                names.setdefault(draft.doctype, set()).add(draft.name)
                dm = self.mapping.doctypes[draft.doctype]
                for fieldname in draft.values:
                    fm = dm.field_named(fieldname)
                    if fm is not None and fm.is_table and fm.child_doctype:
                        tables.setdefault(draft.doctype, {})[fieldname] = (fm.child_doctype,
                                                                           fm.child_field)
        return {(doctype, name): doc for doctype, wanted in sorted(names.items())
                for name, doc in self.client.documents(doctype, wanted,
                                                       tables.get(doctype)).items()}

    def _cases_by_reference(self, records: Sequence[CanonicalRecord],
                            pending: Mapping[str, set[str]]) -> dict[str, set[str]]:
        """case reference → names of the cases that have it (on the site, or about to be)."""
        references = sorted({ref for r in records
                             if (ref := case_reference_of(r, self.codebook, self.mapping))})
        field_name = self.mapping.case_reference[1]
        found: dict[str, set[str]] = {ref: set(pending.get(ref, ())) for ref in references}
        for start in range(0, len(references), NAMES_PER_QUERY):
            chunk = references[start:start + NAMES_PER_QUERY]
            rows = self.client.get_list(self.mapping.case_doctype, fields=("name", field_name),
                                        filters=[[field_name, "in", chunk]],
                                        order_by="name asc", limit_page_length=0)
            for row in rows:
                found.setdefault(str(row[field_name]), set()).add(str(row["name"]))
        return found

    def _plan_update(self, docs: RecordDocuments, plan: UpsertPlan,
                     known: Mapping[tuple[str, str], dict[str, Any]] | None = None) -> None:
        """Compare the record's documents with the site's (read now unless `known`)."""
        updates: list[DocumentUpdate] = []
        missing: list[DocumentDraft] = []
        for draft in docs.drafts:
            try:
                if known is None:
                    current = self.client.get_doc(draft.doctype, draft.name)
                elif (draft.doctype, draft.name) in known:
                    current = known[(draft.doctype, draft.name)]
                else:
                    raise DocumentNotFound("GET", draft.doctype, 404, "not on the site")
            except DocumentNotFound:
                if draft.update_only:
                    plan.quarantined.append(quarantine_for(docs.record, [Problem(
                        "FR405", f"the record's case ({draft.doctype}) is no longer on the site",
                        f"record {docs.record_id}")]))
                    return
                missing.append(draft)
                continue
            changes = changed_fields(current, draft, self.mapping)
            if changes:
                updates.append(DocumentUpdate(draft.doctype, draft.name, changes,
                                              str(current["modified"])))
        if updates or missing:
            plan.updates.append((docs, updates, missing))
        else:
            plan.unchanged.append(docs.record_id)

    def _apply_inserts(self, inserts: list[RecordDocuments], batch_size: int,
                       result: UpsertResult) -> None:
        limit = max(1, min(batch_size, MAX_INSERT_MANY))
        batch: list[RecordDocuments] = []
        size = 0
        for docs in inserts:
            if batch and size + len(docs.drafts) > limit:
                self._insert_batch(batch, result)
                batch, size = [], 0
            batch.append(docs)
            size += len(docs.drafts)
        if batch:
            self._insert_batch(batch, result)

    def _insert_batch(self, batch: list[RecordDocuments], result: UpsertResult) -> None:
        docs = [d.as_insert() for record_docs in batch for d in record_docs.drafts]
        try:
            self.client.insert_many(docs, retry=True)
            result.created.extend(r.record_id for r in batch)
            return
        except FrappeError as exc:
            if exc.status not in RECORD_ERROR_STATUSES:
                raise
            if len(batch) == 1:
                self._insert_one_failed(batch[0], exc, result)
                return
            log.info("a batch of %d record(s) was refused (HTTP %s); retrying one by one",
                     len(batch), exc.status)
        denied = 0
        for record_docs in batch:  # insert_many is all-or-nothing: find the refused record(s)
            try:
                self.client.insert_many([d.as_insert() for d in record_docs.drafts], retry=True)
                result.created.append(record_docs.record_id)
            except FrappeError as exc:
                if exc.status not in RECORD_ERROR_STATUSES:
                    raise
                denied += exc.status == 403
                self._insert_one_failed(record_docs, exc, result)
        if denied == len(batch):  # not one record's fault: the sync user lacks a permission
            raise FrappePermissionDenied(
                "POST", self.client.session.url("api/method/frappe.client.insert_many"), 403,
                f"all {denied} records of a batch were refused permission; stopping the push",
                frappe_hint(403, "PermissionError"), exc_type="PermissionError")

    def _insert_one_failed(self, docs: RecordDocuments, error: FrappeError,
                           result: UpsertResult) -> None:
        if isinstance(error, DuplicateDocument):  # saved meanwhile, or an answer lost on the way
            plan = UpsertPlan()
            self._plan_update(docs, plan)
            result.unchanged += plan.unchanged
            result.quarantined += plan.quarantined
            for record_docs, updates, missing in plan.updates:
                self._apply_update(record_docs, updates, missing, result)
            return
        result.quarantined.append(quarantine_for_error(docs.record, error))

    def _apply_update(self, docs: RecordDocuments, updates: list[DocumentUpdate],
                      missing: list[DocumentDraft], result: UpsertResult) -> None:
        try:
            for update in updates:
                self._put_with_lock(update, docs)
            if missing:
                self.client.insert_many([d.as_insert() for d in missing], retry=True)
        except FrappeError as exc:
            if exc.status not in RECORD_ERROR_STATUSES:
                raise
            result.quarantined.append(quarantine_for_error(docs.record, exc))
            return
        result.updated.append(docs.record_id)

    def _put_with_lock(self, update: DocumentUpdate, docs: RecordDocuments) -> None:
        """PUT with the `modified` read; on a conflict read again and compare again."""
        draft = next(d for d in docs.drafts if (d.doctype, d.name) == (update.doctype, update.name))
        changes, modified = dict(update.changes), update.modified
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                self.client.update(update.doctype, update.name, changes, modified=modified)
                return
            except StaleDocument:
                if attempt == CONFLICT_RETRIES:
                    raise
                log.info("a %s document changed on the site while writing; reading it again",
                         update.doctype)
            current = self.client.get_doc(update.doctype, update.name)
            changes = changed_fields(current, draft, self.mapping)
            modified = str(current["modified"])
            if not changes:
                return

    # --- pull -----------------------------------------------------------------------------------
    def pull(self, since: dt.datetime | None, *, doctypes: Sequence[str] | None = None,
             page_size: int = DEFAULT_PAGE_SIZE,
             ) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        """Records whose documents changed at or after `since`, identity edits included.

        Each record is read whole (GET: child tables are not in list answers) with its case's
        identity (and restricted detail, when the policy names restricted elements); a document
        that does not fit the codebook comes back quarantined, never dropped.
        """
        zone = self.client.site_time_zone()
        wanted = list(doctypes or self.mapping.record_doctypes)
        seen: set[tuple[str, str]] = set()
        cases: dict[str, dict[str, Any] | None] = {}
        count = 0

        def emit(doctype: str, name: str) -> Iterator[CanonicalRecord | QuarantinedRecord]:
            nonlocal count
            if (doctype, name) not in seen:
                seen.add((doctype, name))
                count += 1
                yield self._read_record(doctype, name, zone, cases)

        for doctype in wanted:
            for listed in self.client.list_modified_since(doctype, since, page_size=page_size):
                yield from emit(doctype, listed.name)
        case_doctype = self.mapping.case_doctype
        if case_doctype in wanted:  # a change to the identity is a change to the case's record
            for companion in self._companions_read():
                link = self.mapping.doctypes[companion].case_field
                if not link:
                    continue
                for listed in self.client.list_modified_since(companion, since, fields=(link,),
                                                              page_size=page_size):
                    if listed.values.get(link):
                        yield from emit(case_doctype, str(listed.values[link]))
        log.info("pull: %d record(s) from %d DocType(s)", count, len(wanted))

    def _companions_read(self) -> list[str]:
        restricted = self.allow_restricted
        return [d for d in self.mapping.companion_doctypes if d in self.mapping.doctypes and (
            restricted or not any(self.codebook.elements[c].sensitivity == "restricted"
                                  for c in self.mapping.doctypes[d].fields
                                  if c in self.codebook.elements))]

    def _read_record(self, doctype: str, name: str, zone: ZoneInfo,
                     cases: dict[str, dict[str, Any] | None],
                     ) -> CanonicalRecord | QuarantinedRecord:
        doc = self.client.get_doc(doctype, name)
        link = self.mapping.doctypes[doctype].case_field
        case_name = name if doctype == self.mapping.case_doctype else (
            str(doc[link]) if link and doc.get(link) else None)
        if doctype == self.mapping.case_doctype:
            case: dict[str, Any] | None = doc
        elif case_name is None:
            case = None
        else:
            if case_name not in cases:
                cases[case_name] = self._get_or_none(self.mapping.case_doctype, case_name)
            case = cases[case_name]
        companions: dict[str, Mapping[str, Any]] = {}
        if doctype == self.mapping.case_doctype:
            for companion in self._companions_read():
                found = self._get_or_none(companion, name)
                if found is not None:
                    companions[companion] = found
        made = record_from_documents(doc, companions, case, self.codebook, self.mapping, zone,
                                     site_url=self.client.config.base_url,
                                     allow_restricted=self.allow_restricted)
        if isinstance(made, CanonicalRecord):
            return made
        host = urlsplit(self.client.config.base_url).netloc
        return QuarantinedRecord.from_problems(
            f"frappe:{host}", f"{doctype}/{name}", made,
            payload={"doctype": doctype, "document": doc, "companions": companions},
            record_id=doc.get(self.mapping.external_id_field) or None)

    def _get_or_none(self, doctype: str, name: str) -> dict[str, Any] | None:
        try:
            return self.client.get_doc(doctype, name)
        except DocumentNotFound:
            return None
