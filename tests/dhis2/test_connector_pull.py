"""`Dhis2Connector.pull`: tracked entities updated since a watermark, paged, back to canonical records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dhis2.connector_support import VERSIONS, connect, intake, referral
from tests.doubles.dhis2 import Dhis2Double
from tipdata.codebook import load_codebook
from tipdata.dhis2_app.uids import uid_for
from tipdata.records import record_id_for


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(params=VERSIONS)
def double(request: pytest.FixtureRequest) -> Iterator[Dhis2Double]:
    with Dhis2Double(request.param) as running:
        yield running


@pytest.fixture
def connector(double, codebook):
    connector = connect(double, codebook)
    assert connector.install().ok
    return connector


def test_pull__round_trip_returns_what_was_pushed(double, connector):
    """should give back every value pushed, one record per event, across the version's envelope"""
    records = [intake(f"P-{i}", f"TIP-{i}", person_age=20 + i) for i in range(3)] + [referral("TIP-1")]
    assert connector.push(records).ok
    result = connector.pull(page_size=2)
    assert result.count == len(result.records) == 7 and result.tracked_entities == 3
    assert result.pages == 2
    by_event = {r.envelope.source_id: r for r in result.records}
    mapping = connector.mapping
    for record in records:
        case = record.values.get("case_reference") or record.values["svc_case_reference"]
        keys = (record.record_id, uid_for("enrollment", case))
        event_uids = [uid_for("event", f"{key}:{stage}") for stage in mapping.stages for key in keys]
        pulled = [by_event[u] for u in event_uids if u in by_event]
        merged = {k: v for r in pulled for k, v in r.values.items()}
        sent = {k: v for k, v in record.values.items() if k in mapping.targets}
        assert sent.items() <= merged.items()
    first = by_event[uid_for("event", f"{uid_for('enrollment', 'TIP-0')}:{uid_for('programStage', 'tip_case_intake')}")]
    assert first.envelope.record_id == record_id_for(f"dhis2:{mapping.program}", first.envelope.source_id)
    assert first.values["person_disability"] == ("seeing", "walking")


def test_pull__since_watermark_returns_only_later_changes(double, connector):
    """should return only tracked entities changed at or after the watermark of the last pull"""
    connector.push([intake(f"P-{i}", f"TIP-{i}") for i in range(4)])
    first = connector.pull()
    assert first.tracked_entities == 4 and first.watermark is not None
    connector.push([referral("TIP-2")])
    second = connector.pull(since=first.watermark)
    sent = double.requests_to("/api/tracker/trackedEntities", "GET")[-1]
    changed = {r.values["person_pseudo_id"] for r in second.records}
    assert changed == {"P-2", "P-3"}  # P-3 holds the (inclusive) watermark, so it comes again
    assert second.watermark > first.watermark
    assert sent.query["updatedAfter"].startswith(first.watermark.strftime("%Y-%m-%dT%H:%M:%S"))
    assert sent.query["program"] == connector.mapping.program


def test_pull__pages_through_everything_without_loss(double, connector):
    """should page with the version's envelope until the server says there is no more"""
    connector.push([intake(f"P-{i:02d}", f"TIP-{i:02d}") for i in range(11)])
    result = connector.pull(page_size=3)
    people = {r.values["person_pseudo_id"] for r in result.records}
    assert people == {f"P-{i:02d}" for i in range(11)}
    assert result.tracked_entities == 11  # each once, although pages re-anchor on updatedAt
    assert result.pages >= 4


def test_pull__streams_to_a_sink(connector):
    """should hand records to the sink and keep none in the result"""
    connector.push([intake("P-1", "TIP-1")])
    seen = []
    result = connector.pull(sink=seen.append)
    assert len(seen) == result.count == 2 and result.records == []


def test_pull__nothing_changed_is_empty(connector):
    """should return no records when nothing changed after the watermark's successor"""
    connector.push([intake("P-1", "TIP-1")])
    first = connector.pull()
    later = first.watermark.replace(year=first.watermark.year + 1)
    assert connector.pull(since=later).count == 0
