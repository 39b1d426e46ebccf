"""The plan of a sync: what each source brings and what each target would receive, with reasons.

`tipdata sync --dry-run` prints a `SyncPlan`; `tipdata sync` fills the same structure with what
it did. Per source: new, updated, unchanged, quarantined (by reason), conflicts. Per target: new,
updated, unchanged, withheld (records of which the policy lets nothing travel, by reason), values
withheld from the records that do travel (by reason), quarantined (by reason).

The per-record decision (`plan_write`) is pure and goes through `tipdata.policy.decide`, the one
place that says what may travel: the engine then hands the target only `decision.allowed_values`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tipdata.ledger import IdLink, RunError
from tipdata.model import Codebook
from tipdata.policy import RoutingPolicy, decide
from tipdata.records import CanonicalRecord
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

    def to_json(self) -> dict[str, Any]:
        return {"new": self.new, "updated": self.updated, "unchanged": self.unchanged,
                "withheld": sum(self.withheld.values()),
                "withheld_reasons": dict(sorted(self.withheld.items())),
                "values_withheld": dict(sorted(self.values_withheld.items())),
                "quarantined": sum(self.quarantined.values()),
                "quarantine_reasons": dict(sorted(self.quarantined.items())),
                "failed": self.failed}


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
                            "quarantined": sum(t.quarantined.values()), "failed": t.failed}
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
    """What a target gets of one record: an upsert (new or updated) or nothing (withheld)."""

    kind: Literal["new", "updated", "withheld"]
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
    decision = decide(record, target, policy, codebook)
    outbound = Outbound(CanonicalRecord(envelope=record.envelope, values=decision.allowed_values),
                        decision, content_hash, link)
    if not decision.allowed_values:
        reasons = Counter(reason for _code, reason in decision.withheld)
        reason = reasons.most_common(1)[0][0] if reasons else NOTHING_ALLOWED
        return WriteStep("withheld", outbound, reason)
    kind: Literal["new", "updated"] = "new" if link is None or is_withheld_link(link) else "updated"
    return WriteStep(kind, outbound)


def withheld_reasons(steps: Mapping[str, WriteStep] | list[WriteStep]) -> Counter[str]:
    """Values withheld from the records that travel, counted by `decide` reason."""
    items = steps.values() if isinstance(steps, Mapping) else steps
    return Counter(reason for step in items if step.kind != "withheld"
                   for _code, reason in step.outbound.decision.withheld)
