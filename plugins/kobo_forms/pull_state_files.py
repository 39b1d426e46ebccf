"""Which state file `tipdata kobo pull` uses, and taking over the JSON file of older versions.

`--state FILE` ending in `.json` keeps the JSON state (`JsonFilePullState`, everything in
memory); any other name is a SQLite state (`SqliteFilePullState`, flat memory). Without
`--state` the pull uses `.tipdata/kobo-pull-state.sqlite`; if only the old default
`.tipdata/kobo-pull-state.json` exists, it is imported into the SQLite file once, so the
upgrade neither pulls everything again nor loses the edit-detection revisions. The JSON file is
left as it was and no longer read.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tipdata.kobo_forms.pull_state import DEFAULT_STATE_PATH, JsonFilePullState
from tipdata.kobo_forms.pull_state_sqlite import DEFAULT_SQLITE_STATE_PATH, SqliteFilePullState

#: where tipdata before the SQLite state kept it, imported once when found
LEGACY_JSON_STATE_PATH = DEFAULT_STATE_PATH
_IMPORT_BATCH = 5_000


@dataclass(frozen=True)
class ImportedState:
    """What `import_json_pull_state` copied: counts only."""

    source: Path
    target: Path
    assets: int
    submissions: int

    def message(self) -> str:
        return (
            f"Imported the pull state of {self.assets} form(s) ({self.submissions:,} seen "
            f"submission(s)) from {self.source} into {self.target}; the JSON file is no longer "
            "read."
        )


def open_pull_state_file(
    path: Path | None,
    *,
    announce: Callable[[str], None] = lambda _line: None,
    legacy_json: Path = LEGACY_JSON_STATE_PATH,
    default_sqlite: Path = DEFAULT_SQLITE_STATE_PATH,
) -> JsonFilePullState | SqliteFilePullState:
    """The state for `--state path` (None: the default), importing the old JSON default once.

    Raises ValueError, saying how to fix it, when a file cannot be read.

    >>> state = open_pull_state_file(Path("state.json"))  # a JsonFilePullState
    """
    if path is not None:
        if path.suffix.lower() == ".json":
            return JsonFilePullState(path)
        return SqliteFilePullState(path)
    if legacy_json.is_file() and not default_sqlite.exists():
        announce(import_json_pull_state(legacy_json, default_sqlite).message())
    return SqliteFilePullState(default_sqlite)


def import_json_pull_state(source: Path, target: Path) -> ImportedState:
    """Copy a JSON state file into a new SQLite state file: watermarks, seen, reconciled_at.

    The SQLite file is built under a temporary name beside `target` and renamed into place when
    complete, so a crash during the import leaves no half-imported state behind (the next run
    imports again). Reading the JSON file needs it in memory, once.
    """
    legacy = JsonFilePullState(source)
    building = target.with_name(f".{target.name}.importing")
    _remove_with_journal(building)
    submissions = 0
    state = SqliteFilePullState(building)
    try:
        uids = legacy.asset_uids()
        for uid in uids:
            ids = legacy.seen_ids(uid)
            while batch := list(itertools.islice(ids, _IMPORT_BATCH)):
                seen = legacy.seen_many(uid, batch)
                state.remember(uid, (seen[i] for i in batch))
                submissions += len(batch)
            state.remember(uid, [], watermark=legacy.watermark(uid))
            when = legacy.reconciled_at(uid)
            if when is not None:
                state.mark_reconciled(uid, when)
        state.flush()
    finally:
        state.close()
    os.replace(building, target)
    _remove_with_journal(building)  # an empty -wal/-shm left by the builder, if any
    _sync_folder(target.parent)
    return ImportedState(source, target, len(uids), submissions)


def _remove_with_journal(path: Path) -> None:
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
