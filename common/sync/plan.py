"""The plan of a sync: what each source brings and what each target would receive, with reasons.

`tipdata sync --dry-run` prints a `SyncPlan`; `tipdata sync` fills the same structure with what
it did. Per source: new, updated, unchanged, quarantined (by reason), conflicts. Per target: new,
updated, unchanged, withheld (records of which the policy lets nothing travel, by reason), values
withheld from the records that do travel (by reason), quarantined (by reason), retracted (consent
withdrawn after the target received the record: values blanked, or the record to delete there).

The per-record decision (`plan_write`) is pure and goes through `tipdata.policy.decide`, the one
place that says what may travel: the engine then hands the target only `decision.allowed_values`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tipdata.ledger import IdLink, RunError
from tipdata.model import Codebook
from tipdata.policy import Decision, RoutingPolicy, decide, screening_consent_applies
from tipdata.records import CanonicalRecord, Envelope
from tipdata.sync.ports import Outbound

#: platform id of a record the policy sends nothing of to a target: the id map remembers the
#: decision (for the record's current content) so the record is not planned again every run
WITHHELD_ID_PREFIX = "withheld/"
#: records of these levels go out first: the case a referral quotes must exist before it
PARENT_LEVELS = ("person", "case")
NOTHING_ALLOWED = "nothing_allowed"


def is_withheld_link(link: IdLink | None) -> bool:
    return link is not None and link.platform_id.startswith(WITHHELD_ID_PREFIX)


def parent_forms(codebook: Codebook) -> frozenset[str]:
    """Forms whose records create what others link to (the case intake), pushed first."""
    return frozenset(f for f, form in codebook.forms.items() if form.level in PARENT_LEVELS)


@dataclass
class SourceTally:
    """What one stream brought. Counts only."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    #: records whose incoming values were overridden by the owner's (recorded in the audit log)
    conflicts: int = 0
    #: records gone from the platform (reported, never deleted downstream)
    deleted: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"new": self.new, "updated": self.updated, "unchanged": self.unchanged,
                "quarantined": sum(self.quarantined.values()),
                "quarantine_reasons": dict(sorted(self.quarantined.items())),
                "conflicts": self.conflicts, "deleted": self.deleted}


@dataclass
class TargetTally:
    """What one target received (or would receive). Counts only."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    #: records of which nothing travels, by reason
    withheld: Counter[str] = field(default_factory=Counter)
    #: values left out of records that do travel, by `decide` reason
    values_withheld: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    #: records not written because the platform failed; the next run sends them
    failed: int = 0
    #: records taken back after consent was withdrawn: `values_blanked` (an update emptied the
    #: withdrawn values) or `delete_on_platform` (nothing may remain: delete it there by hand)
    retracted: Counter[str] = field(default_factory=Counter)
    #: platform ids of the records to delete by hand (`delete_on_platform`)
    to_delete: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"new": self.new, "updated": self.updated, "unchanged": self.unchanged,
                "withheld": sum(self.withheld.values()),
                "withheld_reasons": dict(sorted(self.withheld.items())),
                "values_withheld": dict(sorted(self.values_withheld.items())),
                "quarantined": sum(self.quarantined.values()),
                "quarantine_reasons": dict(sorted(self.quarantined.items())),
                "failed": self.failed,
                "retracted": sum(self.retracted.values()),
                "retracted_reasons": dict(sorted(self.retracted.items())),
                "to_delete": sorted(self.to_delete)}


@dataclass
class SyncPlan:
    """A dry run's plan, or a run's account of what it did (`dry_run` says which)."""

    dry_run: bool
    policy_version: str
    sources: dict[str, SourceTally] = field(default_factory=dict)
    targets: dict[str, TargetTally] = field(default_factory=dict)
    run_id: int | None = None
    errors: list[RunError] = field(default_factory=list)

    def source(self, name: str) -> SourceTally:
        return self.sources.setdefault(name, SourceTally())

    def target(self, name: str) -> TargetTally:
        return self.targets.setdefault(name, TargetTally())

    @property
    def status(self) -> Literal["succeeded", "partial", "failed"]:
        """`partial` when some stream or target failed (the next run resumes), `failed` when all did."""
        if not self.errors:
            return "succeeded"
        failed = {e.system for e in self.errors}
        attempted = set(self.sources) | set(self.targets)
        return "failed" if attempted <= failed else "partial"

    def run_counts(self) -> dict[str, dict[str, int]]:
        """Counts per system for the ledger's run history (lower_snake keys, integers only)."""
        counts: dict[str, dict[str, int]] = {}
        for name, s in self.sources.items():
            counts[name] = {"new": s.new, "updated": s.updated, "unchanged": s.unchanged,
                            "quarantined": sum(s.quarantined.values()), "conflicts": s.conflicts,
                            "deleted": s.deleted}
        for name, t in self.targets.items():
            counts[name] = {"new": t.new, "updated": t.updated, "unchanged": t.unchanged,
                            "withheld": sum(t.withheld.values()),
                            "quarantined": sum(t.quarantined.values()), "failed": t.failed,
                            "retracted": sum(t.retracted.values())}
        return counts

    def to_json(self) -> dict[str, Any]:
        """What `tipdata sync --json` prints: the same numbers as the Python result."""
        return {"dry_run": self.dry_run, "run_id": self.run_id, "status": self.status,
                "policy_version": self.policy_version,
                "sources": {n: s.to_json() for n, s in sorted(self.sources.items())},
                "targets": {n: t.to_json() for n, t in sorted(self.targets.items())},
                "errors": [e.as_dict() for e in self.errors]}


@dataclass(frozen=True)
class WriteStep:
    """What a target gets of one record: an upsert (new or updated) or nothing (withheld, or
    retracted: withheld from a target that holds an earlier version, see `consent_withdrawal`)."""

    kind: Literal["new", "updated", "withheld", "retracted"]
    outbound: Outbound
    reason: str | None = None


def plan_write(record: CanonicalRecord, content_hash: str, link: IdLink | None, target: str,
               policy: RoutingPolicy, codebook: Codebook) -> WriteStep:
    """Decide what `target` receives of a ledger record (pure).

    The outbound record keeps the envelope and only `decide`'s allowed values. A record of
    which nothing may travel is withheld, with the most frequent reason among its elements.

    >>> step = plan_write(record, "3f2a…", None, "dhis2", policy, codebook)
    >>> step.kind, sorted(step.outbound.record.values)[:2]
    ('new', ['case_opened_date', 'case_reference'])
    """
    decision = decide_repeated(record, target, policy, codebook)
    # perf: the envelope is the record's (validated) and the values a subset of its values:
    # nothing to validate again, once per record and target
    outbound = Outbound(CanonicalRecord.model_construct(envelope=record.envelope,
                                                        values=decision.allowed_values),
                        decision, content_hash, link)
    if not decision.allowed_values:
        reasons = Counter(reason for _code, reason in decision.withheld)
        reason = reasons.most_common(1)[0][0] if reasons else NOTHING_ALLOWED
        return WriteStep("withheld", outbound, reason)
    kind: Literal["new", "updated"] = "new" if link is None or is_withheld_link(link) else "updated"
    return WriteStep(kind, outbound)


class _DecisionShapes:
    """`decide`'s answers for one policy and codebook, by (target, consent purposes, codes).

    `decide` reads a record's consent purposes and which element codes it holds (their classes,
    the target's rules), never the values themselves, which it copies into `allowed_values`. So
    records with the same purposes and the same codes get the same split: the shape is kept
    (allowed codes in order, withheld with reasons, purposes used) and filled with each record's
    values. A push of 100,000 intakes meets a handful of shapes.
    """

    LIMIT = 4096

    def __init__(self, policy: RoutingPolicy, codebook: Codebook) -> None:
        self.policy = policy  # held, so the identity test below can never match a new object
        self.codebook = codebook
        self.shapes: dict[tuple[Any, ...], tuple[tuple[str, ...], tuple[tuple[str, str], ...],
                                                   frozenset[str], str]] = {}


_LAST_SHAPES: list[_DecisionShapes] = []


def decide_repeated(record: CanonicalRecord, target: str, policy: RoutingPolicy,
                    codebook: Codebook) -> Decision:
    """`decide(record, target, policy, codebook)`, computed once per shape of record (see above).

    Equal to `decide` for every record (`tests/sync/test_plan_shapes.py` holds it to that); the
    first record of each shape goes through `decide` itself.

    >>> decide_repeated(record, "dhis2", policy, codebook) == decide(record, "dhis2", policy, codebook)
    True
    """
    cache = _LAST_SHAPES[0] if _LAST_SHAPES else None
    if cache is None or cache.policy is not policy or cache.codebook is not codebook:
        cache = _DecisionShapes(policy, codebook)
        _LAST_SHAPES[:] = [cache]
    values = record.values
    key = (target, record.envelope.consent_purposes, tuple(values),
           # the one rule that reads values: a screening's consent (`[screening_cases.consent]`)
           bool(policy.screening_cases.consent) and screening_consent_applies(record, policy, codebook))
    shape = cache.shapes.get(key)
    if shape is None:
        decision = decide(record, target, policy, codebook)
        if len(cache.shapes) >= _DecisionShapes.LIMIT:
            cache.shapes.clear()
        cache.shapes[key] = (tuple(decision.allowed_values), tuple(decision.withheld),
                             decision.purposes_used, decision.policy_version)
        return decision
    allowed, withheld, used, version = shape
    return Decision(target=target, policy_version=version,
                    allowed_values={code: values[code] for code in allowed},
                    withheld=list(withheld), purposes_used=used)


_RECEIVABLE: dict[tuple[int, int, str], tuple[RoutingPolicy, Codebook, frozenset[str]]] = {}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def receivable_codes(target: str, policy: RoutingPolicy, codebook: Codebook) -> frozenset[str]:
    """The element codes `target` could receive under some consent: what `decide` allows of a
    record holding every element, consented to every purpose.

    Every other code is withheld from the target whatever the record says (unknown, never
    shared, excluded, restricted and not named, a class the target does not take, free text),
    so a push need not open those sealed values (`ledger_reads.pending_for_target(open_only=...)`).

    >>> "person_given_names" in receivable_codes("dhis2", policy, codebook)
    False
    """
    key = (id(policy), id(codebook), target)
    cached = _RECEIVABLE.get(key)
    if cached is not None and cached[0] is policy and cached[1] is codebook:
        return cached[2]
    everything = CanonicalRecord(envelope=Envelope(
        record_id="receivable-codes", source_system="policy", source_id="every-element",
        collected_at=_EPOCH, updated_at=_EPOCH,
        consent_purposes=frozenset(codebook.consent_purposes)), values=dict.fromkeys(codebook.elements))
    codes = frozenset(decide(everything, target, policy, codebook).allowed_values)
    if len(_RECEIVABLE) > 64:
        _RECEIVABLE.clear()
    _RECEIVABLE[key] = (policy, codebook, codes)
    return codes


def withheld_reasons(steps: Mapping[str, WriteStep] | list[WriteStep]) -> Counter[str]:
    """Values withheld from the records that travel, counted by `decide` reason."""
    items = steps.values() if isinstance(steps, Mapping) else steps
    return Counter(reason for step in items if step.kind not in ("withheld", "retracted")
                   for _code, reason in step.outbound.decision.withheld)
