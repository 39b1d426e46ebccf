"""`PullState` in one SQLite file, for `tipdata kobo pull`: memory flat in the submissions seen.

`JsonFilePullState` holds every seen submission in memory (about half a kilobyte each) and
rewrites the whole file; this state keeps them in a table and reads only what a page asks for,
so a pull of a million submissions needs no more memory than a pull of a thousand.

Tables (schema version in `PRAGMA user_version`):

- `pull_assets(asset_uid, watermark, reconciled_at)`;
- `pull_seen(asset_uid, submission_id, revision, content_digest)`, keyed by
  `(asset_uid, submission_id)` — the order `seen_ids` walks and `seen_many` looks up — with an
  index on `(asset_uid, revision)` for the duplicate check.

Each `remember`, `forget` and `mark_reconciled` is one transaction, committed before it returns
(WAL journal, `synchronous=FULL`): the pull calls `remember` for a page only after the caller
has finished with it, so a crash or a kill re-delivers at most the page in hand, never skips one
(at-least-once, as for the JSON state; records are upserts by record id). Content digests are
kept as given, as the JSON state keeps them; the file, its journal and a new parent folder are
owner-only.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tipdata.kobo_forms.pull_state import SeenSubmission

DEFAULT_SQLITE_STATE_PATH = Path(".tipdata/kobo-pull-state.sqlite")
SCHEMA_VERSION = 1
#: how many `_id`s one read of `seen_ids` fetches (a keyset page, not the whole table)
_IDS_PER_READ = 10_000
#: below every `_id` (SQLite's smallest integer), where a `seen_ids` walk starts
_BEFORE_EVERY_ID = -(2**63)
#: bound parameters per `IN (...)` look-up (SQLite's limit is 999 in old builds)
_VARIABLES_PER_QUERY = 500

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS pull_assets (
        asset_uid TEXT PRIMARY KEY,
        watermark INTEGER,
        reconciled_at TEXT
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS pull_seen (
        asset_uid TEXT NOT NULL,
        submission_id INTEGER NOT NULL,
        revision TEXT NOT NULL,
        content_digest TEXT NOT NULL,
        PRIMARY KEY (asset_uid, submission_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS pull_seen_by_revision ON pull_seen (asset_uid, revision)",
)


class SqliteFilePullState:
    """`PullState` in one SQLite file (see the module doc); close it when the pull is done.

    >>> with SqliteFilePullState(Path(".tipdata/kobo-pull-state.sqlite")) as state:
    ...     state.watermark("aJ7sd2kqWcH5YbVfXe8mLp") is None
    True
    """

    def __init__(self, path: Path = DEFAULT_SQLITE_STATE_PATH) -> None:
        self.path = Path(path)
        _create_owner_only(self.path)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        except sqlite3.Error as exc:
            raise _unreadable(self.path, exc) from None
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._conn.close()
            raise _unreadable(self.path, exc) from None

    def _prepare(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._conn.close()
            raise ValueError(
                f"the pull state {self.path} was written by a newer tipdata (schema {version}). "
                "Fix: upgrade tipdata, or choose another --state file"
            )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        with self._transaction():
            for statement in _SCHEMA:
                self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def __enter__(self) -> SqliteFilePullState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (SQLite folds the journal back into it when the last user leaves)."""
        self._conn.close()

    # --- reads ------------------------------------------------------------------------------

    def watermark(self, asset_uid: str) -> int | None:
        row = self._conn.execute(
            "SELECT watermark FROM pull_assets WHERE asset_uid = ?", (asset_uid,)
        ).fetchone()
        return row[0] if row else None

    def seen(self, asset_uid: str, submission_id: int) -> SeenSubmission | None:
        return self.seen_many(asset_uid, [submission_id]).get(submission_id)

    def seen_many(self, asset_uid: str, submission_ids: Iterable[int]) -> dict[int, SeenSubmission]:
        found: dict[int, SeenSubmission] = {}
        for chunk in _chunks(submission_ids):
            rows = self._conn.execute(
                "SELECT submission_id, revision, content_digest FROM pull_seen "
                f"WHERE asset_uid = ? AND submission_id IN ({_marks(len(chunk))})",
                (asset_uid, *chunk),
            )
            for submission_id, revision, digest in rows:
                found[submission_id] = SeenSubmission(submission_id, revision, digest)
        return found

    def seen_ids(self, asset_uid: str) -> Iterator[int]:
        """Every `_id` pulled, ascending, read `_IDS_PER_READ` at a time after the last one
        yielded (keyset): ids remembered below that position are not yielded, ids forgotten
        ahead of it are not, and no read stays open while the pull writes."""
        after = _BEFORE_EVERY_ID
        while True:
            batch = [
                row[0]
                for row in self._conn.execute(
                    "SELECT submission_id FROM pull_seen WHERE asset_uid = ? "
                    "AND submission_id > ? ORDER BY submission_id LIMIT ?",
                    (asset_uid, after, _IDS_PER_READ),
                )
            ]
            yield from batch
            if len(batch) < _IDS_PER_READ:
                return
            after = batch[-1]

    def ids_with_revisions(self, asset_uid: str, revisions: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(revisions):
            rows = self._conn.execute(  # the revision index, not a walk of the asset's rows
                "SELECT revision, max(submission_id) FROM pull_seen "
                f"WHERE asset_uid = ? AND revision IN ({_marks(len(chunk))}) GROUP BY revision",
                (asset_uid, *chunk),
            )
            found.update(rows)
        return found

    def id_with_revision(self, asset_uid: str, revision: str) -> int | None:
        return self.ids_with_revisions(asset_uid, [revision]).get(revision)

    def stored_digest(self, content_digest: str) -> str:
        return content_digest

    def reconciled_at(self, asset_uid: str) -> dt.datetime | None:
        row = self._conn.execute(
            "SELECT reconciled_at FROM pull_assets WHERE asset_uid = ?", (asset_uid,)
        ).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    def asset_uids(self) -> list[str]:
        """Every asset this state has heard of."""
        return [row[0] for row in self._conn.execute("SELECT asset_uid FROM pull_assets")]

    # --- writes: one transaction each -------------------------------------------------------

    def remember(
        self, asset_uid: str, seen: Iterable[SeenSubmission], *, watermark: int | None = None
    ) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO pull_assets (asset_uid, watermark) VALUES (?, ?) "
                "ON CONFLICT (asset_uid) DO UPDATE SET watermark = "
                "max(coalesce(watermark, excluded.watermark), "
                "coalesce(excluded.watermark, watermark))",
                (asset_uid, watermark),
            )
            conn.executemany(
                "INSERT INTO pull_seen (asset_uid, submission_id, revision, content_digest) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (asset_uid, submission_id) DO UPDATE SET "
                "revision = excluded.revision, content_digest = excluded.content_digest",
                ((asset_uid, s.submission_id, s.revision, s.content_digest) for s in seen),
            )

    def forget(self, asset_uid: str, submission_ids: Iterable[int]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "DELETE FROM pull_seen WHERE asset_uid = ? AND submission_id = ?",
                ((asset_uid, submission_id) for submission_id in submission_ids),
            )

    def mark_reconciled(self, asset_uid: str, when: dt.datetime) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO pull_assets (asset_uid, reconciled_at) VALUES (?, ?) "
                "ON CONFLICT (asset_uid) DO UPDATE SET reconciled_at = excluded.reconciled_at",
                (asset_uid, when.isoformat()),
            )

    def checkpoint(self) -> None:
        """Nothing to do: every write was committed when it was made."""

    def flush(self) -> None:
        """Fold the write-ahead log into the file, so a copy of the file alone is current."""
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _create_owner_only(path: Path) -> None:
    """Create the file 0600 (and a missing parent 0700) before SQLite opens it; SQLite gives
    its `-wal` and `-shm` files the mode of the database file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)


def _unreadable(path: Path, exc: Exception) -> ValueError:
    return ValueError(
        f"cannot read the pull state {path}: {exc}. Fix: restore it from a backup, or delete "
        "it to pull everything again (and its -wal and -shm files, if any)"
    )


def _chunks(values: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    items = iter(values)
    while chunk := tuple(itertools.islice(items, _VARIABLES_PER_QUERY)):
        yield chunk


def _marks(count: int) -> str:
    return ",".join("?" * count)
