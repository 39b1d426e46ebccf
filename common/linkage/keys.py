"""Exact linkage keys: keyed hashes (HMAC-SHA-256) of normalised identifiers, in several variants.

Each agency computes the keys of its own records from a secret the agencies share and the
linking party does not hold. Equal keys mean equal normalised identifiers; without the secret a
key cannot be recomputed from a guessed name, so the linking party learns only which records
agree. One key would miss a person whose record has a swapped or missing field, so every record
gets several variants, each tolerating a different fault.

Variants and their role in matching (`KEY_VARIANTS`):

  role "link" — agreement is enough to link two records, whatever their Bloom filters say:
    exact           given, family, full date of birth, sex, citizenship
    names_dob       the sorted name pair and the full date of birth with day and month sorted:
                    tolerates swapped names, swapped day/month, a missing or differing sex or
                    citizenship
  role "support" — agreement supports a Bloom-filter score below the threshold
  (see `tipdata.linkage.matching.MatchSettings.supported_threshold`):
    names_year_sex  the sorted name pair, year of birth, sex: a partial date of birth
    given_dob       given name and full date of birth: a mistyped or missing family name
    family_dob      family name and full date of birth: a mistyped or missing given name
    document        the identity document number: names or date of birth recorded
                    differently. Only support — documents are forged, lent and confiscated, and
                    one forged number can be written for several victims
  role "block" — agreement only makes two records a candidate pair to be scored:
    names           the sorted name pair alone: a missing or mistyped date of birth (equal
                    names alone are weak evidence: common names are shared by strangers)
    initials_dob    sorted initials and the full date of birth: both names mistyped
    skeleton_dob    consonant skeletons of both names and the date of birth: transcription
                    variants (Mohammed / Muhamad)

A variant is left out when a field it needs is missing, so records without a date of birth do
not all share one "no date" key. Keys are truncated to 128 bits (collisions among a billion
records stay below 1e-20) and written as unpadded base64url.

Which variants a record has shows which fields were missing; the keys of low-variety fields
(`names`) can be attacked by frequency analysis by someone holding many encodings and a name
frequency list. Keep encodings with the linking party only, and rotate the secret per exercise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipdata.http import resolve_secret
from tipdata.linkage.normalise import (
    NormalisedPerson,
    name_initials,
    name_skeleton,
    names_sorted_pair,
)

SECRET_ENV_VAR = "TIPDATA_LINKAGE_SECRET"
SECRET_FILE_ENV_VAR = "TIPDATA_LINKAGE_SECRET_FILE"
#: Shorter secrets can be guessed by whoever holds the encodings, which undoes the keying.
MIN_SECRET_LENGTH = 16
KEY_BYTES = 16
_SEPARATOR = "\x1f"
_KDF_SALT = b"tipdata-linkage-v1"

LINK, SUPPORT, BLOCK = "link", "support", "block"


@dataclass(frozen=True)
class KeyVariant:
    """One way to build an exact key; `fields` returns None when a needed field is missing."""

    name: str
    role: str
    fields: Callable[[NormalisedPerson], tuple[str, ...] | None]
    description: str


def _full_date(person: NormalisedPerson) -> str | None:
    date = person.date_of_birth
    return date.digits() if date is not None and date.precision == "day" else None


def _exact(p: NormalisedPerson) -> tuple[str, ...] | None:
    date = _full_date(p)
    if not (p.given and p.family and date):
        return None
    return (p.given, p.family, date, p.sex, p.citizenship)


def _names_dob(p: NormalisedPerson) -> tuple[str, ...] | None:
    date = p.date_of_birth
    if not (p.given and p.family and date is not None and date.precision == "day"):
        return None
    day_month = sorted((f"{date.month:02d}", f"{date.day:02d}"))
    return (*names_sorted_pair(p.given, p.family), f"{date.year:04d}", *day_month)


def _names_year_sex(p: NormalisedPerson) -> tuple[str, ...] | None:
    if not (p.given and p.family and p.date_of_birth is not None and p.sex):
        return None
    return (*names_sorted_pair(p.given, p.family), f"{p.date_of_birth.year:04d}", p.sex)


def _names(p: NormalisedPerson) -> tuple[str, ...] | None:
    return names_sorted_pair(p.given, p.family) if p.given and p.family else None


def _given_dob(p: NormalisedPerson) -> tuple[str, ...] | None:
    date = _full_date(p)
    return (p.given, date) if p.given and date else None


def _family_dob(p: NormalisedPerson) -> tuple[str, ...] | None:
    date = _full_date(p)
    return (p.family, date) if p.family and date else None


#: shorter document numbers (a card serial "12", say) are shared by too many people to count
MIN_DOCUMENT_LENGTH = 5


def _document(p: NormalisedPerson) -> tuple[str, ...] | None:
    return (p.id_document,) if len(p.id_document) >= MIN_DOCUMENT_LENGTH else None


def _initials_dob(p: NormalisedPerson) -> tuple[str, ...] | None:
    date = _full_date(p)
    if not (p.given and p.family and date):
        return None
    return (*names_sorted_pair(name_initials(p.given), name_initials(p.family)), date)


def _skeleton_dob(p: NormalisedPerson) -> tuple[str, ...] | None:
    date = _full_date(p)
    if not (p.given and p.family and date):
        return None
    return (*names_sorted_pair(name_skeleton(p.given), name_skeleton(p.family)), date)


KEY_VARIANTS: tuple[KeyVariant, ...] = (
    KeyVariant("exact", LINK, _exact, "given, family, date of birth, sex, citizenship"),
    KeyVariant("names_dob", LINK, _names_dob, "sorted names, date of birth with day/month sorted"),
    KeyVariant("names_year_sex", SUPPORT, _names_year_sex, "sorted names, birth year, sex"),
    KeyVariant("names", BLOCK, _names, "sorted names"),
    KeyVariant("given_dob", SUPPORT, _given_dob, "given name, date of birth"),
    KeyVariant("family_dob", SUPPORT, _family_dob, "family name, date of birth"),
    KeyVariant("document", SUPPORT, _document, "identity document number"),
    KeyVariant("initials_dob", BLOCK, _initials_dob, "sorted initials, date of birth"),
    KeyVariant("skeleton_dob", BLOCK, _skeleton_dob, "sorted name skeletons, date of birth"),
)
VARIANTS_BY_NAME: dict[str, KeyVariant] = {v.name: v for v in KEY_VARIANTS}


def linkage_secret(explicit: str | None = None) -> bytes:
    """The shared linkage secret: argument > TIPDATA_LINKAGE_SECRET > file named by
    TIPDATA_LINKAGE_SECRET_FILE. Raises ValueError (never showing the value) if absent or short.
    """
    secret = resolve_secret(explicit, SECRET_ENV_VAR, SECRET_FILE_ENV_VAR)
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"the linkage secret is shorter than {MIN_SECRET_LENGTH} characters; "
                         "a short secret can be guessed from the encodings. Fix: agree a long "
                         "random secret (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) "
                         f"and set {SECRET_ENV_VAR} or {SECRET_FILE_ENV_VAR}.")
    return secret.encode("utf-8")


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=purpose).derive(secret)


class ExactKeyer:
    """Computes a record's exact keys; the HMAC key is derived from the secret once.

    The key is separated from the Bloom-filter keys by HKDF with its own `info`, so the same
    secret serves both without one revealing anything about the other.

    >>> from tipdata.linkage.normalise import normalise_person
    >>> keyer = ExactKeyer(b"a shared secret, never in code")
    >>> a = keyer.keys(normalise_person("Ana", "Lopez", "1990-03-12"))
    >>> b = keyer.keys(normalise_person("LOPEZ", "ana", "1990-12-03"))
    >>> a["names_dob"] == b["names_dob"], a["exact"] == b["exact"]
    (True, False)
    """

    def __init__(self, secret: bytes, variants: tuple[KeyVariant, ...] = KEY_VARIANTS) -> None:
        if not secret:
            raise ValueError("the linkage secret is empty")
        # the keyed state is prepared once and copied per key: 3x faster than hmac.digest
        self._hmac = hmac.new(_derive(secret, b"exact keys"), digestmod=hashlib.sha256)
        self.variants = variants

    def key(self, variant: KeyVariant, fields: tuple[str, ...]) -> str:
        mac = self._hmac.copy()
        mac.update(_SEPARATOR.join((variant.name, *fields)).encode("utf-8"))
        return base64.urlsafe_b64encode(mac.digest()[:KEY_BYTES]).rstrip(b"=").decode("ascii")

    def keys(self, person: NormalisedPerson) -> dict[str, str]:
        """Variant name → key, for the variants whose fields the record has."""
        out = {}
        for variant in self.variants:
            fields = variant.fields(person)
            if fields is not None:
                out[variant.name] = self.key(variant, fields)
        return out


def secret_check(secret: bytes) -> str:
    """A short public value that is equal for equal secrets, so the linking party can refuse to
    mix batches encoded with different secrets without learning the secret."""
    check = hmac.digest(_derive(secret, b"secret check"), b"tipdata linkage", "sha256")[:8]
    return base64.urlsafe_b64encode(check).rstrip(b"=").decode("ascii")
