"""The sync ledger: canonical records, id map, watermarks, quarantine, runs and audit log.

Every write happens inside `Ledger.transaction()`, and watermarks can only be moved from there
(`LedgerTransaction.advance_watermark`), so a source position never advances past writes that
did not commit: if anything in the block raises, records, links, quarantine rows, audit entries
and the watermark all roll back together. `Ledger.ingest_page` is that pattern in one call.

Writes are idempotent upserts keyed by record id (`INSERT … ON CONFLICT … DO UPDATE` on both
engines); a record whose content hash did not change is not rewritten, and an older version
(by envelope `updated_at`) never overwrites a newer one.

Logging: counts and record ids only, never values (house rule 6).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, and_, func, insert, or_, select, tuple_, union, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from tipdata.codebook import load_codebook
from tipdata.crypto.at_rest import DataKey, Keyring, load_keyring
from tipdata.ledger import schema as t
from tipdata.ledger.database import (
    READ_ONLY,
    create_ledger_engine,
    resolve_url,
    safe_url,
)
from tipdata.ledger.entries import (
    AuditEntry,
    IdLink,
    QuarantineContents,
    QuarantineEntry,
    QuarantineItem,
    RunError,
    RunStatus,
    RunSummary,
    UpsertOutcome,
    Watermark,
    check_counts,
    check_name,
)
from tipdata.ledger.errors import (
    EncryptionModeMismatch,
    LedgerError,
    LedgerUnavailable,
    RecordConflict,
    WatermarkRewind,
)
from tipdata.ledger.migrations import migrate
from tipdata.ledger.record_rows import (
    canonical_content,
    content_hash,
    dumps,
    quarantine_aad,
    record_to_row,
    row_to_record,
)
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord

if TYPE_CHECKING:
    from tipdata.ledger.rotation import RotationResult

log = logging.getLogger("tipdata.ledger")

AT_REST_SEALED = "aes-256-gcm"
AT_REST_NONE = "none"
_CHUNK = 500
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


class LedgerTransaction:
    """Reads and writes inside one database transaction. Obtain it from `Ledger.transaction()`."""

    def __init__(self, ledger: Ledger, conn: Connection) -> None:
        self.ledger = ledger
        self.conn = conn

    # --- records ------------------------------------------------------------------------------

    def upsert_records(self, records: Iterable[CanonicalRecord]) -> UpsertOutcome:
        """Insert or update records by record id; report what happened to each.

        Example: `with ledger.transaction() as tx: tx.upsert_records(batch).counts()`
        """
        latest: dict[str, CanonicalRecord] = {}
        for record in records:  # the same record twice in one batch: the newest wins
            seen = latest.get(record.record_id)
            if seen is None or record.envelope.updated_at >= seen.envelope.updated_at:
                latest[record.record_id] = record
        inserted: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        stale: list[str] = []
        ledger = self.ledger
        keyring = ledger.keyring
        now = ledger.clock()
        for chunk in _chunks(list(latest.values())):
            ids = [r.record_id for r in chunk]
            existing = {row.record_id: row for row in self.conn.execute(
                select(t.records.c.record_id, t.records.c.content_hash, t.records.c.key_id,
                       t.records.c.updated_at).where(t.records.c.record_id.in_(ids)))}
            rows: list[dict[str, Any]] = []
            for record in chunk:
                previous = existing.get(record.record_id)
                data = None
                hashed = None
                if previous is not None:
                    if previous.updated_at > record.envelope.updated_at:
                        stale.append(record.record_id)
                        continue
                    if previous.key_id is None or keyring is None or keyring.has(previous.key_id):
                        data = record.to_json()
                        hashed = content_hash(canonical_content(data), keyring, previous.key_id)
                        if hashed == previous.content_hash:
                            unchanged.append(record.record_id)
                            continue
                        if keyring is not None and previous.key_id != keyring.current_key_id:
                            hashed = None  # the new row is hashed under the current key
                rows.append(record_to_row(record, ledger.codebook, keyring, now, data, hashed))
                (updated if previous is not None else inserted).append(record.record_id)
            if rows:
                self._write_record_rows(rows)
            stale_ids = set(stale)
            self._resolve_ingested([(r.envelope.source_system, r.envelope.source_id)
                                    for r in chunk if r.record_id not in stale_ids], now)
        outcome = UpsertOutcome(tuple(inserted), tuple(updated), tuple(unchanged), tuple(stale))
        log.debug("ledger upsert: %s", outcome.counts())
        return outcome

    def _write_record_rows(self, rows: list[dict[str, Any]]) -> None:
        stmt = _insert(self.conn, t.records)
        keep = {"record_id", "first_seen_at"}
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.records.c.record_id],
            set_={c.name: stmt.excluded[c.name] for c in t.records.columns if c.name not in keep},
            where=t.records.c.updated_at <= stmt.excluded.updated_at,
        )
        try:
            self.conn.execute(stmt, rows)
        except IntegrityError as exc:
            raise RecordConflict(
                "a record id differs from the one already stored for the same source record "
                f"({type(exc.orig).__name__})",
                "derive record ids with tipdata.records.record_id_for(source_system, source_id)",
            ) from None

    def _resolve_ingested(self, sources: list[tuple[str, str]], now: dt.datetime) -> None:
        """A record that ingests cleanly (written or already current) closes its open quarantine entry."""
        if not sources:
            return
        q = t.quarantine.c
        self.conn.execute(
            update(t.quarantine)
            .where(q.resolved_at.is_(None), tuple_(q.source, q.source_id).in_(sources))
            .values(resolved_at=now, resolution="ingested", updated_at=now))

    def get_record(self, record_id: str) -> CanonicalRecord | None:
        row = self.conn.execute(select(t.records).where(t.records.c.record_id == record_id)).mappings().first()
        return row_to_record(row, self.ledger.codebook, self.ledger.keyring) if row else None

    def content_hash(self, record_id: str) -> str | None:
        return self.conn.scalar(select(t.records.c.content_hash).where(t.records.c.record_id == record_id))

    # --- id map -------------------------------------------------------------------------------

    def link(self, links: IdLink | Iterable[IdLink]) -> None:
        """Record each platform id of records (upsert on record id + platform).

        Unknown fields (None) keep what was stored. Raises RecordConflict when the platform id
        already belongs to another record.
        """
        batch = [links] if isinstance(links, IdLink) else list(links)
        if not batch:
            return
        now = self.ledger.clock()
        rows = []
        for item in batch:
            check_name(item.platform, "platform")
            rows.append({"record_id": item.record_id, "platform": item.platform,
                         "platform_id": item.platform_id, "platform_version": item.platform_version,
                         "platform_modified": item.platform_modified, "synced_hash": item.synced_hash,
                         "held_purposes": None if item.held_purposes is None
                         else dumps(sorted(item.held_purposes)),
                         "linked_at": now, "updated_at": now})
        stmt = _insert(self.conn, t.id_map)
        c = t.id_map.c
        stmt = stmt.on_conflict_do_update(
            index_elements=[c.record_id, c.platform],
            set_={
                "platform_id": stmt.excluded.platform_id,
                "platform_version": func.coalesce(stmt.excluded.platform_version, c.platform_version),
                "platform_modified": func.coalesce(stmt.excluded.platform_modified, c.platform_modified),
                "synced_hash": func.coalesce(stmt.excluded.synced_hash, c.synced_hash),
                "held_purposes": func.coalesce(stmt.excluded.held_purposes, c.held_purposes),
                "updated_at": stmt.excluded.updated_at,
            },
        )
        try:
            self.conn.execute(stmt, rows)
        except IntegrityError as exc:
            raise RecordConflict(
                f"a {batch[0].platform} id is already linked to another record, or a record id is "
                f"not in the ledger ({type(exc.orig).__name__})",
                "upsert the record before linking it, and look up existing links with "
                "Ledger.link_for(platform, platform_id) before creating on the platform",
            ) from None

    def links(self, record_id: str) -> dict[str, IdLink]:
        rows = self.conn.execute(select(t.id_map).where(t.id_map.c.record_id == record_id)).mappings()
        return {row["platform"]: _link(row) for row in rows}

    def link_for(self, platform: str, platform_id: str) -> IdLink | None:
        c = t.id_map.c
        row = self.conn.execute(select(t.id_map).where(c.platform == platform, c.platform_id == platform_id)).mappings().first()
        return _link(row) if row else None

    # --- watermarks ---------------------------------------------------------------------------

    def watermark(self, source: str, *, for_update: bool = False) -> Watermark | None:
        c = t.watermarks.c
        query = select(c.position_at, c.position_number, c.position_cursor).where(c.source == source)
        row = self.conn.execute(query.with_for_update() if for_update else query).first()
        return Watermark(row.position_at, row.position_number, row.position_cursor) if row else None

    def advance_watermark(self, source: str, mark: Watermark, *, run_id: int | None = None,
                          allow_rewind: bool = False) -> None:
        """Move `source`'s watermark to `mark`, in this transaction, with the writes it covers.

        Moving backwards raises WatermarkRewind unless `allow_rewind` (a deliberate re-read).
        """
        check_name(source, "watermark source")
        current = self.watermark(source, for_update=True)
        if current is not None and mark < current and not allow_rewind:
            raise WatermarkRewind(
                f"the watermark of {source} would move back from {_describe(current)} to {_describe(mark)}",
                "pass allow_rewind=True to re-read a source on purpose",
            )
        c = t.watermarks.c
        stmt = _insert(self.conn, t.watermarks).values(
            source=source, position_at=mark.at, position_number=mark.number,
            position_cursor=mark.cursor, run_id=run_id, updated_at=self.ledger.clock())
        new = stmt.excluded
        # the same order as Watermark.key(), in SQL: a concurrent writer cannot move it back either
        old_at, new_at = func.coalesce(c.position_at, _EARLIEST), func.coalesce(new.position_at, _EARLIEST)
        old_no, new_no = func.coalesce(c.position_number, -1), func.coalesce(new.position_number, -1)
        forward = or_(old_at < new_at,
                      and_(old_at == new_at, old_no < new_no),
                      and_(old_at == new_at, old_no == new_no, c.position_cursor <= new.position_cursor))
        stmt = stmt.on_conflict_do_update(
            index_elements=[c.source],
            set_={"position_at": new.position_at, "position_number": new.position_number,
                  "position_cursor": new.position_cursor, "run_id": new.run_id,
                  "updated_at": new.updated_at},
            where=None if allow_rewind else forward,
        )
        self.conn.execute(stmt)

    # --- quarantine ---------------------------------------------------------------------------

    def quarantine(self, item: QuarantineItem) -> int:
        """Keep a record that could not be ingested; again for the same source id counts a retry."""
        keyring = self.ledger.keyring
        message = item.message.encode("utf-8")
        if keyring is not None:
            message = keyring.seal(message, quarantine_aad(item.source, item.source_id, "message"))
            payload = keyring.seal(item.raw_payload, quarantine_aad(item.source, item.source_id, "payload"))
        else:
            payload = item.raw_payload
        now = self.ledger.clock()
        c = t.quarantine.c
        stmt = _insert(self.conn, t.quarantine).values(
            source=item.source, source_id=item.source_id, reason_code=item.reason_code,
            message_blob=message, payload_blob=payload,
            key_id=keyring.current_key_id if keyring else None,
            created_at=now, updated_at=now, retried_count=0, resolved_at=None, resolution=None)
        stmt = stmt.on_conflict_do_update(
            index_elements=[c.source, c.source_id],
            set_={"reason_code": stmt.excluded.reason_code, "message_blob": stmt.excluded.message_blob,
                  "payload_blob": stmt.excluded.payload_blob, "key_id": stmt.excluded.key_id,
                  "updated_at": stmt.excluded.updated_at, "retried_count": c.retried_count + 1,
                  "resolved_at": None, "resolution": None},
        )
        self.conn.execute(stmt)
        quarantine_id = self.conn.scalar(select(c.id).where(c.source == item.source, c.source_id == item.source_id))
        log.info("quarantined a record from %s (reason %s, quarantine id %s)", item.source, item.reason_code, quarantine_id)
        return int(quarantine_id)

    def resolve_quarantined(self, source: str, source_id: str, resolution: str = "resolved") -> bool:
        """Close an open quarantine entry; False when there was none open."""
        check_name(resolution, "resolution")
        now = self.ledger.clock()
        c = t.quarantine.c
        result = self.conn.execute(update(t.quarantine)
                                   .where(c.source == source, c.source_id == source_id, c.resolved_at.is_(None))
                                   .values(resolved_at=now, resolution=resolution, updated_at=now))
        return result.rowcount > 0

    def quarantined(self, *, include_resolved: bool = False, source: str | None = None) -> list[QuarantineEntry]:
        c = t.quarantine.c
        query = select(t.quarantine).order_by(c.id)
        if not include_resolved:
            query = query.where(c.resolved_at.is_(None))
        if source is not None:
            query = query.where(c.source == source)
        return [QuarantineEntry(
            id=row["id"], source=row["source"], source_id=row["source_id"],
            reason_code=row["reason_code"], created_at=row["created_at"], updated_at=row["updated_at"],
            retried_count=row["retried_count"], resolved_at=row["resolved_at"],
            resolution=row["resolution"], key_id=row["key_id"],
        ) for row in self.conn.execute(query).mappings()]

    def quarantined_contents(self, quarantine_id: int) -> QuarantineContents:
        """Open a quarantined record's message and raw payload (for a person fixing it)."""
        row = self.conn.execute(select(t.quarantine).where(t.quarantine.c.id == quarantine_id)).mappings().first()
        if row is None:
            raise LedgerError(f"quarantine entry {quarantine_id} does not exist",
                              "list entries with Ledger.quarantined()")
        message, payload = bytes(row["message_blob"]), bytes(row["payload_blob"])
        if row["key_id"] is not None:
            keyring = self.ledger.require_keyring()
            message = keyring.open(message, quarantine_aad(row["source"], row["source_id"], "message"))
            payload = keyring.open(payload, quarantine_aad(row["source"], row["source_id"], "payload"))
        return QuarantineContents(message.decode("utf-8"), payload)

    # --- audit --------------------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> None:
        """Append one audit entry (ids and counts only; `AuditEntry` refuses anything else)."""
        self.conn.execute(insert(t.audit_log).values(
            at=entry.at or self.ledger.clock(), run_id=entry.run_id, action=entry.action,
            source=entry.source, target=entry.target, policy_version=entry.policy_version,
            consent_purposes=dumps(list(entry.consent_purposes)), record_count=entry.record_count,
            record_ids=dumps(list(entry.record_ids)), withheld_count=entry.withheld_count))

    def audit_moves(self, action: str, source: str | None, target: str | None, policy_version: str,
                    moves: Iterable[tuple[str, Iterable[str], int]], run_id: int | None = None) -> int:
        """One audit entry per distinct set of consent purposes used; returns entries written.

        `moves` holds (record id, purposes that authorised the values sent, elements withheld),
        e.g. from `tipdata.policy.decide`: `(rid, decision.purposes_used, len(decision.withheld))`.
        """
        groups: dict[tuple[str, ...], tuple[list[str], list[int]]] = {}
        for record_id, purposes, withheld in moves:
            ids, counts = groups.setdefault(tuple(sorted(set(purposes))), ([], []))
            ids.append(record_id)
            counts.append(withheld)
        for purposes, (ids, counts) in sorted(groups.items()):
            self.audit(AuditEntry(action=action, source=source, target=target,  # type: ignore[arg-type]
                                  consent_purposes=purposes, record_ids=tuple(ids),
                                  policy_version=policy_version, run_id=run_id,
                                  withheld_count=sum(counts)))
        return len(groups)

    def audit_entries(self, *, target: str | None = None, run_id: int | None = None) -> list[AuditEntry]:
        c = t.audit_log.c
        query = select(t.audit_log).order_by(c.id)
        if target is not None:
            query = query.where(c.target == target)
        if run_id is not None:
            query = query.where(c.run_id == run_id)
        return [AuditEntry(
            action=row["action"], source=row["source"], target=row["target"],
            consent_purposes=tuple(json.loads(row["consent_purposes"])),
            record_ids=tuple(json.loads(row["record_ids"])), policy_version=row["policy_version"],
            run_id=row["run_id"], withheld_count=row["withheld_count"],
            record_count=row["record_count"], at=row["at"],
        ) for row in self.conn.execute(query).mappings()]


def _describe(mark: Watermark) -> str:
    parts = [mark.at.isoformat()] if mark.at else []
    if mark.number is not None:
        parts.append(f"#{mark.number}")
    if mark.cursor:
        parts.append(f"cursor {mark.cursor}")
    return " ".join(parts)


def _link(row: Mapping[str, Any]) -> IdLink:
    return IdLink(record_id=row["record_id"], platform=row["platform"], platform_id=row["platform_id"],
                  platform_version=row["platform_version"], platform_modified=row["platform_modified"],
                  synced_hash=row["synced_hash"], held_purposes=held_purposes(row["held_purposes"]))


def held_purposes(stored: str | None) -> frozenset[str] | None:
    """The id map's `held_purposes` column: a JSON list, or NULL (unknown)."""
    return None if stored is None else frozenset(json.loads(stored))


class Ledger:
    """The sync state of one deployment. Open with `open_ledger()`; close when done.

    Example:
        with open_ledger() as ledger:                      # ./tipdata-ledger.sqlite, key from env
            ledger.ingest_page("kobo:aBc123", records, Watermark(last_submission_time))
    """

    def __init__(self, engine: Engine, codebook: Codebook, keyring: Keyring | None, *,
                 where: str, clock: Clock = _utcnow) -> None:
        self.engine = engine
        self.codebook = codebook
        self.keyring = keyring
        self.where = where
        self.clock = clock

    def __repr__(self) -> str:
        mode = AT_REST_SEALED if self.keyring else AT_REST_NONE
        return f"Ledger({self.where!r}, at_rest={mode})"

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def require_keyring(self) -> Keyring:
        if self.keyring is None:
            raise EncryptionModeMismatch(f"the ledger at {self.where} was opened without a key",
                                         "open it with encryption (the default) and a key")
        return self.keyring

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        """All-or-nothing: commits when the block ends, rolls everything back if it raises."""
        with self.engine.begin() as conn:
            yield LedgerTransaction(self, conn)

    @contextmanager
    def reading(self) -> Iterator[LedgerTransaction]:
        """A consistent read-only view (does not take SQLite's write lock)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                yield LedgerTransaction(self, conn)

    # --- the one-call pattern for a page read from a source -----------------------------------

    def ingest_page(self, source: str, records: Iterable[CanonicalRecord], watermark: Watermark, *,
                    quarantined: Iterable[QuarantineItem] = (), run_id: int | None = None) -> UpsertOutcome:
        """Upsert a page of records, quarantine its bad ones, advance the watermark: one transaction.

        If any step fails nothing is kept, so the next run re-reads the page from the old watermark.
        """
        with self.transaction() as tx:
            outcome = tx.upsert_records(records)
            for item in quarantined:
                tx.quarantine(item)
            tx.advance_watermark(source, watermark, run_id=run_id)
        return outcome

    # --- reads (each its own short transaction) ------------------------------------------------

    def get_record(self, record_id: str) -> CanonicalRecord | None:
        with self.reading() as tx:
            return tx.get_record(record_id)

    def content_hash(self, record_id: str) -> str | None:
        with self.reading() as tx:
            return tx.content_hash(record_id)

    def iter_records(self, *, updated_since: dt.datetime | None = None,
                     batch_size: int = _CHUNK) -> Iterator[CanonicalRecord]:
        """Every record (optionally updated at or after a time), in record id order, page by page."""
        c = t.records.c
        after = ""
        while True:
            query = select(t.records).where(c.record_id > after).order_by(c.record_id).limit(batch_size)
            if updated_since is not None:
                query = query.where(c.updated_at >= updated_since)
            with self.reading() as tx:
                rows = list(tx.conn.execute(query).mappings())
                page = [row_to_record(row, self.codebook, self.keyring) for row in rows]
            yield from page
            if len(rows) < batch_size:
                return
            after = rows[-1]["record_id"]

    def count_records(self) -> int:
        with self.reading() as tx:
            return int(tx.conn.scalar(select(func.count()).select_from(t.records)) or 0)

    def links(self, record_id: str) -> dict[str, IdLink]:
        with self.reading() as tx:
            return tx.links(record_id)

    def link_for(self, platform: str, platform_id: str) -> IdLink | None:
        with self.reading() as tx:
            return tx.link_for(platform, platform_id)

    def watermark(self, source: str) -> Watermark | None:
        with self.reading() as tx:
            return tx.watermark(source)

    def quarantined(self, *, include_resolved: bool = False, source: str | None = None) -> list[QuarantineEntry]:
        with self.reading() as tx:
            return tx.quarantined(include_resolved=include_resolved, source=source)

    def quarantined_contents(self, quarantine_id: int) -> QuarantineContents:
        with self.reading() as tx:
            return tx.quarantined_contents(quarantine_id)

    def audit_entries(self, *, target: str | None = None, run_id: int | None = None) -> list[AuditEntry]:
        with self.reading() as tx:
            return tx.audit_entries(target=target, run_id=run_id)

    # --- run history --------------------------------------------------------------------------

    def start_run(self) -> int:
        """Open a run entry now (committed at once, so a crashed run still shows as `running`)."""
        with self.transaction() as tx:
            result = tx.conn.execute(insert(t.runs).values(
                started_at=self.clock(), status="running", counts="{}", errors="[]"))
            return int(result.inserted_primary_key[0])

    def finish_run(self, run_id: int, status: RunStatus, counts: Mapping[str, Mapping[str, int]],
                   errors: Sequence[RunError] = ()) -> None:
        """Close a run with counts per source/target and its errors (codes and record ids only)."""
        if status not in ("succeeded", "partial", "failed"):
            raise ValueError("a finished run is succeeded, partial or failed")
        checked = check_counts(counts)
        for error in errors:
            if not isinstance(error, RunError):
                raise TypeError("run errors are RunError entries (code, system, record id, status)")
        with self.transaction() as tx:
            tx.conn.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(
                ended_at=self.clock(), status=status, counts=dumps(checked),
                errors=dumps([e.as_dict() for e in errors])))

    def runs(self, limit: int = 50) -> list[RunSummary]:
        with self.reading() as tx:
            rows = tx.conn.execute(select(t.runs).order_by(t.runs.c.run_id.desc()).limit(limit)).mappings()
            return [RunSummary(
                run_id=row["run_id"], started_at=row["started_at"], ended_at=row["ended_at"],
                status=row["status"], counts=json.loads(row["counts"]),
                errors=tuple(RunError(**e) for e in json.loads(row["errors"])),
            ) for row in rows]

    # --- keys ---------------------------------------------------------------------------------

    def key_ids_in_use(self) -> set[str]:
        """Key ids that sealed something still stored (records and quarantine)."""
        query = union(select(t.records.c.key_id).where(t.records.c.key_id.is_not(None)).distinct(),
                      select(t.quarantine.c.key_id).where(t.quarantine.c.key_id.is_not(None)).distinct())
        with self.reading() as tx:
            return set(tx.conn.scalars(query))

    def rotate_key(self, old_keys: Iterable[DataKey], new_key: DataKey, **options: Any) -> RotationResult:
        """Re-seal everything under `new_key`; see `tipdata.ledger.rotation.rotate_key`."""
        from tipdata.ledger.rotation import rotate_key  # rotation imports this module

        return rotate_key(self, old_keys, new_key, **options)


def open_ledger(url: str | None = None, *, codebook: Codebook | None = None,
                keys: Keyring | str | Iterable[DataKey] | None = None, encrypt: bool = True,
                schema: str | None = None, clock: Clock = _utcnow,
                environ: Mapping[str, str] | None = None, **engine_options: Any) -> Ledger:
    """Open (creating and migrating if needed) the ledger.

    url: argument > TIPDATA_LEDGER_URL > ./tipdata-ledger.sqlite. keys: argument >
    TIPDATA_LEDGER_KEY > TIPDATA_LEDGER_KEY_FILE. `encrypt=False` only for a ledger that holds no
    case data (benchmarks, throwaway tests); the choice is fixed when the ledger is created.
    `schema` puts the tables in a PostgreSQL schema.

    Example: `ledger = open_ledger("postgresql://sync@db/tipdata")`
    """
    book = codebook if codebook is not None else load_codebook()
    keyring: Keyring | None = None
    if encrypt:
        keyring = keys if isinstance(keys, Keyring) else load_keyring(keys, environ)
    elif keys is not None:
        raise EncryptionModeMismatch("keys were given together with encrypt=False",
                                     "drop encrypt=False to open an encrypted ledger")
    db_url = resolve_url(url, environ)
    where = safe_url(db_url)
    engine = create_ledger_engine(db_url, schema, **engine_options) if db_url.get_backend_name() == "sqlite" \
        else _connect_postgres(db_url, schema, where, engine_options)
    ledger = Ledger(engine, book, keyring, where=where, clock=clock)
    try:
        with ledger.transaction() as tx:
            applied = migrate(tx.conn, clock())
            mode = tx.conn.scalar(select(t.ledger_meta.c.value).where(t.ledger_meta.c.name == "at_rest"))
            wanted = AT_REST_SEALED if keyring else AT_REST_NONE
            if mode is None:
                tx.conn.execute(insert(t.ledger_meta), [
                    {"name": "at_rest", "value": wanted},
                    {"name": "created_at", "value": clock().isoformat()}])
            elif mode != wanted:
                raise EncryptionModeMismatch(
                    f"the ledger at {where} was created with at-rest encryption {mode!r}, "
                    f"and is being opened with {wanted!r}",
                    "open it the way it was created (an encrypted ledger needs its key; "
                    "encrypt=False only opens a ledger created without encryption)")
        if applied:
            log.info("ledger at %s migrated to schema version %s", where, applied[-1])
        if keyring is not None:
            missing = sorted(ledger.key_ids_in_use() - set(keyring.key_ids))
            if missing:
                keyring.key(missing[0])  # raises UnknownKeyId naming the env var and the fix
    except OperationalError as exc:
        engine.dispose()
        raise LedgerUnavailable(f"cannot open the ledger at {where}: {_first_line(exc)}",
                                "check the path or URL, that the server runs and that the user may connect") from None
    except BaseException:
        engine.dispose()
        raise
    return ledger


def _connect_postgres(url: Any, schema: str | None, where: str, options: dict[str, Any]) -> Engine:
    try:
        return create_ledger_engine(url, schema, **options)
    except OperationalError as exc:
        raise LedgerUnavailable(f"cannot reach the ledger database at {where}: {_first_line(exc)}",
                                "check TIPDATA_LEDGER_URL, that PostgreSQL runs and that the user may connect") from None


def _first_line(exc: OperationalError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc).splitlines()[0]
