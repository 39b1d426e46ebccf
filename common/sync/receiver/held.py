"""Decrypting a held encrypted submission when `tipdata quarantine retry` asks for it.

`tipdata serve` never decrypts: the internet-facing process holds no private key, so an
encrypted delivery (the ODK manifest, kobo-api.md §8.2) is kept in the quarantine as
`SY722 awaiting-decryption` with the JSON exactly as delivered — ciphertext only. On retry, the
Kobo source (which has the key when `[kobo] private_key` is configured and
TIPDATA_KEY_PASSPHRASE opens it) calls `decrypt_held`, which takes the very path of
`tipdata kobo pull` for encrypted forms (`tipdata.kobo_forms.encrypted_submission`): manifest
XML from `/data/{id}.xml`, each `.enc` file through its download URL, decrypt and verify in
memory, flatten the XML like Kobo's JSON, map.

Any failure is a `KB300` quarantine carrying only the encrypted manifest JSON — never partial
plaintext. Media files are decrypted to verify the signature and then dropped: the canonical
record holds no media.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from tipdata.kobo_forms.connector import KoboClient
from tipdata.kobo_forms.encrypted_submission import decrypt_and_map
from tipdata.kobo_forms.mapping import FormLayout
from tipdata.model import Codebook
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord


def decrypt_held(
    client: KoboClient,
    codebook: Codebook,
    form_id: str,
    asset_uid: str,
    row: Mapping[str, Any],
    submission_id: int,
    private_key: rsa.RSAPrivateKey,
) -> CanonicalRecord | QuarantinedRecord:
    """Decrypt, verify and map one encrypted submission held since its delivery.

    Kobo being unreachable raises its `PlatformError` (nothing is decided; retry later);
    anything wrong with the submission itself is a KB300 quarantine.

    >>> outcome = decrypt_held(client, codebook, "tip_screening_adult", "aJ7sd2…", row, 57, key)
    >>> outcome.values["screening_result"]
    'unlikely'
    """
    layout = FormLayout.of(codebook, form_id)
    return decrypt_and_map(
        client, codebook, layout, form_id, asset_uid, row, submission_id, private_key
    ).outcome
