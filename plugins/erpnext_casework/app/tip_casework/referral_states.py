"""Which referral statuses are final: the referral check chases only the others.

Codes of the codebook's `referral_status` list (`ref_status`). A final status means the referral
has settled: the service was completed, or it will not happen (declined by the provider or the
person, closed without service). Any other code, including one added to the list later, counts
as open, so a new status is chased rather than silently ignored. Frappe-free, so the project's
tests check these codes against the codebook.
"""

from __future__ import annotations

FINAL_REFERRAL_STATUSES: frozenset[str] = frozenset(
    {"completed", "declined_by_provider", "declined_by_person", "closed_no_service"}
)


def is_open(status: str | None) -> bool:
    """A referral with a status that is not final still waits for something to happen."""
    return bool(status) and status not in FINAL_REFERRAL_STATUSES
