"""What the ledger hands in and out besides canonical records: small frozen dataclasses.

Entries bound for the audit log and run history are checked on construction, so contents cannot
slip into them: record ids must be record ids (UUIDs), names must look like system names, counts
must be counts. Quarantine entries are the one place raw contents go, and they are sealed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tipdata.ledger.errors import ContentNotAllowed

#: a system, platform or target name: `kobo`, `kobo:aBc123`, `dhis2:IpHINAT79UW`, `frappe/casework`
SYSTEM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@\-]{0,199}$")
#: a count or reason key: lower_snake_case
COUNT_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: an error or reason code: `RC201`, `http_503`, `consent_missing`
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
#: a policy version: `tipdata-default-2026.1`, `2026.1+3f2a9c1b`
POLICY_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+\-]{0,199}$")

#: `conflict`: a platform's values overridden by the owner's; `retract`: values (or a whole
#: record) taken back from a target after consent was withdrawn
AuditAction = Literal["pull", "push", "withhold", "quarantine", "resolve", "rotate_key",
                      "conflict", "retract"]
AUDIT_ACTIONS: frozenset[str] = frozenset(
    {"pull", "push", "withhold", "quarantine", "resolve", "rotate_key", "conflict", "retract"})
RunStatus = Literal["running", "succeeded", "partial", "failed"]


def check_name(value: str | None, what: str, pattern: re.Pattern[str] = SYSTEM_NAME) -> None:
    if value is not None and not pattern.fullmatch(value):
        raise ContentNotAllowed(
            f"{what} {value!r} does not look like a name or code",
            f"use a system name or code matching {pattern.pattern}; contents never go here",
        )


def check_record_id(value: str) -> str:
    """Record ids are UUIDs (`record_id_for`); anything else could be contents."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ContentNotAllowed(
            "a value that is not a record id (UUID) was given where only record ids may go",
            "pass `record.record_id`; names, values and source payloads never go into the audit log",
        ) from None


_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Watermark:
    """How far a source has been read: a modified time, a row number, a tie-breaking cursor.

    Sources differ: DHIS2 pages by `lastUpdated` (+ uid), Frappe by `modified` (+ `name`), Kobo by
    the ever-growing row `_id` (edits keep `_submission_time`). Give what the source has; order
    is by (at, number, cursor), an unset part counting as lowest.
    """

    at: dt.datetime | None = None
    number: int | None = None
    cursor: str = ""

    def __post_init__(self) -> None:
        if self.at is not None:
            if self.at.tzinfo is None:
                raise ValueError("a watermark timestamp must carry a time zone")
            object.__setattr__(self, "at", self.at.astimezone(dt.UTC))
        if self.at is None and self.number is None and not self.cursor:
            raise ValueError("a watermark needs a time, a number or a cursor")

    def key(self) -> tuple[dt.datetime, int, str]:
        return (self.at or _EARLIEST, -1 if self.number is None else self.number, self.cursor)

    def __lt__(self, other: Watermark) -> bool:
        return self.key() < other.key()


@dataclass(frozen=True)
class UpsertOutcome:
    """Record ids by what the upsert did; `unchanged` and `stale` were not written."""

    inserted: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    #: older than the stored version (by envelope `updated_at`): never overwrites newer data
    stale: tuple[str, ...] = ()

    @property
    def written(self) -> tuple[str, ...]:
        return self.inserted + self.updated

    def counts(self) -> dict[str, int]:
        return {"inserted": len(self.inserted), "updated": len(self.updated),
                "unchanged": len(self.unchanged), "stale": len(self.stale)}


@dataclass(frozen=True)
class IdLink:
    """A record's id on one platform, with what the platform said about its version."""

    record_id: str
    platform: str
    platform_id: str
    platform_version: str | None = None
    platform_modified: dt.datetime | None = None
    #: the ledger content hash last written to (or read from) this platform
    synced_hash: str | None = None
    #: consent purposes the platform's copy was written under (None: unknown, keep what is stored)
    held_purposes: frozenset[str] | None = None


@dataclass(frozen=True)
class QuarantineItem:
    """A source record that could not be ingested. Message and payload are sealed at rest."""

    source: str
    source_id: str
    reason_code: str
    message: str = field(repr=False)
    raw_payload: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_name(self.source, "quarantine source")
        check_name(self.reason_code, "quarantine reason code", CODE)
        if not self.source_id:
            raise ValueError("a quarantined record needs its source id")

    @classmethod
    def from_quarantined(cls, quarantined: Any) -> QuarantineItem:
        """From a connector's quarantined record (`source_system`, `source_id`, `reason`,
        `message`, `payload`: a mapping, text or bytes), e.g. `tipdata.quarantine.QuarantinedRecord`.
        """
        payload = quarantined.payload
        if isinstance(payload, str):
            raw = payload.encode("utf-8")
        elif isinstance(payload, bytes | bytearray):
            raw = bytes(payload)
        else:
            raw = json.dumps(dict(payload), sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
        return cls(quarantined.source_system, str(quarantined.source_id), quarantined.reason,
                   quarantined.message, raw)


@dataclass(frozen=True)
class QuarantineEntry:
    """A stored quarantine row without its contents; `Ledger.quarantined_contents` opens those."""

    id: int
    source: str
    source_id: str
    reason_code: str
    created_at: dt.datetime
    updated_at: dt.datetime
    retried_count: int
    resolved_at: dt.datetime | None
    resolution: str | None
    key_id: str | None


@dataclass(frozen=True)
class QuarantineContents:
    message: str = field(repr=False)
    raw_payload: bytes = field(repr=False)


@dataclass(frozen=True)
class RunError:
    """One failure of a run: a code, where, and optionally which record. No free text.

    Details (server messages, stack traces) go to the log, which never holds contents either.
    """

    code: str
    system: str | None = None
    record_id: str | None = None
    status: int | None = None

    def __post_init__(self) -> None:
        check_name(self.code, "run error code", CODE)
        check_name(self.system, "run error system")
        if self.record_id is not None:
            object.__setattr__(self, "record_id", check_record_id(self.record_id))

    def as_dict(self) -> dict[str, str | int | None]:
        return {"code": self.code, "system": self.system, "record_id": self.record_id,
                "status": self.status}


def check_counts(counts: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """`{"kobo:aBc": {"pulled": 10, "quarantined": 1}, "dhis2": {"pushed": 9}}`, validated."""
    checked: dict[str, dict[str, int]] = {}
    for system, per in counts.items():
        check_name(system, "run count system")
        checked[system] = {}
        for key, number in per.items():
            check_name(key, "run count name", COUNT_KEY)
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise ContentNotAllowed(f"run count {system}.{key} is not a count",
                                        "counts are non-negative integers")
            checked[system][key] = number
    return checked


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: str
    counts: dict[str, dict[str, int]]
    errors: tuple[RunError, ...]


@dataclass(frozen=True)
class AuditEntry:
    """What moved where, when, under which consent purposes and policy version.

    Record ids and counts only, never contents. `record_count` defaults to the ids given; set it
    alone (no ids) for bulk operations such as a key rotation.
    """

    action: AuditAction
    source: str | None
    target: str | None
    consent_purposes: tuple[str, ...] = ()
    record_ids: tuple[str, ...] = ()
    policy_version: str | None = None
    run_id: int | None = None
    withheld_count: int = 0
    record_count: int | None = None
    at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.action not in AUDIT_ACTIONS:
            raise ContentNotAllowed(f"audit action {self.action!r} is not one of "
                                    f"{', '.join(sorted(AUDIT_ACTIONS))}", "use one of the listed actions")
        check_name(self.source, "audit source")
        check_name(self.target, "audit target")
        check_name(self.policy_version, "policy version", POLICY_VERSION)
        for purpose in self.consent_purposes:
            check_name(purpose, "consent purpose", COUNT_KEY)
        object.__setattr__(self, "consent_purposes", tuple(sorted(set(self.consent_purposes))))
        object.__setattr__(self, "record_ids", tuple(check_record_id(r) for r in self.record_ids))
        if self.record_count is None:
            object.__setattr__(self, "record_count", len(self.record_ids))
        for name in ("withheld_count", "record_count"):
            number = getattr(self, name)
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise ContentNotAllowed(f"audit {name} is not a count", "give a non-negative integer")
