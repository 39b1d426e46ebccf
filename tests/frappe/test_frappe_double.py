"""The Frappe double answers like Frappe v15 (frappe-v15.md §4, §6): statuses, bodies, paging."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests

from tests.doubles.frappe import FrappeDouble
from tests.frappe.conftest import KEY, NOTE, NOTE_TAG, PERSON, SECRET

AUTH = {"Authorization": f"token {KEY}:{SECRET}"}


def call(site: FrappeDouble, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", AUTH)
    return requests.request(method, site.base_url + path, headers=headers, timeout=10, **kwargs)


def messages(response: requests.Response) -> list[dict[str, Any]]:
    """`_server_messages` is a JSON string holding a list of JSON strings: decode twice."""
    return [json.loads(m) for m in json.loads(response.json()["_server_messages"])]


def note(external_id: str, **values: Any) -> dict[str, Any]:
    return {"external_id": external_id, "status": "Open", **values}


def insert(site: FrappeDouble, doctype: str, doc: dict[str, Any]) -> requests.Response:
    return call(site, "POST", f"/api/resource/{doctype}", json=doc)


# --- auth ---------------------------------------------------------------------------------------

def test_auth__bad_secret_is_401_authentication_error(site):
    """should answer a wrong key:secret with 401 AuthenticationError"""
    response = call(site, "GET", "/api/resource/Test Note",
                    headers={"Authorization": f"token {KEY}:wrong"})
    assert response.status_code == 401
    assert response.json()["exc_type"] == "AuthenticationError"


def test_auth__no_credentials_is_403_for_guest(site):
    """should treat a request without credentials as Guest: 403 PermissionError on resources"""
    response = call(site, "GET", "/api/resource/Test Note", headers={})
    assert response.status_code == 403
    assert response.json()["exc_type"] == "PermissionError"


def test_auth__basic_header_with_key_and_secret_is_accepted(site):
    """should accept Basic base64(key:secret) as Frappe does"""
    import base64

    token = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    response = call(site, "GET", "/api/resource/Test Note", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200 and response.json() == {"data": []}


def test_get_time_zone__open_to_guests(site):
    """should tell anyone the site's time zone (frappe.client.get_time_zone is allow_guest)"""
    response = call(site, "GET", "/api/method/frappe.client.get_time_zone", headers={})
    assert response.status_code == 200
    assert response.json() == {"message": {"time_zone": "Asia/Kolkata"}}


def test_request_log__never_keeps_the_secret(site):
    """should log method, path and outcome but not the Authorization value"""
    call(site, "GET", "/api/resource/Test Note")
    logged = site.requests[-1]
    assert (logged.method, logged.path, logged.status, logged.authenticated) == (
        "GET", "/api/resource/Test Note", 200, True)
    assert SECRET not in repr(site.requests)


# --- list ---------------------------------------------------------------------------------------

def test_list__default_page_length_is_20_and_zero_means_all(site):
    """should return 20 rows by default and every row for limit_page_length=0"""
    for i in range(25):
        site.seed("Test Note", note(f"n{i:02d}"))
    assert len(call(site, "GET", "/api/resource/Test Note").json()["data"]) == 20
    everything = call(site, "GET", "/api/resource/Test Note", params={"limit_page_length": 0})
    assert len(everything.json()["data"]) == 25
    assert call(site, "GET", "/api/resource/Test Note", params={"limit": 7}).json()["data"].__len__() == 7


def test_list__default_fields_are_name_and_default_order_is_modified_desc(site):
    """should return only `name`, newest first, when the client asks nothing"""
    site.seed("Test Note", note("old"), modified="2026-01-01 10:00:00.000001")
    site.seed("Test Note", note("new"), modified="2026-01-02 10:00:00.000001")
    rows = call(site, "GET", "/api/resource/Test Note").json()["data"]
    assert rows == [{"name": "new"}, {"name": "old"}]


def test_list__filters_order_and_paging(site):
    """should apply filters, `modified asc, name asc` and limit_start/limit_page_length"""
    for i, stamp in enumerate(["2026-01-01 10:00:00.5", "2026-01-01 10:00:00.5",
                               "2026-01-01 09:00:00", "2026-01-03 00:00:00"]):
        site.seed("Test Note", note(f"n{i}"), modified=stamp)
    params = {"fields": json.dumps(["name", "modified"]),
              "filters": json.dumps([["modified", ">", "2026-01-01 09:30:00"]]),
              "order_by": "modified asc, name asc", "limit_start": 1, "limit_page_length": 2}
    rows = call(site, "GET", "/api/resource/Test Note", params=params).json()["data"]
    assert [r["name"] for r in rows] == ["n1", "n3"]
    by_dict = call(site, "GET", "/api/resource/Test Note",
                   params={"filters": json.dumps({"name": ["in", ["n0", "n2"]]})}).json()["data"]
    assert sorted(r["name"] for r in by_dict) == ["n0", "n2"]


def test_list__datetime_filter_compares_instants_not_text(site):
    """should compare `modified` as a date-time, so 10:00:00 equals 10:00:00.000000"""
    site.seed("Test Note", note("n"), modified="2026-01-01 10:00:00")
    params = {"filters": json.dumps([["modified", ">=", "2026-01-01 10:00:00.000000"]])}
    assert call(site, "GET", "/api/resource/Test Note", params=params).json()["data"] == [{"name": "n"}]


def test_list__unknown_field_is_417_data_error(site):
    """should refuse a field that is not a column with Frappe's words"""
    response = call(site, "GET", "/api/resource/Test Note", params={"fields": '["nope"]'})
    assert response.status_code == 417 and response.json()["exc_type"] == "DataError"
    assert messages(response)[0]["message"] == "Field not permitted in query: nope"


def test_list__unknown_doctype_is_500_import_error(site):
    """should fail like Frappe does for a DocType the site does not have (HTTP 500)"""
    response = call(site, "GET", "/api/resource/No Such Thing")
    assert response.status_code == 500 and response.json()["exc_type"] == "ImportError"


# --- read, insert, naming, validation -----------------------------------------------------------

def test_insert__names_by_external_id_and_returns_the_document(site, clock):
    """should name the document by its external_id and answer with the saved document"""
    response = insert(site, "Test Note", note("ext-1", tags=[{"tag": "red"}, {"tag": "blue"}]))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["name"] == "ext-1" and data["doctype"] == "Test Note"
    assert [(r["tag"], r["idx"], r["parent"], r["parentfield"]) for r in data["tags"]] == [
        ("red", 1, "ext-1", "tags"), ("blue", 2, "ext-1", "tags")]
    fetched = call(site, "GET", "/api/resource/Test Note/ext-1").json()["data"]
    assert fetched["tags"][0]["name"] == data["tags"][0]["name"]


def test_insert__empty_int_and_check_are_stored_as_zero(site):
    """should store 0 for an empty Int or Check, as Frappe's get_valid_dict does"""
    data = insert(site, "Test Note", note("z")).json()["data"]
    assert data["visits"] == 0 and data["urgent"] == 0 and "opened_on" not in data


def test_insert__modified_is_naive_site_time(site, clock):
    """should stamp creation/modified as naive Asia/Kolkata time with microseconds"""
    clock.current = dt.datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=dt.UTC)
    data = insert(site, "Test Note", note("t")).json()["data"]
    assert data["modified"] == "2026-03-01 13:30:00.123456"
    assert data["creation"] == data["modified"]


def test_insert__unset_time_zone_runs_on_asia_kolkata(clock):
    """should report no time zone when unset, yet stamp documents in Asia/Kolkata"""
    clock.current = dt.datetime(2026, 3, 1, 0, 0, 0, 1, tzinfo=dt.UTC)
    with FrappeDouble([NOTE, NOTE_TAG, PERSON], api_key=KEY, api_secret=SECRET, time_zone=None,
                      clock=clock) as site:
        assert call(site, "GET", "/api/method/frappe.client.get_time_zone").json() == {
            "message": {"time_zone": None}}
        doc = insert(site, "Test Note", {"external_id": "a", "status": "Open"}).json()["data"]
        assert doc["modified"] == "2026-03-01 05:30:00.000001"


def test_insert__duplicate_name_is_409_duplicate_entry_error(site):
    """should answer a second document with the same external_id with 409 and 'already exists'"""
    assert insert(site, "Test Note", note("dup")).status_code == 200
    response = insert(site, "Test Note", note("dup"))
    assert response.status_code == 409
    assert response.json()["exc_type"] == "DuplicateEntryError"
    [message] = messages(response)
    assert message["title"] == "Duplicate Name"
    assert message["message"] == "Test Note <strong>dup</strong> already exists"


def test_insert__unique_field_clash_is_417_not_409(site):
    """should answer a clash on a `unique` field (not the name) with 417 UniqueValidationError"""
    assert insert(site, "Test Ticket", {"code": "A1"}).status_code == 200
    response = insert(site, "Test Ticket", {"code": "A1"})
    assert response.status_code == 417
    assert response.json()["exc_type"] == "UniqueValidationError"


def test_insert__missing_mandatory_is_417_mandatory_error(site):
    """should list every missing mandatory field, one message each"""
    response = insert(site, "Test Note", {"external_id": "m", "tags": [{}]})
    assert response.status_code == 417
    body = response.json()
    assert body["exc_type"] == "MandatoryError"
    assert body["exception"].endswith("[Test Note, m]: status, tag")
    assert [m["message"] for m in messages(response)] == [
        "Error: Value missing for Test Note: Status", "Error: Value missing for Test Note Tag: Tag"]


def test_insert__bad_select_value_is_417_with_the_options(site):
    """should refuse a value outside the Select options, naming the options"""
    response = insert(site, "Test Note", note("s", status="Bogus"))
    assert response.status_code == 417 and response.json()["exc_type"] == "ValidationError"
    assert messages(response)[0]["message"] == (
        'Status cannot be "Bogus". It should be one of "Open", "Closed"')


def test_insert__missing_link_target_is_417_link_validation_error(site):
    """should refuse a Link to a document that does not exist"""
    response = insert(site, "Test Note", note("l", person="nobody"))
    assert response.status_code == 417
    assert response.json()["exc_type"] == "LinkValidationError"


def test_insert__too_long_data_is_417_character_length_exceeded(site):
    """should refuse a Data value longer than the field's length"""
    response = insert(site, "Test Note", note("x", summary="y" * 21))
    assert response.status_code == 417
    assert response.json()["exc_type"] == "CharacterLengthExceededError"


def test_insert__server_rule_fails_with_its_words(site):
    """should fail the save with 417 and the rule's message when a controller rule throws"""
    site.add_rule("Test Note", lambda doc: "A closed note needs a date" if doc["status"] == "Closed"
                  and not doc["opened_on"] else None)
    response = insert(site, "Test Note", note("r", status="Closed"))
    assert response.status_code == 417 and response.json()["exc_type"] == "ValidationError"
    assert messages(response)[0]["message"] == "A closed note needs a date"
    assert messages(response)[0]["raise_exception"] == 1
    assert site.count("Test Note") == 0


def test_insert__without_create_permission_is_403(site):
    """should answer 403 PermissionError when the user lacks create permission"""
    site.deny("Test Note", "create")
    response = insert(site, "Test Note", note("p"))
    assert response.status_code == 403 and response.json()["exc_type"] == "PermissionError"


def test_get__missing_document_is_404_without_traceback(site):
    """should answer 404 DoesNotExistError with '<DocType> <name> not found' and no traceback"""
    response = call(site, "GET", "/api/resource/Test Note/nope")
    assert response.status_code == 404
    body = response.json()
    assert body["exc_type"] == "DoesNotExistError" and "exception" not in body
    assert messages(response)[0]["message"] == "Test Note nope not found"


# --- update, optimistic lock, delete ------------------------------------------------------------

def test_update__stale_modified_is_417_timestamp_mismatch(site):
    """should refuse a PUT whose `modified` is not the stored one (Document.check_if_latest)"""
    first = insert(site, "Test Note", note("u")).json()["data"]
    site.edit("Test Note", "u", visits=3)
    response = call(site, "PUT", "/api/resource/Test Note/u",
                    json={"visits": 5, "modified": first["modified"]})
    assert response.status_code == 417
    assert response.json()["exc_type"] == "TimestampMismatchError"
    assert messages(response)[0]["message"].startswith(
        "Error: Document has been modified after you have opened it")
    assert site.doc("Test Note", "u")["visits"] == 3


def test_update__current_modified_saves_and_moves_modified(site):
    """should save a PUT carrying the current `modified` and stamp a newer one"""
    first = insert(site, "Test Note", note("u")).json()["data"]
    response = call(site, "PUT", "/api/resource/Test Note/u",
                    json={"visits": 5, "tags": [{"tag": "green"}], "modified": first["modified"]})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["visits"] == 5 and [r["tag"] for r in data["tags"]] == ["green"]
    assert data["modified"] > first["modified"]
    assert data["status"] == "Open"  # a partial update keeps the other fields


def test_update__validation_applies_and_nothing_changes_on_failure(site):
    """should validate a PUT like an insert and leave the stored document untouched on failure"""
    insert(site, "Test Note", note("v"))
    response = call(site, "PUT", "/api/resource/Test Note/v", json={"status": "Bogus"})
    assert response.status_code == 417
    assert site.doc("Test Note", "v")["status"] == "Open"


def test_update__missing_document_is_404(site):
    """should answer a PUT to a missing document with 404 DoesNotExistError"""
    response = call(site, "PUT", "/api/resource/Test Note/ghost", json={"visits": 1})
    assert response.status_code == 404 and response.json()["exc_type"] == "DoesNotExistError"


def test_delete__is_202_ok_then_404(site):
    """should answer DELETE with 202 {"data": "ok"} and a second DELETE with 404"""
    insert(site, "Test Note", note("d"))
    response = call(site, "DELETE", "/api/resource/Test Note/d")
    assert response.status_code == 202 and response.json() == {"data": "ok"}
    assert call(site, "DELETE", "/api/resource/Test Note/d").status_code == 404


# --- insert_many --------------------------------------------------------------------------------

def many(site: FrappeDouble, docs: list[dict[str, Any]]) -> requests.Response:
    return call(site, "POST", "/api/method/frappe.client.insert_many", json={"docs": docs})


def test_insert_many__returns_names_in_order(site):
    """should insert every document and answer their names in request order"""
    docs = [{"doctype": "Test Person", "external_id": "p1"},
            {"doctype": "Test Note", **note("n1", person="p1")}]
    response = many(site, docs)
    assert response.status_code == 200 and response.json() == {"message": ["p1", "n1"]}


def test_insert_many__more_than_200_is_refused(site):
    """should refuse 201 documents with 'Only 200 inserts allowed in one request'"""
    response = many(site, [{"doctype": "Test Note", **note(f"n{i}")} for i in range(201)])
    assert response.status_code == 417
    assert messages(response)[0]["message"] == "Only 200 inserts allowed in one request"
    assert site.count("Test Note") == 0
    assert many(site, [{"doctype": "Test Note", **note(f"n{i}")} for i in range(200)]).status_code == 200


def test_insert_many__one_bad_document_inserts_nothing(site):
    """should roll back the whole request when one document fails, answering its error"""
    docs = [{"doctype": "Test Note", **note("a")}, {"doctype": "Test Note", **note("b", status="X")},
            {"doctype": "Test Note", **note("c")}]
    response = many(site, docs)
    assert response.status_code == 417 and response.json()["exc_type"] == "ValidationError"
    assert site.count("Test Note") == 0


def test_insert_many__duplicate_inside_the_batch_is_409(site):
    """should answer a name clash within one batch with 409 and insert nothing"""
    response = many(site, [{"doctype": "Test Note", **note("a")}, {"doctype": "Test Note", **note("a")}])
    assert response.status_code == 409 and site.count("Test Note") == 0


# --- faults -------------------------------------------------------------------------------------

def test_faults__next_requests_fail_then_recover(site):
    """should answer the next N requests with the injected status, then normally"""
    site.fail_next(2, 503, retry_after="1")
    first = call(site, "GET", "/api/resource/Test Note")
    assert first.status_code == 503 and first.headers["Retry-After"] == "1"
    assert call(site, "GET", "/api/resource/Test Note").status_code == 503
    assert call(site, "GET", "/api/resource/Test Note").status_code == 200


def test_faults__502_comes_from_the_proxy_as_html(site):
    """should answer an injected 502 with an HTML page, as nginx does"""
    site.fail_next(1, 502)
    response = call(site, "GET", "/api/resource/Test Note")
    assert response.status_code == 502 and response.text.startswith("<html>")


def test_faults__after_processing_the_write_happened(site):
    """should carry out the request and lose only the answer when told so"""
    site.fail_next(1, 502, after_processing=True)
    assert insert(site, "Test Note", note("lost")).status_code == 502
    assert site.doc("Test Note", "lost") is not None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_faults__every_status_is_reported_in_the_log(site, status):
    """should record injected failures in the request log"""
    site.fail_next(1, status)
    call(site, "GET", "/api/resource/Test Note")
    assert site.requests[-1].status == status


def test_list__child_doctype_only_through_its_parent(site):
    """should refuse listing a child DocType alone (403) and list its rows given the parent"""
    insert(site, "Test Note", note("c1", tags=[{"tag": "red"}, {"tag": "blue"}]))
    assert call(site, "GET", "/api/resource/Test Note Tag").status_code == 403
    assert call(site, "GET", "/api/resource/Test Note Tag",
                params={"parent": "Test Person"}).status_code == 403  # not a table of it
    rows = call(site, "GET", "/api/resource/Test Note Tag", params={
        "parent": "Test Note", "fields": '["parent", "parentfield", "idx", "tag"]',
        "order_by": "idx asc"}).json()["data"]
    assert rows == [{"parent": "c1", "parentfield": "tags", "idx": 1, "tag": "red"},
                    {"parent": "c1", "parentfield": "tags", "idx": 2, "tag": "blue"}]
