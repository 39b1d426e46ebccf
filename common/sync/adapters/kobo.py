"""KoboToolbox forms as a sync source: `tipdata.kobo_forms.pull` behind the `Source` port.

One stream per form asset (`kobo:<asset uid>`), its watermark the highest submission `_id`
stored. The pull's memory of what it has seen (`PullState`: the revision and a content digest
of every submission, for finding edits and deletions; when each asset was last reconciled) is
kept in the ledger (`LedgerPullState`, tables in `tipdata.ledger.kobo_state`), and what a page
adds to it is written by the engine *in the transaction that stores the page*
(`SourcePage.write_source_state`). A crash therefore cannot leave records without the state
that says they were pulled, or state claiming pages that were never stored.

Before the ledger kept it, the state lived in a JSON file (`[kobo] state` in tipdata.toml). The
first (non-dry) run of a stream imports that file's entries up to the ledger's watermark — the
part whose records the ledger holds — says so in a warning, and leaves the file as it was; it is
not read again for that asset. A dry run before then reads the file without importing it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import heapq
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tipdata.kobo_forms.connector import KoboClient
from tipdata.kobo_forms.mapping import (
    FormLayout,
    is_ascii_digits,
    is_encrypted_submission,
    map_submission,
    source_system_for,
)
from tipdata.kobo_forms.pull import QUARANTINED_DIGEST_PREFIX, PullOptions, PullPage, pull_form
from tipdata.kobo_forms.pull_state import JsonFilePullState, PullState, SeenSubmission
from tipdata.ledger import Ledger, LedgerTransaction, Watermark
from tipdata.ledger import kobo_state as stored
from tipdata.model import Codebook
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord
from tipdata.sync.ports import SourcePage

log = logging.getLogger("tipdata.sync")

#: `seen_ids` reads the ledger this many ids at a time (memory stays flat in the asset's size)
_IDS_PER_READ = 10_000
_DIGEST_CONTEXT = b"tipdata kobo content digest v1\0"


def keyed_digest(ledger: Ledger, content_digest: str) -> str:
    """A pull's content digest as the ledger stores it: HMAC under the ledger key.

    The pull's digest is a plain hash of the mapped answers; for a screening of yes/no answers
    it could be reversed by trying every combination, so the ledger keys it as it keys its
    record hashes (plain SHA-256 only in a ledger created without encryption). A key rotation
    changes every stored digest: the next reconciliation re-sends edits it cannot compare.
    """
    content = _DIGEST_CONTEXT + content_digest.encode("ascii")
    keyring = ledger.keyring
    full = keyring.content_hash(content) if keyring is not None else hashlib.sha256(content).hexdigest()
    return full[:32]


class LedgerPullState:
    """A `PullState` kept in the ledger, for one pull of one stream (see the module doc).

    The watermark is the ledger's (`mark`, from `ledger_watermarks`), raised as pages are
    handed over; the engine advances the stored one with the page. What a page makes the pull
    remember is written by `write_page` inside the engine's transaction; the pull's own
    `remember`/`forget` afterwards find it done. Should nobody have called `write_page` for a
    page, they write it themselves, in a transaction of their own.

    `persist=False` (a dry run): reads as usual, remembers in memory only. `legacy`: a JSON
    state not imported yet (dry runs only): read instead of the ledger, up to the watermark.
    """

    def __init__(self, ledger: Ledger, mark: int | None, *, persist: bool = True,
                 legacy: PullState | None = None) -> None:
        self.ledger = ledger
        self.mark = mark
        self.persist = persist
        self.legacy = legacy
        #: a dry run's memory of this pull (so reconciliation does not re-read what it just read)
        self._overlay: dict[int, SeenSubmission] = {}
        self._page_written = False

    # --- what the engine calls inside the page's transaction ------------------------------

    def write_page(self, page: PullPage, tx: LedgerTransaction) -> None:
        """Write what `page` adds to the state, in the transaction that stores the page."""
        rows = ((s.submission_id, s.revision, s.content_digest) for s in page.seen)
        stored.write_seen(tx.conn, page.asset_uid, rows, self.ledger.clock())
        if page.forgotten:
            stored.forget(tx.conn, page.asset_uid, page.forgotten)
        self._page_written = True

    # --- reads ----------------------------------------------------------------------------

    def _below(self, submission_id: int | None) -> bool:
        return submission_id is not None and self.mark is not None and submission_id <= self.mark

    def watermark(self, asset_uid: str) -> int | None:
        return self.mark

    def seen(self, asset_uid: str, submission_id: int) -> SeenSubmission | None:
        return self.seen_many(asset_uid, [submission_id]).get(submission_id)

    def seen_many(self, asset_uid: str,
                  submission_ids: Iterable[int]) -> dict[int, SeenSubmission]:
        wanted = list(submission_ids)
        if self.legacy is not None:
            found = {i: item for i, item in self.legacy.seen_many(asset_uid, wanted).items()
                     if self._below(i)}
        else:
            # Rows are written with the page that raises the watermark past them: nothing above
            # it is stored, so a page of new submissions costs no read at all.
            below = [i for i in wanted if self._below(i)]
            found = {}
            if below:
                with self.ledger.reading() as tx:
                    found = {i: SeenSubmission(*row)
                             for i, row in stored.seen_rows(tx.conn, asset_uid, below).items()}
        if self._overlay:
            found.update((i, self._overlay[i]) for i in wanted if i in self._overlay)
        return found

    def seen_ids(self, asset_uid: str) -> Iterator[int]:
        if self.legacy is not None:
            base: Iterator[int] = iter(sorted(i for i in self.legacy.seen_ids(asset_uid)
                                              if self._below(i)))
        else:
            base = self._stored_ids(asset_uid)
        if not self._overlay:
            return base
        return _unique(heapq.merge(base, sorted(self._overlay)))

    def _stored_ids(self, asset_uid: str) -> Iterator[int]:
        """Keyset pages of ids. The pull only remembers ids below the position reached and
        forgets after the walk, so reading on as it goes equals a snapshot."""
        after: int | None = None
        while True:
            with self.ledger.reading() as tx:
                batch = stored.seen_ids_after(tx.conn, asset_uid, after, _IDS_PER_READ)
            yield from batch
            if len(batch) < _IDS_PER_READ:
                return
            after = batch[-1]

    def ids_with_revisions(self, asset_uid: str, revisions: Iterable[str]) -> dict[str, int]:
        wanted = set(revisions)
        if self.legacy is not None:
            found = {rev: i for rev, i in self.legacy.ids_with_revisions(asset_uid, wanted).items()
                     if self._below(i)}
        else:
            with self.ledger.reading() as tx:
                found = stored.ids_with_revisions(tx.conn, asset_uid, wanted)
        for item in self._overlay.values():
            if item.revision in wanted:
                found[item.revision] = item.submission_id
        return found

    def stored_digest(self, content_digest: str) -> str:
        return keyed_digest(self.ledger, content_digest)

    def reconciled_at(self, asset_uid: str) -> dt.datetime | None:
        if self.legacy is not None:
            return self.legacy.reconciled_at(asset_uid)
        with self.ledger.reading() as tx:
            return stored.reconciled_at(tx.conn, asset_uid)

    # --- writes ---------------------------------------------------------------------------

    def remember(self, asset_uid: str, seen: Iterable[SeenSubmission], *,
                 watermark: int | None = None) -> None:
        if watermark is not None and (self.mark is None or watermark > self.mark):
            self.mark = watermark  # the engine stored the page before the pull asked for more
        if not self.persist:
            self._overlay.update((item.submission_id, item) for item in seen)
            return
        if self._page_written:
            self._page_written = False  # written with the page
            return
        rows = [(s.submission_id, s.revision, s.content_digest) for s in seen]
        if rows:
            with self.ledger.transaction() as tx:
                stored.write_seen(tx.conn, asset_uid, rows, self.ledger.clock())

    def forget(self, asset_uid: str, submission_ids: Iterable[int]) -> None:
        if not self.persist:
            return
        if self._page_written:
            self._page_written = False
            return
        with self.ledger.transaction() as tx:
            stored.forget(tx.conn, asset_uid, submission_ids)

    def mark_reconciled(self, asset_uid: str, when: dt.datetime) -> None:
        if self.persist:
            with self.ledger.transaction() as tx:
                stored.mark_reconciled(tx.conn, asset_uid, when, self.ledger.clock())

    def checkpoint(self) -> None:
        """Nothing to do: every write above is already committed."""

    def flush(self) -> None:
        """Nothing to do: every write above is already committed."""


def _unique(ids: Iterable[int]) -> Iterator[int]:
    previous = None
    for submission_id in ids:
        if submission_id != previous:
            yield submission_id
        previous = submission_id


def import_json_state(ledger: Ledger, asset_uid: str, path: Path | None) -> int | None:
    """Hand one asset's pull state to the ledger, importing it from the JSON file if there is one.

    Imports the submissions at or below the ledger's watermark for the stream (those above it
    were never stored, so they count as not pulled), with their digests keyed, and the last
    reconciliation. Returns how many were imported, or None when the ledger already kept the
    asset's state (nothing is read or changed then). The file itself is left untouched.
    """
    with ledger.transaction() as tx:
        if stored.has_asset(tx.conn, asset_uid):
            return None
        legacy = JsonFilePullState(path) if path is not None and path.is_file() else None
        now = ledger.clock()
        if legacy is None:
            stored.claim_asset(tx.conn, asset_uid, now)
            return 0
        mark = tx.watermark(source_system_for(asset_uid), for_update=True)
        limit = mark.number if mark is not None else None
        ids = [i for i in legacy.seen_ids(asset_uid) if limit is not None and i <= limit]
        rows = []
        for item in legacy.seen_many(asset_uid, ids).values():
            digest = item.content_digest
            prefix = QUARANTINED_DIGEST_PREFIX if digest.startswith(QUARANTINED_DIGEST_PREFIX) else ""
            rows.append((item.submission_id, item.revision,
                         prefix + keyed_digest(ledger, digest.removeprefix(prefix))))
        stored.write_seen(tx.conn, asset_uid, rows, now)
        stored.claim_asset(tx.conn, asset_uid, now, reconciled=legacy.reconciled_at(asset_uid),
                           imported_from=str(path))
    log.warning("imported the Kobo pull state of asset %s (%d submissions) from %s into the "
                "ledger, which keeps it from now on; the file was left as it was and is no "
                "longer read for this asset (delete it once no asset still needs it)",
                asset_uid, len(rows), path)
    return len(rows)


class KoboSource:
    """Submissions of the configured forms, new ones and edits (reconciliation), page by page.

    >>> source = KoboSource(KoboClient.from_environment(), codebook,
    ...                     {"tip_case_intake": "aBcD1234"}, ledger)
    >>> source.streams()
    ['kobo:aBcD1234']
    """

    platform = "kobo"
    empty_values: Mapping[str, Any] = {}  # Kobo leaves unanswered questions out

    def __init__(self, client: KoboClient, codebook: Codebook, forms: Mapping[str, str],
                 ledger: Ledger, options: PullOptions | None = None, *,
                 legacy_state: Path | None = None) -> None:
        self.client = client
        self.codebook = codebook
        self.ledger = ledger
        self.options = options if options is not None else PullOptions()
        self.forms = {source_system_for(uid): (form_id, uid) for form_id, uid in forms.items()}
        #: the JSON pull state of earlier versions (`[kobo] state`), imported on first use
        self.legacy_state = Path(legacy_state) if legacy_state is not None else None
        self._ledger_keeps: set[str] = set()

    def streams(self) -> Sequence[str]:
        return list(self.forms)

    def _legacy_for(self, asset_uid: str, dry_run: bool) -> PullState | None:
        """None once the ledger keeps the asset's state (importing the file on a real run)."""
        if asset_uid in self._ledger_keeps:
            return None
        if dry_run:
            with self.ledger.reading() as tx:
                if stored.has_asset(tx.conn, asset_uid):
                    self._ledger_keeps.add(asset_uid)
                    return None
            path = self.legacy_state
            return JsonFilePullState(path) if path is not None and path.is_file() else None
        import_json_state(self.ledger, asset_uid, self.legacy_state)
        self._ledger_keeps.add(asset_uid)
        return None

    def pages(self, stream: str, since: Watermark | None, *, dry_run: bool = False) -> Iterator[SourcePage]:
        form_id, uid = self.forms[stream]
        state = LedgerPullState(self.ledger, since.number if since else None,
                                persist=not dry_run, legacy=self._legacy_for(uid, dry_run))
        for page in pull_form(self.client, self.codebook, form_id, uid, state, self.options):
            mark = Watermark(number=page.watermark) \
                if page.phase == "new" and page.watermark is not None else None
            writes = None if dry_run else functools.partial(state.write_page, page)
            yield SourcePage(page.records, page.quarantined, mark, page.deleted,
                             received=page.received, total=page.server_count,
                             write_source_state=writes)

    def remap(self, quarantine_source: str, source_id: str,
              payload: bytes) -> CanonicalRecord | QuarantinedRecord | None:
        """Map a quarantined submission's JSON again with the current codebook.

        An encrypted one (its payload is the manifest JSON, e.g. held by `tipdata serve`) is
        decrypted with the configured private key and its attachments from Kobo, as the pull
        does; without a key it is left as it is (None).
        """
        found = self.forms.get(quarantine_source)
        if found is None:
            return None
        try:
            row = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(row, dict):
            return None
        form_id, uid = found
        if is_encrypted_submission(row):
            if self.options.private_key is None or not is_ascii_digits(source_id):
                return None
            from tipdata.sync.receiver.held import decrypt_held

            return decrypt_held(self.client, self.codebook, form_id, uid, row, int(source_id),
                                self.options.private_key)
        return map_submission(self.codebook, FormLayout.of(self.codebook, form_id), uid, row).outcome
