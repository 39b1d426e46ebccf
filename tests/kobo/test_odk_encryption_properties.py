"""Properties: any content and media set round-trips; any single-bit change is refused."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tipdata.kobo_forms.odk_encryption import (
    DecryptionError,
    decrypt_submission,
    encrypt_submission,
    submission_file_iv,
)

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
)

media_names = st.from_regex(
    r"[A-Za-z0-9][A-Za-z0-9 _()\-\u00e9\u0416]{0,20}\.(jpg|png|m4a|mp4)", fullmatch=True
)
media_sets = st.dictionaries(media_names, st.binary(max_size=600), max_size=5)
instance_ids = st.uuids().map(lambda value: f"uuid:{value}")
xml_text = st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n\r")
versions = st.none() | st.text(xml_text, max_size=30).filter(
    lambda v: "\ufffe" not in v and "\uffff" not in v
)


def naive_iv(instance_id: str, aes_key: bytes, file_index: int) -> bytes:
    """The reference's loop, written out literally."""
    seed = bytearray(hashlib.md5(instance_id.encode("utf-8") + aes_key).digest())
    for j in range(file_index + 1):
        seed[j % 16] = (seed[j % 16] + 1) % 256
    return bytes(seed)


@PROPERTY_SETTINGS
@given(
    content=st.binary(max_size=2000),
    media=media_sets,
    instance_id=instance_ids,
    version=versions,
    dialect=st.sampled_from(["enketo", "collect"]),
)
def test_round_trip__any_content_and_media_set(
    private_key, content: bytes, media: dict[str, bytes], instance_id: str, version, dialect
) -> None:
    """Whatever the bytes, names, version and dialect, decryption should give back the input."""
    encrypted = encrypt_submission(
        private_key.public_key(),
        form_id="form-1",
        version=version,
        instance_id=instance_id,
        submission_xml=content,
        media=media,
        dialect=dialect,
    )
    result = decrypt_submission(encrypted.manifest_xml, encrypted.files, private_key)
    assert result.submission_xml == content
    assert list(result.media.items()) == list(media.items())
    assert result.version == (version if version is not None else None)


@PROPERTY_SETTINGS
@given(
    content=st.binary(min_size=1, max_size=400),
    media=media_sets,
    data=st.data(),
)
def test_any_single_bit_flip_in_any_file__is_refused(
    private_key, content: bytes, media: dict[str, bytes], data: st.DataObject
) -> None:
    """Flipping any bit of any .enc file should raise DecryptionError, never return plaintext."""
    encrypted = encrypt_submission(
        private_key.public_key(),
        form_id="form-1",
        version="1",
        instance_id="uuid:property",
        submission_xml=content,
        media=media,
    )
    name = data.draw(st.sampled_from(sorted(encrypted.files)))
    position = data.draw(st.integers(0, len(encrypted.files[name]) * 8 - 1))
    files = dict(encrypted.files)
    changed = bytearray(files[name])
    changed[position // 8] ^= 1 << (position % 8)
    files[name] = bytes(changed)
    try:
        decrypt_submission(encrypted.manifest_xml, files, private_key)
    except DecryptionError:
        return
    raise AssertionError(f"a flipped bit in {name} was accepted")


@given(
    instance_id=st.text(max_size=60),
    aes_key=st.binary(min_size=32, max_size=32),
    file_index=st.integers(0, 300),
)
def test_submission_file_iv__equals_the_reference_loop(
    instance_id: str, aes_key: bytes, file_index: int
) -> None:
    """The closed-form IV should equal the reference's increment loop for every index."""
    assert submission_file_iv(instance_id, aes_key, file_index) == naive_iv(
        instance_id, aes_key, file_index
    )
