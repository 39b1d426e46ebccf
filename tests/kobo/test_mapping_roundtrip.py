"""Round trips canonical ⇄ Kobo JSON, for random records valid under the codebook."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tipdata.codebook import load_codebook
from tipdata.kobo_forms.mapping import (
    FormLayout,
    canonical_to_kobo_json,
    consent_purposes_from_values,
    kobo_text,
    kobo_to_canonical,
    source_system_for,
)
from tipdata.model import Element
from tipdata.records import (
    CanonicalRecord,
    Envelope,
    coerce_value,
    record_id_for,
    validate_record,
)

CODEBOOK = load_codebook()
SCREENING_FORMS = ("tip_screening_adult", "tip_screening_child")
ASSET_UIDS = st.text(
    "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=21, max_size=21
).map(lambda s: "a" + s)
OFFSETS = st.integers(-12 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)


def aware_datetimes(*, kobo_submission_time: bool = False) -> st.SearchStrategy[dt.datetime]:
    """Aware moments; Kobo keeps `_submission_time` in UTC to the second (kobo-api.md §5.2)."""
    moments = st.datetimes(
        min_value=dt.datetime(2020, 1, 1),
        max_value=dt.datetime(2030, 12, 31),
        timezones=st.just(dt.UTC) if kobo_submission_time else OFFSETS,
    )
    if kobo_submission_time:
        moments = moments.map(lambda d: d.replace(microsecond=0))
    return moments


def value_strategy(element: Element, today: dt.date) -> st.SearchStrategy[Any]:
    """Values of the element's type and options, inside the codebook's usual constraints."""
    options = CODEBOOK.options_for(element)
    kind = element.type
    if kind == "select_one":
        return st.sampled_from(options.codes())
    if kind == "select_multiple":
        return st.lists(st.sampled_from(options.codes()), min_size=1, unique=True).map(
            lambda codes: tuple(sorted(codes))
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(0, 120)
    if kind == "decimal":
        return st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2)
    if kind == "date":
        return st.dates(min_value=dt.date(2000, 1, 1), max_value=today)
    if kind == "datetime":
        return aware_datetimes()
    if kind == "geopoint":
        return st.tuples(
            st.floats(-90, 90), st.floats(-180, 180), st.floats(0, 5000), st.floats(0, 100)
        )
    return TEXT


@st.composite
def screening_records(draw: st.DrawFn, form_id: str) -> CanonicalRecord:
    """A record of a screening form: optional answers random, required ones always present."""
    collected_at = draw(aware_datetimes())
    today = collected_at.date()
    values: dict[str, Any] = {}
    for code in CODEBOOK.forms[form_id].element_codes():
        element = CODEBOOK.elements[code]
        if element.required is not False or draw(st.booleans()):
            values[code] = draw(value_strategy(element, today))
    asset_uid = draw(ASSET_UIDS)
    source_id = str(draw(st.integers(1, 10**9)))
    system = source_system_for(asset_uid)
    envelope = Envelope(
        record_id=record_id_for(system, source_id),
        source_system=system,
        source_id=source_id,
        form_id=form_id,
        form_version=draw(st.none() | st.from_regex(r"v[A-Za-z0-9]{21}", fullmatch=True)),
        collected_at=collected_at,
        updated_at=draw(aware_datetimes(kobo_submission_time=True)),
        consent_purposes=consent_purposes_from_values(CODEBOOK, values),
    )
    record = CanonicalRecord(envelope=envelope, values=values)
    errors = [p for p in validate_record(CODEBOOK, record, today=today) if p.severity == "error"]
    assume(not errors)
    return record


@pytest.mark.parametrize("form_id", SCREENING_FORMS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_canonical_to_kobo_json__round_trips(form_id: str, data: st.DataObject) -> None:
    """should give back the same record (values and envelope) after a trip through Kobo JSON"""
    record = data.draw(screening_records(form_id))
    layout = FormLayout.of(CODEBOOK, form_id)
    row = canonical_to_kobo_json(CODEBOOK, layout, record)
    assert all(isinstance(v, str) for k, v in row.items() if not k.startswith("_"))
    back = kobo_to_canonical(
        CODEBOOK, layout, record.envelope.source_system.removeprefix("kobo:"), row
    )
    assert isinstance(back, CanonicalRecord), getattr(back, "message", "")
    assert back.values == record.values
    assert back.envelope == record.envelope
    assert back.to_json() == record.to_json()


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_kobo_text__coerces_back_for_every_element_type(data: st.DataObject) -> None:
    """should turn any canonical value of any codebook element into text that coerces back"""
    element = data.draw(st.sampled_from(sorted(CODEBOOK.elements.values(), key=lambda e: e.code)))
    value = data.draw(value_strategy(element, dt.date(2030, 1, 1)))
    assert coerce_value(element, kobo_text(value)) == value


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        ("boolean", True, "true"),
        ("decimal", Decimal("61.50"), "61.50"),
        ("select_multiple", ("debt", "threats"), "debt threats"),
        ("date", dt.date(2026, 2, 28), "2026-02-28"),
        ("geopoint", (12.5, -1.25), "12.5 -1.25"),
        ("integer", 0, "0"),
    ],
)
def test_kobo_text__matches_odk_encoding(kind: str, value: Any, text: str) -> None:
    """should write values the way ODK/Kobo store them in the instance"""
    assert kobo_text(value) == text
    assert kind  # the type the example stands for, for the report


#: what Kobo adds to every row and the canonical record does not keep (kobo-api.md §5.4)
KOBO_ADDITIONS = st.fixed_dictionaries(
    {
        "_status": st.sampled_from(["submitted_via_web", "submitted_via_api"]),
        "_attachments": st.just([]),
        "_validation_status": st.just({}) | st.just({"uid": "validation_status_approved"}),
        "_submitted_by": st.none() | st.just("enumerator1"),
        "_notes": st.just([]),
        "_tags": st.just([]),
    }
)


@pytest.mark.parametrize("form_id", SCREENING_FORMS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_kobo_json__round_trips_through_canonical(form_id: str, data: st.DataObject) -> None:
    """should write back the same Kobo JSON (answers as text at their paths, `_id`, times,
    version) after reading a Kobo row into a canonical record"""
    layout = FormLayout.of(CODEBOOK, form_id)
    record = data.draw(screening_records(form_id))
    uid = record.envelope.source_system.removeprefix("kobo:")
    row = canonical_to_kobo_json(CODEBOOK, layout, record)  # a row as Kobo lists it …
    row_with_extras = {**row, **data.draw(KOBO_ADDITIONS)}  # … with Kobo's own extra keys
    mapped = kobo_to_canonical(CODEBOOK, layout, uid, row_with_extras)
    assert isinstance(mapped, CanonicalRecord), getattr(mapped, "message", "")
    assert canonical_to_kobo_json(CODEBOOK, layout, mapped) == row
