"""Which identity fields a record holds, and a Dice score that does not punish a missing one.

The Dice coefficient of two CLKs counts every bit of a field one record lacks against the pair:
a record with only the year of birth, or without the sex or the given name, scores far below
the same person recorded in full (a year-only date costs about 0.12, a missing given name 0.2).
With a few thousand records that is harmless; with a million, the threshold has to rise
(`tipdata.linkage.matching`) and such pairs would fall below it while strangers recorded in full
do not. So each record says which identity fields it holds (`held_fields`: letters of
`FIELD_LETTERS`), and the linking party scores a pair whose records hold different fields on
the fields both hold (`presence_adjusted_dice`):

    D' = 2·|A ∧ B| / (|A| − e_A + |B| − e_B)

where e_A estimates the bits A has from fields B lacks: for the month, day and sex, the bits
each whole token sets (`field_bits`, read from the schema) less the share expected to collide
with the record's other bits; for a name B lacks, the difference of their name bits (what is
left of each filter after the date and sex bits). D' is never below D and never above 1.

It is applied only when it cannot turn weak evidence into strong: both records hold the birth
year and a name, a record without the day and month holds both names, and a record without a
name holds the full date of birth. Presence letters reveal no more than the key variants a
record has already do (a variant is left out when a field it needs is missing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tipdata.linkage.normalise import NormalisedPerson
from tipdata.linkage.schema import LinkageSchema

#: letter → identity field; the flags of `presence_codes` follow this order (bit 0 = given)
FIELD_LETTERS: dict[str, str] = {
    "g": "given names",
    "f": "family names",
    "y": "birth year",
    "m": "birth month",
    "d": "birth day",
    "s": "sex",
}
_FLAG = {letter: 1 << i for i, letter in enumerate(FIELD_LETTERS)}
GIVEN, FAMILY, YEAR, MONTH, DAY, SEX = (_FLAG[c] for c in "gfymds")
NAMES, FULL_DATE = GIVEN | FAMILY, YEAR | MONTH | DAY
#: whole-token schema features whose bits `field_bits` reads
TOKEN_FEATURES: dict[str, str] = {
    "person_birth_year": "y",
    "person_birth_month": "m",
    "person_birth_day": "d",
    "person_sex": "s",
}
UNKNOWN = -1


def held_fields(person: NormalisedPerson) -> str:
    """Letters of the identity fields a normalised record holds, in `FIELD_LETTERS` order.

    >>> from tipdata.linkage.normalise import normalise_person
    >>> held_fields(normalise_person("Ana", "Lopez", "1990", "female"))
    'gfys'
    """
    date = person.date_of_birth
    present = {
        "g": bool(person.given),
        "f": bool(person.family),
        "y": date is not None,
        "m": date is not None and date.month is not None,
        "d": date is not None and date.day is not None,
        "s": bool(person.sex),
    }
    return "".join(letter for letter in FIELD_LETTERS if present[letter])


def field_bits(schema: LinkageSchema) -> dict[str, int]:
    """Bits a whole-token identity feature sets (year, month, day, sex), for the fields the
    schema hashes as one token; a field hashed otherwise is left out and never adjusted for.

    >>> from tipdata.linkage.schema import load_schema
    >>> field_bits(load_schema())
    {'y': 40, 'm': 30, 'd': 30, 's': 15}
    """
    out: dict[str, int] = {}
    for feature in schema.features:
        letter = TOKEN_FEATURES.get(feature.identifier)
        hashing = feature.hashing
        if (
            letter is None
            or feature.ignored
            or hashing is None
            or hashing.comparison.type != "exact"
        ):
            continue
        out[letter] = hashing.bits_per_token(1)[0]
    return dict(sorted(out.items(), key=lambda item: "ymds".index(item[0])))


def presence_codes(held: Sequence[str | None]) -> np.ndarray:
    """Flags per record (`UNKNOWN` when a record does not say, as in files of older versions)."""
    return np.fromiter(
        (UNKNOWN if h is None else sum(_FLAG[c] for c in h if c in _FLAG) for h in held),
        dtype=np.int8,
        count=len(held),
    )


def _expected_bits(
    flags: np.ndarray, counts: np.ndarray, bits: Mapping[str, int], clk_bits: int, which: np.ndarray
) -> np.ndarray:
    """Bits the tokens of fields `which` (flags) set in filters with `counts` bits, less collisions."""
    keep = 1.0 - counts / (2.0 * clk_bits)
    total = np.zeros(len(flags))
    for letter, k in bits.items():
        total += np.where(which & _FLAG[letter] != 0, k * keep, 0.0)
    return total


def presence_adjusted_dice(
    dice: np.ndarray,
    common: np.ndarray,
    count_left: np.ndarray,
    count_right: np.ndarray,
    flags_left: np.ndarray,
    flags_right: np.ndarray,
    bits: Mapping[str, int],
    clk_bits: int,
) -> np.ndarray:
    """Dice of each pair over the identity fields both records hold (module docstring).

    `common` and the counts are the bits the pair's compared filters share and hold.

    >>> import numpy as np
    >>> full, year_only = 0b111111, 0b100111  # names, year and sex; no month, no day
    >>> adjusted = presence_adjusted_dice(np.array([0.8]), np.array([140]), np.array([205]),
    ...     np.array([145]), np.array([full]), np.array([year_only]),
    ...     {"y": 40, "m": 30, "d": 30, "s": 15}, 1024)
    >>> round(float(adjusted[0]), 3)
    0.946
    """
    known = (flags_left != UNKNOWN) & (flags_right != UNKNOWN)
    lf, rf = np.where(known, flags_left, 0), np.where(known, flags_right, 0)
    usable = known & (lf != rf)
    for flags in (lf, rf):
        usable &= (flags & YEAR != 0) & (flags & NAMES != 0)
        usable &= (flags & (MONTH | DAY) == MONTH | DAY) | (flags & NAMES == NAMES)
        usable &= (flags & NAMES == NAMES) | (flags & FULL_DATE == FULL_DATE)
    if not usable.any():
        return dice
    out = dice.astype(np.float64, copy=True)
    idx = np.flatnonzero(usable)
    lf, rf, c = lf[idx], rf[idx], common[idx].astype(np.float64)
    lc, rc = count_left[idx].astype(np.float64), count_right[idx].astype(np.float64)
    token_bits = {k: v for k, v in bits.items() if k in "mds"}
    extra_left = _expected_bits(lf, lc, token_bits, clk_bits, lf & ~rf)
    extra_right = _expected_bits(rf, rc, token_bits, clk_bits, rf & ~lf)
    name_bits_left = lc - _expected_bits(lf, lc, bits, clk_bits, lf)
    name_bits_right = rc - _expected_bits(rf, rc, bits, clk_bits, rf)
    one_name_left = ((lf & GIVEN) != 0) ^ ((lf & FAMILY) != 0)
    one_name_right = ((rf & GIVEN) != 0) ^ ((rf & FAMILY) != 0)
    extra_left += np.where(
        (lf & NAMES == NAMES) & one_name_right,
        np.maximum(name_bits_left - name_bits_right, 0.0),
        0.0,
    )
    extra_right += np.where(
        (rf & NAMES == NAMES) & one_name_left,
        np.maximum(name_bits_right - name_bits_left, 0.0),
        0.0,
    )
    denominator = np.maximum(lc - extra_left + rc - extra_right, 1.0)
    out[idx] = np.clip(np.maximum(2.0 * c / denominator, out[idx]), 0.0, 1.0)
    return out
