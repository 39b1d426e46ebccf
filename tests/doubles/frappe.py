"""A contract double of a Frappe v15 site's REST API, served over real HTTP on 127.0.0.1.

This is not Frappe. It answers the parts of the v1 REST API tipdata's connector uses, the way
Frappe 15.50.0 answers them, so connector tests exercise real HTTP, real status codes and real
error bodies. Behaviour follows /work/shared/reference/frappe-v15.md and these v15 source files
(read through the search tools; none of their code is copied):

- frappe/api/v1.py — routes, `document_list` (default `limit_page_length` 20, `0` = all),
  `create_doc`, `update_doc`, `delete_doc` (202 "ok"), `read_doc`
- frappe/client.py — `get_list`, `insert_many` (at most 200, "Only 200 inserts allowed in one
  request"), `get_time_zone` (allow_guest), `get_single_value`
- frappe/auth.py — `validate_auth`, `validate_auth_via_api_keys` (bad key → 401
  AuthenticationError; no credentials → Guest → 403 PermissionError on resources)
- frappe/app.py::handle_exception, frappe/utils/response.py::report_error/_make_logs_v1 — the v1
  error body: `exc_type`, `exception`, `exc`, `_server_messages` (a JSON string of JSON strings),
  `_error_message`; no traceback for 404
- frappe/model/document.py — insert order (links, permission, naming, controller validate,
  mandatory, selects, length, database insert) and `check_if_latest` (stale `modified` → 417
  TimestampMismatchError "Error: Document has been modified after you have opened it ...")
- frappe/model/base_document.py — `db_insert` (name clash → 409 DuplicateEntryError "… already
  exists", title "Duplicate Name"; `unique` field clash → 417 UniqueValidationError),
  `_validate_selects`, `_get_missing_mandatory_fields`, `get_valid_dict` (Int/Check/Float store 0
  for an empty value)
- frappe/model/db_query.py — "Field not permitted in query: …" (417 DataError)
- frappe/model/base_document.py::_validate_constants — a `set_only_once` field changed by an
  update → 417 CannotChangeConstantError "Value cannot be changed for …"

Timestamps (`creation`, `modified`) are naive strings in the site's time zone, as Frappe stores
them; with no time zone set the site behaves as Asia/Kolkata (frappe/utils/data.py).

One rule of the casework app's controllers is mirrored because tests build sites from its
generated DocType JSON: a field whose `mandatory_depends_on` is `eval:!doc.<check>` is required
while that Check field is 0 (417 MandatoryError).

Test controls: `add_rule` (a controller `validate()` that throws), `add_hook` (one that sets
derived fields), `deny` (remove a permission), `fail_next` / `delay_next` (faults), `seed` /
`edit` (documents written outside the API, e.g. a caseworker in the desk), `after_each` (change
the site between a client's read and its write), `requests` (what the client sent; never the
Authorization value).

Not reproduced: field permlevels and their two REST leaks (frappe-v15.md §3.2), v2 API bodies,
sessions/cookies, naming series, submittable documents, `Table MultiSelect` Link rows.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import itertools
import json
import random
import re
import socketserver
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from zoneinfo import ZoneInfo

from tests.doubles.frappe_table import DocTable

DEFAULT_SITE_TIME_ZONE = "Asia/Kolkata"
MAX_INSERT_MANY = 200

#: DocField types that hold no data (layout only).
LAYOUT_TYPES = frozenset({"Section Break", "Column Break", "Tab Break", "HTML", "Heading",
                          "Button", "Fold", "Image"})
TABLE_TYPES = frozenset({"Table", "Table MultiSelect"})
INT_TYPES = frozenset({"Int", "Check"})
FLOAT_TYPES = frozenset({"Float", "Currency", "Percent"})
DATETIME_TYPES = frozenset({"Datetime"})
#: Columns every document has (frappe/model/__init__.py default_fields).
STANDARD_FIELDS = ("name", "owner", "creation", "modified", "modified_by", "docstatus", "idx")
CHILD_FIELDS = ("parent", "parentfield", "parenttype")
DATA_DEFAULT_LENGTH = 140

STATUS_TEXT = {200: "OK", 202: "ACCEPTED", 400: "BAD REQUEST", 401: "UNAUTHORIZED",
               403: "FORBIDDEN", 404: "NOT FOUND", 409: "CONFLICT", 417: "EXPECTATION FAILED",
               429: "TOO MANY REQUESTS", 500: "INTERNAL SERVER ERROR", 502: "BAD GATEWAY",
               503: "SERVICE UNAVAILABLE", 504: "GATEWAY TIMEOUT"}


# --- schema -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DocField:
    """One field of a DocType, with the properties the server-side checks read."""

    fieldname: str
    fieldtype: str = "Data"
    label: str = ""
    reqd: bool = False
    #: Select: newline-separated options; Link / Table / Table MultiSelect: the target DocType
    options: str = ""
    unique: bool = False
    length: int = 0
    #: may not change once saved (`_validate_constants` → 417 CannotChangeConstantError)
    set_only_once: bool = False
    #: required while this Check field is unticked (`mandatory_depends_on: eval:!doc.<check>`).
    #: Frappe runs mandatory_depends_on in the desk only; the tip_casework app's controller
    #: enforces this form of it on every save (`intake_pending`), and the double mirrors that.
    mandatory_unless: str = ""

    @property
    def title(self) -> str:
        return self.label or self.fieldname.replace("_", " ").title()


@dataclass(frozen=True)
class DocTypeDef:
    """A DocType as the double needs it: fields, naming rule, child-table flag."""

    name: str
    fields: tuple[DocField, ...] = ()
    autoname: str = "hash"
    istable: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DocTypeDef:
        """Read a DocType JSON file's dict (`<app>/<module>/doctype/<x>/<x>.json`)."""
        checks = {f["fieldname"] for f in data.get("fields", ()) if f.get("fieldtype") == "Check"}
        fields = tuple(
            DocField(fieldname=f["fieldname"], fieldtype=f.get("fieldtype", "Data"),
                     label=f.get("label") or "", reqd=bool(f.get("reqd")),
                     options=f.get("options") or "", unique=bool(f.get("unique")),
                     length=int(f.get("length") or 0),
                     set_only_once=bool(f.get("set_only_once")),
                     mandatory_unless=_unless_check(f.get("mandatory_depends_on"), checks))
            for f in data.get("fields", ()) if f.get("fieldtype", "Data") not in LAYOUT_TYPES
        )
        return cls(name=data["name"], fields=fields, autoname=data.get("autoname") or "hash",
                   istable=bool(data.get("istable")))

    def field(self, fieldname: str) -> DocField | None:
        return self._by_name.get(fieldname)

    @functools.cached_property
    def _by_name(self) -> dict[str, DocField]:
        return {f.fieldname: f for f in self.fields}

    @functools.cached_property
    def data_fields(self) -> tuple[DocField, ...]:
        return tuple(f for f in self.fields if f.fieldtype not in TABLE_TYPES)

    @functools.cached_property
    def table_fields(self) -> tuple[DocField, ...]:
        return tuple(f for f in self.fields if f.fieldtype in TABLE_TYPES)

    @functools.cached_property
    def columns(self) -> tuple[str, ...]:
        extra = CHILD_FIELDS if self.istable else ()
        return STANDARD_FIELDS + extra + tuple(f.fieldname for f in self.data_fields)


def _unless_check(condition: str | None, checks: set[str]) -> str:
    """The Check field of `eval:!doc.<check>` (the casework app's intake rule), else ''."""
    match = re.fullmatch(r"eval:!doc\.(\w+)", condition or "")
    return match.group(1) if match and match.group(1) in checks else ""


#: A server-side rule: given the document about to be saved, the words of a failure or None.
Rule = Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class LoggedRequest:
    """What a client sent (never the Authorization value) and what the double answered."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    authenticated: bool

    @property
    def listed(self) -> str | None:
        """The DocType a list request reads: `GET /api/resource/<DocType>` or a call of
        `frappe.client.get_list` (what that GET runs); None for any other request."""
        if self.method == "GET" and self.path.startswith("/api/resource/") \
                and "/" not in self.path[len("/api/resource/"):].strip("/"):
            return self.path[len("/api/resource/"):].strip("/")
        if self.path.rstrip("/") == "/api/method/frappe.client.get_list":
            args = self.body if isinstance(self.body, dict) else self.query
            return str(args.get("doctype") or "")
        return None

    @property
    def list_args(self) -> dict[str, Any]:
        """A list request's arguments as the server reads them, JSON strings decoded."""
        args = dict(self.body) if isinstance(self.body, dict) else dict(self.query)
        for key in ("fields", "filters", "or_filters"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args


@dataclass
class _Fault:
    status: int
    after_processing: bool = False
    retry_after: str | None = None


class FrappeException(Exception):
    """A Frappe exception on its way to becoming a v1 error body."""

    def __init__(self, status: int, exc_type: str, text: str = "",
                 messages: Iterable[dict[str, Any]] = (), error_message: str | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.exc_type = exc_type
        self.text = text
        self.messages = list(messages)
        self.error_message = error_message


def _msg(message: str, *, title: str | None = None, indicator: str | None = None,
         raise_exception: bool = False) -> dict[str, Any]:
    """One entry of Frappe's message log (`frappe.msgprint`)."""
    entry: dict[str, Any] = {"message": message}
    if title:
        entry["title"] = title
    if indicator:
        entry["indicator"] = indicator
    if raise_exception:
        entry.setdefault("title", "Message")
        entry.setdefault("indicator", "red")
        entry["raise_exception"] = 1
        entry["__frappe_exc_id"] = "".join(random.choices(string.hexdigits.lower(), k=10))
    return entry


def _throw(message: str, exc_type: str = "ValidationError", status: int = 417) -> FrappeException:
    """`frappe.throw(message, exc)`: the message goes to the log and the exception carries it."""
    return FrappeException(status, exc_type, message, [_msg(message, raise_exception=True)])


def _not_found(doctype: str, name: str) -> FrappeException:
    return _throw(f"{doctype} {name} not found", "DoesNotExistError", 404)


def _no_permission(doctype: str, ptype: str) -> FrappeException:
    return FrappeException(403, "PermissionError", "",
                           [_msg(f"No permission for {doctype}", title="Not permitted",
                                 raise_exception=True)],
                           error_message=f"Insufficient Permission for {doctype} ({ptype})")


def _hash_name() -> str:
    """`frappe.generate_hash`-style 10-character lowercase base32hex name."""
    return "".join(random.choices("0123456789abcdefghijklmnopqrstuv", k=10))


# --- the site -----------------------------------------------------------------------------------

class FrappeDouble:
    """A Frappe v15 site double: DocTypes, documents, token auth, faults; real HTTP in a thread.

    >>> site = FrappeDouble([DocTypeDef("Note", (DocField("title", reqd=True),))]).start()
    >>> site.base_url.startswith("http://127.0.0.1:")
    True
    >>> site.stop()
    """

    def __init__(self, doctypes: Iterable[DocTypeDef] = (), *, api_key: str = "tipdata-key",
                 api_secret: str = "tipdata-secret", user: str = "sync@example.org",
                 time_zone: str | None = DEFAULT_SITE_TIME_ZONE,
                 clock: Callable[[], dt.datetime] | None = None,
                 system_manager: bool = False) -> None:
        self.meta: dict[str, DocTypeDef] = {d.name: d for d in doctypes}
        self.api_key = api_key
        self.api_secret = api_secret
        self.user = user
        #: System Settings time_zone; None means "not set" (the site then runs on Asia/Kolkata)
        self.time_zone_setting = time_zone
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.system_manager = system_manager
        self.requests: list[LoggedRequest] = []
        self._docs: dict[str, DocTable] = {name: self._table(name) for name in self.meta}
        self._rules: dict[str, list[tuple[Rule, str]]] = {}
        self._hooks: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self._denied: dict[str, set[str]] = {}
        self._faults: list[_Fault] = []
        self._after_each: Callable[[LoggedRequest], None] | None = None
        self._delays: list[float] = []
        self._lock = threading.RLock()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def _table(self, doctype: str) -> DocTable:
        meta = self.meta[doctype]
        return DocTable(lambda fieldname, value: _typed(meta, fieldname, value))

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FrappeDouble:
        self._server = make_server("127.0.0.1", 0, self, server_class=_ThreadingWSGIServer,
                                   handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name="frappe-double")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FrappeDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the double is not started; call start() first")
        return f"http://127.0.0.1:{self._server.server_port}"

    # --- test controls --------------------------------------------------------------------------
    @property
    def site_time_zone(self) -> str:
        return self.time_zone_setting or DEFAULT_SITE_TIME_ZONE

    def now(self) -> str:
        """The current time as Frappe stores it: naive, in the site's time zone."""
        local = self.clock().astimezone(ZoneInfo(self.site_time_zone)).replace(tzinfo=None)
        return str(local)

    def add_rule(self, doctype: str, rule: Rule, exc_type: str = "ValidationError") -> None:
        """Add a controller `validate()` rule: a returned message fails the save with HTTP 417."""
        self._rules.setdefault(doctype, []).append((rule, exc_type))

    def add_hook(self, doctype: str, hook: Callable[[dict[str, Any]], None]) -> None:
        """Add a controller step that sets derived fields on the document before validation
        (as the casework app keeps `consent_covers_<purpose>` from the consent answers)."""
        self._hooks.setdefault(doctype, []).append(hook)

    def after_each(self, callback: Callable[[LoggedRequest], None] | None) -> None:
        """Run `callback` after each request is carried out and before it is answered: a test
        can change the site between a client's read and its write."""
        self._after_each = callback

    def deny(self, doctype: str, *ptypes: str) -> None:
        """Take permissions (read, write, create, delete) on a DocType away from the API user."""
        self._denied.setdefault(doctype, set()).update(ptypes)

    def fail_next(self, count: int = 1, status: int = 503, *, after_processing: bool = False,
                  retry_after: str | None = None) -> None:
        """Answer the next `count` requests with `status`.

        With `after_processing` the request is carried out first and only the answer is lost (a
        proxy timing out after the site committed), the case that makes retries dangerous.
        """
        with self._lock:
            self._faults.extend(_Fault(status, after_processing, retry_after) for _ in range(count))

    def delay_next(self, count: int, seconds: float) -> None:
        """Hold the next `count` requests for `seconds` before answering."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def seed(self, doctype: str, values: Mapping[str, Any], *, modified: str | None = None,
             name: str | None = None) -> dict[str, Any]:
        """Store a document without validation, as a data import or fixture would."""
        with self._lock:
            meta = self._meta(doctype)
            doc = self._new_doc(meta, values, self.user)
            doc["name"] = name or values.get("name") or self._autoname(meta, doc, {}) or _hash_name()
            if modified:
                doc["modified"] = doc["creation"] = modified
            self._set_child_names(meta, doc)
            self._docs[doctype].put(doc)
            return copy.deepcopy(doc)

    def edit(self, doctype: str, name: str, **changes: Any) -> dict[str, Any]:
        """Change a stored document as a desk user would, bumping `modified`."""
        with self._lock:
            meta = self._meta(doctype)
            stored = self._docs[doctype].get(name)
            if stored is None:
                raise KeyError(name)
            doc = dict(stored)  # changed as a copy: the table's indexes still hold the old one
            doc.update(changes)
            for table in meta.table_fields:  # child rows stored as a save stores them
                if table.fieldname in changes:
                    doc[table.fieldname] = self._child_rows(table, changes[table.fieldname])
            doc["modified"] = self.now()
            doc["modified_by"] = "caseworker@example.org"
            self._set_child_names(meta, doc)
            self._docs[doctype].put(doc)
            return copy.deepcopy(doc)

    def doc(self, doctype: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            table = self._docs.get(doctype)
            found = table.get(name) if table is not None else None
            return copy.deepcopy(found) if found is not None else None

    def docs(self, doctype: str) -> list[dict[str, Any]]:
        with self._lock:
            table = self._docs.get(doctype)
            return [copy.deepcopy(d) for d in table.values()] if table is not None else []

    def count(self, doctype: str) -> int:
        with self._lock:
            table = self._docs.get(doctype)
            return len(table) if table is not None else 0

    # --- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", ""),
                                               keep_blank_values=True).items()}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        body = _parse_body(raw, environ.get("CONTENT_TYPE", ""))
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            delay = self._delays.pop(0) if self._delays else 0.0
        if delay:
            time.sleep(delay)
        user: str | None = None
        if fault is not None and not fault.after_processing:
            status, headers, payload = _fault_response(fault)
        else:
            try:
                user = self._authenticate(environ.get("HTTP_AUTHORIZATION", ""))
                status, data = self._route(method, path, query, body, user)
                headers, payload = [], data
            except FrappeException as exc:
                status, headers, payload = exc.status, [], _error_body(exc)
            except Exception as exc:  # a bug in the double must still answer like a server
                status, headers, payload = 500, [], _error_body(
                    FrappeException(500, type(exc).__name__, str(exc)))
            if fault is not None:
                status, headers, payload = _fault_response(fault)
        logged = LoggedRequest(method, path, query, body, status,
                               user is not None and user != "Guest")
        with self._lock:
            self.requests.append(logged)
        if self._after_each is not None:
            self._after_each(logged)
        if isinstance(payload, bytes):
            content, content_type = payload, "text/html; charset=utf-8"
        else:
            content = json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8")
            content_type = "application/json"
        start_response(f"{status} {STATUS_TEXT.get(status, 'UNKNOWN')}",
                       [("Content-Type", content_type), ("Content-Length", str(len(content))),
                        *headers])
        return [content]

    # --- auth (frappe/auth.py::validate_auth) ---------------------------------------------------
    def _authenticate(self, header: str) -> str:
        parts = header.split(" ")
        if len(parts) != 2:
            return "Guest"
        kind, token = parts
        try:
            if kind.lower() == "token":
                key, secret = token.split(":")
            elif kind.lower() == "basic":
                import base64

                key, secret = base64.b64decode(token).decode("utf-8").split(":")
            else:
                raise FrappeException(401, "AuthenticationError", "")
        except ValueError:
            raise FrappeException(401, "AuthenticationError", "") from None
        if key != self.api_key or secret != self.api_secret:
            raise FrappeException(401, "AuthenticationError", "")
        return self.user

    # --- routing (frappe/api/v1.py) -------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict[str, str], body: Any,
               user: str) -> tuple[int, Any]:
        match = re.fullmatch(r"/api(?:/v1)?/(method|resource)/(.+?)/?", path)
        if not match:
            raise _throw(f"Not found: {path}", "DoesNotExistError", 404)
        kind, rest = match.groups()
        args = dict(query)
        if isinstance(body, dict):
            args.update(body)
        if kind == "method":
            return 200, {"message": self._call_method(rest.split("/")[0], args, user, method)}
        doctype, _, name = rest.partition("/")
        with self._lock:
            if not name:
                if method == "GET":
                    return 200, {"data": self._list(doctype, args, user)}
                if method == "POST":
                    data = _request_data(body, args)
                    data.pop("doctype", None)
                    doc = self._insert_atomic([(doctype, data)], user)[0]
                    return 200, {"data": _as_dict(doc)}
            else:
                if method == "GET":
                    return 200, {"data": _as_dict(self._read(doctype, name, user))}
                if method == "PUT":
                    doc = self._update(doctype, name, _request_data(body, args), user)
                    return 200, {"data": _as_dict(doc)}
                if method == "DELETE":
                    self._delete(doctype, name, user)
                    return 202, {"data": "ok"}
        raise _throw(f"Method {method} not allowed on {path}", "ValidationError", 417)

    def _call_method(self, cmd: str, args: dict[str, Any], user: str, http_method: str) -> Any:
        guest = user == "Guest"
        if cmd == "frappe.client.get_time_zone":  # @frappe.whitelist(allow_guest=True)
            return {"time_zone": self.time_zone_setting}
        if guest:
            raise FrappeException(403, "PermissionError", "",
                                  [_msg("Not permitted", raise_exception=True)])
        if cmd == "frappe.auth.get_logged_user":
            return user
        if cmd == "frappe.client.get_single_value":
            if args.get("doctype") != "System Settings" or not self.system_manager:
                raise _throw(f"No permission for {args.get('doctype')}", "PermissionError", 403)
            return self.time_zone_setting if args.get("field") == "time_zone" else None
        if cmd == "frappe.client.get_list":  # what GET /api/resource/<DocType> calls
            with self._lock:
                return self._list(str(args.get("doctype") or ""),
                                  {k: v for k, v in args.items() if k != "doctype"}, user)
        if cmd == "frappe.client.insert_many":
            if http_method not in ("POST", "PUT"):
                raise _throw("Not permitted", "PermissionError", 403)
            docs = args.get("docs")
            if isinstance(docs, str):
                docs = json.loads(docs)
            if not isinstance(docs, list):
                raise _throw("docs must be a list of documents")
            if len(docs) > MAX_INSERT_MANY:
                raise _throw("Only 200 inserts allowed in one request")
            with self._lock:
                inserted = self._insert_atomic(
                    [(d.get("doctype", ""), {k: v for k, v in d.items() if k != "doctype"})
                     for d in docs], user)
            return [d["name"] for d in inserted]
        raise _throw(f"Failed to get method for command {cmd} with No module named "
                     f"'{cmd.rsplit('.', 1)[0]}'")

    # --- reading --------------------------------------------------------------------------------
    def _meta(self, doctype: str) -> DocTypeDef:
        meta = self.meta.get(doctype)
        if meta is None:  # Frappe fails importing the controller: HTTP 500 [live]
            module = doctype.lower().replace(" ", "_")
            raise FrappeException(500, "ImportError", f"No module named '{module}'")
        return meta

    def _check(self, doctype: str, ptype: str, user: str) -> None:
        if user == "Guest" or ptype in self._denied.get(doctype, ()):
            raise _no_permission(doctype, ptype)

    def _read(self, doctype: str, name: str, user: str) -> dict[str, Any]:
        self._meta(doctype)
        doc = self._docs[doctype].get(name)
        if doc is None:
            raise _not_found(doctype, name)
        self._check(doctype, "read", user)
        return doc

    def _list(self, doctype: str, args: dict[str, Any], user: str) -> list[Any]:
        meta = self._meta(doctype)
        fields = _json_arg(args.get("fields")) or ["name"]
        columns = _select_columns(meta, fields)
        filters = _normalise_filters(_json_arg(args.get("filters")))
        conditions = [_condition(meta, f) for f in filters]
        alternatives = [_condition(meta, f) for f in _normalise_filters(
            _json_arg(args.get("or_filters")))]
        order = _parse_order_by(meta, args.get("order_by"))
        # frappe/api/v1.py: form_dict.setdefault("limit_page_length", limit or ... or 20)
        page_length = args["limit_page_length"] if "limit_page_length" in args else (
            args.get("limit") or 20)
        start = int(args.get("limit_start") or 0)
        page_length = int(page_length or 0)
        if meta.istable:
            parents = _indexed_values(meta, filters, "parent")
            candidates: Iterable[dict[str, Any]] = self._child_rows_of(
                meta, str(args.get("parent") or ""), user, parents)
            in_order = False
        else:
            self._check(doctype, "read", user)
            candidates, in_order = self._candidates(meta, filters, order)
        rows = []
        wanted = start + page_length if page_length and in_order and not alternatives else 0
        for row in candidates:
            if all(test(row) for test in conditions):
                rows.append(row)
                if len(rows) == wanted:
                    break  # the candidates come in the requested order
        if alternatives:
            rows = [r for r in rows if any(test(r) for test in alternatives)]
        for fieldname, descending in reversed(order):
            rows.sort(key=lambda r, f=fieldname: _sort_key(meta, f, r.get(f)), reverse=descending)
        rows = rows[start:start + page_length] if page_length else rows[start:]
        as_dict = str(args.get("as_dict", "1")).lower() not in ("0", "false")
        if as_dict:
            return [{c: r.get(c) for c in columns} for r in rows]
        return [[r.get(c) for c in columns] for r in rows]

    def _child_rows_of(self, child: DocTypeDef, parent: str, user: str,
                       parents: list[Any] | None = None) -> list[dict[str, Any]]:
        """A child DocType is listed through its parent (`check_parent_permission`): the parent
        must have a table of it and the user must read the parent. `parents`: the only parent
        names a `parent` filter lets through (the index on `parent`), None for all."""
        parent_meta = self.meta.get(parent)
        if parent_meta is None or not any(t.options == child.name
                                          for t in parent_meta.table_fields):
            raise _no_permission(child.name, "read")
        self._check(parent, "read", user)
        table = self._docs[parent]
        docs = table.values() if parents is None else table.named(parents)
        return [row for doc in docs for field in parent_meta.table_fields
                if field.options == child.name for row in doc.get(field.fieldname) or []]

    def _candidates(self, meta: DocTypeDef, filters: list[tuple[str, str, Any]],
                    order: list[tuple[str, bool]]) -> tuple[Iterable[dict[str, Any]], bool]:
        """The documents a database would read through an index for these filters: a superset
        of the answer (every filter is still applied to them), and whether they come in the
        requested `order` (else in the table's order, to be sorted)."""
        table = self._docs[meta.name]
        for fieldname in ("name", *(_bare_field(meta, f) for f, _, _ in filters)):
            values = _indexed_values(meta, filters, fieldname)
            if values is not None:
                names = values if fieldname == "name" else table.names_with(fieldname, values)
                return table.named(names), False
        if order == _KEYSET_ORDER:
            low, inclusive = None, True
            for fieldname, op, value in filters:
                if _bare_field(meta, fieldname) == "modified" and op in (">", ">="):
                    low, inclusive = _typed(meta, "modified", value), op == ">="
                    break
            return table.in_modified_order(low, inclusive=inclusive), True
        return table.values(), False

    # --- writing --------------------------------------------------------------------------------
    def _insert_atomic(self, docs: list[tuple[str, dict[str, Any]]],
                       user: str) -> list[dict[str, Any]]:
        """Insert all or nothing, like one database transaction (`insert_many`, POST)."""
        staged: dict[tuple[str, str], dict[str, Any]] = {}
        done = []
        for doctype, data in docs:
            doc = self._insert(doctype, data, user, staged)
            staged[(doctype, doc["name"])] = doc
            done.append(doc)
        for (doctype, _name), doc in staged.items():
            self._docs[doctype].put(doc)
        return [copy.deepcopy(d) for d in done]

    def _exists(self, doctype: str, name: str, staged: Mapping[tuple[str, str], Any]) -> bool:
        table = self._docs.get(doctype)
        return (table is not None and name in table) or (doctype, name) in staged

    def _insert(self, doctype: str, data: Mapping[str, Any], user: str,
                staged: Mapping[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
        """`Document.insert()`, in Frappe's order of checks."""
        meta = self._meta(doctype)
        if meta.istable:
            raise _throw("Parenttype, Parent and Parentfield are required to insert a child record")
        doc = self._new_doc(meta, data, user)
        self._validate_links(meta, doc, staged)
        self._check(doctype, "create", user)
        doc["name"] = str(data.get("name") or "").strip() or self._autoname(meta, doc, staged)
        if not doc["name"]:
            raise _throw(f"No Name Specified for {doctype}")
        self._set_child_names(meta, doc)
        self._validate(meta, doc, staged)
        if self._exists(doctype, doc["name"], staged):
            message = f"{doctype} <strong>{doc['name']}</strong> already exists"
            raise FrappeException(
                409, "DuplicateEntryError",
                f"('{doctype}', '{doc['name']}', IntegrityError(1062, \"Duplicate entry "
                f"'{doc['name']}' for key 'PRIMARY'\"))",
                [_msg(message, title="Duplicate Name", indicator="red")])
        self._validate_unique(meta, doc, staged)
        return doc

    def _new_doc(self, meta: DocTypeDef, data: Mapping[str, Any], user: str) -> dict[str, Any]:
        now = self.now()
        doc: dict[str, Any] = {"doctype": meta.name, "name": None, "owner": user,
                               "creation": now, "modified": now, "modified_by": user,
                               "docstatus": 0, "idx": 0}
        for f in meta.fields:
            value = data.get(f.fieldname)
            if f.fieldtype in TABLE_TYPES:
                doc[f.fieldname] = self._child_rows(f, value)
            else:
                doc[f.fieldname] = _store_value(f, value)
        return doc

    def _child_rows(self, table: DocField, rows: Any) -> list[dict[str, Any]]:
        if rows in (None, ""):
            return []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _throw(f"Value for {table.title} must be a list of rows")
        child = self._meta(table.options)
        out = []
        for idx, row in enumerate(rows, start=1):
            stored = {"doctype": child.name, "name": row.get("name"), "idx": idx,
                      "parentfield": table.fieldname, "docstatus": 0}
            for f in child.data_fields:
                stored[f.fieldname] = _store_value(f, row.get(f.fieldname))
            out.append(stored)
        return out

    def _set_child_names(self, meta: DocTypeDef, doc: dict[str, Any]) -> None:
        for table in meta.table_fields:
            for row in doc.get(table.fieldname) or []:
                row["name"] = row.get("name") or _hash_name()
                row.update(parent=doc["name"], parenttype=meta.name,
                           owner=doc["owner"], creation=doc["creation"],
                           modified=doc["modified"], modified_by=doc["modified_by"])

    def _autoname(self, meta: DocTypeDef, doc: Mapping[str, Any],
                  staged: Mapping[tuple[str, str], Any]) -> str:
        rule = meta.autoname or "hash"
        if rule.startswith("field:"):
            return str(doc.get(rule[len("field:"):]) or "").strip()
        if rule.lower() == "prompt":
            return ""
        for _ in range(5):
            name = _hash_name()
            if not self._exists(meta.name, name, staged):
                return name
        raise FrappeException(500, "IntegrityError", "hash name collision")

    def _validate(self, meta: DocTypeDef, doc: dict[str, Any],
                  staged: Mapping[tuple[str, str], Any]) -> None:
        """Controller validate (hooks, rules), then mandatory, selects, length — Frappe's order."""
        for hook in self._hooks.get(meta.name, ()):
            hook(doc)
        for rule, exc_type in self._rules.get(meta.name, ()):
            message = rule(copy.deepcopy(doc))
            if message:
                raise _throw(message, exc_type)
        conditional = [f for f in meta.fields if f.mandatory_unless and not doc.get(f.mandatory_unless)
                       and _empty(doc.get(f.fieldname))]
        if conditional:  # the app's controller: one message listing every missing field
            raise _throw("\n".join(f"{f.title} ({f.fieldname}) is required once the case's intake is "
                                    "recorded (Awaiting intake unticked)." for f in conditional),
                         "MandatoryError")
        missing = [(meta, f, None) for f in meta.fields if f.reqd and _empty(doc.get(f.fieldname))]
        for table in meta.table_fields:
            child = self._meta(table.options)
            for row in doc.get(table.fieldname) or []:
                missing += [(child, f, row) for f in child.data_fields
                            if f.reqd and _empty(row.get(f.fieldname))]
        if missing:
            messages = [_msg(f"Error: Value missing for {m.name}: {f.title}") for m, f, _ in missing]
            fields = ", ".join(f.fieldname for _, f, _ in missing)
            raise FrappeException(417, "MandatoryError", f"[{meta.name}, {doc['name']}]: {fields}",
                                  messages)
        self._validate_values(meta, doc, prefix="")
        for table in meta.table_fields:
            child = self._meta(table.options)
            for row in doc.get(table.fieldname) or []:
                self._validate_values(child, row, prefix=f"Row #{row['idx']}: ")

    def _validate_values(self, meta: DocTypeDef, doc: Mapping[str, Any], prefix: str) -> None:
        for f in meta.data_fields:
            value = doc.get(f.fieldname)
            if f.fieldtype == "Select" and value not in (None, "") and f.options.strip():
                options = f.options.split("\n")
                if value not in options:
                    shown = '", "'.join(options)
                    raise _throw(f'{prefix}{f.title} cannot be "{value}". It should be one of '
                                 f'"{shown}"'.strip())
            if f.fieldtype == "Data" and isinstance(value, str):
                limit = f.length or DATA_DEFAULT_LENGTH
                if len(value) > limit:
                    raise _throw(f"{meta.name} {doc.get('name')}: '{f.title}' ({value[:20]}…) "
                                 f"will get truncated, as max characters allowed is {limit}",
                                 "CharacterLengthExceededError")

    def _validate_links(self, meta: DocTypeDef, doc: Mapping[str, Any],
                        staged: Mapping[tuple[str, str], Any]) -> None:
        for f in meta.data_fields:
            value = doc.get(f.fieldname)
            if f.fieldtype == "Link" and value and f.options in self.meta:
                if not self._exists(f.options, value, staged):
                    raise _throw(f"Could not find {f.title}: {value}", "LinkValidationError")

    def _validate_unique(self, meta: DocTypeDef, doc: Mapping[str, Any],
                         staged: Mapping[tuple[str, str], dict[str, Any]]) -> None:
        for f in meta.data_fields:
            value = doc.get(f.fieldname)
            if not f.unique or value in (None, ""):
                continue
            table = self._docs[meta.name]
            indexed = table.names_with(f.fieldname, [_typed(meta, f.fieldname, value)])
            others = itertools.chain((d for n in indexed if (d := table.get(n)) is not None),
                                     (d for (dt_, _), d in staged.items() if dt_ == meta.name))
            if any(o.get(f.fieldname) == value and o["name"] != doc["name"] for o in others):
                raise FrappeException(
                    417, "UniqueValidationError",
                    f"('{meta.name}', '{doc['name']}', IntegrityError(1062, \"Duplicate entry "
                    f"'{value}' for key '{f.fieldname}'\"))",
                    [_msg(f"{f.title} must be unique")])

    def _update(self, doctype: str, name: str, data: dict[str, Any], user: str) -> dict[str, Any]:
        """`update_doc`: doc.update(data); doc.save() with `check_if_latest`."""
        meta = self._meta(doctype)
        stored = self._docs[doctype].get(name)
        if stored is None:
            raise _not_found(doctype, name)
        self._check(doctype, "write", user)
        data = {k: v for k, v in data.items() if k != "flags"}
        doc = copy.deepcopy(stored)
        original_modified = str(data.get("modified", stored["modified"]))
        for f in meta.fields:
            if f.fieldname not in data:
                continue
            if f.fieldtype in TABLE_TYPES:
                doc[f.fieldname] = self._child_rows(f, data[f.fieldname])
            else:
                doc[f.fieldname] = _store_value(f, data[f.fieldname])
        now = self.now()
        if original_modified != stored["modified"]:
            raise _throw("Error: Document has been modified after you have opened it "
                         f"({stored['modified']}, {now}). Please refresh to get the latest "
                         "document.", "TimestampMismatchError")
        doc.update(modified=now, modified_by=user)
        for f in meta.data_fields:
            if f.set_only_once and doc.get(f.fieldname) != stored.get(f.fieldname):
                raise _throw(f"Value cannot be changed for {f.title}", "CannotChangeConstantError")
        self._validate_links(meta, doc, {})
        self._set_child_names(meta, doc)
        for table in meta.table_fields:
            for row in doc[table.fieldname]:
                row["modified"] = now
        self._validate(meta, doc, {})
        self._validate_unique(meta, doc, {})
        self._docs[doctype].put(doc)
        return copy.deepcopy(doc)

    def _delete(self, doctype: str, name: str, user: str) -> None:
        self._meta(doctype)
        if name not in self._docs[doctype]:
            raise _not_found(doctype, name)
        self._check(doctype, "delete", user)
        self._docs[doctype].remove(name)


# --- helpers: values, filters, ordering, bodies -------------------------------------------------

def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _store_value(f: DocField, value: Any) -> Any:
    """What the database keeps: Int/Check/Float never NULL (`get_valid_dict`), text as text."""
    if f.fieldtype in INT_TYPES:
        try:
            number = int(float(value)) if value not in (None, "") else 0
        except (TypeError, ValueError):
            number = 0
        return (1 if number else 0) if f.fieldtype == "Check" else number
    if f.fieldtype in FLOAT_TYPES:
        try:
            return float(value) if value not in (None, "") else 0.0
        except (TypeError, ValueError):
            return 0.0
    if value is None or value == "":
        return None if f.fieldtype in ("Date", "Datetime", "Time", "Link") or value is None \
            else ""
    if isinstance(value, list | dict):
        raise _throw(f"Value for {f.title} cannot be a list")
    return value if isinstance(value, str) else str(value)


def _as_dict(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A document as a response carries it: `as_dict(no_nulls=True)`, children inline."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, list):
            out[key] = [{k: v for k, v in row.items() if v is not None} for row in value]
        elif value is not None:
            out[key] = value
    return out


def _request_data(body: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    """`get_request_form_data`: the JSON body, or the form field `data`."""
    if isinstance(args.get("data"), str):
        try:
            parsed = json.loads(args["data"])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    if isinstance(body, dict):
        return dict(body)
    raise _throw("Invalid request arguments")


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "application/x-www-form-urlencoded" in content_type:
        return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        raise _throw("Invalid request arguments") from None


def _json_arg(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise _throw(f"Invalid JSON in request argument: {value[:60]}") from None
    return value


def _bare_field(meta: DocTypeDef, text: str) -> str:
    """`tabTIP Case`.`modified` → modified; rejects anything that is not a column."""
    name = text.strip()
    if "." in name:
        table, _, name = name.rpartition(".")
        if table.strip("`") not in (f"tab{meta.name}",):
            raise _throw(f"Field not permitted in query: {text}", "DataError")
    name = name.strip("`").strip()
    if name not in meta.columns:
        raise _throw(f"Field not permitted in query: {name}", "DataError")
    return name


def _select_columns(meta: DocTypeDef, fields: Any) -> list[str]:
    if isinstance(fields, str):
        fields = [fields]
    columns: list[str] = []
    for item in fields:
        if str(item).strip() == "*":
            columns.extend(c for c in meta.columns if c not in columns)
        else:
            column = _bare_field(meta, str(item))
            if column not in columns:
                columns.append(column)
    return columns


def _normalise_filters(filters: Any) -> list[tuple[str, str, Any]]:
    """Every accepted shape → (field, operator, value)."""
    if not filters:
        return []
    out: list[tuple[str, str, Any]] = []
    if isinstance(filters, dict):
        for fieldname, value in filters.items():
            if isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str):
                out.append((fieldname, value[0], value[1]))
            else:
                out.append((fieldname, "=", value))
        return out
    for item in filters:
        if not isinstance(item, list | tuple) or len(item) not in (3, 4):
            raise _throw(f"Invalid filter: {item!r}")
        fieldname, op, value = item[-3:]
        out.append((fieldname, str(op).lower().strip(), value))
    return out


def _typed(meta: DocTypeDef, fieldname: str, value: Any) -> Any:
    """A value comparable the way the database compares the column."""
    if value is None:
        return None
    f = meta.field(fieldname)
    kind = "Datetime" if fieldname in ("creation", "modified") else (f.fieldtype if f else "Data")
    if fieldname in ("docstatus", "idx"):
        kind = "Int"
    try:
        if kind in DATETIME_TYPES:
            return dt.datetime.fromisoformat(str(value).strip())
        if kind == "Date":
            return dt.date.fromisoformat(str(value).strip()[:10])
        if kind in INT_TYPES or kind in FLOAT_TYPES:
            return float(value)
    except ValueError:
        raise _throw(f"Invalid value for {fieldname}: {value!r}") from None
    return str(value)


def _condition(meta: DocTypeDef, flt: tuple[str, str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """One filter as a test of a row, with its operand parsed once."""
    fieldname, op, expected = flt
    fieldname = _bare_field(meta, fieldname)

    def actual(doc: Mapping[str, Any]) -> Any:
        return _typed(meta, fieldname, doc.get(fieldname))

    if op in ("in", "not in"):
        values = expected if isinstance(expected, list | tuple) else str(expected).split(",")
        wanted = {_typed(meta, fieldname, v) for v in values}
        return (lambda d: actual(d) in wanted) if op == "in" else (lambda d: actual(d) not in wanted)
    if op == "is":
        want_set = str(expected).lower() == "set"
        return lambda d: (actual(d) not in (None, "")) == want_set
    if op in ("like", "not like"):
        pattern = re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                                     for c in str(expected)), re.I | re.S)

        def like(doc: Mapping[str, Any]) -> bool:
            value = actual(doc)
            found = value is not None and pattern.fullmatch(str(value)) is not None
            return found if op == "like" else not found

        return like
    if op == "between":
        low, high = (_typed(meta, fieldname, v) for v in expected)
        return lambda d: (v := actual(d)) is not None and low <= v <= high
    wanted_value = _typed(meta, fieldname, expected)
    if op in ("=", "=="):
        return lambda d: actual(d) == wanted_value
    if op in ("!=", "<>"):
        return lambda d: actual(d) != wanted_value
    compare = {">": lambda a: a > wanted_value, "<": lambda a: a < wanted_value,
               ">=": lambda a: a >= wanted_value, "<=": lambda a: a <= wanted_value}.get(op)
    if compare is None:
        raise _throw(f"Unsupported filter operator {op!r}")
    return lambda d: (v := actual(d)) is not None and wanted_value is not None and compare(v)


#: the order of an incremental read's pages, which DocTable keeps an index in
_KEYSET_ORDER = [("modified", False), ("name", False)]


def _indexed_values(meta: DocTypeDef, filters: list[tuple[str, str, Any]],
                    fieldname: str) -> list[Any] | None:
    """The values an `=` or `in` filter on `fieldname` allows (typed as the column compares
    them), or None when no such filter narrows it."""
    for name, op, expected in filters:
        if _bare_field(meta, name) != fieldname:
            continue
        if op in ("=", "=="):
            return [_typed(meta, fieldname, expected)]
        if op == "in":
            values = expected if isinstance(expected, list | tuple) else str(expected).split(",")
            return [_typed(meta, fieldname, v) for v in values]
    return None


def _parse_order_by(meta: DocTypeDef, order_by: Any) -> list[tuple[str, bool]]:
    text = str(order_by or "modified desc")
    out = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        direction = words[1].lower() if len(words) > 1 else "asc"
        if direction not in ("asc", "desc") or len(words) > 2:
            raise _throw(f"Invalid order_by: {text}", "DataError")
        out.append((_bare_field(meta, words[0]), direction == "desc"))
    return out


def _sort_key(meta: DocTypeDef, fieldname: str, value: Any) -> tuple[int, Any]:
    typed = _typed(meta, fieldname, value)
    return (0, 0) if typed is None else (1, typed)  # NULLs first, as MariaDB sorts them


def _error_body(exc: FrappeException) -> dict[str, Any]:
    """The v1 error body (`report_error` + `_make_logs_v1`), traceback allowed (the default)."""
    body: dict[str, Any] = {"exc_type": exc.exc_type}
    if exc.status != 404:
        text = f"frappe.exceptions.{exc.exc_type}"
        body["exception"] = f"{text}: {exc.text}" if exc.text else text
        body["exc"] = json.dumps([f"Traceback (most recent call last):\n  (contract double)\n"
                                  f"{body['exception']}\n"])
    if exc.messages:
        body["_server_messages"] = json.dumps([json.dumps(m) for m in exc.messages])
    if exc.error_message:
        body["_error_message"] = exc.error_message
    return body


def _fault_response(fault: _Fault) -> tuple[int, list[tuple[str, str]], Any]:
    headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
    if fault.status in (502, 504):  # the reverse proxy answers, in HTML
        text = STATUS_TEXT.get(fault.status, "Error").title()
        html = (f"<html><head><title>{fault.status} {text}</title></head><body><center><h1>"
                f"{fault.status} {text}</h1></center><hr><center>nginx</center></body></html>")
        return fault.status, headers, html.encode()
    if fault.status == 503:
        return 503, headers, {"exc_type": "InReadOnlyMode",
                              "_server_messages": json.dumps([json.dumps(_msg(
                                  "The site is in read only mode for maintenance or site update, "
                                  "this action can not be performed right now. Please try again "
                                  "later.", raise_exception=True))])}
    return fault.status, headers, {"exc_type": "Exception",
                                   "exception": "Exception: injected server failure"}


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

