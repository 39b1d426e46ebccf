"""KoboToolbox forms as a sync source: `tipdata.kobo_forms.pull` behind the `Source` port.

One stream per form asset (`kobo:<asset uid>`), its watermark the highest submission `_id`
stored. The pull's own memory of what it has seen (`PullState`: revisions for finding edits,
reconciliation times) stays in its JSON file, but the *ledger's* watermark is the truth about
what was stored: `LedgerAnchoredPullState` starts every pull from it and ignores whatever the file
claims beyond it. So a file saved a moment before the ledger's commit (or a ledger restored from
a backup) can never make the pull skip submissions; at worst a page is read twice, and storing
it twice is a no-op.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from tipdata.kobo_forms.connector import KoboClient
from tipdata.kobo_forms.mapping import (
    FormLayout,
    is_encrypted_submission,
    map_submission,
    source_system_for,
)
from tipdata.kobo_forms.pull import PullOptions, pull_form
from tipdata.kobo_forms.pull_state import PullState, SeenSubmission
from tipdata.ledger import Watermark
from tipdata.model import Codebook
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord
from tipdata.sync.ports import SourcePage


class LedgerAnchoredPullState:
    """A `PullState` whose watermark is the ledger's, over the pull's own state file.

    Submissions above the ledger's watermark count as never seen (their storage did not commit).
    With `persist=False` (a dry run) nothing is remembered.
    """

    def __init__(self, inner: PullState, asset_uid: str, ledger_mark: int | None, *,
                 persist: bool = True) -> None:
        self.inner = inner
        self.asset_uid = asset_uid
        self.mark = ledger_mark
        self.persist = persist
        #: a dry run's memory of this pull (so reconciliation does not re-read what it just read)
        self._overlay: dict[int, SeenSubmission] = {}

    def _below(self, submission_id: int | None) -> bool:
        return submission_id is not None and self.mark is not None and submission_id <= self.mark

    def watermark(self, asset_uid: str) -> int | None:
        return self.mark

    def seen(self, asset_uid: str, submission_id: int) -> SeenSubmission | None:
        if submission_id in self._overlay:
            return self._overlay[submission_id]
        return self.inner.seen(asset_uid, submission_id) if self._below(submission_id) else None

    def seen_ids(self, asset_uid: str) -> Iterator[int]:
        known = {i for i in self.inner.seen_ids(asset_uid) if self._below(i)} | set(self._overlay)
        return iter(sorted(known))

    def id_with_revision(self, asset_uid: str, revision: str) -> int | None:
        for item in self._overlay.values():
            if item.revision == revision:
                return item.submission_id
        found = self.inner.id_with_revision(asset_uid, revision)
        return found if self._below(found) else None

    def remember(self, asset_uid: str, seen: Iterable[SeenSubmission], *,
                 watermark: int | None = None) -> None:
        if watermark is not None and (self.mark is None or watermark > self.mark):
            self.mark = watermark  # the engine stored the page before the pull asked for more
        if self.persist:
            self.inner.remember(asset_uid, seen, watermark=watermark)
        else:
            self._overlay.update((item.submission_id, item) for item in seen)

    def forget(self, asset_uid: str, submission_ids: Iterable[int]) -> None:
        if self.persist:
            self.inner.forget(asset_uid, submission_ids)

    def reconciled_at(self, asset_uid: str) -> dt.datetime | None:
        return self.inner.reconciled_at(asset_uid)

    def mark_reconciled(self, asset_uid: str, when: dt.datetime) -> None:
        if self.persist:
            self.inner.mark_reconciled(asset_uid, when)

    def checkpoint(self) -> None:
        if self.persist:
            self.inner.checkpoint()

    def flush(self) -> None:
        if self.persist:
            self.inner.flush()


def _submission_number(source_id: str) -> int | None:
    return int(source_id) if source_id.isdigit() else None


class KoboSource:
    """Submissions of the configured forms, new ones and edits (reconciliation), page by page.

    >>> source = KoboSource(KoboClient.from_environment(), codebook,
    ...                     {"tip_case_intake": "aBcD1234"}, JsonFilePullState(path))
    >>> source.streams()
    ['kobo:aBcD1234']
    """

    platform = "kobo"
    empty_values: Mapping[str, Any] = {}  # Kobo leaves unanswered questions out

    def __init__(self, client: KoboClient, codebook: Codebook, forms: Mapping[str, str],
                 state: PullState, options: PullOptions | None = None) -> None:
        self.client = client
        self.codebook = codebook
        self.state = state
        self.options = options if options is not None else PullOptions()
        self.forms = {source_system_for(uid): (form_id, uid) for form_id, uid in forms.items()}

    def streams(self) -> Sequence[str]:
        return list(self.forms)

    def pages(self, stream: str, since: Watermark | None, *, dry_run: bool = False) -> Iterator[SourcePage]:
        form_id, uid = self.forms[stream]
        state = LedgerAnchoredPullState(self.state, uid, since.number if since else None,
                                        persist=not dry_run)
        for page in pull_form(self.client, self.codebook, form_id, uid, state, self.options):
            mark = None
            if page.phase == "new":
                numbers = [n for n in (_submission_number(r.envelope.source_id) for r in page.records)
                           if n is not None]
                numbers += [n for n in (_submission_number(q.source_id) for q in page.quarantined)
                            if n is not None]
                mark = Watermark(number=max(numbers)) if numbers else None
            yield SourcePage(page.records, page.quarantined, mark, page.deleted,
                             received=page.received, total=page.server_count)

    def remap(self, quarantine_source: str, source_id: str,
              payload: bytes) -> CanonicalRecord | QuarantinedRecord | None:
        """Map a quarantined submission's JSON again with the current codebook.

        Encrypted submissions are not retried here: their payload is the encrypted manifest, and
        decrypting needs the key and the attachments (`tipdata kobo pull --retry-quarantined`).
        """
        found = self.forms.get(quarantine_source)
        if found is None:
            return None
        try:
            row = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(row, dict) or is_encrypted_submission(row):
            return None
        form_id, uid = found
        return map_submission(self.codebook, FormLayout.of(self.codebook, form_id), uid, row).outcome
