"""The demo's synthetic submissions: deterministic, valid where meant to be, broken where meant to be."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from tipdata.codebook import load_codebook
from tipdata.demo.form_answers import FormFiller
from tipdata.demo.instance_xml import InstanceTemplate
from tipdata.demo.synthetic import DEFECTS, DEMO_FORMS, DemoGenerator
from tipdata.kobo_forms.mapping import FormLayout, flatten_instance_xml, map_submission
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord, Envelope, record_id_for, validate_record


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return load_codebook()


def test_demo_generator__same_seed_same_submissions(codebook: Codebook):
    """should draw the same submissions for the same seed and others for another seed"""
    generator = DemoGenerator(codebook)
    first = generator.generate(records=30, seed=5)
    assert DemoGenerator(codebook).generate(records=30, seed=5) == first
    assert generator.generate(records=30, seed=6).submissions != first.submissions


@pytest.mark.parametrize("form_id", DEMO_FORMS)
def test_form_filler__answers_pass_the_codebook_validation(codebook: Codebook, form_id: str):
    """should give answers with no validation error: types, options, constraints, required, relevance"""
    filler = FormFiller(codebook, form_id)
    today = dt.date(2025, 6, 30)
    moment = dt.datetime(2025, 6, 30, 12, tzinfo=dt.UTC)
    for number in range(40):
        values = filler.answers(random.Random(number), {}, today=today)
        envelope = Envelope(record_id=record_id_for("demo", str(number)), source_system="demo",
                            source_id=str(number), form_id=form_id, collected_at=moment,
                            updated_at=moment)
        problems = validate_record(codebook, CanonicalRecord(envelope=envelope, values=values),
                                   today=today)
        assert [p.render() for p in problems] == []


def test_demo_submissions__map_cleanly_or_quarantine_with_their_reason(codebook: Codebook):
    """should map every valid submission's instance XML to a record and each broken one to its reason"""
    dataset = DemoGenerator(codebook).generate(records=60, seed=9)
    templates = {f: InstanceTemplate.compile(codebook, f) for f in DEMO_FORMS}
    outcomes: dict[str | None, list[str]] = {}
    for s in dataset.submissions:
        xml = templates[s.form_id].render(asset_uid=s.asset_uid, instance_id=s.instance_id,
                                          started=s.started, ended=s.submitted, answers=s.answers)
        flat = flatten_instance_xml(xml)
        assert flat["meta/instanceID"] == s.instance_id
        assert {k: v for k, v in flat.items() if k in s.answers} == dict(s.answers)
        row = {"_id": s.submission_id, "_submission_time": s.submitted.strftime("%Y-%m-%dT%H:%M:%S"),
               **flat}
        outcome = map_submission(codebook, FormLayout.of(codebook, s.form_id), s.asset_uid, row).outcome
        reason = None if isinstance(outcome, CanonicalRecord) else outcome.reason
        outcomes.setdefault(s.defect, []).append(reason or "ok")
    assert set(outcomes.pop(None)) == {"ok"}
    assert outcomes.pop("undecryptable") == ["ok"]  # its plaintext is fine; the ciphertext is not
    assert {d: set(r) for d, r in outcomes.items()} == {
        d: {reason} for d, reason in DEFECTS.items() if d != "undecryptable"}
