"""What a push opens: only the sealed values a target could ever receive."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from tests.ledger.conftest import IMMIGRATION, NAME, PHONE, make_record
from tests.policy.test_decide_properties import CODEBOOK, policies, records
from tipdata.ledger import Ledger
from tipdata.ledger.record_rows import NOT_OPENED
from tipdata.policy import TARGETS, RoutingPolicy, decide, load_policy
from tipdata.sync.ledger_reads import pending_for_target
from tipdata.sync.plan import plan_write, receivable_codes


@settings(max_examples=300, deadline=None)
@given(rec=records(), policy=policies())
def test_receivable_codes__hold_everything_decide_ever_allows(
    rec: Any, policy: RoutingPolicy
) -> None:
    """should contain every code decide allows to any target, for random records, consents and policies"""
    for target in TARGETS:
        allowed = decide(rec, target, policy, CODEBOOK).allowed_values
        assert set(allowed) <= receivable_codes(target, policy, CODEBOOK)


def test_receivable_codes__default_policy_keeps_identifiers_and_immigration_status_closed():
    """should leave names out for DHIS2 and immigration status out for both targets"""
    policy = load_policy(codebook=CODEBOOK)
    dhis2, frappe = (
        receivable_codes("dhis2", policy, CODEBOOK),
        receivable_codes("frappe", policy, CODEBOOK),
    )
    assert "person_given_names" not in dhis2 and "person_given_names" in frappe
    assert "person_immigration_status" not in dhis2 | frappe
    assert "expl_palermo_act" in dhis2  # sensitive, under statistics consent


def test_pending_for_target__leaves_unreceivable_sealed_values_closed(ledger: Ledger) -> None:
    """should open only the given codes' sealed values, keep the others' codes, and plan the same write"""
    record = make_record(1)  # a name, a phone and immigration status among its values
    assert {
        record.values[c]
        for c in ("person_given_names", "person_phone", "person_immigration_status")
    } == {NAME, PHONE, IMMIGRATION}
    with ledger.transaction() as tx:
        tx.upsert_records([record])
    policy = load_policy(codebook=CODEBOOK)
    receivable = receivable_codes("dhis2", policy, CODEBOOK)
    with ledger.reading() as tx:
        [full] = pending_for_target(tx, "dhis2")
        [partial] = pending_for_target(tx, "dhis2", open_only=receivable)
    assert set(partial.record.values) == set(full.record.values)
    for code in ("person_given_names", "person_phone", "person_immigration_status"):
        assert partial.record.values[code] is NOT_OPENED
    assert {c: v for c, v in partial.record.values.items() if v is not NOT_OPENED} == {
        c: v for c, v in full.record.values.items() if c in receivable or c not in _sealed(full)
    }
    want = plan_write(full.record, full.content_hash, None, "dhis2", policy, CODEBOOK)
    got = plan_write(partial.record, partial.content_hash, None, "dhis2", policy, CODEBOOK)
    assert got.outbound.record.values == want.outbound.record.values
    assert got.outbound.decision.withheld == want.outbound.decision.withheld
    assert NOT_OPENED not in got.outbound.record.values.values()


def _sealed(pending_record: Any) -> set[str]:
    from tipdata.ledger.record_rows import is_sealed

    return {c for c in pending_record.record.values if is_sealed(CODEBOOK, c)}
