"""Merging a record read from a platform into the ledger's copy, by the ownership policy.

The ledger holds one copy of each record: what every platform said about it, merged. A record
read again from a platform (a Kobo edit, a caseworker's correction in Frappe, or Frappe echoing
what tipdata wrote) is compared with that copy element by element, and a differing value is
taken when

- the platform **owns** the element's level (`[owners]` in the routing policy): the source of
  truth changed it;
- the ledger holds **no value** for it yet: a value's first appearance can come from anywhere;
- the owner **holds no copy** of the record yet (never received it, did not create it): until it
  does, the platform that collected the record is the only one that could have changed it;
- it **withdraws a consent** (`consent_<purpose>` or `consent_data_recording` from yes to no,
  `withdraws_consent`): a no stands whoever owns the answer.

Otherwise the owner's value stands and the incoming value is *overridden*: that is a conflict
(two platforms disagree about a value the owner holds), and the engine records it in the audit
log — never a silent overwrite.

What a platform's copy can say depends on its state (`CopyState`). A platform tipdata never wrote
the record to (Kobo, a file, a case created in Frappe) speaks for itself. A copy tipdata wrote is
*current* when its id-map hash is the ledger's (it holds exactly the policy's share of the
ledger's version) and *stale* when the ledger changed since (the push is still to come): a stale
copy's extra values may be leftovers of values cleared since, so they are not taken as first
appearances until the copy is current again. A value missing from the incoming record means
"cleared" only when the platform owns it and its copy is current; otherwise a missing value says
nothing (platforms hold only what the policy sent them). A cleared value is kept as an explicit
empty value (None), so the push clears it on the copies too.

Values are compared in canonical form (decimals normalised, multi-selects as sets, date-times in
UTC), and a platform's stored default for an empty field (Frappe keeps 0 in an empty Check field)
equals no value, so reading back what tipdata wrote is not a change.

Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from tipdata.model import Codebook
from tipdata.policy import RoutingPolicy, decide
from tipdata.records import CanonicalRecord
from tipdata.sync.plan import decide_repeated

MergeStatus = Literal["new", "updated", "unchanged"]
#: the incoming platform's copy: never written by tipdata, written and current, written and stale
CopyState = Literal["none", "current", "stale"]
CONSENT_PREFIX = "consent_"
WITHDRAWN_PURPOSES = "consent_withdrawn_purposes"
WITHDRAWN = "consent_withdrawn"
#: withdrawing consent to keeping a record withdraws every use
DATA_RECORDING = "data_recording"


@dataclass(frozen=True)
class Conflict:
    """Incoming values the owner's copy overrode. Element codes only, never values."""

    record_id: str
    #: the platform whose values were overridden, and the stream they came from
    platform: str
    stream: str
    #: the platform whose values stand (the owner of the elements' level)
    owner: str
    elements: tuple[str, ...]


@dataclass(frozen=True)
class Merge:
    """What storing an incoming record does to the ledger's copy."""

    status: MergeStatus
    #: the record to store (the stored one, unchanged, when status is `unchanged`)
    record: CanonicalRecord = field(repr=False)
    #: element codes whose incoming value was taken (or cleared)
    applied: tuple[str, ...] = ()
    #: one per owner whose values overrode incoming ones
    conflicts: tuple[Conflict, ...] = ()


def platform_of(source_system: str) -> str:
    """`kobo:aBc123` → `kobo`; `frappe:casework.example.org` → `frappe`."""
    return source_system.split(":", 1)[0]


def canonical(value: Any) -> Any:
    """A value in one comparable form whatever platform it was read back from.

    >>> canonical(Decimal("1.50")) == canonical(Decimal("1.5"))
    True
    """
    if value is None or value == "" or value == () or value == []:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        try:
            return Decimal(str(value)).normalize()
        except InvalidOperation:
            return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value
    if isinstance(value, tuple | list | set | frozenset):
        if all(isinstance(v, str) for v in value):  # option codes: a set
            return tuple(sorted(set(value)))
        return tuple(canonical(v) for v in value)  # a geopoint: order matters
    return value


def same_value(stored: Any, incoming: Any, empty: Any = None) -> bool:
    """Whether two values say the same; `empty` is what the incoming platform keeps for none."""
    left, right = canonical(stored), canonical(incoming)
    if left == right:
        return True
    return left is None and empty is not None and right == canonical(empty)


def consent_from_answers(codebook: Codebook, values: Mapping[str, Any]) -> frozenset[str] | None:
    """Purposes whose `consent_<purpose>` answer is `yes`, minus withdrawn ones; None: no answers.

    The rule the Kobo mapping uses, plus withdrawal as the casework app records it
    (`consent_rules.coverage`): purposes listed in `consent_withdrawn_purposes` (unless
    `consent_withdrawn` says no), and every purpose when `data_recording` is withdrawn or the
    person did not agree to a record being kept (`consent_data_recording = no`).

    >>> consent_from_answers(codebook, {"consent_statistics": "yes", "consent_withdrawn": "yes",
    ...                                 "consent_withdrawn_purposes": ("data_recording",)})
    frozenset()
    """
    answers = {p: values.get(f"{CONSENT_PREFIX}{p}") for p in codebook.consent_purposes}
    if all(v is None for v in answers.values()):
        return None
    withdrawn = set(values.get(WITHDRAWN_PURPOSES) or ()) if values.get(WITHDRAWN) != "no" else set()
    if DATA_RECORDING in withdrawn or values.get(f"{CONSENT_PREFIX}{DATA_RECORDING}") == "no":
        return frozenset()
    return frozenset(p for p, answer in answers.items() if answer == "yes" and p not in withdrawn)


def withdraws_consent(code: str, current: Any, value: Any, codebook: Codebook) -> bool:
    """Whether changing `code` from `current` to `value` takes a consent back (yes → no).

    A withdrawal stands whoever owns the answer: no platform may keep sharing what the person
    said no to because another platform's copy still says yes.

    >>> withdraws_consent("consent_statistics", "yes", "no", codebook)
    True
    """
    if not code.startswith(CONSENT_PREFIX) or current != "yes" or value != "no":
        return False
    purpose = code[len(CONSENT_PREFIX):]
    return purpose in codebook.consent_purposes or purpose == DATA_RECORDING


def merge_incoming(incoming: CanonicalRecord, stored: CanonicalRecord | None, *, platform: str,
                   stream: str, holders: Collection[str], copy: CopyState,
                   policy: RoutingPolicy, codebook: Codebook,
                   empty_values: Mapping[str, Any] | None = None) -> Merge:
    """Merge a record read from `platform` into the ledger's copy `stored` (see module doc).

    `holders`: platforms holding a copy of the record (linked in the id map, or where it was
    collected). `copy`: the state of the platform's copy (`CopyState`).

    Example:
        merge = merge_incoming(pulled, ledger_copy, platform="frappe", stream="frappe:site/tip_case",
                               holders={"kobo", "frappe"}, copy="current",
                               policy=policy, codebook=codebook)
        merge.status, merge.conflicts
    """
    if stored is None:
        return Merge("new", incoming, tuple(sorted(incoming.values)))
    empties = empty_values or {}
    values = dict(stored.values)
    applied: list[str] = []
    overridden: dict[str, list[str]] = {}
    sent: frozenset[str] | None = None
    for code in sorted(set(incoming.values) | set(stored.values)):
        current = stored.values.get(code)
        if code not in incoming.values:
            if canonical(current) is None or copy != "current" \
                    or not _owned(policy, codebook, platform, code):
                continue
            if sent is None and platform in policy.targets:
                sent = frozenset(decide(stored, platform, policy, codebook).allowed_values)
            if sent is not None and code in sent:  # the platform held it, and it is gone: cleared
                values[code] = None
                applied.append(code)
            continue
        value = incoming.values[code]
        # perf: equal values are canonically equal; most values read back did not change
        if (value == current and value.__class__ is current.__class__) \
                or same_value(current, value, empties.get(code)):
            continue
        owner = _owner(policy, codebook, code)
        speaks_for_itself = copy != "stale"
        if owner == platform or owner is None or (speaks_for_itself and (
                canonical(current) is None or owner not in holders
                or withdraws_consent(code, current, value, codebook))):
            values[code] = None if canonical(value) is None else value
            applied.append(code)
        elif canonical(current) is not None:
            overridden.setdefault(owner, []).append(code)
    conflicts = tuple(Conflict(stored.record_id, platform, stream, owner, tuple(codes))
                      for owner, codes in sorted(overridden.items()))
    if not applied:
        return Merge("unchanged", stored, (), conflicts)
    envelope = stored.envelope
    changes: dict[str, Any] = {"updated_at": max(envelope.updated_at, incoming.envelope.updated_at)}
    if any(code.startswith(CONSENT_PREFIX) for code in applied):
        consent = consent_from_answers(codebook, values)
        if consent is not None:
            changes["consent_purposes"] = consent
    if incoming.envelope.source_system == envelope.source_system and incoming.envelope.form_version:
        changes["form_version"] = incoming.envelope.form_version
    merged = CanonicalRecord(envelope=envelope.model_copy(update=changes), values=values)
    return Merge("updated", merged, tuple(applied), conflicts)


def holds_policy_share(record: CanonicalRecord, incoming: CanonicalRecord, platform: str,
                       policy: RoutingPolicy, codebook: Codebook,
                       empty_values: Mapping[str, Any] | None = None) -> bool:
    """Whether `incoming` (read from `platform`) already holds exactly what the policy sends it.

    Then the platform's copy is current and nothing needs writing back to it.
    """
    if platform not in policy.targets:
        return False
    allowed = decide_repeated(record, platform, policy, codebook).allowed_values  # = decide's
    empties = empty_values or {}
    codes = set(allowed) | set(incoming.values)
    return all(same_value(allowed.get(code), incoming.values.get(code), empties.get(code))
               for code in codes)


def _owner(policy: RoutingPolicy, codebook: Codebook, code: str) -> str | None:
    element = codebook.elements.get(code)
    return policy.owners.get(element.level) if element is not None else None


def _owned(policy: RoutingPolicy, codebook: Codebook, platform: str, code: str) -> bool:
    return _owner(policy, codebook, code) == platform
