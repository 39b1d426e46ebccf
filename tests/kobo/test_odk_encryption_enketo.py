"""Submissions made by Enketo's own code path (node-forge), including its pre-2025 signature bug."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from tipdata.kobo_forms import odk_encryption
from tipdata.kobo_forms.decrypt_cmd import decrypt_command
from tipdata.kobo_forms.odk_encryption import (
    SignatureMismatch,
    decrypt_submission,
    decrypt_submission_folder,
    encrypt_submission,
    parse_manifest,
)

DATA = Path(__file__).parent / "data"

# node-forge 1.3.1: forge.md.md5.create().update(s).digest().toHex(), i.e. without 'utf8'.
NODE_FORGE_RAW_MD5 = {
    "<data>abc</data>": "46200be867984c6d4afa77edd8dff400",
    "<data>é</data>": "56dfce518151d30fe5f8e77a1ac7a194",
    "<a>أحمد Олена 李 👩🏽‍⚕️</a>": "d0fc03c836e8cca35c5f14788b6695ac",
    "x" * 70 + "ж" * 100: "63b7f70ff9b78dcebe9ad7e7450f4e1f",
}


def read_folder(folder: Path) -> tuple[bytes, dict[str, bytes]]:
    manifest = (folder / "submission.xml").read_bytes()
    files = {
        name: (folder / name).read_bytes() for name in parse_manifest(manifest).encrypted_files
    }
    return manifest, files


@pytest.mark.parametrize(("text", "expected"), sorted(NODE_FORGE_RAW_MD5.items()))
def test_forge_string_md5__matches_node_forge(text: str, expected: str) -> None:
    """The emulation should reproduce node-forge's md5 of a JavaScript string, code unit by unit."""
    assert odk_encryption._forge_string_md5(text).hex() == expected


@given(st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=300))
def test_forge_string_md5__is_plain_md5_below_0x100(text: str) -> None:
    """For code units below 0x100 forge's string md5 should be ordinary md5 of latin-1 bytes."""
    assert odk_encryption._forge_string_md5(text) == hashlib.md5(text.encode("latin-1")).digest()


def test_enketo_fixture__ascii_submission_verifies_with_the_spec_signature(
    central_private_key,
) -> None:
    """An Enketo (node-forge) submission without non-ASCII text should verify as the spec says."""
    folder = DATA / "enketo-ascii"
    result = decrypt_submission_folder(folder, central_private_key)
    assert result.signature_scheme == "odk"
    assert result.submission_xml == (folder / "expected-submission.xml").read_bytes()
    assert result.media["photo.jpg"] == (folder / "expected-photo.jpg").read_bytes()


def test_enketo_fixture__pre_fix_non_ascii_submission_verifies_as_enketo_legacy(
    central_private_key,
) -> None:
    """Pre-fix Enketo's signature over non-ASCII text should verify, flagged 'enketo-legacy'."""
    folder = DATA / "enketo-non-ascii"
    result = decrypt_submission_folder(folder, central_private_key)
    assert result.signature_verified
    assert result.signature_scheme == "enketo-legacy"
    expected = (folder / "expected-submission.xml").read_bytes()
    assert result.submission_xml == expected
    assert not expected.isascii()


@pytest.mark.parametrize("name", ["submission.xml.enc", "photo.jpg.enc"])
def test_enketo_fixture__tampered_legacy_submission_is_still_refused(
    central_private_key, name: str
) -> None:
    """Accepting the legacy scheme should not accept altered files."""
    manifest, files = read_folder(DATA / "enketo-non-ascii")
    changed = bytearray(files[name])
    changed[5] ^= 0x04
    files[name] = bytes(changed)
    with pytest.raises(SignatureMismatch):
        decrypt_submission(manifest, files, central_private_key)


def test_enketo_legacy__spec_signature_of_non_ascii_text_is_reported_as_odk(
    private_key, instance_id
) -> None:
    """Our (spec) encryptor's non-ASCII submissions should verify under the spec scheme first."""
    xml = f"<data id='f'><n>Олена</n><meta><instanceID>{instance_id}</instanceID></meta></data>"
    encrypted = encrypt_submission(
        private_key.public_key(),
        form_id="f",
        version="é 1",
        instance_id=instance_id,
        submission_xml=xml.encode(),
        media={"фото.jpg": b"x"},
    )
    result = decrypt_submission(encrypted.manifest_xml, encrypted.files, private_key)
    assert result.signature_scheme == "odk"


def test_decrypt_cli__reports_legacy_enketo_signatures(
    tmp_path: Path, vectors: dict[str, Any]
) -> None:
    """The CLI should decrypt legacy Enketo submissions and say how many used that scheme."""

    key = tmp_path / "central.pem"
    key.write_text(vectors["private_key_pem"])
    app = typer.Typer()
    app.command("decrypt")(decrypt_command)
    app.callback()(lambda: None)
    inbox = tmp_path / "inbox"
    for name in ("enketo-ascii", "enketo-non-ascii"):
        (inbox / name).mkdir(parents=True)
        manifest, files = read_folder(DATA / name)
        (inbox / name / "submission.xml").write_bytes(manifest)
        for file_name, content in files.items():
            (inbox / name / file_name).write_bytes(content)
    result = CliRunner().invoke(
        app, ["decrypt", "--key", str(key), str(inbox), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "Decrypted 2 of 2" in result.stdout
    assert "1 of them carried Enketo's pre-2025 signature" in result.stdout
