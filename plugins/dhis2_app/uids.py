"""Deterministic DHIS2 UIDs derived from codebook codes.

Every object in the DHIS2 package carries a UID computed from "<object type>:<code>", so a
rebuild gives the same ids and a re-import updates objects instead of duplicating them
(`importStrategy=CREATE_AND_UPDATE` matches on UID). Two servers that import the same package
therefore share ids, which is what lets the sync library address data elements without a lookup.

The hash is keyed (HMAC-SHA256 with a fixed, public key): the key is not a secret, it only
separates tipdata's id space from any other scheme that hashes the same strings. Changing it
would change every id, so it never changes.

A UID is 11 characters, a letter first, then letters or digits (DHIS2 `CodeGenerator`:
``^[a-zA-Z][a-zA-Z0-9]{10}$``). Collisions are astronomically unlikely (52·62^10 ids) but are
still checked at build time by :class:`UidRegistry`, which names both codes if one happens.
"""

from __future__ import annotations

import hashlib
import hmac
import re

UID_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9]{10}$")

_KEY = b"tipdata:dhis2-uid:v1"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALPHANUMERIC = _LETTERS + "0123456789"


class UidCollision(ValueError):
    """Two different (object type, code) pairs hashed to the same UID."""


def uid_for(object_type: str, code: str) -> str:
    """The UID of the DHIS2 object of ``object_type`` made from codebook code ``code``.

    Example::

        >>> uid_for("dataElement", "screening_result") == uid_for("dataElement", "screening_result")
        True
        >>> bool(UID_PATTERN.match(uid_for("dataElement", "screening_result")))
        True
    """
    if not object_type or not code:
        raise ValueError("a UID needs both an object type and a code")
    digest = hmac.new(_KEY, f"{object_type}:{code}".encode(), hashlib.sha256).digest()
    # byte 0 picks the leading letter, bytes 1-10 the rest; the modulo bias (256 % 52, 256 % 62)
    # only skews the distribution slightly and does not matter for identifiers
    return _LETTERS[digest[0] % len(_LETTERS)] + "".join(
        _ALPHANUMERIC[byte % len(_ALPHANUMERIC)] for byte in digest[1:11]
    )


def is_valid_uid(value: str) -> bool:
    """True for a well-formed DHIS2 UID."""
    return bool(UID_PATTERN.match(value))


class UidRegistry:
    """Hands out UIDs for one package and refuses a collision between two different codes.

    Asking twice for the same (object type, code) returns the same UID, so builders can look an
    id up wherever they need it instead of threading it through.

    Example::

        registry = UidRegistry()
        registry.uid("dataElement", "screening_result")   # 'X...' (11 characters)
    """

    def __init__(self) -> None:
        self._owners: dict[str, tuple[str, str]] = {}

    def uid(self, object_type: str, code: str) -> str:
        uid = uid_for(object_type, code)
        owner = self._owners.setdefault(uid, (object_type, code))
        if owner != (object_type, code):
            raise UidCollision(
                f"UID {uid} was derived from both {owner[0]}:{owner[1]} and {object_type}:{code}; "
                "rename one of the two codes (codes are stable ids, so rename the newer one)"
            )
        return uid

    def __len__(self) -> int:
        return len(self._owners)
