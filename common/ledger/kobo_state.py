"""The Kobo pull state's two ledger tables, read and written inside the caller's transaction.

`tipdata.sync.adapters.kobo.LedgerPullState` speaks the pull's `PullState` protocol over these
functions; the engine calls them inside the transaction that stores a page (see
`tipdata.sync.ports.SourcePage.commit`), so the records of a page and the state saying the page
was pulled commit together or not at all. Everything here takes a SQLAlchemy `Connection`
(`LedgerTransaction.conn`) and plain values: the ledger knows its tables, not the Kobo plugin.

Rows hold ids, revisions (`_uuid`, random per edit) and keyed digests: nothing a person said.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tipdata.ledger.schema import kobo_assets, kobo_submissions

#: one (submission `_id`, revision, stored content digest) as the pull saw it
SeenRow = tuple[int, str, str]
_CHUNK = 500


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert(conn: Connection, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (both engines)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def seen_rows(conn: Connection, asset_uid: str, submission_ids: Iterable[int]) -> dict[int, SeenRow]:
    """What was pulled for these `_id`s (those never pulled are left out)."""
    c = kobo_submissions.c
    found: dict[int, SeenRow] = {}
    for chunk in _chunks(sorted(set(submission_ids))):
        for row in conn.execute(select(c.submission_id, c.revision, c.content_digest).where(
                c.asset_uid == asset_uid, c.submission_id.in_(chunk))):
            found[row[0]] = (row[0], row[1], row[2])
    return found


def seen_ids_after(conn: Connection, asset_uid: str, after: int | None, limit: int) -> list[int]:
    """Up to `limit` pulled `_id`s above `after`, ascending (keyset paging: memory stays flat)."""
    c = kobo_submissions.c
    query = select(c.submission_id).where(c.asset_uid == asset_uid)
    if after is not None:
        query = query.where(c.submission_id > after)
    return list(conn.scalars(query.order_by(c.submission_id).limit(limit)))


def ids_with_revisions(conn: Connection, asset_uid: str, revisions: Iterable[str]) -> dict[str, int]:
    """The `_id` pulled with each revision; when several share one (a duplicate Kobo stored
    twice is remembered with its twin's revision), the lowest, i.e. the original."""
    c = kobo_submissions.c
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(revisions))):
        for revision, submission_id in conn.execute(select(c.revision, c.submission_id).where(
                c.asset_uid == asset_uid, c.revision.in_(chunk))):
            if revision not in found or submission_id < found[revision]:
                found[revision] = submission_id
    return found


def write_seen(conn: Connection, asset_uid: str, rows: Iterable[SeenRow], now: dt.datetime) -> int:
    """Insert or update pulled submissions (the last one of an `_id` in `rows` wins)."""
    latest = {submission_id: (revision, digest) for submission_id, revision, digest in rows}
    if not latest:
        return 0
    values = [{"asset_uid": asset_uid, "submission_id": submission_id, "revision": revision,
               "content_digest": digest, "last_seen_at": now}
              for submission_id, (revision, digest) in sorted(latest.items())]
    for chunk in _chunks(values):
        stmt = _insert(conn, kobo_submissions)
        stmt = stmt.on_conflict_do_update(
            index_elements=[kobo_submissions.c.asset_uid, kobo_submissions.c.submission_id],
            set_={"revision": stmt.excluded.revision,
                  "content_digest": stmt.excluded.content_digest,
                  "last_seen_at": stmt.excluded.last_seen_at})
        conn.execute(stmt, list(chunk))
    return len(values)


def forget(conn: Connection, asset_uid: str, submission_ids: Iterable[int]) -> None:
    """Drop submissions the server no longer has."""
    c = kobo_submissions.c
    for chunk in _chunks(sorted(set(submission_ids))):
        conn.execute(delete(kobo_submissions).where(c.asset_uid == asset_uid,
                                                    c.submission_id.in_(chunk)))


def has_asset(conn: Connection, asset_uid: str) -> bool:
    """True once the ledger holds this asset's pull state (any JSON file was imported by then)."""
    return conn.scalar(select(kobo_assets.c.asset_uid).where(
        kobo_assets.c.asset_uid == asset_uid)) is not None


def reconciled_at(conn: Connection, asset_uid: str) -> dt.datetime | None:
    return conn.scalar(select(kobo_assets.c.reconciled_at).where(
        kobo_assets.c.asset_uid == asset_uid))


def claim_asset(conn: Connection, asset_uid: str, now: dt.datetime, *,
                reconciled: dt.datetime | None = None, imported_from: str | None = None) -> bool:
    """Make the ledger the keeper of this asset's state; False if it already was (no change)."""
    stmt = _insert(conn, kobo_assets).values(asset_uid=asset_uid, reconciled_at=reconciled,
                                             imported_from=imported_from, updated_at=now)
    result = conn.execute(stmt.on_conflict_do_nothing(index_elements=[kobo_assets.c.asset_uid]))
    return bool(result.rowcount)


def mark_reconciled(conn: Connection, asset_uid: str, when: dt.datetime, now: dt.datetime) -> None:
    if not claim_asset(conn, asset_uid, now, reconciled=when):
        conn.execute(update(kobo_assets).where(kobo_assets.c.asset_uid == asset_uid)
                     .values(reconciled_at=when, updated_at=now))
