"""`SqliteFilePullState` on disk: permissions, reopening, keyset walks, crashes, JSON import."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import textwrap

import pytest

import tipdata.kobo_forms.pull_state_sqlite as sqlite_state
from tipdata.kobo_forms.pull_state import JsonFilePullState, SeenSubmission
from tipdata.kobo_forms.pull_state_files import import_json_pull_state, open_pull_state_file
from tipdata.kobo_forms.pull_state_sqlite import SqliteFilePullState

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def seen(submission_id: int, tag: str = "") -> SeenSubmission:
    return SeenSubmission(submission_id, f"r{submission_id}{tag}", f"d{submission_id}{tag}")


def test_sqlite_pull_state__owner_only_file_journal_and_folder(tmp_path):
    """should create the file and its -wal/-shm 0600 and a missing parent folder 0700"""
    path = tmp_path / "new" / "state.sqlite"
    with SqliteFilePullState(path) as state:
        state.remember("aX", [seen(1)], watermark=1)
        journal = [tmp_path / "new" / f"state.sqlite-{end}" for end in ("wal", "shm")]
        assert all(p.exists() for p in journal)  # WAL mode while open
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in [path, *journal]}
    assert modes == {
        "state.sqlite": "0o600",
        "state.sqlite-wal": "0o600",
        "state.sqlite-shm": "0o600",
    }
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"


def test_sqlite_pull_state__tightens_a_readable_file(tmp_path):
    """should make an existing group- or world-readable state file owner-only"""
    path = tmp_path / "state.sqlite"
    SqliteFilePullState(path).close()
    path.chmod(0o644)
    SqliteFilePullState(path).close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_sqlite_pull_state__reopen_keeps_everything(tmp_path):
    """should give back every asset's watermark, submissions and reconciliation after a close"""
    path = tmp_path / "state.sqlite"
    with SqliteFilePullState(path) as state:
        state.remember("aOne", (seen(i) for i in range(4_500, 0, -1)), watermark=4_500)
        state.remember("aTwo", [SeenSubmission(7, 'r"7ü', "d7")], watermark=7)
        state.remember("aTwo", [seen(7, "b")])
        state.mark_reconciled("aOne", NOW)
        state.remember("aEmpty", [])
    with SqliteFilePullState(path) as again:
        assert sorted(again.asset_uids()) == ["aEmpty", "aOne", "aTwo"]
        assert (again.watermark("aOne"), again.watermark("aTwo")) == (4_500, 7)
        assert again.watermark("aEmpty") is None
        assert list(again.seen_ids("aOne")) == list(range(1, 4_501))
        assert again.seen_many("aOne", range(1, 4_501)) == {i: seen(i) for i in range(1, 4_501)}
        assert again.seen("aTwo", 7) == seen(7, "b")
        assert again.ids_with_revisions("aOne", ["r17", "r4500", "r7b"]) == {
            "r17": 17,
            "r4500": 4_500,
        }
        assert again.reconciled_at("aOne") == NOW and again.reconciled_at("aTwo") is None


def test_sqlite_pull_state__seen_ids_reads_in_keyset_pages(tmp_path, monkeypatch):
    """should read seen_ids a bounded batch at a time, in ascending order, one asset only"""
    monkeypatch.setattr(sqlite_state, "_IDS_PER_READ", 7)
    with SqliteFilePullState(tmp_path / "state.sqlite") as state:
        state.remember("aX", [seen(i) for i in range(50, 0, -3)])
        state.remember("aOther", [seen(4)])
        reads: list[str] = []
        state._conn.set_trace_callback(reads.append)
        walk = state.seen_ids("aX")
        assert [next(walk) for _ in range(3)] == [2, 5, 8]
        assert len([r for r in reads if "FROM pull_seen" in r]) == 1  # not the whole table
        assert [*[2, 5, 8], *walk] == list(range(2, 51, 3))
        assert len([r for r in reads if "FROM pull_seen" in r]) == 3  # 17 ids, 7 per read


def test_sqlite_pull_state__seen_ids_while_the_pull_writes(tmp_path, monkeypatch):
    """should keep yielding in order when ids below the position are remembered and ids
    already yielded are forgotten during the walk, as reconciliation does"""
    monkeypatch.setattr(sqlite_state, "_IDS_PER_READ", 4)
    with SqliteFilePullState(tmp_path / "state.sqlite") as state:
        state.remember("aX", [seen(i) for i in range(10, 101, 10)])
        walk = state.seen_ids("aX")
        yielded = [next(walk) for _ in range(5)]  # 10..50, the second read was made
        state.remember("aX", [seen(15), seen(45), seen(47)])  # below the position: late commits
        state.forget("aX", [20, 30])  # behind the position
        yielded += list(walk)
        assert yielded == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        assert list(state.seen_ids("aX")) == [10, 15, 40, 45, 47, 50, 60, 70, 80, 90, 100]


def test_sqlite_pull_state__remember_is_one_transaction(tmp_path):
    """should keep nothing of a remember call that failed half-way, watermark included"""
    path = tmp_path / "state.sqlite"

    def failing_page():
        yield seen(1)
        yield seen(2)
        raise RuntimeError("the page broke")

    with SqliteFilePullState(path) as state:
        state.remember("aX", [seen(9)], watermark=9)
        with pytest.raises(RuntimeError):
            state.remember("aX", failing_page(), watermark=20)
        assert state.watermark("aX") == 9 and list(state.seen_ids("aX")) == [9]
        state.remember("aX", [seen(10)], watermark=10)  # still usable afterwards
    with SqliteFilePullState(path) as again:
        assert again.watermark("aX") == 10 and list(again.seen_ids("aX")) == [9, 10]


def test_sqlite_pull_state__killed_process_keeps_what_it_remembered(tmp_path):
    """should keep every remembered page when the process dies without closing or flushing"""
    path = tmp_path / "state.sqlite"
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from tipdata.kobo_forms.pull_state import SeenSubmission
        from tipdata.kobo_forms.pull_state_sqlite import SqliteFilePullState
        state = SqliteFilePullState(Path({str(path)!r}))
        for page in range(3):
            ids = range(page * 100 + 1, page * 100 + 101)
            state.remember("aX", [SeenSubmission(i, "r", "d") for i in ids], watermark=ids[-1])
        os.kill(os.getpid(), 9)
    """)
    killed = subprocess.run([sys.executable, "-c", script], check=False)
    assert killed.returncode == -9
    with SqliteFilePullState(path) as again:
        assert again.watermark("aX") == 300 and len(list(again.seen_ids("aX"))) == 300


def test_sqlite_pull_state__newer_schema_refused(tmp_path):
    """should refuse a file written by a newer tipdata rather than misread it"""
    path = tmp_path / "state.sqlite"
    SqliteFilePullState(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={sqlite_state.SCHEMA_VERSION + 1}")
    with pytest.raises(ValueError, match="newer tipdata"):
        SqliteFilePullState(path)


# --- choosing the file and importing the JSON state --------------------------------------


def json_state(path, *, seen_count: int = 3) -> None:
    state = JsonFilePullState(path, flush_seconds=0)
    state.remember("aOne", [seen(i) for i in range(1, seen_count + 1)], watermark=seen_count)
    state.remember("aTwo", [seen(5, "x")], watermark=9)
    state.remember("aNew", [])
    state.mark_reconciled("aOne", NOW)
    state.flush()


def test_import_json_pull_state__copies_everything(tmp_path, monkeypatch):
    """should copy watermarks, seen submissions and reconciled_at, in batches, and count them"""
    monkeypatch.setattr("tipdata.kobo_forms.pull_state_files._IMPORT_BATCH", 4)
    source, target = tmp_path / "old.json", tmp_path / "new.sqlite"
    json_state(source, seen_count=10)
    before = source.read_bytes()
    imported = import_json_pull_state(source, target)
    assert (imported.assets, imported.submissions) == (3, 11)
    assert "3 form(s) (11 seen submission(s))" in imported.message()
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.sqlite", "old.json"]
    with SqliteFilePullState(target) as state:
        assert state.watermark("aOne") == 10 and state.watermark("aTwo") == 9
        assert state.watermark("aNew") is None
        assert state.seen_many("aOne", range(12)) == {i: seen(i) for i in range(1, 11)}
        assert state.ids_with_revisions("aTwo", ["r5x"]) == {"r5x": 5}
        assert state.reconciled_at("aOne") == NOW and state.reconciled_at("aTwo") is None


def test_import_json_pull_state__failed_import_leaves_no_state(tmp_path, monkeypatch):
    """should leave no SQLite file behind when the import fails, so the next run imports again"""
    source, target = tmp_path / "old.json", tmp_path / "new.sqlite"
    json_state(source)

    def broken(self, *args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(SqliteFilePullState, "mark_reconciled", broken)
    with pytest.raises(sqlite3.OperationalError):
        import_json_pull_state(source, target)
    assert not target.exists()
    monkeypatch.undo()
    assert import_json_pull_state(source, target).submissions == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.sqlite", "old.json"]


def test_open_pull_state_file__by_suffix_and_default(tmp_path):
    """should open JSON for .json, SQLite otherwise, and import the old default only once"""
    legacy, default = tmp_path / "old" / "state.json", tmp_path / "old" / "state.sqlite"
    assert isinstance(open_pull_state_file(tmp_path / "x.JSON"), JsonFilePullState)
    other = open_pull_state_file(tmp_path / "x.db")
    assert isinstance(other, SqliteFilePullState)
    other.close()
    legacy.parent.mkdir()
    json_state(legacy)
    said: list[str] = []
    opened = open_pull_state_file(
        None, announce=said.append, legacy_json=legacy, default_sqlite=default
    )
    assert isinstance(opened, SqliteFilePullState) and opened.path == default
    assert opened.watermark("aTwo") == 9
    assert len(said) == 1 and "Imported the pull state of 3 form(s)" in said[0]
    opened.remember("aTwo", [], watermark=12)
    opened.close()
    again = open_pull_state_file(
        None, announce=said.append, legacy_json=legacy, default_sqlite=default
    )
    assert again.watermark("aTwo") == 12 and len(said) == 1  # not imported a second time
    again.close()


def test_sqlite_pull_state__page_look_ups_use_the_keys(tmp_path):
    """should answer a page's look-ups and each seen_ids read through an index, never by
    walking every row of the asset (which would grow each page's cost with the pull)"""
    with SqliteFilePullState(tmp_path / "state.sqlite") as state:
        state.remember("aX", [seen(i) for i in range(1, 50)])
        statements: list[str] = []
        state._conn.set_trace_callback(statements.append)
        assert state.ids_with_revisions("aX", ["r3", "r4"]) == {"r3": 3, "r4": 4}
        assert len(state.seen_many("aX", [3, 4])) == 2
        assert list(state.seen_ids("aX"))[:2] == [1, 2]
        state._conn.set_trace_callback(None)
        plans = {
            sql.split(" FROM")[0]: " ".join(
                row[3] for row in state._conn.execute(f"EXPLAIN QUERY PLAN {sql}")
            )
            for sql in statements
        }
    assert len(plans) == 3
    for plan in plans.values():
        assert plan.startswith("SEARCH") and "SCAN" not in plan
    assert all(
        "submission_id" in plan or "pull_seen_by_revision" in plan for plan in plans.values()
    ), plans
