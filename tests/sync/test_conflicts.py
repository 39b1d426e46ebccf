"""Merging an incoming record into the ledger's copy by ownership (pure)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from tests.sync.conftest import codebook
from tipdata.policy import load_policy
from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.sync.conflicts import (
    canonical,
    consent_from_answers,
    holds_policy_share,
    merge_incoming,
    same_value,
)

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
RID = record_id_for("kobo:aSource1", "7")


@pytest.fixture(scope="module")
def policy():
    return load_policy(codebook=codebook())


def record(values: dict[str, Any], *, system: str = "kobo:aSource1", updated_at: dt.datetime = T0,
           consent: frozenset[str] = frozenset({"service_referral"})) -> CanonicalRecord:
    source_id = "7" if system.startswith("kobo") else f"TIP Case/{RID}"
    return CanonicalRecord(envelope=Envelope(record_id=RID, source_system=system, source_id=source_id,
                                             form_id="tip_case_intake", collected_at=T0,
                                             updated_at=updated_at, consent_purposes=consent),
                           values=values)


def merge(incoming: CanonicalRecord, stored: CanonicalRecord | None, policy, *, platform: str,
          holders=("kobo", "frappe"), copy: str = "current", empties=None):
    return merge_incoming(incoming, stored, platform=platform, stream=f"{platform}:x",
                          holders=holders, copy=copy, policy=policy,  # type: ignore[arg-type]
                          codebook=codebook(), empty_values=empties)


def test_merge__new_record_is_taken_whole(policy):
    """should take a record the ledger does not hold as it came"""
    incoming = record({"case_status": "active"})
    result = merge(incoming, None, policy, platform="kobo")
    assert (result.status, result.record, result.conflicts) == ("new", incoming, ())


def test_merge__owner_edit_is_applied(policy):
    """should apply Frappe's change of a case element: Frappe owns the case level"""
    stored = record({"case_status": "active", "case_risk_level": "medium"})
    incoming = record({"case_status": "closed", "case_risk_level": "medium"}, system="frappe:site",
                      updated_at=T1)
    result = merge(incoming, stored, policy, platform="frappe")
    assert result.status == "updated" and result.applied == ("case_status",)
    assert result.record.values["case_status"] == "closed"
    assert result.record.envelope.source_system == "kobo:aSource1"  # the record's origin stays
    assert result.record.envelope.updated_at == T1


def test_merge__non_owner_edit_is_overridden_and_reported(policy):
    """should keep the owner's value and report a conflict when Kobo changes a case element Frappe holds"""
    stored = record({"case_status": "closed"})
    incoming = record({"case_status": "active"}, updated_at=T1)
    result = merge(incoming, stored, policy, platform="kobo", copy="none")
    assert result.status == "unchanged" and result.record is stored
    [conflict] = result.conflicts
    assert (conflict.platform, conflict.owner, conflict.elements) == ("kobo", "frappe", ("case_status",))


def test_merge__non_owner_edit_stands_until_the_owner_holds_the_record(policy):
    """should take Kobo's edit of a case element while Frappe has no copy of the record"""
    stored = record({"case_status": "active"})
    incoming = record({"case_status": "closed"}, updated_at=T1)
    result = merge(incoming, stored, policy, platform="kobo", holders=("kobo",), copy="none")
    assert result.status == "updated" and result.conflicts == ()


def test_merge__first_appearance_comes_from_anywhere(policy):
    """should take a value the ledger lacks even from a platform that does not own it"""
    stored = record({"case_status": "active"})
    incoming = record({"case_status": "active", "person_sex": "female"}, updated_at=T1)
    result = merge(incoming, stored, policy, platform="kobo", copy="none")
    assert result.applied == ("person_sex",) and result.conflicts == ()


def test_merge__a_stale_copy_adds_no_first_values(policy):
    """should not take a value the ledger lacks from a copy tipdata wrote before the ledger changed"""
    stored = record({"case_status": "active", "scr_means_force": None})
    incoming = record({"case_status": "active", "scr_means_force": "yes"}, system="frappe:site",
                      updated_at=T1)
    assert merge(incoming, stored, policy, platform="frappe", copy="stale").status == "unchanged"
    assert merge(incoming, stored, policy, platform="frappe", copy="current").applied == ("scr_means_force",)


def test_merge__missing_value_is_a_clearing_only_from_a_current_owner(policy):
    """should clear a value the owner dropped when its copy was current, and ignore the gap otherwise"""
    stored = record({"case_status": "active", "case_risk_level": "high"})
    incoming = record({"case_status": "active"}, system="frappe:site", updated_at=T1)
    cleared = merge(incoming, stored, policy, platform="frappe", copy="current")
    assert cleared.applied == ("case_risk_level",) and cleared.record.values["case_risk_level"] is None
    stale = merge(incoming, stored, policy, platform="frappe", copy="stale")
    assert stale.status == "unchanged"


def test_merge__values_the_policy_withholds_are_not_cleared(policy):
    """should keep immigration status when Frappe, which never received it, lacks it"""
    stored = record({"case_status": "active", "person_immigration_status": "irregular"})
    incoming = record({"case_status": "active"}, system="frappe:site", updated_at=T1)
    assert merge(incoming, stored, policy, platform="frappe").status == "unchanged"


def test_merge__read_back_in_another_representation_is_unchanged(policy):
    """should see no change in Frappe's 0 for an empty Check, a normalised decimal or a reordered set"""
    stored = record({"case_status": "active", "pros_fine_amount": Decimal("1500.50"),
                     "expl_palermo_act": ("recruitment", "transportation")})
    incoming = record({"case_status": "active", "pros_fine_amount": Decimal("1500.5"),
                       "expl_palermo_act": ("transportation", "recruitment"), "recr_abducted": False},
                      system="frappe:site", updated_at=T1)
    result = merge(incoming, stored, policy, platform="frappe", empties={"recr_abducted": False})
    assert result.status == "unchanged"


def test_merge__consent_answers_changed_by_owner_recompute_consent(policy):
    """should recompute the envelope's consent when the owner changes a consent answer"""
    stored = record({"consent_service_referral": "yes", "consent_statistics": "yes"},
                    consent=frozenset({"service_referral", "statistics"}))
    incoming = record({"consent_service_referral": "yes", "consent_statistics": "yes",
                       "consent_withdrawn_purposes": ("statistics",)}, system="frappe:site",
                      updated_at=T1)
    result = merge(incoming, stored, policy, platform="frappe")
    assert result.record.envelope.consent_purposes == frozenset({"service_referral"})


def test_holds_policy_share__true_for_exactly_what_the_policy_sends(policy):
    """should say Frappe's copy is current when it holds the policy's share and nothing else"""
    stored = record({"case_status": "active", "person_immigration_status": "irregular"})
    assert holds_policy_share(stored, record({"case_status": "active"}), "frappe", policy, codebook())
    assert not holds_policy_share(stored, record({"case_status": "closed"}), "frappe", policy, codebook())
    assert not holds_policy_share(stored, record({"case_status": "active"}), "nowhere", policy, codebook())


def test_canonical__sets_and_points_and_numbers():
    """should compare option sets as sets, geopoints in order, numbers by value"""
    assert canonical(("b", "a")) == canonical(["a", "b", "a"])
    assert canonical((1.5, 2.0)) != canonical((2.0, 1.5))
    assert same_value(3, Decimal("3.0")) and not same_value(None, 0)
    assert same_value(None, 0, empty=0) and not same_value(1, 0, empty=0)


def test_consent_from_answers__none_without_answers():
    """should derive no consent (None) from a record that asks none, and subtract withdrawals"""
    assert consent_from_answers(codebook(), {"case_status": "active"}) is None
    assert consent_from_answers(codebook(), {"consent_statistics": "yes", "consent_law_enforcement": "no"}) \
        == frozenset({"statistics"})
