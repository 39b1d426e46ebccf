"""DHIS2 connector: install the metadata package, push canonical records, pull them back.

    connector = Dhis2Connector.from_environment()      # TIPDATA_DHIS2_URL + TIPDATA_DHIS2_TOKEN
    connector.install()                                # VALIDATE first, then COMMIT
    result = connector.push(records)                   # quarantines what DHIS2 rejects
    pulled = connector.pull(since=watermark)

Transport is dhis2.py (the product's chosen client): every request goes through a `dhis2.Api`
(its URL handling, request methods, session and version detection), hardened in `transport.py`
where dhis2.py falls short: a personal access token (`Authorization: ApiToken <token>`) instead of
Basic auth, a timeout on every request, retries with backoff on 429/502/503/504 and dropped
connections, no exception on the 409 that carries DHIS2's import report, and errors that name
method, URL, status, DHIS2's message and a fix. The token is opaque (never checked for
`d2pat_`/`d2p_`), never printed, logged or put in errors.

What this module adds on top, because dhis2.py has no helper for it: `async=false` sent as that
literal string (dhis2.py would send a Python False as `False`, which 2.40–2.41 do not match, so
the import would silently run async), awaiting a tracker job's report, and paging the tracker
export envelopes (dhis2.py's `get_paged` raises KeyError on all of them: 2.40 `instances` with
flat paging, 2.41+ `pager` under a `tracker/...` endpoint).

Version-aware parts (dhis2-api.md §0): `GET /api/system/info` → minor version (dhis2.py's
`version_int`); tracker export envelopes (2.40 `instances` + flat paging, 2.41 `pager` + flat,
2.42+ `pager`). Imports are read from DHIS2's report (`response.status`, `typeReports`,
`validationReport`), never from the HTTP status alone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dhis2.utils import version_to_int

from tipdata.http import PlatformError, ServiceConfig, resolve_secret
from tipdata.model import Codebook
from tipdata.policy import RoutingPolicy, decide
from tipdata.problems import Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord

from .assignments import assign, current_assignments, unassigned
from .option_combos import package_category_combos, update_option_combos
from .tracker import (
    RESTRICTED,
    PayloadBuilder,
    TrackerMapping,
    TrackerPayload,
    UidFor,
    aware_time,
    mapping_from_package,
    records_from_tracked_entity,
)
from .transport import Dhis2Api

log = logging.getLogger("tipdata.dhis2")

URL_ENV = "TIPDATA_DHIS2_URL"
TOKEN_ENV = "TIPDATA_DHIS2_TOKEN"
TOKEN_FILE_ENV = "TIPDATA_DHIS2_TOKEN_FILE"
ORG_UNIT_ENV = "TIPDATA_DHIS2_ORG_UNIT"
DEFAULT_PACKAGE_PATH = Path(__file__).parent / "metadata" / "tipdata-dhis2-metadata.json"
SUPPORTED_MINORS = range(40, 44)
#: tracker objects per POST; DHIS2 validates a whole payload in memory, so keep it modest
DEFAULT_BATCH_SIZE = 250
DEFAULT_PAGE_SIZE = 100
PULL_FIELDS = (
    "trackedEntity,trackedEntityType,orgUnit,createdAt,updatedAt,deleted,attributes[attribute,value],"
    "enrollments[enrollment,program,orgUnit,status,enrolledAt,occurredAt,updatedAt,deleted,"
    "attributes[attribute,value],events[event,programStage,orgUnit,status,occurredAt,createdAt,"
    "updatedAt,deleted,dataValues[dataElement,value]]]"
)
_BACKTICKED = re.compile(r"`([^`]*)`")
_UID = re.compile(r"^[a-zA-Z][a-zA-Z0-9]{10}$")
_VALUE_TYPES = frozenset(
    {
        "TEXT",
        "LONG_TEXT",
        "MULTI_TEXT",
        "LETTER",
        "PHONE_NUMBER",
        "EMAIL",
        "BOOLEAN",
        "TRUE_ONLY",
        "DATE",
        "DATETIME",
        "TIME",
        "NUMBER",
        "UNIT_INTERVAL",
        "PERCENTAGE",
        "INTEGER",
        "INTEGER_POSITIVE",
        "INTEGER_NEGATIVE",
        "INTEGER_ZERO_OR_POSITIVE",
        "USERNAME",
        "COORDINATE",
        "ORGANISATION_UNIT",
        "REFERENCE",
        "AGE",
        "URL",
        "FILE_RESOURCE",
        "IMAGE",
        "GEOJSON",
        "TRACKED_ENTITY",
        "ENROLLMENT",
        "EVENT",
        "RELATIONSHIP",
        "TRACKED_ENTITY_TYPE",
    }
)


# --- configuration and session --------------------------------------------------------------------


def resolve_dhis2_config(
    url: str | None = None, token: str | None = None, *, timeout: float = 60.0, retries: int = 4
) -> ServiceConfig:
    """Server and token: argument > environment (`TIPDATA_DHIS2_URL`, `TIPDATA_DHIS2_TOKEN`,
    `TIPDATA_DHIS2_TOKEN_FILE`).

    The URL is the server root (with its context path, e.g. https://dhis.example.org/dhis); a
    trailing `/api` is accepted and dropped.

    >>> resolve_dhis2_config("https://dhis.example.org/api", "d2p_...").base_url
    'https://dhis.example.org'
    """
    base_url = url or os.environ.get(URL_ENV)
    if not base_url:
        raise ValueError(
            f"no DHIS2 server given; set {URL_ENV} (the server root, e.g. "
            "https://dhis.example.org or https://host/dhis)"
        )
    base_url = re.sub(r"/api/?$", "", base_url.rstrip("/"))
    secret = resolve_secret(token, TOKEN_ENV, TOKEN_FILE_ENV)
    return ServiceConfig(base_url, secret, timeout=timeout, retries=retries)


def dhis2_hint(status: int | None, message: str) -> str:
    """How to fix a failed DHIS2 request, from its status and DHIS2's own words."""
    lowered = message.lower()
    if status is None:
        return (
            f"check {URL_ENV} points at the DHIS2 server root (with its context path, "
            "without /api) and that this machine can reach it; a timeout on a large push "
            "may need a smaller --batch-size"
        )
    if status == 401:
        return (
            f"the personal access token was refused (expired, revoked, or limited to other "
            f"IPs/methods); create one under Profile → Personal access tokens and put it in "
            f"{TOKEN_ENV} or the file named by {TOKEN_FILE_ENV}"
        )
    if status == 403:
        return (
            "the token's user lacks an authority or sharing access: metadata import needs "
            "F_METADATA_IMPORT, tracker writes need data write sharing on the program, "
            "stages and tracked-entity type and capture access to the org unit"
        )
    if status == 404:
        return "check the server URL (context path) and the DHIS2 version (2.40–2.43 supported)"
    if status == 409:
        return "read the import report: each object names the property and DHIS2 error code"
    if status == 413:
        return "the payload is too large for the proxy; lower --batch-size"
    if status == 415:
        return "send JSON with Content-Type: application/json"
    if status == 400 and "page" in lowered:
        return "ask for a smaller page (pageSize) than the server's maximum"
    if status in (502, 503, 504):
        return "the server or its proxy is busy or restarting; retry in a few minutes"
    if status == 500:
        return "a server error; check the DHIS2 logs (dhis.log) for the stack trace"
    return ""


@dataclass(frozen=True)
class Dhis2Version:
    """The server's version, e.g. `2.41.3` → minor 41; decides envelopes and parameters."""

    text: str
    minor: int

    @property
    def export_key_is_instances(self) -> bool:
        return self.minor <= 40


def parse_version(text: str) -> Dhis2Version:
    """`2.40.4.1`, `2.41-SNAPSHOT`, `2.43.1` → Dhis2Version, read by dhis2.py's `version_to_int`."""
    minor = (
        version_to_int(text.strip())
        if isinstance(text, str) and text.strip().startswith("2.")
        else None
    )
    if minor is None:
        raise ValueError(f"cannot read the DHIS2 version {text!r}")
    return Dhis2Version(text, minor)


class Dhis2Client:
    """One DHIS2 server: a hardened dhis2.py `Api` plus the few API calls tipdata needs.

    `client.api` is the `dhis2.Api` (`transport.Dhis2Api`); every request goes through its
    `request()`, which calls dhis2.py's `get`/`post`/`put`. Endpoints are relative to its
    `api_url` (`"tracker"`, `"system/info"`), as in dhis2.py.
    """

    def __init__(
        self,
        config: ServiceConfig,
        *,
        api: Dhis2Api | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self.api = api or Dhis2Api(config, hint=dhis2_hint, sleep=sleep)
        self._version: Dhis2Version | None = None

    def __repr__(self) -> str:
        return f"Dhis2Client({self.config.base_url!r})"

    @property
    def version(self) -> Dhis2Version:
        """Detected once from `GET /api/system/info` (dhis2.py's `info`, cached there); refuses
        versions it was not built for."""
        if self._version is None:
            version = parse_version(self.api.version)
            if version.minor < SUPPORTED_MINORS.start:
                raise PlatformError(
                    "GET",
                    self.api.url("system/info"),
                    200,
                    f"DHIS2 {version.text} is older than 2.40",
                    "upgrade DHIS2 to 2.40 or later (the new tracker API is required)",
                )
            if version.minor >= SUPPORTED_MINORS.stop:
                log.warning(
                    "DHIS2 %s is newer than the 2.43 this connector was tested against",
                    version.text,
                )
            self._version = version
        return self._version

    def post_json(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        params: Mapping[str, str],
        *,
        expected: Sequence[int] = (200, 409),
        idempotent: bool = True,
    ) -> tuple[int, Any]:
        """POST JSON through dhis2.py's `post`; return (status, parsed body) for the expected
        statuses (409 included by default: it carries DHIS2's import report)."""
        response = self.api.request(
            "POST", endpoint, params=params, json=body, expected=expected, idempotent=idempotent
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            raise PlatformError(
                "POST",
                self.api.url(endpoint),
                response.status_code,
                "the response is not valid JSON (truncated or an HTML error page)",
                "retry; if it persists, check the server URL points at DHIS2",
            ) from None

    # --- metadata ---------------------------------------------------------------------------
    def import_metadata(
        self, package: Mapping[str, Any], mode: Literal["VALIDATE", "COMMIT"]
    ) -> dict[str, Any]:
        """`POST /api/metadata`; returns the ImportReport (unwrapped from the WebMessage)."""
        params = {
            "importMode": mode,
            "importStrategy": "CREATE_AND_UPDATE",
            "atomicMode": "ALL",
            "identifier": "UID",
            "importReportMode": "ERRORS",
        }
        status, body = self.post_json("metadata", package, params)
        report = body.get("response") if isinstance(body, dict) and "response" in body else body
        if not isinstance(report, dict) or "status" not in report:
            raise PlatformError(
                "POST",
                self.api.url("metadata"),
                status,
                f"no import report in the response ({str(body)[:200]})",
                "check the server is DHIS2 2.40 or later",
            )
        return report

    # --- tracker import ---------------------------------------------------------------------
    def import_tracker(
        self, payload: Mapping[str, Any], *, job_timeout: float = 600.0
    ) -> dict[str, Any]:
        """`POST /api/tracker` synchronously (CREATE_AND_UPDATE, atomicMode=OBJECT).

        `async=false` goes as that literal string: 2.40–2.41 match only it (a Python False would
        be sent as `False` and run async), 2.42+ parse it as a boolean. Should a server still
        answer with a job, its report is awaited. Retrying is safe: every object has a
        deterministic UID, so a repeated import is an update.
        """
        params = {
            "async": "false",
            "importStrategy": "CREATE_AND_UPDATE",
            "atomicMode": "OBJECT",
            "importMode": "COMMIT",
            "reportMode": "ERRORS",
        }
        status, body = self.post_json("tracker", payload, params)
        if (
            isinstance(body, dict)
            and (body.get("response") or {}).get("responseType") == "TrackerJob"
        ):
            return self.await_job(body["response"]["id"], timeout=job_timeout)
        if (
            not isinstance(body, dict)
            or "status" not in body
            or (status == 409 and "validationReport" not in body)
        ):
            message = body.get("message") if isinstance(body, dict) else str(body)[:200]
            raise PlatformError(
                "POST",
                self.api.url("tracker"),
                status,
                str(message),
                dhis2_hint(status, str(message)),
            )
        return body

    def await_job(self, job_id: str, *, timeout: float = 600.0) -> dict[str, Any]:
        """Poll `/api/tracker/jobs/{id}/report` until it exists (404 until then)."""
        deadline = time.monotonic() + timeout
        delay = 0.2
        endpoint = f"tracker/jobs/{job_id}/report"
        while True:
            response = self.api.request(
                "GET", endpoint, params={"reportMode": "ERRORS"}, expected=(200, 404)
            )
            if response.status_code == 200:
                return response.json()
            if time.monotonic() > deadline:
                raise PlatformError(
                    "GET",
                    self.api.url(endpoint),
                    404,
                    f"the import report of job {job_id} was not ready after {timeout:.0f}s",
                    "the job may still be running; check it under Data Administration → Jobs",
                )
            self._sleep(delay)
            delay = min(delay * 2, 5.0)

    # --- tracker export ---------------------------------------------------------------------
    def export_pages(
        self, resource: str, params: Mapping[str, str], *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of `GET /api/tracker/{resource}` ordered by `updatedAt`, never silently cut.

        Re-anchors on the last `updatedAt` seen instead of trusting page numbers, so objects
        updated while paging move to the end instead of shifting others out of view; objects that
        share the anchor's timestamp are not yielded twice.
        """
        version = self.version
        key = "instances" if version.export_key_is_instances else resource
        anchor = params.get("updatedAfter")
        page = 1
        at_anchor: set[str] = set()
        id_key = {
            "trackedEntities": "trackedEntity",
            "events": "event",
            "enrollments": "enrollment",
        }[resource]
        while True:
            query = {
                **params,
                "order": "updatedAt:asc",
                "page": str(page),
                "pageSize": str(page_size),
                "totalPages": "false",
            }
            if anchor:
                query["updatedAfter"] = anchor
            body = self.api.get_json(f"tracker/{resource}", params=query)
            if not isinstance(body, dict) or not isinstance(body.get(key), list):
                found = ", ".join(sorted(body)) if isinstance(body, dict) else type(body).__name__
                raise PlatformError(
                    "GET",
                    self.api.url(f"tracker/{resource}"),
                    200,
                    f"expected the collection `{key}` for DHIS2 {version.text}, found {found}",
                    "check the detected version matches the server",
                )
            items = body[key]
            fresh = [item for item in items if item.get(id_key) not in at_anchor]
            if fresh:
                yield fresh
            if not _has_next_page(body, page, len(items), page_size):
                return
            last = items[-1].get("updatedAt")
            if not last or (anchor and aware_time(last) == aware_time(anchor)):
                page += 1  # a whole page shares one timestamp: step through it by page number
            elif anchor and aware_time(last) < aware_time(anchor):
                raise PlatformError(
                    "GET",
                    self.api.url(f"tracker/{resource}"),
                    200,
                    "the server ignored order=updatedAt:asc or updatedAfter",
                    "check the DHIS2 version; paging cannot continue safely",
                )
            else:
                anchor, page = last, 1
                at_anchor = set()
            at_anchor.update(i.get(id_key) for i in items if i.get("updatedAt") == anchor)


def _has_next_page(body: Mapping[str, Any], page: int, count: int, page_size: int) -> bool:
    pager = body.get("pager")
    if isinstance(pager, dict):  # 2.41+
        if pager.get("nextPage"):
            return True
        if "pageCount" in pager:
            return page < int(pager["pageCount"])
        return False
    if "pageCount" in body:  # 2.40 with totalPages=true
        return page < int(body["pageCount"])
    return count >= page_size  # 2.40: a full page may have a successor; a short one has not


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetadataProblem:
    """One error DHIS2 (or the pre-check) reported for one metadata object."""

    object_type: str
    uid: str | None
    name: str | None
    property: str | None
    code: str
    message: str

    def render(self) -> str:
        where = f"{self.object_type} {self.name or ''} [{self.uid}]".replace("  ", " ")
        prop = f" property `{self.property}`" if self.property else ""
        return f"{where}{prop}: {self.code} {self.message}"


@dataclass
class InstallResult:
    """What `install` did: validation only, or validation and commit; every problem listed."""

    ok: bool
    phase: Literal["refused", "validate", "commit"]
    version: str
    stats: dict[str, int] = field(default_factory=dict)
    problems: list[MetadataProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: after a commit: the category option combos DHIS2 generated (`option_combos.py`)
    option_combos: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "phase": self.phase,
            "version": self.version,
            "stats": self.stats,
            "problems": [p.__dict__ for p in self.problems],
            "warnings": self.warnings,
            "option_combos": self.option_combos,
        }


@dataclass
class PushResult:
    """Counts of a push; quarantined records carry DHIS2's codes. Holds no values."""

    version: str
    records: int = 0
    pushed: int = 0
    #: records of which the routing policy lets nothing linkable travel (e.g. no consent)
    skipped: int = 0
    batches: int = 0
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    withheld: Counter[str] = field(default_factory=Counter)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.quarantined

    def to_json(self) -> dict[str, Any]:
        reasons = Counter(q.reason for q in self.quarantined)
        codes = Counter(
            p.message.split(":", 1)[0]
            for q in self.quarantined
            for p in q.problems
            if p.code != "DH401"
        )
        return {
            "ok": self.ok,
            "version": self.version,
            "records": self.records,
            "pushed": self.pushed,
            "skipped": self.skipped,
            "batches": self.batches,
            "quarantined": len(self.quarantined),
            "quarantine_reasons": dict(sorted(reasons.items())),
            "dhis2_codes": dict(sorted(codes.items())),
            "withheld": dict(sorted(self.withheld.items())),
            "stats": self.stats,
        }


@dataclass
class PullResult:
    version: str
    records: list[CanonicalRecord] = field(default_factory=list)
    count: int = 0
    tracked_entities: int = 0
    pages: int = 0
    watermark: dt.datetime | None = None
    unreadable: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "records": self.count,
            "tracked_entities": self.tracked_entities,
            "pages": self.pages,
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "unreadable": dict(sorted(self.unreadable.items())),
        }


# --- pure helpers ---------------------------------------------------------------------------


def metadata_problems(report: Mapping[str, Any]) -> list[MetadataProblem]:
    """Every error report in a metadata ImportReport, one entry per object and property."""
    problems = []
    for type_report in report.get("typeReports") or []:
        object_type = str(type_report.get("klass", "")).rsplit(".", 1)[-1]
        for object_report in type_report.get("objectReports") or []:
            for error in object_report.get("errorReports") or []:
                problems.append(
                    MetadataProblem(
                        object_type=object_type,
                        uid=object_report.get("uid"),
                        name=object_report.get("displayName"),
                        property=error.get("errorProperty"),
                        code=str(error.get("errorCode")),
                        message=str(error.get("message")),
                    )
                )
    return problems


def restricted_in_package(package: Mapping[str, Any], codebook: Codebook) -> list[MetadataProblem]:
    """Objects of the package that would put a restricted element (immigration status) on DHIS2."""
    problems = []
    for key, object_type in (
        ("trackedEntityAttributes", "TrackedEntityAttribute"),
        ("dataElements", "DataElement"),
    ):
        for obj in package.get(key, []):
            element = codebook.elements.get(obj.get("code") or "")
            if element is not None and element.sensitivity == RESTRICTED:
                problems.append(
                    MetadataProblem(
                        object_type,
                        obj.get("id"),
                        obj.get("name"),
                        "code",
                        "DH403",
                        f"element {element.code!r} is restricted and never goes to DHIS2",
                    )
                )
    return problems


def assign_org_units(package: Mapping[str, Any], org_units: Sequence[str]) -> dict[str, Any]:
    """A copy of the package whose programs and data sets are assigned to `org_units` as well.

    Org units differ per server, so a shipped package cannot assign them; without an assignment
    DHIS2 refuses every enrollment (E1041) and event (E1029). See `assignments.py`.
    """
    return assign(package, org_units)


def redact(message: str) -> str:
    """DHIS2's message with quoted values removed (UIDs, value types and reasons are kept).

    Tracker messages quote the offending value (`Value \\`X\\` is not a valid option code`), which
    can be case data; quarantine files, logs and the terminal get the redacted text.
    """

    def keep(match: re.Match[str]) -> str:
        text = match.group(1)
        if _UID.match(text) or text in _VALUE_TYPES or text.startswith("value_"):
            return match.group(0)
        return "`…`"

    return _BACKTICKED.sub(keep, message)


def _element_of(
    error: Mapping[str, Any], payload: TrackerPayload, mapping: TrackerMapping
) -> str | None:
    """The codebook element an error is about, from the UIDs in its args (or its message)."""
    candidates = [str(a) for a in error.get("args") or []] or _BACKTICKED.findall(
        str(error.get("message", ""))
    )
    for candidate in candidates:
        if candidate in mapping.by_uid:
            return mapping.by_uid[candidate]
    sent = payload.values_of(str(error.get("trackerType")), str(error.get("uid")), mapping)
    option_sets = set(candidates)
    for code, value in sent.items():
        target = mapping.targets.get(code)
        if (
            target
            and target.option_set in option_sets
            and any(c in value.split(",") for c in candidates)
        ):
            return code
    return None


def quarantine_from_report(
    report: Mapping[str, Any], payload: TrackerPayload, mapping: TrackerMapping
) -> list[QuarantinedRecord]:
    """Records whose tracked entity, enrollment or events DHIS2 rejected, with its codes."""
    per_record: dict[str, list[Problem]] = {}
    errors = (report.get("validationReport") or {}).get("errorReports") or []
    for error in errors:
        key = (str(error.get("trackerType")), str(error.get("uid")))
        code = str(error.get("errorCode"))
        element = _element_of(error, payload, mapping)
        text = f"{code}: {redact(str(error.get('message', '')))}"
        reason = "DH402" if code == "E5000" else "DH400"
        where = f"dhis2 {key[0].lower()} {key[1]}"
        for record_id in payload.owners.get(key, ()):
            per_record.setdefault(record_id, []).append(Problem(reason, text, where, None, element))
    quarantined = []
    for record_id, problems in per_record.items():
        problems.sort(key=lambda p: p.code != "DH400")  # the cause before the consequences
        record = payload.records[record_id]
        quarantined.append(_quarantine(record, problems))
    return quarantined


def _quarantine(record: CanonicalRecord, problems: Iterable[Problem]) -> QuarantinedRecord:
    envelope = record.envelope
    return QuarantinedRecord.from_problems(
        envelope.source_system,
        envelope.source_id,
        problems,
        payload=record.to_json(),
        record_id=envelope.record_id,
        form_id=envelope.form_id,
    )


def _add_stats(total: dict[str, dict[str, int]], report: Mapping[str, Any]) -> None:
    type_map = (report.get("bundleReport") or {}).get("typeReportMap") or {}
    for tracker_type, type_report in type_map.items():
        bucket = total.setdefault(
            tracker_type, {"created": 0, "updated": 0, "deleted": 0, "ignored": 0, "total": 0}
        )
        for key, value in (type_report.get("stats") or {}).items():
            if key in bucket:
                bucket[key] += int(value)


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _server_time(moment: dt.datetime) -> str:
    """A watermark as DHIS2 takes it: UTC without a zone, milliseconds."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


# --- the connector ----------------------------------------------------------------------------


class Dhis2Connector:
    """install / push / pull for one DHIS2 server and one metadata package."""

    def __init__(
        self,
        client: Dhis2Client,
        codebook: Codebook,
        package: Mapping[str, Any],
        *,
        policy: RoutingPolicy | None = None,
        org_unit: str | None = None,
        program: str | None = None,
        uid_for: UidFor | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.client = client
        self.codebook = codebook
        self.package = package
        self.policy = policy
        self.org_unit = org_unit
        self.program = program
        self.uid_for = uid_for
        self.batch_size = batch_size
        self._mapping: TrackerMapping | None = None

    @classmethod
    def from_environment(
        cls,
        codebook: Codebook,
        *,
        url: str | None = None,
        token: str | None = None,
        package_path: Path | None = None,
        policy: RoutingPolicy | None = None,
        org_unit: str | None = None,
        program: str | None = None,
        timeout: float = 60.0,
        retries: int = 4,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Dhis2Connector:
        """Config from arguments, else `TIPDATA_DHIS2_*`; the package from the builder's file."""
        config = resolve_dhis2_config(url, token, timeout=timeout, retries=retries)
        return cls(
            Dhis2Client(config),
            codebook,
            load_package(package_path),
            policy=policy,
            org_unit=org_unit or os.environ.get(ORG_UNIT_ENV) or None,
            program=program,
            batch_size=batch_size,
        )

    @property
    def mapping(self) -> TrackerMapping:
        if self._mapping is None:
            self._mapping = mapping_from_package(
                self.package, self.codebook, org_unit=self.org_unit, program=self.program
            )
        return self._mapping

    # --- install --------------------------------------------------------------------------
    def install(
        self, *, validate_only: bool = False, assign_to: Sequence[str] = ()
    ) -> InstallResult:
        """Validate the package on the server (`importMode=VALIDATE`), then commit it.

        Nothing is committed when validation reports any error; the result lists each object,
        property and DHIS2 error code. A package naming a restricted element is refused before
        anything is sent.
        """
        version = self.client.version
        refused = restricted_in_package(self.package, self.codebook)
        if refused:
            return InstallResult(False, "refused", version.text, problems=refused)
        # keep the org units the server already assigns (a re-install must not unassign them)
        package = assign(self.package, assign_to, current_assignments(self.client, self.package))
        warnings = unassigned(package)
        if version.minor >= 41 and any(
            "publicAccess" in o
            for objs in package.values()
            if isinstance(objs, list)
            for o in objs
            if isinstance(o, dict)
        ):
            warnings.append(
                f"DHIS2 {version.text} ignores the legacy `publicAccess` keys; "
                "only `sharing` objects take effect"
            )
        report = self.client.import_metadata(package, "VALIDATE")
        problems = metadata_problems(report)
        if report.get("status") != "OK" or problems:
            log.info("metadata validation failed: %d problem(s)", len(problems))
            return InstallResult(
                False, "validate", version.text, dict(report.get("stats") or {}), problems, warnings
            )
        if validate_only:
            return InstallResult(
                True, "validate", version.text, dict(report.get("stats") or {}), [], warnings
            )
        report = self.client.import_metadata(package, "COMMIT")
        problems = metadata_problems(report)
        ok = report.get("status") == "OK" and not problems
        stats = dict(report.get("stats") or {})
        log.info("metadata import %s: %s", report.get("status"), stats)
        combos = None
        if ok:  # /api/metadata does not generate category option combos: ask DHIS2 to (option_combos.py)
            update = update_option_combos(self.client, package_category_combos(package))
            warnings += update.warnings
            combos = update.to_json()
        return InstallResult(ok, "commit", version.text, stats, problems, warnings, combos)

    # --- push -----------------------------------------------------------------------------
    def allowed_values(self, record: CanonicalRecord) -> Mapping[str, Any]:
        """What may travel to DHIS2: the policy's decision (consent, classes), if one is set."""
        if self.policy is None:
            return record.values
        return decide(record, "dhis2", self.policy, self.codebook).allowed_values

    def push(
        self,
        records: Iterable[CanonicalRecord],
        *,
        progress: Callable[[PushResult], None] | None = None,
        deletions: Mapping[str, Collection[str]] | None = None,
    ) -> PushResult:
        """Send records as nested tracker payloads in batches; quarantine what DHIS2 rejects.

        Each batch is one synchronous import with CREATE_AND_UPDATE and atomicMode=OBJECT: the
        valid objects are saved even when others fail, and pushing the same records again only
        updates them (deterministic UIDs). `deletions` (record id → element codes) are sent as
        `value: null`, which deletes them (see `PayloadBuilder.build`).
        """
        version = self.client.version
        mapping = self.mapping
        builder = PayloadBuilder(mapping, self.uid_for)
        result = PushResult(version.text)
        for batch in _batches(records, self.batch_size):
            payload = builder.build(
                ((r, self.allowed_values(r)) for r in batch), deletions=deletions
            )
            result.records += len(batch)
            result.skipped += len(payload.skipped)
            result.withheld.update(payload.withheld)
            result.quarantined.extend(
                _quarantine(u.record, [Problem(u.reason, u.message, "dhis2 push")])
                for u in payload.unplaced
            )
            if payload.object_count:
                report = self.client.import_tracker(payload.body)
                _add_stats(result.stats, report)
                rejected = quarantine_from_report(report, payload, mapping)
                result.quarantined.extend(rejected)
                result.pushed += (
                    len(payload.records)
                    - len(rejected)
                    - len(payload.unplaced)
                    - len(payload.skipped)
                )
            result.batches += 1
            log.info(
                "dhis2 push batch %d: %d records, %d quarantined so far",
                result.batches,
                len(batch),
                len(result.quarantined),
            )
            if progress is not None:
                progress(result)
        return result

    # --- pull -----------------------------------------------------------------------------
    def pull(
        self,
        since: dt.datetime | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        sink: Callable[[CanonicalRecord], None] | None = None,
    ) -> PullResult:
        """Tracked entities of the program updated at or after `since`, as canonical records.

        One record per event (with the person's and the case's attributes); records go to `sink`
        when given (memory stays flat), else into the result. The result's `watermark` is the
        latest `updatedAt` seen: pass it as `since` next time (the boundary is inclusive, so the
        last objects come again; their record ids are stable, so that is an idempotent upsert).
        """
        version = self.client.version
        mapping = self.mapping
        result = PullResult(version.text)
        params = {"program": mapping.program, "fields": PULL_FIELDS}
        if since is not None:
            params["updatedAfter"] = _server_time(since)
        for page in self.client.export_pages("trackedEntities", params, page_size=page_size):
            result.pages += 1
            for entity in page:
                result.tracked_entities += 1
                moment = aware_time(entity.get("updatedAt"))
                if moment is not None and (result.watermark is None or moment > result.watermark):
                    result.watermark = moment
                records, unreadable = records_from_tracked_entity(entity, mapping, self.codebook)
                result.unreadable.update(unreadable)
                result.count += len(records)
                for record in records:
                    if sink is not None:
                        sink(record)
                    else:
                        result.records.append(record)
        log.info(
            "dhis2 pull: %d tracked entities, %d records in %d pages",
            result.tracked_entities,
            result.count,
            result.pages,
        )
        return result


def load_package(path: Path | None = None) -> dict[str, Any]:
    """The metadata package the builder wrote (default `plugins/dhis2_app/metadata/...json`)."""
    file = path or DEFAULT_PACKAGE_PATH
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"no DHIS2 metadata package at {file}; build it first (tipdata build)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the DHIS2 metadata package {file}: {exc}") from None
