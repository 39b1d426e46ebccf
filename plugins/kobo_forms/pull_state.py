"""What a pull remembers between runs: a watermark and the revision of every submission seen.

`PullState` is the interface the pull talks to. The sync engine keeps it in the ledger, in the
same transactions as the records (`tipdata.sync.adapters.kobo.LedgerPullState`);
`tipdata kobo pull --out`, which has no ledger, keeps it in one SQLite file
(`pull_state_sqlite.SqliteFilePullState`, the default: memory flat in the submissions seen) or,
for `--state FILE.json`, in one JSON file (`JsonFilePullState`, every submission in memory).

Per asset it holds:

- the **watermark**: the highest `_id` whose page the caller has finished with. New
  submissions are those above it (`_id` is the server's row id and only grows);
- per `_id` the **revision** (`_uuid`, which changes on every edit) and a **content digest** of
  what was mapped, so reconciliation can tell an edit (revision changed) and whether the edit
  changed anything the codebook holds (digest changed);
- when the asset was last **reconciled** against the server (edits and deletions are invisible
  to the watermark: Kobo keeps `_submission_time` on edit and has no last-modified field).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

DEFAULT_STATE_PATH = Path(".tipdata/kobo-pull-state.json")
#: the largest share of a pull's time `JsonFilePullState.checkpoint` spends rewriting its file
MAX_WRITE_SHARE = 0.05
_WRITE_SLICE = 2_000


@dataclass(frozen=True)
class SeenSubmission:
    """One submission as last pulled."""

    submission_id: int
    revision: str
    content_digest: str


class PullState(Protocol):
    """Where a pull keeps its progress. All methods take the asset uid first."""

    def watermark(self, asset_uid: str) -> int | None:
        """Highest `_id` whose page was handed over, or None before the first pull."""

    def seen(self, asset_uid: str, submission_id: int) -> SeenSubmission | None:
        """What was pulled for this `_id`, or None."""

    def seen_many(
        self, asset_uid: str, submission_ids: Iterable[int]
    ) -> Mapping[int, SeenSubmission]:
        """`seen` for a page of `_id`s at once (those never pulled are left out)."""

    def seen_ids(self, asset_uid: str) -> Iterator[int]:
        """Every `_id` pulled, in ascending order; `_id`s remembered below the position reached
        or forgotten after the walk do not change what it yields (the pull does only that)."""

    def ids_with_revisions(self, asset_uid: str, revisions: Iterable[str]) -> Mapping[str, int]:
        """The `_id` already pulled with each revision (`_uuid`) that has one, to spot duplicates."""

    def stored_digest(self, content_digest: str) -> str:
        """The form in which this state keeps a content digest, to compare with `seen()`.

        A file keeps it as is; the ledger keys it (HMAC) like its record hashes, since a plain
        hash of a few yes/no answers could be reversed by trying every combination.
        """

    def remember(
        self, asset_uid: str, seen: Iterable[SeenSubmission], *, watermark: int | None = None
    ) -> None:
        """Record pulled submissions and, if given, raise the watermark (never lowers it)."""

    def forget(self, asset_uid: str, submission_ids: Iterable[int]) -> None:
        """Drop submissions that no longer exist on the server."""

    def reconciled_at(self, asset_uid: str) -> dt.datetime | None:
        """When the asset was last compared in full with the server."""

    def mark_reconciled(self, asset_uid: str, when: dt.datetime) -> None: ...

    def checkpoint(self) -> None:
        """Persist what was remembered (an implementation may batch writes)."""

    def flush(self) -> None:
        """Persist everything now; called when a form's pull ends, also after an error."""


class _AssetState:
    __slots__ = ("watermark", "seen", "by_revision", "reconciled_at")

    def __init__(self) -> None:
        self.watermark: int | None = None
        #: _id -> (revision, digest)
        self.seen: dict[int, tuple[str, str]] = {}
        self.by_revision: dict[str, int] | None = None  # built on first use
        self.reconciled_at: str | None = None


class JsonFilePullState:
    """`PullState` in one JSON file, rewritten atomically with owner-only permissions.

    `checkpoint` writes at most every `flush_seconds` so a large pull does not rewrite the file
    after every page; `flush` always writes. The file grows with the submissions seen, and a
    rewrite of 100,000 of them takes a noticeable fraction of a second, so `checkpoint` also
    waits until the time since the last write is `1 / MAX_WRITE_SHARE` times what that write
    took: rewriting stays a small share of a long pull instead of growing with it.
    `flush_seconds=0` writes at every checkpoint. After a crash the pull resumes from the last
    written watermark and re-delivers at most the pages since then (at-least-once; records are
    upserts by record id).

    >>> state = JsonFilePullState(Path(".tipdata/kobo-pull-state.json"))
    >>> state.watermark("aJ7sd2kqWcH5YbVfXe8mLp") is None
    True
    """

    def __init__(
        self,
        path: Path = DEFAULT_STATE_PATH,
        *,
        flush_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._assets: dict[str, _AssetState] = {}
        self._dirty = False
        self._last_flush = clock()
        self._last_write_seconds = 0.0
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            for uid, entry in data.get("assets", {}).items():
                state = _AssetState()
                state.watermark = entry.get("watermark")
                state.reconciled_at = entry.get("reconciled_at")
                state.seen = {int(k): (v[0], v[1]) for k, v in entry.get("seen", {}).items()}
                self._assets[uid] = state
        except (OSError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise ValueError(
                f"cannot read the pull state {self.path}: {exc}. Fix: restore it "
                "from a backup, or delete it to pull everything again"
            ) from None

    def _asset(self, asset_uid: str) -> _AssetState:
        state = self._assets.get(asset_uid)
        if state is None:
            state = self._assets[asset_uid] = _AssetState()
        return state

    def watermark(self, asset_uid: str) -> int | None:
        state = self._assets.get(asset_uid)
        return state.watermark if state else None

    def seen(self, asset_uid: str, submission_id: int) -> SeenSubmission | None:
        state = self._assets.get(asset_uid)
        entry = state.seen.get(submission_id) if state else None
        return SeenSubmission(submission_id, *entry) if entry else None

    def seen_many(self, asset_uid: str, submission_ids: Iterable[int]) -> dict[int, SeenSubmission]:
        state = self._assets.get(asset_uid)
        if state is None:
            return {}
        found = {}
        for submission_id in submission_ids:
            entry = state.seen.get(submission_id)
            if entry:
                found[submission_id] = SeenSubmission(submission_id, *entry)
        return found

    def seen_ids(self, asset_uid: str) -> Iterator[int]:
        state = self._assets.get(asset_uid)
        return iter(sorted(state.seen)) if state else iter(())

    def id_with_revision(self, asset_uid: str, revision: str) -> int | None:
        return self.ids_with_revisions(asset_uid, [revision]).get(revision)

    def asset_uids(self) -> list[str]:
        """Every asset this state has heard of (to import it elsewhere)."""
        return list(self._assets)

    def ids_with_revisions(self, asset_uid: str, revisions: Iterable[str]) -> dict[str, int]:
        state = self._assets.get(asset_uid)
        if state is None:
            return {}
        if state.by_revision is None:
            state.by_revision = {rev: sid for sid, (rev, _digest) in state.seen.items()}
        return {rev: state.by_revision[rev] for rev in revisions if rev in state.by_revision}

    def stored_digest(self, content_digest: str) -> str:
        return content_digest

    def remember(
        self, asset_uid: str, seen: Iterable[SeenSubmission], *, watermark: int | None = None
    ) -> None:
        state = self._asset(asset_uid)
        for item in seen:
            previous = state.seen.get(item.submission_id)
            state.seen[item.submission_id] = (item.revision, item.content_digest)
            if state.by_revision is not None:
                if previous is not None:
                    state.by_revision.pop(previous[0], None)
                state.by_revision[item.revision] = item.submission_id
        if watermark is not None and (state.watermark is None or watermark > state.watermark):
            state.watermark = watermark
        self._dirty = True

    def forget(self, asset_uid: str, submission_ids: Iterable[int]) -> None:
        state = self._asset(asset_uid)
        for submission_id in submission_ids:
            previous = state.seen.pop(submission_id, None)
            if previous is not None and state.by_revision is not None:
                state.by_revision.pop(previous[0], None)
        self._dirty = True

    def reconciled_at(self, asset_uid: str) -> dt.datetime | None:
        state = self._assets.get(asset_uid)
        return (
            dt.datetime.fromisoformat(state.reconciled_at)
            if state and state.reconciled_at
            else None
        )

    def mark_reconciled(self, asset_uid: str, when: dt.datetime) -> None:
        self._asset(asset_uid).reconciled_at = when.isoformat()
        self._dirty = True

    def checkpoint(self) -> None:
        if not self._dirty:
            return
        interval = self._flush_seconds
        if interval:
            interval = max(interval, self._last_write_seconds / MAX_WRITE_SHARE)
        if self._clock() - self._last_flush >= interval:
            self._write()

    def flush(self) -> None:
        if self._dirty:
            self._write()

    def close(self) -> None:
        """Write what is pending; the same call as on `SqliteFilePullState`."""
        self.flush()

    def _write(self) -> None:
        """Stream the JSON out a slice at a time: no second copy of the whole state in memory."""
        started = self._clock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write('{"assets":{')
            for index, (uid, state) in enumerate(self._assets.items()):
                head = {"watermark": state.watermark, "reconciled_at": state.reconciled_at}
                handle.write(
                    ("," if index else "")
                    + json.dumps(uid)
                    + ":"
                    + json.dumps(head, separators=(",", ":"))[:-1]
                    + ',"seen":{'
                )
                handle.writelines(_seen_slices(state.seen))
                handle.write("}}")
            handle.write("}}")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        self._dirty = False
        self._last_flush = self._clock()
        self._last_write_seconds = self._last_flush - started


def _seen_slices(seen: Mapping[int, tuple[str, str]]) -> Iterator[str]:
    """`"<_id>":[revision,digest]` entries joined by commas, `_WRITE_SLICE` per JSON encoding."""
    items = iter(seen.items())
    first = True
    while chunk := dict(itertools.islice(items, _WRITE_SLICE)):
        text = json.dumps(chunk, separators=(",", ":"))[1:-1]
        yield text if first else "," + text
        first = False
