"""Bulk reads of the ledger that the sync engine and the operations commands need.

The `Ledger` API reads one record or one link at a time; the engine reads a page of 500 at once
(one query instead of 500), asks which records a target still lacks, and the operations commands
list every watermark and filter the audit log by record and date. These queries use the ledger's
own tables (`tipdata.ledger.schema`) and row decoding (`record_rows`), inside the caller's
`LedgerTransaction`, so they see exactly what the engine's writes see. Candidates to move into
`tipdata.ledger` once they settle.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Collection, Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select, true

from tipdata.ledger import AuditEntry, IdLink, LedgerTransaction, Watermark
from tipdata.ledger import schema as t
from tipdata.ledger.ledger import held_purposes
from tipdata.ledger.record_rows import dumps, row_to_record
from tipdata.records import CanonicalRecord
from tipdata.sync.plan import WITHHELD_ID_PREFIX

_CHUNK = 500
QUOTED_REFERENCE = "svc_case_reference"
#: quarantine `source` of records a target refused: `push:frappe`, `push:dhis2`
PUSH_QUARANTINE_PREFIX = "push:"


def push_quarantine_source(target: str) -> str:
    return f"{PUSH_QUARANTINE_PREFIX}{target}"


@dataclass(frozen=True)
class StoredRecord:
    record: CanonicalRecord
    content_hash: str


@dataclass(frozen=True)
class PendingRecord:
    """A ledger record a target does not hold in its current version."""

    record: CanonicalRecord
    content_hash: str
    link: IdLink | None
    #: an open quarantine entry of this target exists (resolve it once the write succeeds)
    quarantined: bool


@dataclass(frozen=True)
class WatermarkRow:
    source: str
    mark: Watermark
    updated_at: dt.datetime
    run_id: int | None


def _chunks(items: list[str], size: int = _CHUNK) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _link(row: Mapping[str, Any]) -> IdLink:
    return IdLink(record_id=row["record_id"], platform=row["platform"], platform_id=row["platform_id"],
                  platform_version=row["platform_version"], platform_modified=row["platform_modified"],
                  synced_hash=row["synced_hash"], held_purposes=held_purposes(row["held_purposes"]))


def stored_records(tx: LedgerTransaction, record_ids: Collection[str]) -> dict[str, StoredRecord]:
    """The stored records among `record_ids`, with their content hashes."""
    found: dict[str, StoredRecord] = {}
    ledger = tx.ledger
    for chunk in _chunks(sorted(set(record_ids))):
        rows = tx.conn.execute(select(t.records).where(t.records.c.record_id.in_(chunk))).mappings()
        for row in rows:
            found[row["record_id"]] = StoredRecord(row_to_record(row, ledger.codebook, ledger.keyring),
                                                   row["content_hash"])
    return found


def stored_record_ids(tx: LedgerTransaction, record_ids: Collection[str]) -> set[str]:
    """Which of `record_ids` the ledger holds (ids only: nothing is read or decrypted)."""
    found: set[str] = set()
    c = t.records.c
    for chunk in _chunks(sorted(set(record_ids))):
        found.update(tx.conn.execute(select(c.record_id).where(c.record_id.in_(chunk))).scalars())
    return found


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def records_quoting(tx: LedgerTransaction, references: Collection[str]) -> list[StoredRecord]:
    """The records whose `svc_case_reference` is one of `references` (the records of those cases).

    The reference is an operational value, stored readable (`plain_values`, JSON written by
    `record_rows.dumps`), so a LIKE on its exact JSON text narrows the scan; the decoded value
    is then compared exactly. Withdrawals are rare: one scan per page that withdraws.
    """
    found: dict[str, StoredRecord] = {}
    wanted = set(references)
    ledger = tx.ledger
    c = t.records.c
    for reference in sorted(wanted):
        pattern = f'%{_like_escaped(dumps({QUOTED_REFERENCE: reference})[1:-1])}%'
        rows = tx.conn.execute(select(t.records).where(c.plain_values.like(pattern, escape="\\"))).mappings()
        for row in rows:
            record = row_to_record(row, ledger.codebook, ledger.keyring)
            if record.values.get(QUOTED_REFERENCE) in wanted:
                found[record.record_id] = StoredRecord(record, row["content_hash"])
    return [found[k] for k in sorted(found)]


def links_of(tx: LedgerTransaction, record_ids: Collection[str]) -> dict[str, dict[str, IdLink]]:
    """record id → platform → link, for the records among `record_ids` that have links."""
    found: dict[str, dict[str, IdLink]] = {}
    for chunk in _chunks(sorted(set(record_ids))):
        rows = tx.conn.execute(select(t.id_map).where(t.id_map.c.record_id.in_(chunk))).mappings()
        for row in rows:
            found.setdefault(row["record_id"], {})[row["platform"]] = _link(row)
    return found


def _pending_condition(target: str, transient_reasons: Collection[str]) -> Any:
    r, m, q = t.records.c, t.id_map.c, t.quarantine.c
    refused = exists().where(
        q.source == push_quarantine_source(target), q.source_id == r.record_id,
        q.resolved_at.is_(None), q.updated_at >= r.written_at,
        q.reason_code.not_in(sorted(transient_reasons)) if transient_reasons else true())
    return and_(or_(m.record_id.is_(None), m.synced_hash.is_(None), m.synced_hash != r.content_hash),
                not_(refused))


def _joined(target: str) -> Any:
    r, m = t.records.c, t.id_map.c
    return t.records.outerjoin(t.id_map, and_(m.record_id == r.record_id, m.platform == target))


def pending_for_target(tx: LedgerTransaction, target: str, *, after: str = "", limit: int = _CHUNK,
                       forms: Collection[str] | None = None, other_forms: bool = False,
                       transient_reasons: Collection[str] = (),
                       open_only: Container[str] | None = None) -> list[PendingRecord]:
    """Up to `limit` records (record id > `after`, in id order) that `target` lacks.

    A record is pending when the target has no link for it, or the link's hash is not the
    record's current content hash, unless the target refused this very version (an open
    quarantine entry newer than the record's last write; transient reasons are tried again).
    `forms` with `other_forms=False` keeps records of those forms; with True, every other record.
    `open_only`: the codes whose sealed values to open (what the target could ever receive,
    `plan.receivable_codes`); the others stay closed (`record_rows.NOT_OPENED`).
    """
    r, q = t.records.c, t.quarantine.c
    open_entry = exists().where(q.source == push_quarantine_source(target),
                                q.source_id == r.record_id, q.resolved_at.is_(None))
    query = (select(t.records, *[c.label(f"link_{c.name}") for c in t.id_map.columns],
                    open_entry.label("has_open_quarantine"))
             .select_from(_joined(target))
             .where(r.record_id > after, _pending_condition(target, transient_reasons))
             .order_by(r.record_id).limit(limit))
    if forms is not None:
        chosen = r.form_id.in_(sorted(forms))
        query = query.where(or_(not_(chosen), r.form_id.is_(None)) if other_forms else chosen)
    ledger = tx.ledger
    pending = []
    for row in tx.conn.execute(query).mappings():
        link = None
        if row["link_record_id"] is not None:
            link = _link({name: row[f"link_{name}"] for name in
                          ("record_id", "platform", "platform_id", "platform_version",
                           "platform_modified", "synced_hash", "held_purposes")})
        pending.append(PendingRecord(row_to_record(row, ledger.codebook, ledger.keyring, open_only),
                                     row["content_hash"], link, bool(row["has_open_quarantine"])))
    return pending


def count_pending(tx: LedgerTransaction, target: str, transient_reasons: Collection[str] = ()) -> int:
    query = select(func.count()).select_from(_joined(target)).where(
        _pending_condition(target, transient_reasons))
    return int(tx.conn.scalar(query) or 0)


def count_current(tx: LedgerTransaction, target: str) -> int:
    """Records the target holds in their current version (deliberately withheld ones excluded)."""
    r, m = t.records.c, t.id_map.c
    query = select(func.count()).select_from(t.records.join(
        t.id_map, and_(m.record_id == r.record_id, m.platform == target))).where(
        m.synced_hash == r.content_hash, not_(m.platform_id.startswith(WITHHELD_ID_PREFIX)))
    return int(tx.conn.scalar(query) or 0)


def all_watermarks(tx: LedgerTransaction) -> list[WatermarkRow]:
    c = t.watermarks.c
    rows = tx.conn.execute(select(t.watermarks).order_by(c.source)).mappings()
    return [WatermarkRow(row["source"], Watermark(row["position_at"], row["position_number"],
                                                  row["position_cursor"] or ""),
                         row["updated_at"], row["run_id"]) for row in rows]


def open_quarantine_ids(tx: LedgerTransaction, source: str, source_ids: Collection[str]) -> set[str]:
    """The source ids among `source_ids` with an open quarantine entry of `source`."""
    c = t.quarantine.c
    found: set[str] = set()
    for chunk in _chunks(sorted(set(source_ids))):
        found.update(tx.conn.scalars(select(c.source_id).where(
            c.source == source, c.source_id.in_(chunk), c.resolved_at.is_(None))))
    return found


def quarantine_counts(tx: LedgerTransaction) -> Counter[tuple[str, str]]:
    """Open quarantine entries by (source, reason code)."""
    c = t.quarantine.c
    rows = tx.conn.execute(select(c.source, c.reason_code, func.count()).where(c.resolved_at.is_(None))
                           .group_by(c.source, c.reason_code))
    return Counter({(source, reason): int(n) for source, reason, n in rows})


@dataclass(frozen=True)
class AuditRow:
    id: int
    entry: AuditEntry


def find_audit(tx: LedgerTransaction, *, record_id: str | None = None, target: str | None = None,
               source: str | None = None, action: str | None = None,
               since: dt.datetime | None = None, until: dt.datetime | None = None,
               limit: int | None = 200) -> list[AuditRow]:
    """Audit entries matching every filter given, newest last; `limit` keeps the latest ones.

    `record_id` finds the entries whose record ids include it (an entry covers a page of records).
    """
    c = t.audit_log.c
    query = select(t.audit_log)
    if record_id is not None:
        query = query.where(c.record_ids.like(f'%"{record_id}"%'))
    if target is not None:
        query = query.where(c.target == target)
    if source is not None:
        query = query.where(c.source == source)
    if action is not None:
        query = query.where(c.action == action)
    if since is not None:
        query = query.where(c.at >= since)
    if until is not None:
        query = query.where(c.at < until)
    query = query.order_by(c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = []
    for row in tx.conn.execute(query).mappings():
        ids = tuple(json.loads(row["record_ids"]))
        if record_id is not None and record_id not in ids:
            continue
        rows.append(AuditRow(int(row["id"]), AuditEntry(
            action=row["action"], source=row["source"], target=row["target"],
            consent_purposes=tuple(json.loads(row["consent_purposes"])), record_ids=ids,
            policy_version=row["policy_version"], run_id=row["run_id"],
            withheld_count=row["withheld_count"], record_count=row["record_count"], at=row["at"])))
    return list(reversed(rows))
