"""`decide_repeated`: `decide` computed once per shape of record, equal to `decide` for every record."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.policy.conftest import record
from tests.policy.test_decide_properties import CODEBOOK, codes, policies, purposes, values
from tipdata.policy import TARGETS, RoutingPolicy, decide
from tipdata.sync.plan import decide_repeated


@st.composite
def same_shape_records(draw: st.DrawFn) -> list[Any]:
    """Records with the same codes, their values drawn apart, under two sets of consent purposes."""
    chosen = draw(st.lists(codes, max_size=30, unique=True))
    consents = (draw(purposes), draw(purposes))
    return [record({code: draw(values) for code in chosen}, consents[n % 2]) for n in range(4)]


@settings(max_examples=150, deadline=None)
@given(policies(), st.lists(same_shape_records(), min_size=1, max_size=4))
def test_decide_repeated__equals_decide_for_every_record(policy: RoutingPolicy, groups: list[list[Any]]) -> None:
    """should give exactly what `decide` gives, for records of a shape seen before and new ones."""
    for group in groups:
        for rec in group:
            for target in TARGETS:
                assert decide_repeated(rec, target, policy, CODEBOOK) == decide(rec, target, policy, CODEBOOK)


@settings(max_examples=60, deadline=None)
@given(policies(), policies(), same_shape_records())
def test_decide_repeated__never_reuses_another_policys_answer(first: RoutingPolicy, second: RoutingPolicy,
                                                              group: list[Any]) -> None:
    """should decide afresh when the policy changes, even for a shape decided under the previous one."""
    for policy in (first, second, first):
        for target in TARGETS:
            assert decide_repeated(group[0], target, policy, CODEBOOK) == decide(group[0], target, policy, CODEBOOK)
