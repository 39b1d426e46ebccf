"""One run per ledger: the run lock on SQLite (a file lock) and PostgreSQL (an advisory lock)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.sync.conftest import Platforms, codebook
from tipdata.ledger import Ledger, open_ledger
from tipdata.ledger.run_lock import (
    RunLockBusy,
    holding,
    resolve_timeout,
    run_lock_for,
)

HOLDER = Path(__file__).with_name("lock_holder.py")
CASE = "TIP Case"


@pytest.fixture
def plain_ledger(database: dict[str, Any]):
    """An unencrypted ledger (a subprocess opens the same one without the test's key)."""
    opened = open_ledger(database["url"], codebook=codebook(), encrypt=False,
                         schema=database["schema"], environ={})
    yield opened
    opened.close()


def test_run_lock__second_run_waits_then_fails_naming_the_holder(plain_ledger: Ledger):
    """should refuse a second holder after its timeout, naming the first one's pid, host and command"""
    with holding(run_lock_for(plain_ledger, "push"), timeout=5):
        with pytest.raises(RunLockBusy) as raised:
            run_lock_for(plain_ledger, "sync").acquire(timeout=0.3)
    holder = raised.value.holder
    assert holder is not None
    assert (holder.pid, holder.command) == (os.getpid(), "push")
    assert holder.host and socket.gethostname().startswith(holder.host)
    assert holder.started_at is not None
    message = str(raised.value)
    assert f"pid {os.getpid()}" in message and "tipdata push" in message and "--wait" in message


def test_run_lock__released_lock_is_taken_again(plain_ledger: Ledger):
    """should let the next run in once the holder releases, also when the block raised"""
    with pytest.raises(ZeroDivisionError), holding(run_lock_for(plain_ledger, "sync"), timeout=5):
        1 / 0  # noqa: B018
    with holding(run_lock_for(plain_ledger, "sync"), timeout=0.2):
        pass


def test_run_lock__ledgers_do_not_block_each_other(plain_ledger: Ledger, database, tmp_path: Path):
    """should lock one ledger only: another SQLite file or PostgreSQL schema is free"""
    if database["schema"]:
        other = open_ledger(database["url"], codebook=codebook(), encrypt=False,
                            schema=f"{database['schema']}_b", environ={})
    else:
        other = open_ledger(str(tmp_path / "other.sqlite"), codebook=codebook(), encrypt=False,
                            environ={})
    try:
        with holding(run_lock_for(plain_ledger, "sync"), timeout=5), \
                holding(run_lock_for(other, "sync"), timeout=0.2):
            pass
    finally:
        if database["schema"]:
            with other.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{database["schema"]}_b" CASCADE')
        other.close()


def test_run_lock__a_killed_holder_releases_it(plain_ledger: Ledger, database):
    """should free the lock when the process holding it is killed with SIGKILL"""
    process = subprocess.Popen([sys.executable, str(HOLDER), database["url"], database["schema"] or "-"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockBusy) as raised:
            run_lock_for(plain_ledger, "sync").acquire(timeout=0.3)
        assert raised.value.holder is not None and raised.value.holder.pid == process.pid
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        with holding(run_lock_for(plain_ledger, "sync"), timeout=20):
            pass
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_resolve_timeout__argument_then_environment_then_default():
    """should take the argument, else TIPDATA_SYNC_LOCK_TIMEOUT, else 60 seconds"""
    assert resolve_timeout(5, {"TIPDATA_SYNC_LOCK_TIMEOUT": "9"}) == 5
    assert resolve_timeout(None, {"TIPDATA_SYNC_LOCK_TIMEOUT": "9"}) == 9
    assert resolve_timeout(None, {}) == 60
    with pytest.raises(ValueError, match="TIPDATA_SYNC_LOCK_TIMEOUT"):
        resolve_timeout(None, {"TIPDATA_SYNC_LOCK_TIMEOUT": "soon"})


# --- the engine takes it ------------------------------------------------------------------------

def test_engine__sync_push_and_retry_wait_for_a_run_in_progress(platforms: Platforms, session_for,
                                                                ledger: Ledger):
    """should not start a sync, push or retry while another run holds the ledger, and start nothing"""
    platforms.add_intake(1)
    engine = session_for().engine
    engine.lock_timeout = 0.2
    with holding(run_lock_for(ledger, "push"), timeout=5):
        for start in (engine.run, engine.push, lambda: engine.retry([1])):
            with pytest.raises(RunLockBusy):
                start()
        assert engine.run(dry_run=True).sources[f"kobo:{platforms.asset_uid}"].new == 1  # reads only
    assert ledger.runs() == [] and ledger.count_records() == 0
    assert engine.run().targets["frappe"].new == 1


def test_engine__a_second_run_starts_after_the_first_ends(platforms: Platforms, session_for,
                                                         ledger: Ledger):
    """should run two concurrent syncs one after the other, the second finding nothing to send"""
    for n in (1, 2, 3):
        platforms.add_intake(n)
    first, second = session_for().engine, session_for().engine
    pushing, resume = threading.Event(), threading.Event()

    def pause_in_push(progress: Any) -> None:
        if progress.phase == "push" and not pushing.is_set():
            pushing.set()
            resume.wait(30)

    first.on_progress = pause_in_push
    second.lock_timeout = 60
    results: dict[str, Any] = {}
    one = threading.Thread(target=lambda: results.setdefault("first", first.run()))
    one.start()
    assert pushing.wait(30)
    two = threading.Thread(target=lambda: results.setdefault("second", second.run()))
    two.start()
    two.join(0.5)
    assert two.is_alive() and len(ledger.runs()) == 1  # waiting, and no run of its own started
    resume.set()
    one.join(60)
    two.join(60)
    assert results["first"].targets["frappe"].new == 3
    assert (results["second"].targets["frappe"].new, results["second"].targets["frappe"].unchanged) == (0, 3)
    later, earlier = ledger.runs()
    assert later.started_at >= earlier.ended_at
    assert sorted(d["external_id"] for d in platforms.frappe.docs(CASE)) == \
        sorted(platforms.record_id(n) for n in (1, 2, 3))
