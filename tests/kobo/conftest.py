"""Shared fixtures for the Kobo/ODK encryption tests: keys, vectors, Kobo-shaped submissions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DATA_DIR = Path(__file__).parent / "data"
VECTORS_PATH = DATA_DIR / "odk-encryption-vectors.json"

KOBO_FORM_ID = "aJ7sd2kqWcH5YbVfXe8mLp"
KOBO_VERSION = "3 (2026-01-02 10:11:12)"

SubmissionXmlFactory = Callable[..., bytes]


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    """ODK Central's encryption unit-test vectors (Apache-2.0), copied from shared/reference."""
    with VECTORS_PATH.open(encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def central_private_key(vectors: dict[str, Any]) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(vectors["private_key_pem"].encode("ascii"), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="session")
def private_key() -> rsa.RSAPrivateKey:
    """A throwaway 2048-bit key for the whole session (never a production key)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_private_key() -> rsa.RSAPrivateKey:
    """A second key of the same size, to play 'the wrong key'."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_instance_id() -> str:
    return f"uuid:{uuid.uuid4()}"


def kobo_submission_xml(
    instance_id: str,
    *,
    form_id: str = KOBO_FORM_ID,
    version: str = KOBO_VERSION,
    answers: dict[str, str] | None = None,
) -> bytes:
    """A plaintext submission shaped like Kobo's engines produce for a deployed XLSForm."""
    answers = answers if answers is not None else {"consent": "yes", "age": "17"}
    fields = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in answers.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<data xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" '
        f'id="{escape(form_id)}" version="{escape(version)}">'
        "<formhub><uuid>0a1b2c3d4e5f60718293a4b5c6d7e8f9</uuid></formhub>"
        f"{fields}"
        "<__version__>vQm8p2Xr5tYb3sLk9eWzHa</__version__>"
        f"<meta><instanceID>{instance_id}</instanceID></meta>"
        "</data>"
    ).encode()


@pytest.fixture
def submission_xml() -> SubmissionXmlFactory:
    """Factory: `submission_xml(instance_id, answers={...})` → Kobo-shaped XML bytes."""
    return kobo_submission_xml


@pytest.fixture
def instance_id() -> str:
    """A fresh `uuid:…` instance id."""
    return make_instance_id()
