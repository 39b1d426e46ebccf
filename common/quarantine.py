"""Records that arrived but do not fit the codebook: kept whole, with every reason, never dropped.

A connector that silently skips a submission it cannot map loses a person's record without anyone
noticing. Instead every submission becomes either a `CanonicalRecord` or a `QuarantinedRecord`:
the source id to find it again on the platform, a reason code from the one error catalogue
(`tipdata.problems.CATALOGUE`), a message per problem, and the raw payload so that nothing has to
be fetched again once the codebook or the data is corrected.

The payload holds case data, and the messages quote the values they complain about: both are
left out of `repr` and must only be written where records are written (never to logs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tipdata.problems import CATALOGUE, Problem


@dataclass(frozen=True)
class QuarantinedRecord:
    """A source record that could not become a canonical record, and why.

    >>> q = QuarantinedRecord.from_problems("kobo:aJ7sd2", "16", [Problem("RC203", "a value is required")],
    ...                                     payload={"_id": 16})
    >>> q.reason
    'RC203'
    """

    source_system: str
    source_id: str
    reason: str
    #: problem messages quote the offending values, so they stay out of `repr` like the payload
    message: str = field(repr=False)
    payload: Mapping[str, Any] = field(repr=False, compare=False)
    problems: tuple[Problem, ...] = field(default=(), repr=False)
    record_id: str | None = None
    form_id: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in CATALOGUE:
            raise ValueError(f"quarantine reason {self.reason!r} is not in the catalogue "
                             "(tipdata.problems.CATALOGUE)")
        if not self.source_system or not self.source_id:
            raise ValueError("a quarantined record needs its source system and source id")

    @classmethod
    def from_problems(cls, source_system: str, source_id: str, problems: Iterable[Problem], *,
                      payload: Mapping[str, Any], record_id: str | None = None,
                      form_id: str | None = None) -> QuarantinedRecord:
        """Quarantine with every problem; the first error (else the first problem) is the reason."""
        found = tuple(problems)
        if not found:
            raise ValueError("a record is quarantined for at least one problem")
        errors = [p for p in found if p.severity == "error"]
        reason = (errors or list(found))[0].code
        message = "; ".join(_problem_text(p) for p in found)
        return cls(source_system, source_id, reason, message, payload, found, record_id, form_id)

    @property
    def reason_name(self) -> str:
        return CATALOGUE[self.reason][0]

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form for a quarantine file (one object per line)."""
        return {
            "source_system": self.source_system,
            "source_id": self.source_id,
            "record_id": self.record_id,
            "form_id": self.form_id,
            "reason": self.reason,
            "reason_name": self.reason_name,
            "message": self.message,
            "problems": [p.as_dict() for p in self.problems],
            "payload": dict(self.payload),
        }


def _problem_text(problem: Problem) -> str:
    subject = f" {problem.element}" if problem.element else ""
    return f"{problem.code}{subject}: {problem.message}"
