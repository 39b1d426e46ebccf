"""What the sync engine talks to: sources it reads pages from, targets it writes batches to.

The engine (`tipdata.sync.apply`) never imports a platform module. Each platform gets a small
adapter (`tipdata.sync.adapters.*`) that speaks these two protocols, so the algorithm — merge,
policy, ledger transactions, watermarks, id map — is the same whichever platforms are wired, and
a test or a file can stand in for any of them.

A **source** reads one or more *streams* (a Kobo form asset, a Frappe DocType listing, a file),
each with its own watermark in the ledger. It hands over pages; the engine stores a page, its
quarantined items and the watermark that covers it in one ledger transaction, and only then asks
for the next page. A crash anywhere re-reads at most the pages after the last commit.

A **target** receives batches of `Outbound` records: the ledger record already reduced by
`tipdata.policy.decide` to what the policy lets travel to it. Adapters never see withheld values,
so no adapter bug can send them. Writes must be idempotent upserts keyed by record id (Frappe
documents are named by it, DHIS2 UIDs derive from it): the engine re-sends anything whose
outcome it did not record, and that must never duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from tipdata.ledger import IdLink, LedgerTransaction, Watermark
from tipdata.policy import Decision
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord

WriteStatus = Literal["created", "updated", "unchanged", "quarantined", "withheld"]


@dataclass(frozen=True)
class SourcePage:
    """One page read from a stream. `repr` shows counts, never contents.

    `watermark` is where the stream stands once this page is stored (None: the page does not
    move it, e.g. edits found by reconciling older submissions).
    """

    records: tuple[CanonicalRecord, ...] = field(default=(), repr=False)
    quarantined: tuple[QuarantinedRecord, ...] = field(default=(), repr=False)
    watermark: Watermark | None = None
    #: record ids the platform no longer has (counted and reported; never deleted downstream)
    deleted: tuple[str, ...] = ()
    #: items the source read for this page, and the stream's total when it knows it (progress)
    received: int = 0
    total: int | None = None
    #: the source's own memory of this page (which Kobo submissions it has seen), written by the
    #: engine inside the transaction that stores the page, so the two commit together or not at all
    write_source_state: Callable[[LedgerTransaction], None] | None = field(
        default=None, repr=False, compare=False)


class Source(Protocol):
    """A platform (or file) records are read from."""

    #: platform name for ownership (`kobo`, `frappe`, `dhis2`) or `file`
    platform: str
    #: what the platform stores for an unanswered element (Frappe keeps 0 in an empty Check or
    #: Int field): an incoming value equal to it says nothing when the ledger holds no value
    empty_values: Mapping[str, Any]

    def streams(self) -> Sequence[str]:
        """Watermark names, one per independently ordered listing (`kobo:<asset uid>`)."""
        ...

    def pages(self, stream: str, since: Watermark | None, *, dry_run: bool = False) -> Iterator[SourcePage]:
        """Pages of `stream` after `since`. With `dry_run` nothing is remembered anywhere."""
        ...

    def remap(self, quarantine_source: str, source_id: str,
              payload: bytes) -> CanonicalRecord | QuarantinedRecord | None:
        """Map a quarantined raw payload again (after a codebook or data fix); None: not mine."""
        ...


@dataclass(frozen=True)
class Outbound:
    """A ledger record on its way to one target, holding only what the policy lets travel."""

    record: CanonicalRecord = field(repr=False)
    decision: Decision = field(repr=False)
    #: the ledger content hash this was planned from: what the id map records once written
    content_hash: str = field(repr=False)
    link: IdLink | None = None
    #: element codes the target must drop (consent withdrawn after they were sent); the record
    #: holds None for each, and the adapter deletes the value on the platform (a null, not a skip)
    retracted: tuple[str, ...] = ()

    @property
    def record_id(self) -> str:
        return self.record.record_id


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one record on a target."""

    record_id: str
    status: WriteStatus
    #: the record's id on the platform (created/updated/unchanged)
    platform_id: str | None = None
    quarantined: QuarantinedRecord | None = field(default=None, repr=False)
    #: why nothing was sent (withheld), a reason code
    reason: str | None = None


class Target(Protocol):
    """A platform records are written to; `name` is its policy target and id-map platform."""

    name: str
    batch_size: int
    #: quarantine reasons that clear up by themselves (a case pushed in a later run): records
    #: refused for one of them are tried again every run instead of waiting for `retry`
    transient_reasons: frozenset[str]

    def precheck(self, outbound: Outbound) -> WriteOutcome | None:
        """Pure: an outcome decided before any request (nothing linkable may travel), else None."""
        ...

    def write(self, batch: Sequence[Outbound]) -> list[WriteOutcome]:
        """Upsert the batch; one outcome per record. Raise only when the platform is unusable."""
        ...
