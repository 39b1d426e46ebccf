"""The sync engine: sources → ledger → targets, crash-safe at every step.

One run:

1. **Pull**, stream by stream, page by page. Each page is merged into the ledger's copies
   (`tipdata.sync.conflicts`: ownership, first appearance, conflicts) and stored in ONE ledger
   transaction together with its quarantined items, its audit entries and the stream's
   watermark. A watermark therefore never passes writes that did not commit: killed before the
   commit, the next run reads the page again; killed after, it reads the next one. Sources that
   are also targets (Frappe) are read first, so that what tipdata wrote there and a caseworker's
   later edits are told apart while the ledger still holds exactly what was written.
2. **Push**, target by target, in batches of records the target does not hold in their current
   version (no id-map link, or a link whose hash is not the record's content hash). Each batch is
   planned through `tipdata.policy.decide` (`plan.plan_write`), written (idempotent upserts), and
   only then recorded in one transaction: links with the content hash that was sent, quarantine
   entries for refusals, audit entries. Killed between the write and the record, the next run
   sends the batch again; the platform finds it already there (same names, same UIDs): nothing is
   duplicated, nothing is lost.

The ledger is thus both the sync's memory and its outbox: what a target still lacks is a query,
not a file of pending work that a crash could lose. `run(dry_run=True)` reads the sources and the
ledger, writes nothing anywhere (sources remember nothing either), and returns the plan.

Around that (docs/sync.md): every writing run holds the ledger's run lock
(`tipdata.ledger.run_lock`), so two processes never push at once; a copy whose edits the owner
overrode is audited as a `conflict` and gets the owner's values back; a copy that holds values
the person's consent no longer covers gets them emptied, or is marked for deletion by hand
(`consent_withdrawal`, audited as `retract`); and a screening that indicates a victim opens a
case as it is stored (`screening_cases`).

The engine imports no platform module: it talks to `ports.Source` and `ports.Target`.
Logging: counts, stream and target names only (house rule 6).
"""

from __future__ import annotations

import gc
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from tipdata.ledger import (
    AuditEntry,
    IdLink,
    Ledger,
    LedgerError,
    LedgerTransaction,
    QuarantineItem,
    RunError,
)
from tipdata.ledger.entries import CODE, check_record_id
from tipdata.ledger.errors import ContentNotAllowed
from tipdata.ledger.record_rows import canonical_content, content_hash
from tipdata.ledger.run_lock import holding, resolve_timeout, run_lock_for
from tipdata.model import Codebook
from tipdata.policy import RoutingPolicy
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord
from tipdata.sync.conflicts import (
    Conflict,
    CopyState,
    Merge,
    holds_policy_share,
    merge_incoming,
    platform_of,
)
from tipdata.sync.consent_withdrawal import (
    DELETE_ON_PLATFORM,
    VALUES_BLANKED,
    holds_copy,
    narrowed_dependent,
    retracted_platform_id,
    retraction_codes,
    with_retractions,
    withdrawn_from_cases,
)
from tipdata.sync.ledger_reads import (
    PUSH_QUARANTINE_PREFIX,
    PendingRecord,
    StoredRecord,
    count_current,
    count_pending,
    links_of,
    open_quarantine_ids,
    pending_for_target,
    push_quarantine_source,
    records_quoting,
    stored_record_ids,
    stored_records,
)
from tipdata.sync.plan import (
    WITHHELD_ID_PREFIX,
    SourceTally,
    SyncPlan,
    TargetTally,
    WriteStep,
    is_withheld_link,
    parent_forms,
    plan_write,
    receivable_codes,
)
from tipdata.sync.ports import Outbound, Source, SourcePage, Target, WriteOutcome
from tipdata.sync.screening_cases import cases_to_look_up, with_screening_cases

log = logging.getLogger("tipdata.sync")

#: the audit action of a conflict: an entry whose target is the owner whose values stood, whose
#: source is the stream whose values were overridden, counting the elements overridden
CONFLICT_ACTION = "conflict"
#: the audit action of values (or whole records) taken back from a target: consent withdrawn
RETRACT_ACTION = "retract"
RETRY_RESOLUTION = "retried"
#: id-map hash of a copy whose edits the owner overrode: never a content hash, so it is pushed
OVERRIDDEN_HASH = "overridden"


@dataclass(frozen=True)
class Progress:
    """A progress report for the CLI to draw (counts only)."""

    phase: Literal["pull", "push"]
    system: str
    done: int
    total: int | None = None
    finished: bool = False


ProgressCallback = Callable[[Progress], None]


@dataclass
class RetryReport:
    """What `SyncEngine.retry` did with each quarantine entry (ids only)."""

    ingested: list[int] = field(default_factory=list)
    still_quarantined: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    not_retryable: list[int] = field(default_factory=list)
    plan: SyncPlan | None = None

    def to_json(self) -> dict[str, object]:
        return {"ingested": self.ingested, "still_quarantined": self.still_quarantined,
                "released_to_targets": self.released, "not_retryable": self.not_retryable,
                "push": self.plan.to_json() if self.plan else None}


@dataclass
class _DryRun:
    """What a dry run would change, so that ledger-pending records are not counted twice.

    Only records it would change are passed over when read again (a reconciliation may read a
    record the new phase just read). One it found unchanged is merged again when another
    stream reads it: the Frappe case stream finds a Kobo-owned case unchanged before the Kobo
    stream brings its edit, which the real run applies and the plan must count.
    """

    #: records the run would change: the targets' plan counts them from the merge, not the ledger
    incoming: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Incoming:
    record: CanonicalRecord
    merge: Merge
    stored: StoredRecord | None
    links: dict[str, IdLink]


def _error_code(exc: BaseException) -> str:
    name = type(exc).__name__
    return name if CODE.fullmatch(name) else "error"


class SyncEngine:
    """Pull every source into the ledger, then push what each target lacks.

    Example:
        engine = SyncEngine(ledger, codebook, policy, sources=[kobo], targets=[frappe, dhis2])
        print(engine.run(dry_run=True).to_json())     # the plan
        report = engine.run()                         # apply it
    """

    def __init__(self, ledger: Ledger, codebook: Codebook, policy: RoutingPolicy, *,
                 sources: Sequence[Source] = (), targets: Sequence[Target] = (),
                 on_progress: ProgressCallback | None = None,
                 lock_timeout: float | None = None) -> None:
        self.ledger = ledger
        #: seconds a run waits for another run on the same ledger (`tipdata.ledger.run_lock`)
        self.lock_timeout = resolve_timeout(lock_timeout)
        self.codebook = codebook
        self.policy = policy
        self.targets = list(targets)
        names = {t.name for t in self.targets}
        # round-trip platforms first: their copies are compared while the ledger is as written
        self.sources = sorted(sources, key=lambda s: s.platform not in names)
        self.on_progress = on_progress
        self._parents = parent_forms(codebook)
        #: conflicts met so far in the current run (None outside a run)
        self._conflicts_seen: set[tuple[str, str, str, tuple[str, ...]]] | None = None
        for target in self.targets:
            policy.target(target.name)  # a target the policy does not configure fails here

    # --- the run ----------------------------------------------------------------------------

    def run(self, *, dry_run: bool = False) -> SyncPlan:
        """Pull, then push; with `dry_run` nothing is written and the plan is returned.

        Holds the ledger's run lock (a dry run, which writes nothing, does not): another run on
        the same ledger waits up to `lock_timeout` seconds, then raises `RunLockBusy`.
        """
        with self._exclusive("sync", dry_run):
            return self._run(dry_run, pull=True)

    def push(self, *, dry_run: bool = False, lock_timeout: float | None = None) -> SyncPlan:
        """Send every target what it lacks, without reading the sources (after `ingest`).

        `lock_timeout`: seconds to wait for the run lock this time (default: the engine's).
        `tipdata serve` waits briefly and re-schedules (`receiver.trigger`) rather than block.
        """
        with self._exclusive("push", dry_run, lock_timeout):
            return self._run(dry_run, pull=False)

    @contextmanager
    def _exclusive(self, command: str, dry_run: bool = False,
                   timeout: float | None = None) -> Iterator[None]:
        """One writing run per ledger, across processes (see `tipdata.ledger.run_lock`)."""
        if dry_run:
            yield
            return
        wait = self.lock_timeout if timeout is None else max(0.0, timeout)
        with holding(run_lock_for(self.ledger, command), wait):
            yield

    def ingest(self, source: Source, stream: str, page: SourcePage, *,
               run_id: int | None = None) -> SourceTally:
        """Store one page a platform delivered on its own (a Kobo REST Service hook, a webhook).

        The same merge, quarantine, audit and (if the page carries one) watermark as a pull, in
        one transaction; `push()` then sends it on. For `tipdata serve`.
        """
        plan = SyncPlan(False, self.policy.audit_version, run_id=run_id)
        self._store_page(source, stream, page, plan.source(stream), plan, None)
        return plan.source(stream)

    def _run(self, dry_run: bool, *, pull: bool) -> SyncPlan:
        self._conflicts_seen = set()
        # perf: what exists before a run (codebook, policy, clients) outlives it; frozen, the
        # full collections that a run's allocations trigger do not walk it again each time
        gc.freeze()
        try:
            return self._run_steps(dry_run, pull=pull)
        finally:
            gc.unfreeze()
            self._conflicts_seen = None

    def _run_steps(self, dry_run: bool, *, pull: bool) -> SyncPlan:
        plan = SyncPlan(dry_run, self.policy.audit_version)
        dry = _DryRun() if dry_run else None
        if dry_run:
            with self.ledger.reading() as tx:
                for target in self.targets:
                    plan.target(target.name).unchanged = count_current(tx, target.name)
        else:
            plan.run_id = self.ledger.start_run()
        try:
            for source in self.sources if pull else ():
                for stream in source.streams():
                    self._guarded(plan, stream, lambda s=source, n=stream: self._pull(s, n, plan, dry))
            for target in self.targets:
                self._guarded(plan, target.name, lambda t=target: self._push(t, plan, dry))
        finally:
            if not dry_run and plan.run_id is not None:
                self.ledger.finish_run(plan.run_id, plan.status, plan.run_counts(), plan.errors)
        log.info("sync%s: %s", " (dry run)" if dry_run else "", json.dumps(plan.run_counts()))
        return plan

    def _guarded(self, plan: SyncPlan, system: str, step: Callable[[], None]) -> None:
        """Run one stream or target; a platform failure stops it, not the run. The ledger's do."""
        try:
            step()
        except (LedgerError, SQLAlchemyError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a platform that cannot be used now: the next run resumes
            status = getattr(exc, "status", None)
            plan.errors.append(RunError(_error_code(exc), system,
                                        status=status if isinstance(status, int) else None))
            log.error("%s stopped: %s", system, exc)

    def _report(self, progress: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)

    # --- pull -------------------------------------------------------------------------------

    def _pull(self, source: Source, stream: str, plan: SyncPlan, dry: _DryRun | None) -> None:
        since = self.ledger.watermark(stream)
        tally = plan.source(stream)
        done = 0
        self._report(Progress("pull", stream, 0))
        for page in source.pages(stream, since, dry_run=dry is not None):
            self._store_page(source, stream, page, tally, plan, dry)
            done += page.received or len(page.records) + len(page.quarantined)
            self._report(Progress("pull", stream, done, page.total))
        self._report(Progress("pull", stream, done, done, finished=True))

    def _merge_page(self, tx: LedgerTransaction, source: Source, stream: str,
                    records: Iterable[CanonicalRecord]) -> list[_Incoming]:
        latest: dict[str, CanonicalRecord] = {}
        for record in records:  # the same record twice in a page: the newest wins
            seen = latest.get(record.record_id)
            if seen is None or record.envelope.updated_at >= seen.envelope.updated_at:
                latest[record.record_id] = record
        stored = stored_records(tx, latest)
        links = links_of(tx, latest)
        merged = []
        for record_id, record in latest.items():
            copy = stored.get(record_id)
            linked = links.get(record_id, {})
            holders = {p for p, link in linked.items() if not is_withheld_link(link)}
            if copy is not None:
                holders.add(platform_of(copy.record.envelope.source_system))
            platform = platform_of(record.envelope.source_system)
            own = linked.get(platform)
            state: CopyState = "none"
            if copy is not None and own is not None and not is_withheld_link(own):
                state = "current" if own.synced_hash == copy.content_hash else "stale"
            merge = merge_incoming(record, copy.record if copy else None, platform=platform,
                                   stream=stream, holders=holders, copy=state,
                                   policy=self.policy, codebook=self.codebook,
                                   empty_values=source.empty_values)
            if merge.conflicts and self._conflicts_seen is not None:
                merge = replace(merge, conflicts=self._first_sightings(merge.conflicts))
            merged.append(_Incoming(record, merge, copy, linked))
        return merged

    def _first_sightings(self, conflicts: tuple[Conflict, ...]) -> tuple[Conflict, ...]:
        """Conflicts not met earlier in this run: a Frappe case is read by the case stream and
        again by its companion streams, and one disagreement is one audit entry."""
        seen = self._conflicts_seen
        assert seen is not None
        fresh = []
        for conflict in conflicts:
            key = (conflict.record_id, conflict.platform, conflict.owner, conflict.elements)
            if key not in seen:
                seen.add(key)
                fresh.append(conflict)
        return tuple(fresh)

    def _store_page(self, source: Source, stream: str, page: SourcePage, tally: SourceTally,
                    plan: SyncPlan, dry: _DryRun | None) -> None:
        rules = self.policy.screening_cases
        if rules.open_for:  # screenings that open a case (or opened one earlier), and the cases
            look_up = cases_to_look_up(page.records, self.codebook, rules)
            opened: set[str] = set()
            if look_up:
                with self.ledger.reading() as tx:
                    opened = stored_record_ids(tx, look_up)
            page = replace(page, records=tuple(with_screening_cases(
                page.records, self.codebook, rules, opened=opened)))
        if dry is not None:
            records = [r for r in page.records if r.record_id not in dry.incoming]
            with self.ledger.reading() as tx:
                incoming = self._merge_page(tx, source, stream, records)
                dependents = self._narrow_dependents(tx, incoming)
            self._count_pull(incoming, page, tally)
            self._plan_incoming(source, incoming + dependents, plan, dry)
            return
        with self.ledger.transaction() as tx:
            incoming = self._merge_page(tx, source, stream, page.records)
            dependents = self._narrow_dependents(tx, incoming)
            self._count_pull(incoming, page, tally)
            self._write_page(tx, source, stream, page, incoming, plan.run_id)
            self._write_dependents(tx, stream, dependents, plan.run_id)
        log.info("%s page: %d new, %d updated, %d unchanged, %d quarantined", stream,
                 sum(i.merge.status == "new" for i in incoming),
                 sum(i.merge.status == "updated" for i in incoming),
                 sum(i.merge.status == "unchanged" for i in incoming), len(page.quarantined))

    def _narrow_dependents(self, tx: LedgerTransaction, incoming: list[_Incoming]) -> list[_Incoming]:
        """Cases of the page that lost consent purposes take them from their records too.

        Records of the same page are narrowed in place (in `incoming`); the ledger's other
        records quoting those cases are returned as updates to store and push in this run
        (`consent_withdrawal.narrowed_dependent`).
        """
        lost = withdrawn_from_cases(((i.stored.record if i.stored else None, i.merge.record)
                                     for i in incoming if i.merge.status == "updated"), self.codebook)
        if not lost:
            return []
        in_page = set()
        for n, item in enumerate(incoming):
            in_page.add(item.merge.record.record_id)
            narrowed = narrowed_dependent(item.merge.record, lost)
            if narrowed is not None:
                status = "updated" if item.merge.status == "unchanged" else item.merge.status
                incoming[n] = replace(item, merge=replace(item.merge, status=status, record=narrowed))
        found = [s for s in records_quoting(tx, lost) if s.record.record_id not in in_page]
        links = links_of(tx, [s.record.record_id for s in found])
        dependents = []
        for stored in found:
            narrowed = narrowed_dependent(stored.record, lost)
            if narrowed is not None:
                dependents.append(_Incoming(narrowed, Merge("updated", narrowed), stored,
                                            links.get(narrowed.record_id, {})))
        if dependents:
            log.info("consent withdrawn on %d case(s): %d record(s) of those cases narrowed",
                     len(lost), len(dependents))
        return dependents

    def _write_dependents(self, tx: LedgerTransaction, stream: str, dependents: list[_Incoming],
                          run_id: int | None) -> None:
        """Store the narrowed records of cases that lost consent; the push retracts their copies."""
        if not dependents:
            return
        tx.upsert_records(i.merge.record for i in dependents)
        tx.audit_moves("pull", stream, None, self.policy.audit_version,
                       ((i.merge.record.record_id, i.merge.record.envelope.consent_purposes, 0)
                        for i in dependents), run_id=run_id)

    @staticmethod
    def _count_pull(incoming: list[_Incoming], page: SourcePage, tally: SourceTally) -> None:
        for item in incoming:
            setattr(tally, item.merge.status, getattr(tally, item.merge.status) + 1)
            tally.conflicts += bool(item.merge.conflicts)
        tally.quarantined.update(q.reason for q in page.quarantined)
        tally.deleted += len(page.deleted)

    def _write_page(self, tx: LedgerTransaction, source: Source, stream: str, page: SourcePage,
                    incoming: list[_Incoming], run_id: int | None) -> None:
        version = self.policy.audit_version
        changed = [i for i in incoming if i.merge.status != "unchanged"]
        tx.upsert_records(i.merge.record for i in changed)
        self._resolve_read_back(tx, incoming)
        if source.platform in {t.name for t in self.targets}:
            self._link_round_trip(tx, source, incoming)
            self._revert_overridden(tx, source, incoming)
        for item in page.quarantined:
            tx.quarantine(QuarantineItem.from_quarantined(item))
        if changed:
            tx.audit_moves("pull", stream, None, version,
                           ((i.merge.record.record_id, i.merge.record.envelope.consent_purposes, 0)
                            for i in changed), run_id=run_id)
        self._audit_conflicts(tx, [c for i in incoming for c in i.merge.conflicts], run_id)
        if page.quarantined:
            ids = tuple(sorted({q.record_id for q in page.quarantined if _is_record_id(q.record_id)}))
            tx.audit(AuditEntry(action="quarantine", source=stream, target=None, record_ids=ids,
                                record_count=len(page.quarantined), policy_version=version,
                                run_id=run_id))
        if page.watermark is not None:
            current = tx.watermark(stream, for_update=True)
            if current is None or not page.watermark < current:
                tx.advance_watermark(stream, page.watermark, run_id=run_id)
        if page.write_source_state is not None:
            page.write_source_state(tx)  # e.g. the Kobo pull state: commits with the page

    @staticmethod
    def _resolve_read_back(tx: LedgerTransaction, incoming: list[_Incoming]) -> None:
        """Close quarantine entries of records that now read cleanly from another system.

        The ledger closes those of the record's own source on upsert; a record read back from a
        platform it was written to (Frappe) has that platform's source names instead.
        """
        foreign: dict[str, list[str]] = {}
        for item in incoming:
            envelope = item.record.envelope
            if item.merge.record.envelope.source_system != envelope.source_system:
                foreign.setdefault(envelope.source_system, []).append(envelope.source_id)
        for system, source_ids in foreign.items():
            for source_id in open_quarantine_ids(tx, system, source_ids):
                tx.resolve_quarantined(system, source_id, "ingested")

    def _link_round_trip(self, tx: LedgerTransaction, source: Source,
                         incoming: list[_Incoming]) -> None:
        """Mark a platform's copy current when it already holds what the policy sends it.

        So a caseworker's edit taken from Frappe is not written back to Frappe, and a record
        created there is not pushed back as new.
        """
        keyring = self.ledger.keyring
        links = []
        for item in incoming:
            record = item.merge.record
            if not holds_policy_share(record, item.record, source.platform, self.policy,
                                      self.codebook, source.empty_values):
                continue
            new_hash = item.stored.content_hash if item.merge.status == "unchanged" and item.stored \
                else content_hash(canonical_content(record.to_json()), keyring)
            own = item.links.get(source.platform)
            if own is not None and own.synced_hash == new_hash:
                continue
            platform_id = own.platform_id if own is not None and not is_withheld_link(own) \
                else item.record.envelope.source_id
            links.append(IdLink(record.record_id, source.platform, platform_id,
                                platform_modified=item.record.envelope.updated_at,
                                synced_hash=new_hash,
                                held_purposes=record.envelope.consent_purposes))
        tx.link(links)

    @staticmethod
    def _revert_overridden(tx: LedgerTransaction, source: Source, incoming: list[_Incoming]) -> None:
        """A copy whose edits the owner overrode gets the owner's values back on the next push.

        The ledger did not change (the owner's values stood), so without this the copy would
        keep the overridden values until the owner's next change: its link is marked stale.
        """
        stale = [IdLink(i.merge.record.record_id, source.platform, own.platform_id,
                        synced_hash=OVERRIDDEN_HASH)
                 for i in incoming if i.merge.conflicts and i.merge.status == "unchanged"
                 and (own := i.links.get(source.platform)) is not None and not is_withheld_link(own)]
        tx.link(stale)

    def _audit_conflicts(self, tx: LedgerTransaction, conflicts: list[Conflict],
                         run_id: int | None) -> None:
        groups: dict[tuple[str, str], list[Conflict]] = {}
        for conflict in conflicts:
            groups.setdefault((conflict.stream, conflict.owner), []).append(conflict)
        for (stream, owner), found in sorted(groups.items()):
            tx.audit(AuditEntry(action=CONFLICT_ACTION, source=stream, target=owner,
                                record_ids=tuple(c.record_id for c in found),
                                withheld_count=sum(len(c.elements) for c in found),
                                policy_version=self.policy.audit_version, run_id=run_id))
            log.info("%d conflict(s): values from %s overridden by the owner %s", len(found),
                     stream, owner)

    def _plan_incoming(self, source: Source, incoming: list[_Incoming], plan: SyncPlan,
                       dry: _DryRun) -> None:
        """Dry run: what the targets would receive of the records this page would change."""
        for item in incoming:
            if item.merge.status == "unchanged":
                if item.merge.conflicts and source.platform in {t.name for t in self.targets}:
                    own = item.links.get(source.platform)
                    if own is not None and not is_withheld_link(own) and item.stored is not None \
                            and own.synced_hash == item.stored.content_hash:
                        tally = plan.target(source.platform)  # reverted to the owner's values
                        tally.unchanged -= 1
                        tally.updated += 1
                continue
            record = item.merge.record
            dry.incoming.add(record.record_id)
            for target in self.targets:
                tally = plan.target(target.name)
                link = item.links.get(target.name)
                if item.stored is not None and link is not None and \
                        link.synced_hash == item.stored.content_hash:
                    tally.unchanged -= 1  # counted as current; this run changes it
                if target.name == source.platform and holds_policy_share(
                        record, item.record, source.platform, self.policy, self.codebook,
                        source.empty_values):
                    tally.unchanged += 1
                    continue
                self._count_steps(target, [self._plan_step(record, "", link, target)], tally)

    # --- push -------------------------------------------------------------------------------

    def _push(self, target: Target, plan: SyncPlan, dry: _DryRun | None) -> None:
        tally = plan.target(target.name)
        with self.ledger.reading() as tx:
            if dry is None:
                tally.unchanged += count_current(tx, target.name)
            total = count_pending(tx, target.name, target.transient_reasons)
        done = 0
        # perf: sealed values the target can never receive are not opened (they stay withheld)
        receivable = receivable_codes(target.name, self.policy, self.codebook)
        self._report(Progress("push", target.name, 0, total))
        for other_forms in (False, True):  # cases first: referrals link to them
            after = ""
            while True:
                with self.ledger.reading() as tx:
                    pending = pending_for_target(
                        tx, target.name, after=after, limit=max(1, target.batch_size),
                        forms=self._parents, other_forms=other_forms,
                        transient_reasons=target.transient_reasons, open_only=receivable)
                if not pending:
                    break
                after = pending[-1].record.record_id
                if dry is not None:
                    pending = [p for p in pending if p.record.record_id not in dry.incoming]
                steps = [self._plan_step(p.record, p.content_hash, p.link, target) for p in pending]
                if dry is not None:
                    self._count_steps(target, steps, tally)
                else:
                    self._push_batch(target, pending, steps, tally, plan.run_id)
                done += len(pending)
                self._report(Progress("push", target.name, done, total))
        self._report(Progress("push", target.name, done, done, finished=True))

    def _plan_step(self, record: CanonicalRecord, record_hash: str, link: IdLink | None,
                   target: Target) -> WriteStep:
        """`plan_write`, plus what a target holding a copy must give back (`consent_withdrawal`)."""
        step = plan_write(record, record_hash, link, target.name, self.policy, self.codebook)
        if not holds_copy(link):
            return step
        if step.kind == "withheld":
            return replace(step, kind="retracted")
        assert link is not None
        held = link.held_purposes
        if held is None:  # a link from before the ledger kept them (migration 4 left it unknown)
            held = frozenset(self.codebook.consent_purposes)  # it may hold values under any
        codes = retraction_codes(record, step.outbound.decision, self.policy, self.codebook,
                                 held=held)
        if not codes:
            return step
        outbound = step.outbound
        return replace(step, outbound=replace(
            outbound, record=with_retractions(outbound.record, outbound.record.values, codes),
            retracted=codes))

    @staticmethod
    def _count_steps(target: Target, steps: list[WriteStep], tally: TargetTally) -> None:
        for step in steps:
            link = step.outbound.link
            if step.kind in ("withheld", "retracted"):
                checked: WriteOutcome | None = WriteOutcome(step.outbound.record_id, "withheld",
                                                            reason=step.reason)
            else:
                checked = target.precheck(step.outbound)
            if checked is not None and checked.status == "withheld":
                if holds_copy(link):
                    assert link is not None
                    tally.retracted[DELETE_ON_PLATFORM] += 1
                    tally.to_delete.append(link.platform_id)
                else:
                    tally.withheld[checked.reason or "nothing_allowed"] += 1
            elif checked is not None and checked.status == "quarantined" and checked.quarantined:
                tally.quarantined[checked.quarantined.reason] += 1
            else:
                setattr(tally, step.kind, getattr(tally, step.kind) + 1)
                tally.values_withheld.update(reason for _c, reason in step.outbound.decision.withheld)
                if step.outbound.retracted:
                    tally.retracted[VALUES_BLANKED] += 1

    def _push_batch(self, target: Target, pending: list[PendingRecord], steps: list[WriteStep],
                    tally: TargetTally, run_id: int | None) -> None:
        outcomes: dict[str, WriteOutcome] = {}
        writable: list[WriteStep] = []
        for step in steps:
            if step.kind in ("withheld", "retracted"):
                outcomes[step.outbound.record_id] = WriteOutcome(step.outbound.record_id, "withheld",
                                                                 reason=step.reason)
                continue
            checked = target.precheck(step.outbound)
            if checked is not None:
                outcomes[step.outbound.record_id] = checked
            else:
                writable.append(step)
        failure: Exception | None = None
        if writable:
            try:
                for outcome in target.write([s.outbound for s in writable]):
                    outcomes[outcome.record_id] = outcome
            except (LedgerError, SQLAlchemyError, KeyboardInterrupt):
                raise
            except Exception as exc:  # the platform failed: record what is known, then stop
                failure = exc
        by_id = {s.outbound.record_id: s for s in steps}
        quarantined_before = {p.record.record_id for p in pending if p.quarantined}
        with self.ledger.transaction() as tx:
            self._record_outcomes(tx, target, by_id, outcomes, quarantined_before, tally, run_id)
        missing = [s for s in writable if s.outbound.record_id not in outcomes]
        tally.failed += len(missing)
        log.info("%s batch: %s", target.name, json.dumps(Counter(o.status for o in outcomes.values())))
        if failure is not None:
            raise failure

    def _record_outcomes(self, tx: LedgerTransaction, target: Target, steps: dict[str, WriteStep],
                         outcomes: dict[str, WriteOutcome], quarantined_before: set[str],
                         tally: TargetTally, run_id: int | None) -> None:
        version = self.policy.audit_version
        links: list[IdLink] = []
        pushed: list[tuple[str, Iterable[str], int]] = []
        withheld: list[tuple[str, Iterable[str], int]] = []
        blanked: list[tuple[str, Iterable[str], int]] = []
        retracted: list[tuple[str, Iterable[str], int]] = []
        refused: list[str] = []
        quarantine_source = push_quarantine_source(target.name)
        for record_id, outcome in outcomes.items():
            step = steps.get(record_id)
            if step is None:
                continue  # not a record of this batch
            outbound = step.outbound
            if outcome.status in ("created", "updated", "unchanged"):
                links.append(IdLink(record_id, target.name, outcome.platform_id or record_id,
                                    synced_hash=outbound.content_hash,
                                    held_purposes=outbound.decision.purposes_used))
                pushed.append((record_id, outbound.decision.purposes_used,
                               len(outbound.decision.withheld)))
                counter = {"created": "new", "updated": "updated", "unchanged": "unchanged"}[outcome.status]
                setattr(tally, counter, getattr(tally, counter) + 1)
                tally.values_withheld.update(reason for _c, reason in outbound.decision.withheld)
                if outbound.retracted:
                    blanked.append((record_id, outbound.decision.purposes_used, len(outbound.retracted)))
                    tally.retracted[VALUES_BLANKED] += 1
                if record_id in quarantined_before:
                    tx.resolve_quarantined(quarantine_source, record_id, "pushed")
            elif outcome.status == "withheld":
                link = outbound.link
                if holds_copy(link):  # nothing may remain where a copy is: retracted whole
                    assert link is not None
                    platform_id = retracted_platform_id(link)
                    retracted.append((record_id, (), len(outbound.decision.withheld)))
                    tally.retracted[DELETE_ON_PLATFORM] += 1
                    tally.to_delete.append(link.platform_id)
                else:
                    platform_id = link.platform_id if link is not None else f"{WITHHELD_ID_PREFIX}{record_id}"
                    withheld.append((record_id, (), len(outbound.decision.withheld)))
                    tally.withheld[outcome.reason or "nothing_allowed"] += 1
                links.append(IdLink(record_id, target.name, platform_id,
                                    synced_hash=outbound.content_hash, held_purposes=frozenset()))
            elif outcome.status == "quarantined" and outcome.quarantined is not None:
                tx.quarantine(_push_quarantine_item(quarantine_source, outbound, outcome.quarantined))
                refused.append(record_id)
                tally.quarantined[outcome.quarantined.reason] += 1
        tx.link(links)
        if pushed:
            tx.audit_moves("push", None, target.name, version, pushed, run_id=run_id)
        if withheld:
            tx.audit_moves("withhold", None, target.name, version, withheld, run_id=run_id)
        if blanked:
            tx.audit_moves(RETRACT_ACTION, None, target.name, version, blanked, run_id=run_id)
            log.info("%s: withdrawn values blanked in %d record(s)", target.name, len(blanked))
        if retracted:  # no consent purpose in the entry: nothing may remain of these records
            tx.audit_moves(RETRACT_ACTION, None, target.name, version, retracted, run_id=run_id)
            log.warning("%s holds %d record(s) of which consent now lets nothing remain and tipdata "
                        "cannot delete them: delete them there by hand (tipdata audit --action "
                        "retract --target %s lists their record ids)", target.name, len(retracted),
                        target.name)
        if refused:
            tx.audit(AuditEntry(action="quarantine", source=None, target=target.name,
                                record_ids=tuple(refused), policy_version=version, run_id=run_id))

    # --- quarantine retry -------------------------------------------------------------------

    def retry(self, quarantine_ids: Iterable[int]) -> RetryReport:
        """Map quarantined source records again, release target refusals, then push.

        A source entry's raw payload is mapped again by the source that made it (after the
        codebook or a key was fixed); a record that now maps is stored like a pulled one. A
        target's refusal is released so the record is sent again. Then every target is pushed.
        """
        with self._exclusive("retry"):
            return self._retry(set(quarantine_ids))

    def _retry(self, wanted: set[int]) -> RetryReport:
        entries = [e for e in self.ledger.quarantined() if e.id in wanted]
        report = RetryReport(not_retryable=sorted(wanted - {e.id for e in entries}))
        run_id = self.ledger.start_run()
        plan = SyncPlan(False, self.policy.audit_version, run_id=run_id)
        try:
            for entry in entries:
                if entry.source.startswith(PUSH_QUARANTINE_PREFIX):
                    with self.ledger.transaction() as tx:
                        tx.resolve_quarantined(entry.source, entry.source_id, RETRY_RESOLUTION)
                        tx.audit(AuditEntry(action="resolve", source=entry.source, target=None,
                                            record_ids=_ids(entry.source_id), record_count=1,
                                            policy_version=self.policy.audit_version, run_id=run_id))
                    report.released.append(entry.id)
                    continue
                self._retry_source_entry(entry.id, entry.source, entry.source_id, plan, report)
            for target in self.targets:
                self._guarded(plan, target.name, lambda t=target: self._push(t, plan, None))
        finally:
            self.ledger.finish_run(run_id, plan.status, plan.run_counts(), plan.errors)
        report.plan = plan
        return report

    def _retry_source_entry(self, entry_id: int, system: str, source_id: str, plan: SyncPlan,
                            report: RetryReport) -> None:
        payload = self.ledger.quarantined_contents(entry_id).raw_payload
        for source in self.sources:
            outcome = source.remap(system, source_id, payload)
            if outcome is None:
                continue
            if isinstance(outcome, QuarantinedRecord):
                page = SourcePage(quarantined=(outcome,))
            else:
                page = SourcePage(records=(outcome,))
            self._store_page(source, system, page, plan.source(system), plan, None)
            if isinstance(outcome, CanonicalRecord):
                with self.ledger.transaction() as tx:  # the record may be stored under another id
                    tx.resolve_quarantined(system, source_id, "ingested")
                    tx.audit(AuditEntry(action="resolve", source=system, target=None,
                                        record_ids=(outcome.record_id,),
                                        policy_version=self.policy.audit_version,
                                        run_id=plan.run_id))
                report.ingested.append(entry_id)
            else:
                report.still_quarantined.append(entry_id)
            return
        report.not_retryable.append(entry_id)


def _is_record_id(value: str | None) -> bool:
    if not value:
        return False
    try:
        check_record_id(value)
    except ContentNotAllowed:
        return False
    return True


def _ids(value: str) -> tuple[str, ...]:
    return (value,) if _is_record_id(value) else ()


def _push_quarantine_item(source: str, outbound: Outbound,
                          refused: QuarantinedRecord) -> QuarantineItem:
    """A target's refusal, keyed by target and record id; the payload is what was sent."""
    payload = json.dumps(outbound.record.to_json(), sort_keys=True, ensure_ascii=False)
    return QuarantineItem(source, outbound.record_id, refused.reason, refused.message,
                          payload.encode("utf-8"))
