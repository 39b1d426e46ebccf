"""Connector configuration and errors: where settings come from, what a refusal says."""

from __future__ import annotations

import pytest

from tests.doubles.frappe import DocField, DocTypeDef, FrappeDouble
from tests.frappe.conftest import KEY, SECRET, client_for
from tipdata.erpnext_casework.connector import (
    DocumentNotFound,
    DuplicateDocument,
    FrappeAuthenticationError,
    FrappeClient,
    FrappeError,
    FrappeValidationFailed,
    resolve_frappe_config,
)
from tipdata.http import ServiceConfig

ENV = ("TIPDATA_FRAPPE_URL", "TIPDATA_FRAPPE_API_KEY", "TIPDATA_FRAPPE_API_SECRET",
       "TIPDATA_FRAPPE_API_SECRET_FILE")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_resolve_frappe_config__from_environment(monkeypatch):
    """should read the site, key and secret from the TIPDATA_FRAPPE_* variables"""
    monkeypatch.setenv("TIPDATA_FRAPPE_URL", "https://casework.example.org")
    monkeypatch.setenv("TIPDATA_FRAPPE_API_KEY", "k3y")
    monkeypatch.setenv("TIPDATA_FRAPPE_API_SECRET", "s3cret-value")
    config = resolve_frappe_config()
    assert config.base_url == "https://casework.example.org" and config.secret == "k3y:s3cret-value"
    assert "s3cret-value" not in repr(config)


def test_resolve_frappe_config__secret_from_a_file_and_arguments_first(monkeypatch, tmp_path):
    """should read the secret from the file named by _SECRET_FILE; arguments win over both"""
    secret_file = tmp_path / "frappe-secret"
    secret_file.write_text("from-file\n")
    monkeypatch.setenv("TIPDATA_FRAPPE_URL", "https://casework.example.org")
    monkeypatch.setenv("TIPDATA_FRAPPE_API_KEY", "k3y")
    monkeypatch.setenv("TIPDATA_FRAPPE_API_SECRET_FILE", str(secret_file))
    assert resolve_frappe_config().secret == "k3y:from-file"
    assert resolve_frappe_config("https://other.example.org", "arg-key", "arg-secret").secret == \
        "arg-key:arg-secret"


@pytest.mark.parametrize(("present", "named"), [
    ({}, "TIPDATA_FRAPPE_URL"),
    ({"TIPDATA_FRAPPE_URL": "https://c.example.org"}, "TIPDATA_FRAPPE_API_KEY"),
    ({"TIPDATA_FRAPPE_URL": "https://c.example.org", "TIPDATA_FRAPPE_API_KEY": "k"},
     "TIPDATA_FRAPPE_API_SECRET"),
])
def test_resolve_frappe_config__missing_setting_names_the_variable(monkeypatch, present, named):
    """should say which variable to set when a setting is missing"""
    for key, value in present.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValueError, match=named):
        resolve_frappe_config()


def test_client__refused_key_is_an_authentication_error_with_a_fix(site):
    """should raise FrappeAuthenticationError naming what to set, never showing the secret"""
    client = FrappeClient(ServiceConfig(site.base_url, f"{KEY}:wrong-secret-123", retries=0))
    with pytest.raises(FrappeAuthenticationError) as caught:
        client.get_list("Test Note")
    text = str(caught.value)
    assert "POST " in text and "HTTP 401" in text and "AuthenticationError" in text
    assert "TIPDATA_FRAPPE_API_SECRET" in text and "wrong-secret-123" not in text
    assert "wrong-secret-123" not in repr(client)


def test_client__duplicate_is_typed_and_carries_frappes_words(site):
    """should decode _server_messages twice and strip Frappe's markup"""
    client = client_for(site)
    client.insert("Test Note", {"external_id": "dup", "status": "Open"})
    with pytest.raises(DuplicateDocument) as caught:
        client.insert("Test Note", {"external_id": "dup", "status": "Open"})
    assert caught.value.exc_type == "DuplicateEntryError"
    assert caught.value.messages == ("Test Note dup already exists",)


def test_client__validation_refusal_and_missing_document(site):
    """should raise FrappeValidationFailed (417) and DocumentNotFound (404) with the messages"""
    client = client_for(site)
    with pytest.raises(FrappeValidationFailed) as caught:
        client.insert("Test Note", {"external_id": "m"})
    assert caught.value.exc_type == "MandatoryError"
    assert caught.value.messages == ("Error: Value missing for Test Note: Status",)
    with pytest.raises(DocumentNotFound, match="Test Note nope not found"):
        client.get_doc("Test Note", "nope")


def test_client__missing_doctype_says_to_install_the_app(clock):
    """should explain a 500 ImportError as an app that is not installed"""
    empty = DocTypeDef("Other", (DocField("x"),))
    with FrappeDouble([empty], api_key=KEY, api_secret=SECRET, clock=clock) as site:
        with pytest.raises(FrappeError) as caught:
            client_for(site).get_list("TIP Case")
    assert caught.value.status == 500 and "install-app" in str(caught.value)


def test_client__insert_many_refuses_more_than_200_before_sending(site):
    """should refuse to send more than Frappe's 200-document limit"""
    with pytest.raises(ValueError, match="at most 200"):
        client_for(site).insert_many([{"doctype": "Test Note"}] * 201)
    assert site.requests == []


def test_client__names_with_spaces_and_slashes_are_quoted(site):
    """should reach documents whose names need quoting in the URL"""
    client = client_for(site)
    site.seed("Test Note", {"external_id": "a/b c", "status": "Open"})
    assert client.get_doc("Test Note", "a/b c")["name"] == "a/b c"
