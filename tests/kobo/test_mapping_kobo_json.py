"""Kobo submission JSON → canonical records: groups, repeats, strings, omissions, quarantine."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest

from tipdata.codebook import load_codebook
from tipdata.kobo_forms.mapping import (
    FormLayout,
    canonical_to_kobo_json,
    content_digest,
    flatten_instance_xml,
    is_encrypted_submission,
    kobo_to_canonical,
    map_submission,
    revision_of,
    source_system_for,
    submission_id_of,
)
from tipdata.problems import CATALOGUE
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord, record_id_for

ASSET = "aJ7sd2kqWcH5YbVfXe8mLp"

#: A form with every element type, in groups, plus consent questions per purpose.
KOBO_FILES = {
    "elements/extra.yaml": """
        section: extra
        elements:
          - code: visit_date
            type: date
            label: Visit date
            level: screening
            sensitivity: operational
          - code: visit_time
            type: datetime
            label: Visit time
            level: screening
            sensitivity: operational
          - code: weight
            type: decimal
            label: Weight
            level: person
            sensitivity: sensitive
          - code: means
            type: select_multiple
            options: means
            label: Means
            level: screening
            sensitivity: sensitive
          - code: place
            type: geopoint
            label: Place
            level: screening
            sensitivity: quasi_identifier
          - code: notes
            type: text
            label: Notes
            level: screening
            sensitivity: sensitive
          - code: consent_statistics
            type: select_one
            options: yes_no
            label: Statistics consent
            level: person
            sensitivity: operational
          - code: consent_service_referral
            type: select_one
            options: yes_no
            label: Referral consent
            level: person
            sensitivity: operational
    """,
    "options/extra.yaml": """
        lists:
          means:
            - {code: debt, label: Debt}
            - {code: threats, label: Threats}
            - {code: documents, label: Documents withheld}
    """,
    "forms/kobo_form.yaml": """
        id: kobo_form
        title: Kobo form
        level: screening
        items:
          - group: grp_person
            label: Person
            items:
              - element: person_age
              - element: person_sex
              - group: grp_inner
                label: Inner
                items:
                  - element: weight
          - group: grp_visit
            label: Visit
            items:
              - element: visit_date
              - element: visit_time
              - element: means
              - element: place
              - element: notes
          - element: consent_statistics
          - element: consent_service_referral
          - element: scr_forced
            relevant: "person_age >= 18"
          - element: scr_is_child
    """,
}


@pytest.fixture
def codebook(mini_codebook):
    return load_codebook(mini_codebook(replace=KOBO_FILES))


@pytest.fixture
def layout(codebook):
    return FormLayout.of(codebook, "kobo_form")


def submission(**answers: object) -> dict[str, object]:
    """A Kobo /data/ row with metadata, plus the given answers (keys are Kobo paths)."""
    row: dict[str, object] = {
        "_id": 16,
        "formhub/uuid": "57e6fd0b4065443280c9641be5670e89",
        "start": "2026-03-01T11:11:31.421+02:00",
        "end": "2026-03-01T11:20:02.000+02:00",
        "__version__": "vHNo5vFh3KoB7LWhucUkFy",
        "meta/instanceID": "uuid:faa38eee-4e3f-419e-bac0-e95f1085d998",
        "meta/rootUuid": "uuid:faa38eee-4e3f-419e-bac0-e95f1085d998",
        "_xform_id_string": ASSET,
        "_uuid": "faa38eee-4e3f-419e-bac0-e95f1085d998",
        "_attachments": [],
        "_status": "submitted_via_web",
        "_geolocation": [None, None],
        "_submission_time": "2026-03-01T09:20:05",
        "_validation_status": {},
        "_submitted_by": None,
        "_supplementalDetails": {},
    }
    row.update({"grp_person/person_sex": "female"})
    row.update(answers)
    return row


def test_layout__paths_follow_groups(layout):
    """should place each element under its (nested) groups, as Kobo flattens the XML"""
    assert layout.paths["person_age"] == "grp_person/person_age"
    assert layout.paths["weight"] == "grp_person/grp_inner/weight"
    assert layout.paths["consent_statistics"] == "consent_statistics"


def test_map_submission__groups_and_string_values(codebook, layout):
    """should read every string answer into the element's type, finding elements by group path"""
    row = submission(
        **{
            "grp_person/person_age": "34",
            "grp_person/grp_inner/weight": "61.50",
            "grp_visit/visit_date": "2026-02-28",
            "grp_visit/visit_time": "2026-02-28T16:05:00.000+02:00",
            "grp_visit/means": "threats debt",
            "grp_visit/place": "12.5 -1.25 300 5",
            "grp_visit/notes": "Met at the bus station",
            "scr_is_child": "false",
        }
    )
    record = kobo_to_canonical(codebook, layout, ASSET, row)
    assert isinstance(record, CanonicalRecord), getattr(record, "message", "")
    assert record.values == {
        "person_age": 34,
        "person_sex": "female",
        "weight": Decimal("61.50"),
        "visit_date": dt.date(2026, 2, 28),
        "visit_time": dt.datetime(2026, 2, 28, 16, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "means": ("debt", "threats"),
        "place": (12.5, -1.25, 300.0, 5.0),
        "notes": "Met at the bus station",
        "scr_is_child": False,
    }


def test_map_submission__envelope_identity_is_asset_and_id(codebook, layout):
    """should key the record on the asset uid and _id, not on the instanceID that edits change"""
    record = kobo_to_canonical(codebook, layout, ASSET, submission())
    assert record.envelope.source_system == f"kobo:{ASSET}"
    assert record.envelope.source_id == "16"
    assert record.record_id == record_id_for(f"kobo:{ASSET}", "16")
    assert record.envelope.form_id == "kobo_form"
    assert record.envelope.form_version == "vHNo5vFh3KoB7LWhucUkFy"


def test_map_submission__edit_keeps_the_record_id(codebook, layout):
    """should give an edited submission (new instanceID, deprecatedID set) the same record id"""
    original = kobo_to_canonical(codebook, layout, ASSET, submission())
    edited = kobo_to_canonical(
        codebook,
        layout,
        ASSET,
        submission(
            **{
                "_uuid": "0c1d9b5e-7a34-4f8e-9d2b-31f0e6a4c8b7",
                "meta/instanceID": "uuid:0c1d9b5e-7a34-4f8e-9d2b-31f0e6a4c8b7",
                "meta/deprecatedID": "uuid:faa38eee-4e3f-419e-bac0-e95f1085d998",
                "grp_person/person_age": "35",
            }
        ),
        updated_at=dt.datetime(2026, 3, 5, 8, 0, tzinfo=dt.UTC),
    )
    assert edited.record_id == original.record_id
    assert edited.values["person_age"] == 35
    assert edited.envelope.updated_at == dt.datetime(2026, 3, 5, 8, 0, tzinfo=dt.UTC)
    assert edited.envelope.collected_at == original.envelope.collected_at


def test_map_submission__times_from_start_and_submission_time(codebook, layout):
    """should take collected_at from the device `start` and updated_at from _submission_time (UTC)"""
    record = kobo_to_canonical(codebook, layout, ASSET, submission())
    assert record.envelope.collected_at == dt.datetime(
        2026, 3, 1, 11, 11, 31, 421000, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    assert record.envelope.updated_at == dt.datetime(2026, 3, 1, 9, 20, 5, tzinfo=dt.UTC)
    without_start = submission()
    del without_start["start"]
    fallback = kobo_to_canonical(codebook, layout, ASSET, without_start)
    assert fallback.envelope.collected_at == dt.datetime(2026, 3, 1, 9, 20, 5, tzinfo=dt.UTC)


def test_map_submission__omitted_answers_are_unanswered(codebook, layout):
    """should leave out elements Kobo omitted (empty answers) instead of inventing values"""
    record = kobo_to_canonical(codebook, layout, ASSET, submission())
    assert record.values == {"person_sex": "female"}


def test_map_submission__metadata_is_not_an_answer(codebook, layout):
    """should ignore _-keys, meta/, formhub/, __version__, start/end and unknown _ add-ons"""
    row = submission(
        **{"_bamboo_dataset_id": "", "meta/deprecatedID": "uuid:x", "_notes": [], "_tags": []}
    )
    assert isinstance(kobo_to_canonical(codebook, layout, ASSET, row), CanonicalRecord)


def test_map_submission__consent_purposes_from_consent_questions(codebook, layout):
    """should grant exactly the purposes whose consent_<purpose> question was answered yes"""
    record = kobo_to_canonical(
        codebook, layout, ASSET, submission(consent_statistics="yes", consent_service_referral="no")
    )
    assert record.envelope.consent_purposes == frozenset({"statistics"})


def test_map_submission__repeat_with_one_entry_reads_like_a_group(codebook, layout):
    """should accept a codebook element inside a repeat that has a single entry"""
    row = submission(**{"grp_visit": [{"grp_visit/notes": "one entry"}]})
    record = kobo_to_canonical(codebook, layout, ASSET, row)
    assert isinstance(record, CanonicalRecord)
    assert record.values["notes"] == "one entry"


def test_map_submission__repeat_with_several_entries_is_quarantined(codebook, layout):
    """should quarantine (KB301), not pick one, when a repeat holds several values for an element"""
    row = submission(**{"grp_visit": [{"grp_visit/notes": "first"}, {"grp_visit/notes": "second"}]})
    outcome = kobo_to_canonical(codebook, layout, ASSET, row)
    assert isinstance(outcome, QuarantinedRecord)
    assert outcome.reason == "KB301"
    assert [p.element for p in outcome.problems] == ["notes"]


def test_map_submission__nested_repeats_are_walked(codebook, layout):
    """should find answers in nested repeats keyed by full path"""
    row = submission(
        **{"grp_visit": [{"grp_visit/grp_items": [{"grp_visit/grp_items/notes": "deep"}]}]}
    )
    assert kobo_to_canonical(codebook, layout, ASSET, row).values["notes"] == "deep"


def test_map_submission__moved_question_found_by_last_segment(codebook, layout):
    """should map a codebook element found under another group (older form version)"""
    row = submission(**{"old_group/person_age": "40"})
    assert kobo_to_canonical(codebook, layout, ASSET, row).values["person_age"] == 40


@pytest.mark.parametrize(
    ("answers", "code", "element"),
    [
        ({"grp_person/person_sex": "femme"}, "RC202", "person_sex"),
        ({"grp_visit/means": "debt bribes"}, "RC202", "means"),
        ({"grp_person/person_age": "thirty"}, "RC201", "person_age"),
        ({"grp_person/person_age": "12.5"}, "RC201", "person_age"),
        ({"grp_visit/visit_date": "28/02/2026"}, "RC201", "visit_date"),
        ({"grp_visit/visit_time": "2026-02-28T16:05:00"}, "RC201", "visit_time"),
        ({"grp_visit/place": "north of town"}, "RC201", "place"),
        ({"grp_person/person_age": "130"}, "RC204", "person_age"),
        ({"grp_person/person_age": {"value": "3"}}, "RC201", "person_age"),
        ({"grp_visit/favourite_colour": "pink"}, "RC200", "grp_visit/favourite_colour"),
    ],
)
def test_map_submission__bad_values_are_quarantined_with_reason(
    codebook, layout, answers, code, element
):
    """should quarantine a submission with the catalogue code of what is wrong and where"""
    outcome = kobo_to_canonical(codebook, layout, ASSET, submission(**answers))
    assert isinstance(outcome, QuarantinedRecord)
    assert outcome.reason == code
    assert [(p.code, p.element) for p in outcome.problems] == [(code, element)]
    assert outcome.source_id == "16"
    assert outcome.record_id == record_id_for(f"kobo:{ASSET}", "16")
    assert outcome.payload == submission(**answers)
    assert CATALOGUE[code][0] == outcome.reason_name


def test_map_submission__missing_required_is_quarantined(codebook, layout):
    """should quarantine with RC203 when a required answer is absent"""
    row = submission()
    del row["grp_person/person_sex"]
    outcome = kobo_to_canonical(codebook, layout, ASSET, row)
    assert isinstance(outcome, QuarantinedRecord)
    assert [(p.code, p.element) for p in outcome.problems] == [("RC203", "person_sex")]


def test_map_submission__reports_every_problem_at_once(codebook, layout):
    """should list every bad field in one quarantine, the first error as reason"""
    row = submission(
        **{
            "grp_person/person_sex": "femme",
            "grp_person/person_age": "x",
            "grp_visit/means": "bribes",
        }
    )
    outcome = kobo_to_canonical(codebook, layout, ASSET, row)
    assert sorted((p.code, p.element) for p in outcome.problems) == [
        ("RC201", "person_age"),
        ("RC202", "means"),
        ("RC202", "person_sex"),
    ]
    assert outcome.reason in {"RC201", "RC202"}
    assert "person_age" in outcome.message and "means" in outcome.message


def test_map_submission__unreadable_answer_not_reported_twice(codebook, layout):
    """should not add 'missing required' for a required answer that was present but unreadable"""
    row = submission(**{"grp_person/person_sex": ["female"]})
    outcome = kobo_to_canonical(codebook, layout, ASSET, row)
    assert [(p.code, p.element) for p in outcome.problems] == [("RC201", "person_sex")]


@pytest.mark.parametrize("bad_id", ["sixteen", "١٦"])  # the second: Arabic-Indic digits
def test_map_submission__no_id_is_malformed(codebook, layout, bad_id):
    """should quarantine a row without an integer _id as malformed (KB302), keyed by its uuid"""
    row = submission()
    row["_id"] = bad_id
    outcome = kobo_to_canonical(codebook, layout, ASSET, row)
    assert isinstance(outcome, QuarantinedRecord)
    assert outcome.reason == "KB302"
    assert outcome.source_id == "faa38eee-4e3f-419e-bac0-e95f1085d998"


def test_map_submission__no_time_is_malformed(codebook, layout):
    """should quarantine a row with neither start nor _submission_time (KB302)"""
    row = submission()
    del row["start"], row["_submission_time"]
    outcome = kobo_to_canonical(codebook, layout, ASSET, row)
    assert isinstance(outcome, QuarantinedRecord) and outcome.reason == "KB302"


def test_map_submission__warnings_travel_separately(codebook, layout):
    """should keep a record whose only problem is a warning, returning the warning beside it"""
    row = submission(**{"grp_person/person_age": "10", "scr_forced": "yes"})
    mapped = map_submission(codebook, layout, ASSET, row)
    assert not mapped.quarantined
    assert mapped.outcome.values["scr_forced"] == "yes"
    assert [(w.code, w.element, w.severity) for w in mapped.warnings] == [
        ("RC205", "scr_forced", "warning")
    ]


def test_quarantine_repr__keeps_payload_out(codebook, layout):
    """should never show the submission's answers in a repr (repr ends up in logs)"""
    outcome = kobo_to_canonical(
        codebook,
        layout,
        ASSET,
        submission(**{"grp_visit/notes": "SECRET-NOTE", "grp_person/person_sex": "bad"}),
    )
    assert "SECRET-NOTE" not in repr(outcome)
    assert outcome.to_json()["payload"]["grp_visit/notes"] == "SECRET-NOTE"


def test_revision_of__is_the_uuid():
    """should read the revision marker from _uuid, or from meta/instanceID without `uuid:`"""
    assert revision_of({"_uuid": "abc"}) == "abc"
    assert revision_of({"meta/instanceID": "uuid:def"}) == "def"
    assert revision_of({}) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (57, 57),
        ("57", 57),
        ("0057", 57),
        ("١٢٣", None),  # Arabic-Indic digits: int() would read them as 123
        ("²", None),
        ("12³", None),
        ("５７", None),  # superscripts, fullwidth
        ("", None),
        (" 57", None),
        ("57\n", None),
        ("-5", None),
        ("+5", None),
        ("5.0", None),
        (True, None),
        (5.0, None),
        (None, None),
    ],
)
def test_submission_id_of__ascii_digits_only(value, expected):
    """should read `_id` from an int or ASCII digits only, never another script's digits"""
    assert submission_id_of({"_id": value}) == expected


def test_canonical_to_kobo_json__refuses_non_ascii_source_id(codebook, layout):
    """should refuse a record whose source id is not ASCII digits rather than renumber it"""
    record = map_submission(codebook, layout, ASSET, submission()).outcome
    assert isinstance(record, CanonicalRecord)
    bad = record.model_copy(
        update={"envelope": record.envelope.model_copy(update={"source_id": "١٢٣"})}
    )
    with pytest.raises(ValueError, match="integer _id"):
        canonical_to_kobo_json(codebook, layout, bad)


def test_is_encrypted_submission__detects_manifest_keys():
    """should recognise the flattened manifest of an encrypted submission, prefixed or not"""
    assert is_encrypted_submission({"_id": 57, "base64EncryptedKey": "x", "encryptedXmlFile": "s"})
    assert is_encrypted_submission({"orx:meta/orx:instanceID": "u", "encryptedXmlFile": "s"})
    assert not is_encrypted_submission(submission())


def test_flatten_instance_xml__like_kobo_json():
    """should flatten groups to paths, drop empty leaves and turn repeated nodes into lists"""
    xml = (
        b'<?xml version="1.0"?><data xmlns:orx="http://openrosa.org/xforms" id="a1" '
        b'version="3"><formhub><uuid>f1</uuid></formhub><grp_person><person_age>34'
        b"</person_age><person_sex/></grp_person><people><name>A</name></people>"
        b"<people><name>B</name></people><__version__>v1</__version__>"
        b"<orx:meta><orx:instanceID>uuid:1</orx:instanceID></orx:meta></data>"
    )
    assert flatten_instance_xml(xml) == {
        "formhub/uuid": "f1",
        "grp_person/person_age": "34",
        "people": [{"people/name": "A"}, {"people/name": "B"}],
        "__version__": "v1",
        "meta/instanceID": "uuid:1",
    }


def test_flatten_instance_xml__refuses_entities():
    """should refuse XML with entity declarations (a device could send a billion laughs)"""
    with pytest.raises(Exception, match="(?i)entit|dtd|forbidden"):
        flatten_instance_xml(b'<!DOCTYPE d [<!ENTITY x "y">]><d>&x;</d>')


def test_canonical_to_kobo_json__shape(codebook, layout):
    """should write answers as strings at their group paths with Kobo's metadata keys"""
    record = kobo_to_canonical(
        codebook,
        layout,
        ASSET,
        submission(
            **{
                "grp_person/person_age": "34",
                "grp_visit/means": "debt threats",
                "grp_visit/place": "12.5 -1.25",
            }
        ),
    )
    row = canonical_to_kobo_json(codebook, layout, record)
    assert row["_id"] == 16
    assert row["grp_person/person_age"] == "34"
    assert row["grp_visit/means"] == "debt threats"
    assert row["_geolocation"] == [12.5, -1.25]
    assert row["_xform_id_string"] == ASSET
    assert row["_submission_time"] == "2026-03-01T09:20:05"
    assert "grp_visit/notes" not in row  # unanswered → omitted, as Kobo does
    assert all(isinstance(v, str) for k, v in row.items() if not k.startswith("_"))
    assert kobo_to_canonical(codebook, layout, ASSET, row) == record


def test_content_digest__tells_edits_from_no_ops(codebook, layout):
    """should change with the values, not with the revision marker or submission metadata"""
    base = kobo_to_canonical(codebook, layout, ASSET, submission())
    relabelled = kobo_to_canonical(
        codebook,
        layout,
        ASSET,
        submission(_uuid="other", _validation_status={"uid": "validation_status_approved"}),
    )
    changed = kobo_to_canonical(
        codebook, layout, ASSET, submission(**{"grp_person/person_age": "20"})
    )
    assert content_digest(base) == content_digest(relabelled)
    assert content_digest(base) != content_digest(changed)


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {
            "grp_person/person_age": "34",
            "grp_person/grp_inner/weight": "61.25",
            "grp_visit/visit_date": "2026-02-28",
            "grp_visit/visit_time": "2026-02-28T10:30:00+01:00",
            "grp_visit/means": "threats debt",
            "grp_visit/place": "12.5 -1.25 0 0",
            "grp_visit/notes": "ünïcødé ✓",
            "consent_statistics": "yes",
        },
    ],
)
def test_content_digest__same_text_as_earlier_runs_stored(codebook, layout, answers):
    """should digest `[values_json(), form_version]` as before, for every kind of value"""
    record = kobo_to_canonical(codebook, layout, ASSET, submission(**answers))
    assert isinstance(record, CanonicalRecord)
    stored_form = json.dumps(
        [record.values_json(), record.envelope.form_version],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    assert content_digest(record) == hashlib.sha256(stored_form.encode()).hexdigest()[:24]


def test_source_system_for__names_the_asset():
    """should scope source ids by asset uid so _ids of different servers never collide"""
    assert source_system_for(ASSET) == f"kobo:{ASSET}"
