"""The connector with the real metadata package (the builder's output) against every version.

The other connector tests use a small hand-made package; this one proves that what
`tipdata.dhis2_app.metadata.build_metadata` emits installs on the double, that complete intake and
referral records push without rejection, and that a re-push and a pull behave.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.dhis2.connector_support import ORG_UNIT, VERSIONS, connect, make_record
from tests.doubles.dhis2 import Dhis2Double
from tipdata.codebook import load_codebook
from tipdata.model import Codebook

metadata = pytest.importorskip("tipdata.dhis2_app.metadata")

KEYS = {"person_pseudo_id": "P-0001", "case_reference": "TIP-2026-0001", "svc_case_reference": "TIP-2026-0001"}


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return load_codebook()


@pytest.fixture(scope="module")
def package(codebook) -> dict[str, Any]:
    return metadata.build_metadata(codebook).json


@pytest.fixture(params=VERSIONS)
def double(request: pytest.FixtureRequest) -> Iterator[Dhis2Double]:
    with Dhis2Double(request.param) as running:
        yield running


def sample_value(codebook: Codebook, element: Any) -> Any:
    """A value valid for the element's type (the first option codes for selects)."""
    options = codebook.options_for(element)
    if element.type == "select_one":
        return options.codes()[0]
    if element.type == "select_multiple":
        return tuple(sorted(options.codes()[:2]))
    return {"date": dt.date(2026, 2, 1), "datetime": dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC),
            "integer": 3, "decimal": Decimal("2.5"), "boolean": True, "geopoint": (8.48, -13.23),
            "text": "answer"}[element.type]


def complete_record(codebook: Codebook, form_id: str) -> Any:
    """A record answering every element of the form with a value valid for its type."""
    values: dict[str, Any] = {}
    for code in codebook.forms[form_id].element_codes():
        element = codebook.elements[code]
        values[code] = KEYS.get(code) or sample_value(codebook, element)
    return make_record(values, form_id=form_id)


def test_real_package__installs_pushes_repushes_and_pulls(double, codebook, package):
    """should install the built package, accept complete records, update on re-push and pull them back"""
    connector = connect(double, codebook, package, org_unit=ORG_UNIT)
    installed = connector.install(assign_to=[ORG_UNIT])
    assert installed.ok, [p.render() for p in installed.problems[:5]]
    records = [complete_record(codebook, "tip_case_intake"), complete_record(codebook, "tip_referral")]
    first = connector.push(records)
    assert first.ok, [q.message for q in first.quarantined]
    counts = double.counts()
    second = connector.push(records)
    assert second.ok and double.counts() == counts
    assert "person_immigration_status" in first.withheld and "person_given_names" in first.withheld
    pulled = connector.pull()
    merged = {k: v for r in pulled.records for k, v in r.values.items()}
    sent = {k: v for r in records for k, v in r.values.items() if k in connector.mapping.targets}
    sent.pop("svc_case_reference")  # a link, not a value: it files the referral under its case
    assert sent.items() <= merged.items()
    referral_stage = next(s.uid for s in connector.mapping.stages.values() if s.code == "TIP_STAGE_REFERRAL")
    referrals = [r for r in pulled.records if r.envelope.source_id in {
        e.uid for e in double.store.events.values() if e.program_stage == referral_stage}]
    assert [r.values["case_reference"] for r in referrals] == [KEYS["svc_case_reference"]]
