"""Pull Kobo submissions as canonical records, page by page, new ones and edits alike.

    for page in pull_form(client, codebook, "tip_screening_adult", asset_uid, state):
        write(page.records); write(page.quarantined)

`pull_form` is a generator of `PullPage`s, so memory stays flat however many submissions a form
has. A page counts as handled when the caller asks for the next one: only then is its watermark
and what was seen recorded in the `PullState`. Stopping early or crashing re-delivers at most the
pages since the last checkpoint (records are upserts keyed by record id); nothing is skipped.

Three phases per form:

1. **new** — submissions with `_id` above the watermark, in `_id` order
   (`client.data.iter_pages`). A submission already pulled with the same revision (after a
   resumed run) is skipped; one carrying the revision (`_uuid`) of another `_id` is a duplicate
   Kobo stored twice and is quarantined (KB303) so the same interview is not counted twice.
2. **changed** — reconciliation, when due (`PullOptions.reconcile`): Kobo keeps
   `_submission_time` on edit and has no last-modified field (kobo-api.md §5.5), so edits never
   pass the watermark. Every `_id` ≤ watermark is listed with the smallest projection
   (`fields=["_id","_uuid"]`; the server adds `meta/rootUuid`) and merged, in `_id` order,
   with the seen ids: a different `_uuid` is an edit, an unknown `_id` a submission that
   committed late; both are fetched in batches and mapped again. An edit whose mapped content
   digest is unchanged (e.g. only a validation status or a question outside the codebook) is
   not re-emitted. Edited records carry `updated_at` = when the edit was noticed.
3. **deleted** — seen ids the server no longer lists are reported as record ids.

Encrypted submissions: the manifest XML (`/data/{id}.xml`) and the `.enc` attachments are
downloaded, decrypted and the signature verified in memory (`odk_encryption`), then the
decrypted XML is flattened like Kobo's JSON and mapped. Any failure quarantines the submission
(KB300) with the ODK reason and only the encrypted manifest as payload — never partial plaintext.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import rsa

from tipdata.http import PlatformError
from tipdata.kobo_forms.connector import IDS_PER_QUERY, MAX_PAGE_SIZE, DataPage, KoboClient
from tipdata.kobo_forms.encrypted_submission import attachment_links, decrypt_and_map
from tipdata.kobo_forms.mapping import (
    FormLayout,
    content_digest,
    is_encrypted_submission,
    map_submission,
    revision_of,
    source_system_for,
    submission_id_of,
)
from tipdata.kobo_forms.pull_state import PullState, SeenSubmission
from tipdata.model import Codebook
from tipdata.problems import Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord, record_id_for

log = logging.getLogger("tipdata.kobo")

Phase = Literal["new", "changed", "deleted"]
#: Digest prefix marking a quarantined outcome in the state, so `retry_quarantined` finds it.
QUARANTINED_DIGEST_PREFIX = "q:"
_SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,200}")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class PullOptions:
    """How to pull. The private key is needed only for encrypted forms."""

    private_key: rsa.RSAPrivateKey | None = field(default=None, repr=False)
    #: download attachments to `<dir>/<asset uid>/<_id>/<file name>` (decrypted for encrypted forms)
    attachments_dir: Path | None = None
    #: True: always reconcile; False: never; None: when the last one is `reconcile_every` old
    reconcile: bool | None = None
    reconcile_every: dt.timedelta = dt.timedelta(hours=24)
    #: map quarantined submissions again (after fixing a key or the codebook); reconciles
    retry_quarantined: bool = False
    page_size: int = MAX_PAGE_SIZE


@dataclass(frozen=True)
class PullPage:
    """What one page of a pull produced. Its `repr` shows counts and ids, never answers."""

    form_id: str
    asset_uid: str
    phase: Phase
    records: tuple[CanonicalRecord, ...] = field(default=(), repr=False)
    quarantined: tuple[QuarantinedRecord, ...] = field(default=(), repr=False)
    #: record ids of submissions that are gone from the server
    deleted: tuple[str, ...] = ()
    #: submissions received in this page (for progress)
    received: int = 0
    #: skipped: already pulled with this revision, or edits that change nothing we hold
    unchanged: int = 0
    warnings: int = 0
    #: first page of the new phase: how many new submissions the server has (for progress)
    server_count: int | None = None
    attachments: tuple[Path, ...] = ()
    #: one line per attachment that could not be saved (file name and reason, no contents)
    attachment_failures: tuple[str, ...] = ()
    #: what the state remembers once this page is handled: each submission as pulled, …
    seen: tuple[SeenSubmission, ...] = field(default=(), repr=False)
    #: … the new watermark (new phase: the highest `_id` of the page), …
    watermark: int | None = None
    #: … and the `_id`s it forgets (deleted phase). A caller that stores pages in a database
    #: can write these in the page's own transaction (see `tipdata.sync.adapters.kobo`).
    forgotten: tuple[int, ...] = ()


@dataclass
class _PageBuilder:
    records: list[CanonicalRecord] = field(default_factory=list)
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    seen: list[SeenSubmission] = field(default_factory=list)
    unchanged: int = 0
    warnings: int = 0
    attachments: list[Path] = field(default_factory=list)
    attachment_failures: list[str] = field(default_factory=list)

    def page(
        self,
        form_id: str,
        asset_uid: str,
        phase: Phase,
        received: int,
        server_count: int | None,
        watermark: int | None = None,
    ) -> PullPage:
        log.info(
            "kobo pull %s (%s) %s page: %d received, %d records, %d quarantined, %d unchanged",
            form_id,
            asset_uid,
            phase,
            received,
            len(self.records),
            len(self.quarantined),
            self.unchanged,
        )
        return PullPage(
            form_id,
            asset_uid,
            phase,
            tuple(self.records),
            tuple(self.quarantined),
            (),
            received,
            self.unchanged,
            self.warnings,
            server_count,
            tuple(self.attachments),
            tuple(self.attachment_failures),
            tuple(self.seen),
            watermark,
        )


@dataclass
class _Known:
    """What the state knew of a page's submissions when it arrived, and the page's own revisions."""

    seen: Mapping[int, SeenSubmission]
    revisions: Mapping[str, int]
    page_revisions: dict[str, int] = field(default_factory=dict)


class _FormPull:
    """One form's pull; split in steps so each phase reads as a short list."""

    def __init__(
        self,
        client: KoboClient,
        codebook: Codebook,
        form_id: str,
        asset_uid: str,
        state: PullState,
        options: PullOptions,
        now: Callable[[], dt.datetime],
    ) -> None:
        self.client = client
        self.codebook = codebook
        self.layout = FormLayout.of(codebook, form_id)
        self.form_id = form_id
        self.asset_uid = asset_uid
        self.state = state
        self.options = options
        self.now = now
        self.system = source_system_for(asset_uid)

    # --- phase 1: new submissions ---------------------------------------------------------

    def new_submissions(self) -> Iterator[PullPage]:
        since = self.state.watermark(self.asset_uid)
        first = True
        for data_page in self.client.data.iter_pages(
            self.asset_uid, since=since, page_size=self.options.page_size, prefetch=True
        ):
            with collector_paused():
                page = self._new_page(data_page, since, first)
            yield page
            first = False
            with collector_paused():
                self.state.remember(self.asset_uid, page.seen, watermark=page.watermark)
                self.state.checkpoint()

    def _new_page(self, data_page: DataPage, since: int | None, first: bool) -> PullPage:
        built = _PageBuilder()
        rows = [(row, submission_id_of(row), revision_of(row)) for row in data_page.results]
        # what the state knows of this page, asked once per page rather than per submission
        prior = self.state.seen_many(self.asset_uid, [i for _, i, _ in rows if i is not None])
        known = _Known(
            prior,
            self.state.ids_with_revisions(
                self.asset_uid, {r for _, i, r in rows if r and i is not None}
            ),
        )
        highest = since
        for row, submission_id, revision in rows:
            if submission_id is not None:
                highest = submission_id if highest is None else max(highest, submission_id)
            self._take_new(row, submission_id, revision, built, known)
        # Later pages count only what is left after them: the total comes with the first.
        return built.page(
            self.form_id,
            self.asset_uid,
            "new",
            len(data_page.results),
            data_page.count if first else None,
            highest,
        )

    def _take_new(
        self,
        row: dict[str, Any],
        submission_id: int | None,
        revision: str | None,
        built: _PageBuilder,
        known: _Known,
    ) -> None:
        if submission_id is not None:
            prior = known.seen.get(submission_id)
            if prior is not None and prior.revision == revision:
                built.unchanged += 1
                return
            if revision:
                twin = known.page_revisions.get(revision)
                if twin is None:
                    twin = known.revisions.get(revision)
                if twin is not None and twin != submission_id:
                    self._quarantine_duplicate(row, submission_id, twin, revision, built)
                    return
                known.page_revisions[revision] = submission_id
        self._map_into(row, submission_id, revision, built, updated_at=None)

    def _quarantine_duplicate(
        self, row: dict[str, Any], submission_id: int, twin: int, revision: str, built: _PageBuilder
    ) -> None:
        where = f"kobo asset {self.asset_uid} submission {submission_id}"
        problem = Problem("KB303", f"same meta/instanceID as submission _id {twin}", where)
        quarantined = QuarantinedRecord.from_problems(
            self.system,
            str(submission_id),
            [problem],
            payload=row,
            record_id=record_id_for(self.system, str(submission_id)),
            form_id=self.form_id,
        )
        built.quarantined.append(quarantined)
        built.seen.append(
            SeenSubmission(
                submission_id,
                revision,
                QUARANTINED_DIGEST_PREFIX + self.state.stored_digest(content_digest(quarantined)),
            )
        )

    # --- mapping one submission (plain or encrypted) --------------------------------------

    def _map_into(
        self,
        row: dict[str, Any],
        submission_id: int | None,
        revision: str | None,
        built: _PageBuilder,
        *,
        updated_at: dt.datetime | None,
        prior_digest: str | None = None,
    ) -> None:
        media: Mapping[str, bytes] = {}
        if is_encrypted_submission(row) and submission_id is not None:
            opened = decrypt_and_map(
                self.client,
                self.codebook,
                self.layout,
                self.form_id,
                self.asset_uid,
                row,
                submission_id,
                self.options.private_key,
                updated_at=updated_at,
            )
            outcome, media, warnings = opened.outcome, opened.media, len(opened.warnings)
        else:
            mapped = map_submission(
                self.codebook, self.layout, self.asset_uid, row, updated_at=updated_at
            )
            outcome, warnings = mapped.outcome, len(mapped.warnings)
        digest = self.state.stored_digest(content_digest(outcome))
        if isinstance(outcome, QuarantinedRecord):
            digest = QUARANTINED_DIGEST_PREFIX + digest
        if submission_id is not None:
            built.seen.append(SeenSubmission(submission_id, revision or "", digest))
        if prior_digest is not None and prior_digest == digest:
            built.unchanged += 1
            return
        if isinstance(outcome, QuarantinedRecord):
            built.quarantined.append(outcome)
        else:
            built.records.append(outcome)
        built.warnings += warnings
        if self.options.attachments_dir is not None and submission_id is not None:
            self._save_attachments(row, submission_id, media, built)

    def _save_attachments(
        self,
        row: dict[str, Any],
        submission_id: int,
        decrypted_media: Mapping[str, bytes],
        built: _PageBuilder,
    ) -> None:
        assert self.options.attachments_dir is not None
        folder = self.options.attachments_dir / self.asset_uid / str(submission_id)
        if decrypted_media:
            wanted: list[tuple[str, bytes | str]] = list(decrypted_media.items())
        else:
            wanted = [(name, url) for name, url in attachment_links(row).items()]
        for name, source in wanted:
            if not _SAFE_FILE_NAME.fullmatch(name) or name.startswith("."):
                built.attachment_failures.append(
                    f"submission {submission_id}: unsafe file name skipped"
                )
                continue
            try:
                content = (
                    source
                    if isinstance(source, bytes)
                    else self.client.attachments.download(source)
                )
                built.attachments.append(_write_private(folder, name, content))
            except PlatformError as exc:
                built.attachment_failures.append(
                    f"submission {submission_id}: {name}: HTTP {exc.status or 'no response'}"
                )
            except OSError as exc:
                built.attachment_failures.append(
                    f"submission {submission_id}: {name}: {exc.strerror}"
                )

    # --- phase 2 and 3: reconciliation ----------------------------------------------------

    def reconcile_due(self, started_without_watermark: bool) -> bool:
        if self.options.retry_quarantined:
            return True
        if self.options.reconcile is not None:
            return self.options.reconcile
        if started_without_watermark:
            return False  # everything was just pulled
        last = self.state.reconciled_at(self.asset_uid)
        return last is None or self.now() - last >= self.options.reconcile_every

    def reconcile(self) -> Iterator[PullPage]:
        watermark = self.state.watermark(self.asset_uid)
        if watermark is None:
            self.state.mark_reconciled(self.asset_uid, self.now())
            return
        known = self.state.seen_ids(self.asset_uid)
        next_known = next(known, None)
        deleted: list[int] = []
        to_fetch: list[int] = []
        for data_page in self.client.data.iter_pages(
            self.asset_uid,
            until=watermark,
            fields=["_id", "_uuid"],
            page_size=self.options.page_size,
        ):
            listed = [(submission_id_of(row), revision_of(row)) for row in data_page.results]
            prior = self.state.seen_many(self.asset_uid, [i for i, _ in listed if i is not None])
            for server_id, revision in listed:
                if server_id is None:
                    continue
                while next_known is not None and next_known < server_id:
                    deleted.append(next_known)
                    next_known = next(known, None)
                if next_known == server_id:
                    next_known = next(known, None)
                    if self._needs_refetch(prior.get(server_id), revision):
                        to_fetch.append(server_id)
                else:
                    to_fetch.append(server_id)  # committed after the watermark passed it
                if len(to_fetch) >= IDS_PER_QUERY:
                    yield from self._refetch(to_fetch)
                    to_fetch = []
        while next_known is not None:
            deleted.append(next_known)
            next_known = next(known, None)
        if to_fetch:
            yield from self._refetch(to_fetch)
        if deleted:
            log.info(
                "kobo pull %s (%s): %d submissions deleted on the server",
                self.form_id,
                self.asset_uid,
                len(deleted),
            )
            yield PullPage(
                self.form_id,
                self.asset_uid,
                "deleted",
                deleted=tuple(record_id_for(self.system, str(i)) for i in deleted),
                forgotten=tuple(deleted),
            )
            self.state.forget(self.asset_uid, deleted)
        self.state.mark_reconciled(self.asset_uid, self.now())
        self.state.checkpoint()

    def _needs_refetch(self, prior: SeenSubmission | None, revision: str | None) -> bool:
        if prior is None or prior.revision != (revision or ""):
            return True
        return self.options.retry_quarantined and prior.content_digest.startswith(
            QUARANTINED_DIGEST_PREFIX
        )

    def _refetch(self, ids: list[int]) -> Iterator[PullPage]:
        observed = self.now()
        for data_page in self.client.data.iter_by_ids(self.asset_uid, ids):
            with collector_paused():
                page = self._changed_page(data_page, observed)
            yield page
            with collector_paused():
                self.state.remember(self.asset_uid, page.seen)
                self.state.checkpoint()

    def _changed_page(self, data_page: DataPage, observed: dt.datetime) -> PullPage:
        built = _PageBuilder()
        known = self.state.seen_many(
            self.asset_uid,
            [i for i in map(submission_id_of, data_page.results) if i is not None],
        )
        for row in data_page.results:
            submission_id = submission_id_of(row)
            if submission_id is None:
                continue
            prior = known.get(submission_id)
            self._map_into(
                row,
                submission_id,
                revision_of(row),
                built,
                updated_at=observed if prior is not None else None,
                prior_digest=prior.content_digest if prior else None,
            )
        return built.page(self.form_id, self.asset_uid, "changed", len(data_page.results), None)


def pull_form(
    client: KoboClient,
    codebook: Codebook,
    form_id: str,
    asset_uid: str,
    state: PullState,
    options: PullOptions = PullOptions(),
    *,
    now: Callable[[], dt.datetime] = _utc_now,
) -> Iterator[PullPage]:
    """Pull one form's submissions from its Kobo asset, page by page (see the module doc).

    >>> for page in pull_form(client, codebook, "tip_screening_adult", "aJ7sd2…", state):
    ...     print(page.phase, len(page.records), len(page.quarantined))
    new 1000 2
    """
    run = _FormPull(client, codebook, form_id, asset_uid, state, options, now)
    started_without_watermark = state.watermark(asset_uid) is None
    try:
        yield from run.new_submissions()
        if run.reconcile_due(started_without_watermark):
            yield from run.reconcile()
        elif started_without_watermark:
            state.mark_reconciled(asset_uid, now())
    finally:
        state.flush()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one page is mapped.

    Mapping a page of 1,000 submissions allocates some 50,000 container objects (the decoded
    rows, the values, envelopes, problems) that all stay alive until the page is handed over,
    and creates few reference cycles, if any (those are collected once it resumes). With the
    collector on, every 700 allocations start a young collection that walks them again, and
    every tenth one walks the older generation too: 12-15% of the pull's CPU time went to
    collections (`bench/kobo_pull.py`, 100,000 submissions).
    Reference counting still frees everything as usual; the collector resumes when the page is
    built, so the caller's own code runs with it on. A collector already off (someone chose
    that) is left off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _write_private(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / name
    temporary = folder / f".{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    os.replace(temporary, path)
    return path
