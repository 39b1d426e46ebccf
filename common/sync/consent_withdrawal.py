"""Taking back what a target received once the person's consent no longer covers it (pure).

`decide` says what may travel *now*; a target that received a record earlier may still hold
values that the person has since withdrawn consent for. Sending less is not enough: the copy
keeps them. So when the engine updates a copy it also *retracts*:

- **values**: elements the target received under a purpose the person has withdrawn are sent
  as empty values (Frappe sets the field to null; DHIS2 gets `value: null`, which deletes the
  attribute or data value). `retraction_codes` finds them: elements `decide` now withholds for
  `consent_missing` that it would allow under every purpose the person ever granted
  (`consent_<purpose> = yes`, before withdrawals are subtracted).
- **the whole record**: when nothing of it may remain on a target that holds it (consent for
  everything withdrawn, `data_recording` withdrawn, or nothing left that files it there), no
  update can empty it and the adapters have no delete. The engine then sends nothing, records
  the record as *retracted* (id-map platform id `withheld/retracted:<platform id>`, so it is not
  planned again and the platform id to delete stays known), audits it, and tells the operator
  to delete it on the platform.

A withdrawal reaches the record in three ways, and all three take the same path:

- **recorded** as a withdrawal (`consent_withdrawn = yes`, `consent_withdrawn_purposes`);
- **flipped**: a consent answer changed from yes to no at the source (an edited Kobo
  submission, a Frappe case whose consent field went from 1 to 0). The record no longer says the
  purpose was granted, so the engine asks the copy instead: every id-map link remembers the
  purposes its copy was written under (`IdLink.held_purposes`), and those count as granted
  (`retraction_codes(..., held=...)`). A withdrawal is also never overridden by ownership
  (`tipdata.sync.conflicts`): a no from any platform that speaks for its copy stands;
- **inherited**: the records of a case (referrals, services, outcome assessments, ... quoting its
  `case_reference`) carry its consent; when the case loses a purpose they lose it in the same
  transaction (`narrowed_dependents`), so their copies are retracted in the same run, not when
  they next change.

Every retraction is a `retract` audit entry (ids and counts only). Links written before the
ledger remembered held purposes (migration 3) learnt them from their record when the copy was
its current version (migration 4); for the others (the record had changed since its last push)
the engine assumes the copy may hold values under every purpose, so a withdrawal is never
missed: at worst a value the copy never held is emptied once, and the link then knows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from tipdata.ledger import IdLink
from tipdata.model import Codebook
from tipdata.policy import CONSENT_MISSING, QUOTED_CASE_REFERENCE, Decision, RoutingPolicy, decide
from tipdata.records import CanonicalRecord
from tipdata.sync.plan import WITHHELD_ID_PREFIX, is_withheld_link

#: id-map platform id of a record retracted whole: the platform id it had, to delete by hand
RETRACTED_ID_PREFIX = f"{WITHHELD_ID_PREFIX}retracted:"
#: reasons counted under a target's `retracted`
VALUES_BLANKED = "values_blanked"
DELETE_ON_PLATFORM = "delete_on_platform"


def holds_copy(link: IdLink | None) -> bool:
    """Whether the target holds a copy tipdata wrote (not withheld, not retracted)."""
    return link is not None and not is_withheld_link(link)


def retracted_platform_id(link: IdLink) -> str:
    """`withheld/retracted:TIP Case/<record id>`: withheld from now on, and what to delete."""
    return link.platform_id if link.platform_id.startswith(RETRACTED_ID_PREFIX) \
        else f"{RETRACTED_ID_PREFIX}{link.platform_id}"


def platform_id_to_delete(platform_id: str) -> str | None:
    """The platform id of a record retracted whole, or None for any other link."""
    return platform_id.removeprefix(RETRACTED_ID_PREFIX) \
        if platform_id.startswith(RETRACTED_ID_PREFIX) else None


def granted_purposes(codebook: Codebook, values: Mapping[str, Any]) -> frozenset[str]:
    """Purposes the person agreed to at some point (`consent_<purpose> = yes`), withdrawals not
    subtracted.

    >>> granted_purposes(codebook, {"consent_statistics": "yes", "consent_withdrawn_purposes": ("statistics",)})
    frozenset({'statistics'})
    """
    return frozenset(p for p in codebook.consent_purposes if values.get(f"consent_{p}") == "yes")


def retraction_codes(record: CanonicalRecord, decision: Decision, policy: RoutingPolicy,
                     codebook: Codebook, held: Collection[str] | None = None) -> tuple[str, ...]:
    """Elements of `record` to empty on `decision.target`: withheld now for missing consent,
    allowed under the consent the person once gave. Empty when nothing was withdrawn.

    `held`: the purposes the target's copy was written under (`IdLink.held_purposes`; None when
    unknown), which count as once given: how a consent answer flipped from yes to no is seen.

    >>> retraction_codes(withdrawn_statistics, decide(withdrawn_statistics, "dhis2", policy, cb), policy, cb)
    ('expl_palermo_act', 'expl_palermo_means', ...)
    """
    current = record.envelope.consent_purposes
    granted = granted_purposes(codebook, record.values) | current
    if held:
        granted |= frozenset(held)
    if granted == current:
        return ()
    missing = [code for code, reason in decision.withheld if reason == CONSENT_MISSING]
    if not missing:
        return ()
    before = CanonicalRecord(envelope=record.envelope.model_copy(update={"consent_purposes": granted}),
                             values={code: record.values[code] for code in missing})
    allowed_before = decide(before, decision.target, policy, codebook).allowed_values
    return tuple(code for code in missing if code in allowed_before)


def with_retractions(record: CanonicalRecord, allowed: Mapping[str, Any],
                     codes: tuple[str, ...]) -> CanonicalRecord:
    """The outbound record: the allowed values plus an empty value for each retracted code."""
    return CanonicalRecord(envelope=record.envelope,
                           values={**allowed, **dict.fromkeys(codes)})


#: a case's reference (the records of the case quote it as `QUOTED_CASE_REFERENCE`)
CASE_REFERENCE = "case_reference"
CASE_LEVEL = "case"


def withdrawn_from_cases(changes: Iterable[tuple[CanonicalRecord | None, CanonicalRecord]],
                         codebook: Codebook) -> dict[str, frozenset[str]]:
    """Case reference → consent purposes the case lost, over (stored, merged) pairs of records.

    >>> withdrawn_from_cases([(case_with_statistics, case_without)], codebook)
    {'TIP-2026-0001': frozenset({'statistics'})}
    """
    lost: dict[str, frozenset[str]] = {}
    for before, after in changes:
        if before is None:
            continue
        form = codebook.forms.get(after.envelope.form_id or "")
        if form is None or form.level != CASE_LEVEL:
            continue
        revoked = before.envelope.consent_purposes - after.envelope.consent_purposes
        reference = after.values.get(CASE_REFERENCE) or before.values.get(CASE_REFERENCE)
        if revoked and isinstance(reference, str) and reference:
            lost[reference] = lost.get(reference, frozenset()) | revoked
    return lost


def narrowed_dependent(record: CanonicalRecord, lost: Mapping[str, frozenset[str]]) -> CanonicalRecord | None:
    """`record` without the purposes its case lost, or None when it quotes no such case or
    carries none of them. Never adds a purpose: a case's new consent is not a dependent's.

    >>> narrowed_dependent(referral, {"TIP-2026-0001": frozenset({"statistics"})}).envelope.consent_purposes
    frozenset({'service_referral', 'follow_up_contact'})
    """
    reference = record.values.get(QUOTED_CASE_REFERENCE)
    purposes = record.envelope.consent_purposes
    revoked = lost.get(reference) if isinstance(reference, str) else None
    if not revoked or not purposes & revoked:
        return None
    return CanonicalRecord(envelope=record.envelope.model_copy(
        update={"consent_purposes": purposes - revoked}), values=record.values)
