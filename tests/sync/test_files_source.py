"""A JSON-lines file of canonical records as a source: appended lines only, bad lines quarantined."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.sync.conftest import codebook, intake_values
from tipdata.ledger import Ledger, Watermark
from tipdata.policy import load_policy
from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.sync.adapters.files import JsonLinesSource
from tipdata.sync.apply import SyncEngine

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)


def line(n: int, **overrides) -> str:
    source_id = str(n)
    record = CanonicalRecord(envelope=Envelope(
        record_id=record_id_for("kobo:aFileForm1", source_id), source_system="kobo:aFileForm1",
        source_id=source_id, form_id="tip_case_intake", collected_at=T0, updated_at=T0,
        consent_purposes=frozenset({"service_referral"})), values=intake_values(n, **overrides))
    return json.dumps(record.to_json()) + "\n"


def test_pages__reads_only_lines_appended_since_the_watermark(tmp_path: Path):
    """should start at the stored byte offset and leave a half-written last line for later"""
    path = tmp_path / "intake.jsonl"
    path.write_text(line(1) + line(2), encoding="utf-8")
    source = JsonLinesSource([path], codebook(), page_size=1)
    [stream] = source.streams()
    first = list(source.pages(stream, None))
    assert [len(p.records) for p in first] == [1, 1, 0]
    mark = first[-1].watermark
    assert mark == Watermark(number=path.stat().st_size)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line(3) + line(4)[:40])
    later = list(source.pages(stream, mark))
    assert [r.envelope.source_id for p in later for r in p.records] == ["3"]
    assert later[-1].watermark.number == path.stat().st_size - 40


def test_pages__quarantines_bad_lines_with_every_problem(tmp_path: Path):
    """should quarantine a line that is not JSON and a record with errors, keeping the rest"""
    path = tmp_path / "intake.jsonl"
    path.write_text("not json\n" + line(1, case_status="bogus", person_sex="robot") + line(2),
                    encoding="utf-8")
    source = JsonLinesSource([path], codebook())
    [page] = list(source.pages(source.streams()[0], None))
    assert [r.envelope.source_id for r in page.records] == ["2"]
    reasons = sorted(q.reason for q in page.quarantined)
    assert reasons == ["RC202", "SY710"]
    invalid = next(q for q in page.quarantined if q.reason == "RC202")
    assert {p.element for p in invalid.problems} == {"case_status", "person_sex"}


def test_engine__file_records_reach_the_ledger_once_however_often_read(tmp_path: Path, ledger: Ledger):
    """should store each record once and advance the watermark with the page that covers it"""
    path = tmp_path / "intake.jsonl"
    path.write_text(line(1) + line(2) + line(1), encoding="utf-8")
    engine = SyncEngine(ledger, codebook(), load_policy(codebook=codebook()),
                        sources=[JsonLinesSource([path], codebook(), page_size=2)])
    plan = engine.run()
    stream = "file:intake"
    assert (plan.sources[stream].new, plan.sources[stream].unchanged) == (2, 1)
    assert ledger.count_records() == 2
    assert ledger.watermark(stream) == Watermark(number=path.stat().st_size)
    again = engine.run()
    assert (again.sources[stream].new, again.sources[stream].unchanged) == (0, 0)
