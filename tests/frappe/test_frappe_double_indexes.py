"""The Frappe double's indexes (tests/doubles/frappe_table.py) change its speed, never its answers.

Random documents are seeded, edited and deleted; then each query shape the connector sends
(`name in`, `parent in` on a child table, `=`/`in` on a unique field, the `modified asc, name
asc` keyset pages, `modified =` + `name >`) is answered by the double and by a plain scan of
every stored document with the double's own filter and sort helpers, and the two must agree
row for row, in order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.doubles.frappe import (
    FrappeDouble,
    FrappeException,
    _condition,
    _normalise_filters,
    _parse_order_by,
    _sort_key,
)
from tests.frappe.conftest import NOTE, NOTE_TAG, PERSON, TICKET, SteppingClock

EXTERNAL_IDS = [f"E{i}" for i in range(12)]
TAGS = ["red", "green", "blue"]


def new_site() -> FrappeDouble:
    clock = SteppingClock(dt.datetime(2026, 3, 1, 8, 0, 0, tzinfo=dt.UTC))
    site = FrappeDouble([NOTE, NOTE_TAG, PERSON, TICKET], clock=clock, time_zone="UTC")
    site.test_clock = clock  # type: ignore[attr-defined]
    return site


def scan(site: FrappeDouble, doctype: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    """What the double answered before it had indexes: every document tested and sorted."""
    meta = site.meta[doctype]
    if meta.istable:
        rows = [row for doc in site.docs("Test Note") for row in doc.get("tags") or []]
    else:
        rows = site.docs(doctype)
    for test in [_condition(meta, f) for f in _normalise_filters(args.get("filters"))]:
        rows = [r for r in rows if test(r)]
    for fieldname, descending in reversed(_parse_order_by(meta, args.get("order_by"))):
        rows.sort(key=lambda r, f=fieldname: _sort_key(meta, f, r.get(f)), reverse=descending)
    start, length = int(args.get("limit_start", 0)), int(args.get("limit_page_length", 20))
    rows = rows[start:start + length] if length else rows[start:]
    fields = args.get("fields") or ["name"]
    return [{c: r.get(c) for c in fields} for r in rows]


operation = st.one_of(
    st.tuples(st.just("seed"), st.sampled_from(EXTERNAL_IDS), st.sampled_from(["Open", "Closed"]),
              st.lists(st.sampled_from(TAGS), max_size=3), st.booleans()),
    st.tuples(st.just("edit"), st.integers(0, 30), st.sampled_from(["Open", "Closed"]),
              st.lists(st.sampled_from(TAGS), max_size=3), st.booleans()),
    st.tuples(st.just("delete"), st.integers(0, 30), st.just(""), st.just([]), st.booleans()),
)


def apply(site: FrappeDouble, operations: list[tuple[str, Any, str, list[str], bool]]) -> None:
    for kind, which, status, tags, same_second in operations:
        site.test_clock.step = dt.timedelta(0 if same_second else 1)  # type: ignore[attr-defined]
        names = [d["name"] for d in site.docs("Test Note")]
        if kind == "seed":
            if which in names:
                continue
            site.seed("Test Note", {"external_id": which, "status": status,
                                    "tags": [{"tag": t} for t in tags]})
        elif names:
            name = names[which % len(names)]
            if kind == "edit":
                site.edit("Test Note", name, status=status, tags=[{"tag": t} for t in tags])
            else:
                site._delete("Test Note", name, site.user)


def queries(site: FrappeDouble, draw: Any) -> list[tuple[str, dict[str, Any]]]:
    docs = site.docs("Test Note")
    names = [d["name"] for d in docs] + ["missing"]
    stamps = [d["modified"] for d in docs] or ["2026-03-01 08:00:00"]
    some = draw(st.lists(st.sampled_from(names), max_size=6))
    stamp = draw(st.sampled_from(stamps))
    page = draw(st.integers(1, 5))
    return [
        ("Test Note", {"fields": ["name", "status", "modified"], "filters": [["name", "in", some]],
                       "limit_page_length": 0}),
        ("Test Note", {"fields": ["name"], "filters": [["name", "=", draw(st.sampled_from(names))]]}),
        ("Test Note", {"fields": ["name", "external_id"],
                       "filters": [["external_id", "in", draw(st.lists(st.sampled_from(EXTERNAL_IDS)))]],
                       "order_by": "external_id desc", "limit_page_length": 0}),
        ("Test Note", {"fields": ["name", "modified"], "filters": [["modified", ">=", stamp]],
                       "order_by": "modified asc, name asc", "limit_page_length": page}),
        ("Test Note", {"fields": ["name", "modified"], "filters": [["modified", ">", stamp]],
                       "order_by": "modified asc, name asc", "limit_page_length": page,
                       "limit_start": draw(st.integers(0, 2))}),
        ("Test Note", {"fields": ["name", "modified"], "order_by": "modified asc, name asc",
                       "limit_page_length": page}),
        ("Test Note", {"fields": ["name"], "filters": [["modified", "=", stamp],
                                                       ["name", ">", draw(st.sampled_from(names))]],
                       "order_by": "name asc", "limit_page_length": page}),
        ("Test Note", {"fields": ["name", "status"], "filters": [["status", "=", "Open"]],
                       "limit_page_length": 0}),
        ("Test Note Tag", {"fields": ["name", "parent", "idx", "tag"], "parent": "Test Note",
                           "filters": [["parent", "in", some], ["parentfield", "in", ["tags"]]],
                           "order_by": "idx asc", "limit_page_length": 0}),
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds=st.lists(st.lists(operation, max_size=6), min_size=1, max_size=5), data=st.data())
def test_indexed_answers_equal_a_full_scan(rounds: list[list[Any]], data: Any) -> None:
    """Queries between the rounds of changes, so indexes built early must follow later edits."""
    site = new_site()
    for operations in rounds:
        apply(site, operations)
        for doctype, args in queries(site, data.draw):
            with site._lock:
                answered = site._list(doctype, dict(args), site.user)
            assert answered == scan(site, doctype, args), (doctype, args)


def test_unique_check_follows_edits_and_deletes() -> None:
    """The unique index must drop a value the document no longer holds and learn the new one."""
    site = new_site()
    site._insert_atomic([("Test Ticket", {"code": "A"})], site.user)
    first = site.docs("Test Ticket")[0]["name"]
    site.edit("Test Ticket", first, code="B")
    site._insert_atomic([("Test Ticket", {"code": "A"})], site.user)  # A is free again
    with pytest.raises(FrappeException) as raised:
        site._insert_atomic([("Test Ticket", {"code": "B"})], site.user)
    assert raised.value.exc_type == "UniqueValidationError"
    site._delete("Test Ticket", first, site.user)
    site._insert_atomic([("Test Ticket", {"code": "B"})], site.user)  # B is free after the delete
    assert sorted(d["code"] for d in site.docs("Test Ticket")) == ["A", "B"]


def test_keyset_pages_see_an_edit_move_a_document_to_the_end() -> None:
    site = new_site()
    for external_id in ("E1", "E2", "E3"):
        site.seed("Test Note", {"external_id": external_id, "status": "Open"})
    site.edit("Test Note", "E1", status="Closed")
    args = {"fields": ["name"], "order_by": "modified asc, name asc", "limit_page_length": 0}
    with site._lock:  # the ordered index is built by the first keyset read, then kept
        assert [r["name"] for r in site._list("Test Note", dict(args), site.user)] == ["E2", "E3", "E1"]
    site.edit("Test Note", "E2", status="Closed")
    with site._lock:
        assert [r["name"] for r in site._list("Test Note", dict(args), site.user)] == ["E3", "E1", "E2"]
    site._delete("Test Note", "E3", site.user)
    with site._lock:
        assert [r["name"] for r in site._list("Test Note", dict(args), site.user)] == ["E1", "E2"]
