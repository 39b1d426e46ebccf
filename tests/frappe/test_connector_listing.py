"""Listing what changed: keyset paging in `modified, name` order, site time converted to UTC."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.doubles.frappe import FrappeDouble
from tests.frappe.conftest import KEY, NOTE, NOTE_TAG, PERSON, SECRET, client_for

UTC = dt.UTC


def seed_notes(site: FrappeDouble, stamps: list[str]) -> list[tuple[str, str]]:
    """Seed one note per stamp; return (modified, name) pairs in the order Frappe sorts them."""
    seeded = []
    for i, stamp in enumerate(stamps):
        name = f"note-{(i * 7919) % 1000:03d}-{i}"
        site.seed("Test Note", {"external_id": name, "status": "Open"}, modified=stamp)
        seeded.append((dt.datetime.fromisoformat(stamp), name))
    return [(str(m), n) for m, n in sorted(seeded)]


def listed_names(site: FrappeDouble, since: dt.datetime | None, page_size: int) -> list[str]:
    client = client_for(site)
    return [d.name for d in client.list_modified_since("Test Note", since, page_size=page_size)]


def test_list_modified_since__every_document_once_in_modified_then_name_order(site):
    """should page through every document, in `modified asc, name asc` order, none twice"""
    stamps = [f"2026-01-0{1 + i % 3} 10:00:0{i % 4}.000001" for i in range(57)]  # many ties
    expected = seed_notes(site, stamps)
    assert listed_names(site, None, page_size=5) == [name for _, name in expected]


def test_list_modified_since__more_ties_than_a_page(site):
    """should not stop or loop when more documents share one `modified` than fit a page"""
    expected = seed_notes(site, ["2026-01-01 10:00:00.5"] * 12 + ["2026-01-01 11:00:00"] * 3)
    assert listed_names(site, None, page_size=5) == [name for _, name in expected]


def test_list_modified_since__never_relies_on_the_default_page_length(site):
    """should name limit_page_length on every list request and end only on an empty page"""
    seed_notes(site, [f"2026-01-01 10:{i:02d}:00" for i in range(45)])
    assert len(listed_names(site, None, page_size=500)) == 45
    lists = [r.list_args for r in site.requests if r.listed == "Test Note"]
    assert lists and all(args["limit_page_length"] == 500 for args in lists)
    assert site.requests[-1].status == 200 and lists[-1]["filters"][0][1] == ">"


def test_list_modified_since__documents_saved_while_paging_are_not_skipped(site):
    """should still list every document when some are saved again between two pages"""
    expected = seed_notes(site, [f"2026-01-01 10:{i:02d}:00" for i in range(20)])
    client = client_for(site)
    listing = client.list_modified_since("Test Note", None, page_size=4)
    seen = [next(listing).name for _ in range(4)]
    for _, name in expected[:3]:  # listed ones move to the end: offsets would shift by three
        site.edit("Test Note", name, visits=1)
    seen += [d.name for d in listing]
    assert set(seen) == {name for _, name in expected}
    assert len(seen) == 20 + 3  # the saved ones come again, at their new `modified`
    assert seen[-3:] == [name for _, name in expected[:3]]


def test_list_modified_since__since_is_inclusive_and_converted_from_utc(site):
    """should list documents from `since` on and give `modified_at` in aware UTC"""
    seed_notes(site, ["2026-03-01 13:29:59.999999", "2026-03-01 13:30:00", "2026-03-01 18:00:00"])
    since = dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # 13:30 in Asia/Kolkata
    listed = list(client_for(site).list_modified_since("Test Note", since))
    assert [d.modified_at for d in listed] == [dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
                                               dt.datetime(2026, 3, 1, 12, 30, tzinfo=UTC)]
    assert listed[0].modified == "2026-03-01 13:30:00"  # kept as the site wrote it, for locking
    query = [r.list_args for r in site.requests if r.listed == "Test Note"][0]
    assert query["filters"] == [["modified", ">=", "2026-03-01 13:30:00.000000"]]


def test_list_modified_since__since_must_be_aware(site):
    """should refuse a naive `since`, which could mean any time zone"""
    with pytest.raises(ValueError, match="time zone"):
        list(client_for(site).list_modified_since("Test Note", dt.datetime(2026, 1, 1)))


def test_list_modified_since__clocks_going_back_repeat_rather_than_skip(clock):
    """should find a document written in the repeated hour after clocks go back (Europe/London)"""
    with FrappeDouble([NOTE, NOTE_TAG, PERSON], api_key=KEY, api_secret=SECRET,
                      time_zone="Europe/London", clock=clock) as site:
        # 2026-10-25: 01:00-02:00 happens twice. since 00:40Z is 01:40 BST (first pass);
        # a note saved at 01:05Z reads 01:05 (second pass), earlier as text than 01:40.
        site.seed("Test Note", {"external_id": "before", "status": "Open"},
                  modified="2026-10-25 00:30:00")   # 23:30Z the day before: excluded
        site.seed("Test Note", {"external_id": "first-pass", "status": "Open"},
                  modified="2026-10-25 01:50:00")   # 00:50Z
        site.seed("Test Note", {"external_id": "second-pass", "status": "Open"},
                  modified="2026-10-25 01:05:00")   # 01:05Z
        since = dt.datetime(2026, 10, 25, 0, 40, tzinfo=UTC)
        names = {d.name for d in client_for(site).list_modified_since("Test Note", since)}
        assert names == {"first-pass", "second-pass"}


def test_site_time_zone__read_from_the_server(site):
    """should ask the site for its time zone once and keep it"""
    client = client_for(site)
    assert str(client.site_time_zone()) == "Asia/Kolkata"
    client.site_time_zone()
    calls = [r for r in site.requests if r.path == "/api/method/frappe.client.get_time_zone"]
    assert len(calls) == 1


def test_site_time_zone__unset_means_asia_kolkata(clock):
    """should use Asia/Kolkata, as Frappe does, when System Settings has no time zone"""
    with FrappeDouble([NOTE, NOTE_TAG, PERSON], api_key=KEY, api_secret=SECRET, time_zone=None,
                      clock=clock) as site:
        site.seed("Test Note", {"external_id": "n", "status": "Open"}, modified="2026-03-01 05:30:00")
        [listed] = list(client_for(site).list_modified_since("Test Note", None))
        assert listed.modified_at == dt.datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def test_site_time_zone__configured_zone_is_used_without_asking(site, monkeypatch):
    """should take TIPDATA_FRAPPE_TIME_ZONE over the server's answer"""
    monkeypatch.setenv("TIPDATA_FRAPPE_TIME_ZONE", "Europe/Paris")
    assert str(client_for(site).site_time_zone()) == "Europe/Paris"
    assert not [r for r in site.requests if "get_time_zone" in r.path]


def test_site_time_zone__unknown_zone_is_a_clear_error(site):
    """should say which setting to fix when the site's zone is not an IANA name"""
    site.time_zone_setting = "Mars/Olympus"
    with pytest.raises(ValueError, match="TIPDATA_FRAPPE_TIME_ZONE"):
        client_for(site).site_time_zone()


def test_documents__bulk_read_equals_one_get_per_document(site):
    """should read parents and child tables in bulk with the same content as GET per document"""
    client = client_for(site)
    for i in range(5):
        client.insert("Test Note", {"external_id": f"d{i}", "status": "Open", "visits": i,
                                    "tags": [{"tag": t} for t in ("red", "blue")[: i % 3]]})
    bulk = client.documents("Test Note", [f"d{i}" for i in range(6)], {"tags": ("Test Note Tag", "tag")})
    assert sorted(bulk) == [f"d{i}" for i in range(5)]  # d5 does not exist
    for name, doc in bulk.items():
        single = client.get_doc("Test Note", name)
        assert (doc["visits"], doc["modified"]) == (single["visits"], single["modified"])
        assert [r["tag"] for r in doc["tags"]] == [r["tag"] for r in single["tags"]]
