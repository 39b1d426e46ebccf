"""The Kobo source's remapping of quarantined submissions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sync.conftest import INTAKE, codebook
from tipdata.kobo_forms.pull import PullOptions
from tipdata.ledger import Ledger
from tipdata.sync.adapters.kobo import KoboSource

ASSET = "aRemap1234567890"
MANIFEST = json.dumps(
    {"_id": 123, "base64EncryptedKey": "AAAA", "encryptedXmlFile": "submission.xml.enc"}
)


class UnreachableKobo:
    """A client that must not be used: any request fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the client was used ({name})")


@pytest.fixture
def source(ledger: Ledger) -> KoboSource:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KoboSource(
        UnreachableKobo(),
        codebook(),
        {INTAKE: ASSET},
        ledger,  # type: ignore[arg-type]
        PullOptions(private_key=key),
    )


@pytest.mark.parametrize("source_id", ["١٢٣", "²", "12a", ""])
def test_remap__encrypted_submission_needs_an_ascii_digit_id(source: KoboSource, source_id: str):
    """should leave an encrypted submission quarantined under an id that is not ASCII digits, asking Kobo nothing"""
    assert source.remap(f"kobo:{ASSET}", source_id, MANIFEST.encode()) is None


def test_remap__encrypted_submission_with_its_id_is_decrypted_from_kobo(source: KoboSource):
    """should fetch the attachments of an encrypted submission whose id is ASCII digits (from Kobo)"""
    with pytest.raises(AssertionError, match="the client was used"):
        source.remap(f"kobo:{ASSET}", "123", MANIFEST.encode())
