"""One sync run at a time per ledger: a lock the operating system or PostgreSQL releases on death.

Two runs against the same ledger (a `tipdata sync` from cron and the push `tipdata serve`
triggers, or a `tipdata quarantine retry`) would each read what a target lacks and send it
twice, and interleave their id-map records. Transactions keep the ledger consistent, not the
platforms; so the engine takes this lock around every run (`SyncEngine.run`, `push`, `retry`).

- **PostgreSQL**: a session-level advisory lock (`pg_try_advisory_lock`) on a dedicated
  connection in autocommit mode (no transaction stays open for the run). The key is derived
  from the ledger's schema, so ledgers in different schemas of one database do not block each
  other. The holder names itself in the connection's `application_name`; a waiter reads it back
  from `pg_locks` + `pg_stat_activity` (pid, host, connection start).
- **SQLite**: an exclusive `flock` (POSIX; `msvcrt.locking` on Windows) on a file beside the
  database (`<ledger>.run-lock`). The holder writes its pid, host and start time into the file.
- **In-memory SQLite** (tests, one process): a process-wide lock per database.

Both kinds are released by the kernel or the server when the holding process dies, even by
SIGKILL: the file descriptor or the database session goes with it, so a killed run never
leaves a stale lock behind. A waiter polls until `timeout` seconds have passed, then raises
`RunLockBusy` naming the holder; it never blocks forever.

    with run_lock_for(ledger, "sync").held(timeout=60):
        ...  # pull and push
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from tipdata.ledger.errors import LedgerError

#: seconds a run waits for another one to finish (`TIPDATA_SYNC_LOCK_TIMEOUT` overrides)
DEFAULT_TIMEOUT = 60.0
TIMEOUT_ENV_VAR = "TIPDATA_SYNC_LOCK_TIMEOUT"
LOCK_FILE_SUFFIX = ".run-lock"
_POLL_FIRST, _POLL_MAX = 0.05, 0.5
_APP_PREFIX = "tipdata"


@dataclass(frozen=True)
class LockHolder:
    """Who holds the run lock (as recorded by the holder; any part may be unknown)."""

    pid: int | None = None
    host: str | None = None
    started_at: dt.datetime | None = None
    #: what the holder runs: `sync`, `push`, `retry`
    command: str | None = None

    def describe(self) -> str:
        """`tipdata sync (pid 4242 on host db1, since 2026-03-01T10:00:00+00:00)`."""
        what = f"tipdata {self.command}" if self.command else "another tipdata run"
        parts = []
        if self.pid is not None:
            parts.append(f"pid {self.pid}")
        if self.host:
            parts.append(f"on host {self.host}")
        if self.started_at is not None:
            parts.append(f"since {self.started_at.isoformat(timespec='seconds')}")
        return f"{what} ({' '.join(parts)})" if parts else what


class RunLockBusy(LedgerError):
    """Another run held the ledger's run lock for longer than this one would wait."""

    reason = "run_lock_busy"

    def __init__(self, where: str, holder: LockHolder | None, waited: float) -> None:
        self.holder = holder
        self.waited = waited
        who = holder.describe() if holder is not None else "another tipdata run (holder unknown)"
        super().__init__(
            f"the ledger at {where} is in use by {who}; waited {waited:.0f} s",
            "wait for that run to finish and try again (a run that was killed releases the lock "
            f"by itself), or wait longer: --wait SECONDS or {TIMEOUT_ENV_VAR}")


def resolve_timeout(timeout: float | None = None, environ: dict[str, str] | None = None) -> float:
    """Seconds to wait: argument > TIPDATA_SYNC_LOCK_TIMEOUT > 60. Raises ValueError if not a number."""
    if timeout is not None:
        return max(0.0, float(timeout))
    env = os.environ if environ is None else environ
    raw = env.get(TIMEOUT_ENV_VAR)
    if raw is None or raw.strip() == "":
        return DEFAULT_TIMEOUT
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV_VAR}={raw!r} is not a number of seconds") from None


def _me(command: str) -> LockHolder:
    return LockHolder(os.getpid(), socket.gethostname(), dt.datetime.now(dt.UTC), command)


class RunLock(Protocol):
    """A lock on one ledger's runs. `acquire` waits at most `timeout` seconds."""

    where: str

    def acquire(self, timeout: float) -> None: ...

    def release(self) -> None: ...


@contextmanager
def holding(lock: RunLock, timeout: float) -> Iterator[None]:
    """Hold `lock` for the block (released however the block ends)."""
    lock.acquire(timeout)
    try:
        yield
    finally:
        lock.release()


def _wait(try_once: Any, timeout: float) -> float | None:
    """Call `try_once()` until it returns True or `timeout` passes; None when acquired, else
    the seconds waited."""
    started = time.monotonic()
    pause = _POLL_FIRST
    while True:
        if try_once():
            return None
        waited = time.monotonic() - started
        if waited >= timeout:
            return waited
        time.sleep(min(pause, max(0.0, timeout - waited)))
        pause = min(pause * 2, _POLL_MAX)


# --- SQLite: a file beside the database -------------------------------------------------------

def _try_flock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _unflock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


class FileRunLock:
    """An exclusive lock on `<database>.run-lock`, holding the holder's pid, host and start.

    `flock` locks belong to the open file, so two runs in one process exclude each other too,
    and the kernel drops the lock when the process ends, however it ends.
    """

    def __init__(self, path: Path, command: str) -> None:
        self.path = path
        self.where = str(path.with_name(path.name.removesuffix(LOCK_FILE_SUFFIX)))
        self.command = command
        self._fd: int | None = None

    def acquire(self, timeout: float) -> None:
        if self._fd is not None:
            raise RuntimeError("the run lock is already held by this object")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        waited = _wait(lambda: _try_flock(fd), timeout)
        if waited is not None:
            holder = self.holder()
            os.close(fd)
            raise RunLockBusy(self.where, holder, waited)
        self._fd = fd
        me = _me(self.command)
        record = json.dumps({"pid": me.pid, "host": me.host, "command": me.command,
                             "started_at": me.started_at.isoformat() if me.started_at else None})
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, record.encode("utf-8"))
        os.fsync(fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            _unflock(fd)
        finally:
            os.close(fd)

    def holder(self) -> LockHolder | None:
        """What the holder wrote into the lock file (None when unreadable or empty)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        started = data.get("started_at")
        try:
            moment = dt.datetime.fromisoformat(started) if isinstance(started, str) else None
        except ValueError:
            moment = None
        pid = data.get("pid")
        return LockHolder(pid if isinstance(pid, int) else None, data.get("host") or None, moment,
                          data.get("command") or None)


# --- PostgreSQL: a session-level advisory lock ------------------------------------------------

def advisory_key(schema: str | None) -> int:
    """A signed 64-bit advisory-lock key for the ledger in `schema` (stable across processes)."""
    digest = hashlib.sha256(f"tipdata-run-lock:{schema or 'public'}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _application_name(holder: LockHolder) -> str:
    """`tipdata:sync:4242@db1` (PostgreSQL keeps 63 bytes of it)."""
    return f"{_APP_PREFIX}:{holder.command}:{holder.pid}@{holder.host or '?'}"[:63]


class AdvisoryRunLock:
    """`pg_try_advisory_lock` on a dedicated autocommit connection, held for the run.

    The connection is closed on release (not returned to the pool), so a lock can never stay
    with a pooled connection; if the process dies, the server ends the session and the lock.
    """

    def __init__(self, engine: Engine, schema: str | None, where: str, command: str) -> None:
        self.engine = engine
        self.key = advisory_key(schema)
        self.where = where
        self.command = command
        self._conn: Connection | None = None

    def acquire(self, timeout: float) -> None:
        if self._conn is not None:
            raise RuntimeError("the run lock is already held by this object")
        me = _me(self.command)
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            conn.execute(text("SELECT set_config('application_name', :name, false)"),
                         {"name": _application_name(me)})
            waited = _wait(lambda: bool(conn.scalar(text("SELECT pg_try_advisory_lock(:key)"),
                                                    {"key": self.key})), timeout)
            holder = self.holder(conn) if waited is not None else None
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        if waited is not None:
            conn.invalidate()
            conn.close()
            raise RunLockBusy(self.where, holder, waited)
        self._conn = conn

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        finally:
            conn.invalidate()  # the session ends: nothing of the lock can outlive the run
            conn.close()

    def holder(self, conn: Connection) -> LockHolder | None:
        """The session holding the key: its application name, client address and start."""
        key = self.key & 0xFFFFFFFFFFFFFFFF
        row = conn.execute(text(
            "SELECT a.application_name, a.client_addr::text, a.client_hostname, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo "
            "AND l.objsubid = 1 LIMIT 1"), {"hi": key >> 32, "lo": key & 0xFFFFFFFF}).first()
        if row is None:
            return None
        name, address, hostname, started = row
        command = pid = host = None
        parts = str(name or "").split(":", 2)
        if len(parts) == 3 and parts[0] == _APP_PREFIX:
            command = parts[1]
            pid_text, _, host = parts[2].partition("@")
            pid = int(pid_text) if pid_text.isdigit() else None
        return LockHolder(pid, host or hostname or address, started, command)


# --- in-memory SQLite ---------------------------------------------------------------------------

_memory_locks: dict[int, threading.Lock] = {}
_memory_guard = threading.Lock()


class ProcessRunLock:
    """For an in-memory database, which only this process can reach."""

    def __init__(self, engine: Engine, where: str, command: str) -> None:
        with _memory_guard:
            self._lock = _memory_locks.setdefault(id(engine), threading.Lock())
        self.where = where
        self.command = command
        self._held = False

    def acquire(self, timeout: float) -> None:
        if not self._lock.acquire(timeout=timeout):
            raise RunLockBusy(self.where, LockHolder(os.getpid(), socket.gethostname(), None), timeout)
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


def run_lock_for(ledger: Any, command: str) -> RunLock:
    """The run lock of `ledger` (a `tipdata.ledger.Ledger`) for a run of `command`.

    >>> with holding(run_lock_for(ledger, "sync"), timeout=60):
    ...     engine_run()
    """
    engine: Engine = ledger.engine
    url = engine.url
    if url.get_backend_name() == "postgresql":
        translate = engine.get_execution_options().get("schema_translate_map") or {}
        return AdvisoryRunLock(engine, translate.get(None), ledger.where, command)
    database = url.database
    if database in (None, "", ":memory:") or str(database).startswith("file::memory:"):
        return ProcessRunLock(engine, ledger.where, command)
    path = Path(database).expanduser().resolve()
    return FileRunLock(path.with_name(path.name + LOCK_FILE_SUFFIX), command)
