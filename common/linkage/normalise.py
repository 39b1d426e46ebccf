"""Normalisation of the identifiers that linkage keys and Bloom filters are built from.

Two agencies only link a person if they turn the same facts into the same text before hashing:
a hash of "José" and a hash of "JOSE" share nothing. Everything here is a pure function of the
plaintext and runs on the agency's own machine, before anything is hashed.

What is folded, and why:
  - case and accents (Unicode NFKD, combining marks dropped; a few letters NFKD keeps whole,
    such as ß, ø, ł, are spelled out) — forms and officers differ in keyboards, not in people;
  - Cyrillic letters, spelled in Latin letters with a small table (`CYRILLIC_TO_LATIN`), because
    victims from Ukraine or Russia are registered in both scripts; other scripts are kept as they
    are (no transliteration of Arabic, whose vowels are not written, is attempted);
  - punctuation: apostrophes vanish (O'Brien → obrien), other marks separate words
    (Jean-Pierre → jean pierre); digits are dropped from names;
  - honorifics (`HONORIFICS`: mr, mrs, dr, alhaji, ...) are dropped when another word remains;
  - spelling variants common in transcribed names (`SPELLING_FOLDS`: ph→f, kh→k, ou→u, final
    y→i, doubled letters ...) are folded by `fold_spelling`, and `name_skeleton` keeps only the
    first letter and the consonants, so Mohammed, Muhamad and Mohamad agree;
  - dates of birth may be partial (a year, or a year and a month) and day and month may have
    been swapped: `parse_partial_date` keeps the precision it was given and `day_month_swapped`
    offers the swapped reading.

Swapped given and family names are handled where the names are used: keys hash the sorted pair
(`names_sorted_pair`) and the Bloom filter hashes all name words as one feature.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache

#: Letters NFKD leaves whole, spelled the way passports and forms usually spell them.
SPECIAL_LETTERS: dict[str, str] = {
    "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
    "ı": "i", "ŋ": "n", "ħ": "h", "ŧ": "t", "ɨ": "i", "ʼ": "", "ʻ": "",
}

#: Cyrillic → Latin, a simplified passport-style table (Ukrainian and Russian letters).
CYRILLIC_TO_LATIN: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ё": "e",
    "ж": "zh", "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh",
    "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e",
    "ю": "iu", "я": "ia",
}

#: Courtesy titles and honorifics dropped from names (only when another word remains, so a
#: person registered under the single word "Sir" keeps it). Ambiguous words that are also given
#: names (don, dona, sri) are deliberately absent.
HONORIFICS: frozenset[str] = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "mister", "missus", "dr", "prof", "sir", "madam", "madame",
    "mme", "mlle", "herr", "frau", "sr", "sra", "srta", "sig", "sigra", "alhaji", "alhaja",
    "hajia", "hadja", "hajji", "mrs.", "rev", "fr",
})

#: Spelling folds for transcribed names, applied in this order to each word. Each pair is
#: (pattern, replacement) on the normalised (lower-case ASCII) word. They fold variants that
#: different officers write for the same sound; they do not try to be a full phonetic code.
SPELLING_FOLDS: tuple[tuple[str, str], ...] = (
    (r"sch", "sh"),       # Schmidt / Shmidt
    (r"tch", "ch"),       # Tchaikovsky / Chaikovsky
    (r"ph", "f"),         # Stephan / Stefan
    (r"kh", "k"),         # Khalid / Kalid
    (r"gh", "g"),         # Ghana / Gana, Dagher / Dager
    (r"th", "t"),         # Thomas / Tomas
    (r"dh", "d"),         # Dhaka / Daka
    (r"ck", "k"),         # Erick / Erik
    (r"q", "k"),          # Qasim / Kasim
    (r"c(?=[eiy])", "s"),  # Cecile / Sesile
    (r"c", "k"),          # Carlos / Karlos
    (r"x", "ks"),         # Alexandr / Aleksandr
    (r"ou", "u"),         # Youssef / Yussef
    (r"oo", "u"),         # Yoosuf / Yusuf
    (r"ee", "i"),         # Sameer / Samir
    (r"ie$", "i"),        # Mari / Marie
    (r"ey$", "i"),        # Aliey / Alii
    (r"y$", "i"),         # Ally / Alli
    (r"(?<=[aeiou])h$", ""),  # Fatimah / Fatima
    (r"(.)\1+", r"\1"),   # Mohammed / Mohamed, Anna / Ana
)
_SPELLING_FOLDS = tuple((re.compile(pattern), replacement) for pattern, replacement in SPELLING_FOLDS)
_VOWELS = frozenset("aeiouy")
_APOSTROPHES = "'’‘`´ʹ"
_NOT_NAME = re.compile(r"[^\w\s]|[\d_]", re.UNICODE)


def _latin_letters(text: str) -> str:
    """Lower case, accents off, special and Cyrillic letters spelled in Latin letters."""
    text = unicodedata.normalize("NFKC", text).casefold()
    out = []
    for char in text:
        if char in SPECIAL_LETTERS:
            out.append(SPECIAL_LETTERS[char])
        elif char in CYRILLIC_TO_LATIN:
            out.append(CYRILLIC_TO_LATIN[char])
        else:
            out.append(char)
    decomposed = unicodedata.normalize("NFKD", "".join(out))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=65_536)  # names repeat across a population; normalising is the slow part
def normalise_name(text: str | None) -> str:
    """One name field as comparable text: lower case, no accents, punctuation or honorifics.

    Returns "" for a missing name, so callers can test with `if name:`.

    >>> normalise_name("  Dr. José-María  O'Brien ")
    'jose maria obrien'
    """
    if not text:
        return ""
    text = _latin_letters(str(text))
    for mark in _APOSTROPHES:
        text = text.replace(mark, "")
    words = _NOT_NAME.sub(" ", text).split()
    kept = [w for w in words if w not in HONORIFICS]
    return " ".join(kept if kept else words)


def fold_spelling(name: str) -> str:
    """A normalised name with common transcription variants folded (see `SPELLING_FOLDS`).

    >>> fold_spelling("youssef khalil") == fold_spelling("yusef kalil")
    True
    """
    return " ".join(_fold_word(word) for word in name.split())


@lru_cache(maxsize=65_536)
def _fold_word(word: str) -> str:
    for pattern, replacement in _SPELLING_FOLDS:
        word = pattern.sub(replacement, word)
    return word


def name_skeleton(name: str) -> str:
    """First letter plus consonants of each folded word: a coarse phonetic key for names.

    >>> name_skeleton("mohammed") == name_skeleton("muhamad") == "mhmd"
    True
    """
    return " ".join(_skeleton_word(word) for word in name.split())


@lru_cache(maxsize=65_536)
def _skeleton_word(word: str) -> str:
    folded = _fold_word(word)
    return folded[:1] + "".join(c for c in folded[1:] if c not in _VOWELS)


def names_sorted_pair(given: str, family: str) -> tuple[str, str]:
    """The two name fields as an ordered pair that does not depend on which field was which.

    Registration often swaps given and family names (naming customs differ, forms do not); a key
    over the sorted pair links "Ana Lopez" with "Lopez Ana".

    >>> names_sorted_pair("lopez", "ana")
    ('ana', 'lopez')
    """
    first, second = sorted((given, family))
    return first, second


def name_initials(name: str) -> str:
    """The first letter of each word of a normalised name ("jose maria" → "jm")."""
    return "".join(word[0] for word in name.split())


# --- dates of birth ------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class PartialDate:
    """A date of birth at the precision it was recorded: a year, a year-month or a full date."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def precision(self) -> str:
        """'day', 'month' or 'year'."""
        return "day" if self.day is not None else "month" if self.month is not None else "year"

    def digits(self) -> str:
        """Compact digits at the recorded precision: '19950312', '199503' or '1995'."""
        return self._digits

    @cached_property
    def _digits(self) -> str:
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"{self.month:02d}"
            if self.day is not None:
                text += f"{self.day:02d}"
        return text

    def to_year(self) -> PartialDate:
        return PartialDate(self.year)


_DATE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$"), "ymd"),
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), "ymd"),
    (re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$"), "ymd"),
    (re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$"), "dmy"),
    (re.compile(r"^(\d{4})-(\d{1,2})$"), "ym"),
    (re.compile(r"^(\d{4})(\d{2})$"), "ym"),
    (re.compile(r"^(\d{1,2})[/.-](\d{4})$"), "my"),
    (re.compile(r"^(\d{4})$"), "y"),
)
MIN_BIRTH_YEAR = 1880


def _valid(year: int, month: int | None, day: int | None) -> bool:
    if not MIN_BIRTH_YEAR <= year <= 2200:
        return False
    if month is None:
        return day is None
    if not 1 <= month <= 12:
        return False
    if day is None:
        return True
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def parse_partial_date(value: object) -> PartialDate | None:
    """A date of birth from a date object or text, keeping its precision; None if unreadable.

    Accepts ISO dates (1995-03-12, 1995-03, 1995), compact digits (19950312) and day-first dates
    (12/03/1995, 12.03.1995). A month above 12 with a day of 12 or less is read as swapped; an
    impossible day keeps the year and month, an impossible month the year (`_salvaged`).

    >>> parse_partial_date("1995-03"), parse_partial_date("19952803")
    (PartialDate(year=1995, month=3, day=None), PartialDate(year=1995, month=3, day=28))
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return PartialDate(value.year, value.month, value.day)
    text = str(value).strip()
    for pattern, order in _DATE_PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        parts = [int(g) for g in match.groups()]
        if order == "ymd":
            year, month, day = parts
        elif order == "dmy":
            day, month, year = parts
        elif order == "ym":
            (year, month), day = parts, None
        elif order == "my":
            (month, year), day = parts, None
        else:
            year, month, day = parts[0], None, None
        if _valid(year, month, day):
            return PartialDate(year, month, day)
        if day is not None and month is not None and _valid(year, day, month):
            return PartialDate(year, day, month)
        return _salvaged(year, month)
    return None


def _salvaged(year: int, month: int | None) -> PartialDate | None:
    """What stays readable of an impossible date: the year and month, or the year alone.

    A mistyped day or month ("1908-60-11", "1945-04-93") still says when the person was born
    within a year; dropping the whole date would throw that evidence away.
    """
    if month is not None and _valid(year, month, None):
        return PartialDate(year, month)
    return PartialDate(year) if _valid(year, None, None) else None


def day_month_swapped(date: PartialDate) -> PartialDate | None:
    """The same date read with day and month exchanged, when that reading is a different date.

    >>> day_month_swapped(PartialDate(1995, 3, 12))
    PartialDate(year=1995, month=12, day=3)
    """
    if date.day is None or date.month is None or date.day == date.month:
        return None
    if not _valid(date.year, date.day, date.month):
        return None
    return PartialDate(date.year, date.day, date.month)


# --- sex and citizenship --------------------------------------------------------------------

#: Codebook option codes of `sex` (and common spellings) → one letter; declined means unknown.
SEX_CODES: dict[str, str] = {
    "female": "f", "f": "f", "woman": "f", "w": "f",
    "male": "m", "m": "m", "man": "m",
    "intersex": "x", "x": "x",
}


def normalise_sex(value: object) -> str:
    """'f', 'm', 'x' or '' (unknown or declined)."""
    if value is None:
        return ""
    return SEX_CODES.get(str(value).strip().casefold(), "")


def normalise_citizenship(value: object) -> str:
    """Citizenship codes as one sorted, space-separated, lower-case string ('' if none).

    Accepts the codebook's select_multiple value (a tuple of ISO codes) or a space-separated
    string, so the order the officer ticked them in does not matter.
    """
    if value is None or value == "":
        return ""
    items: Iterable[object] = value.split() if isinstance(value, str) else value  # type: ignore[assignment]
    codes = sorted({str(item).strip().casefold() for item in items if str(item).strip()})
    return " ".join(codes)


# --- other quasi-identifiers ---------------------------------------------------------------

def normalise_text(text: object) -> str:
    """Free text such as an address: like `normalise_name` but digits are kept, no honorifics.

    >>> normalise_text("12, Rue de l'Église")
    '12 rue de leglise'
    """
    if text is None or text == "":
        return ""
    value = _latin_letters(str(text))
    for mark in _APOSTROPHES:
        value = value.replace(mark, "")
    return " ".join(re.sub(r"[^\w\s]|_", " ", value).split())


def normalise_document_number(value: object) -> str:
    """An identity document number as lower-case letters and digits only ('AB 12-345' → 'ab12345')."""
    if value is None:
        return ""
    return "".join(c for c in _latin_letters(str(value)) if c.isalnum())


#: Phone numbers keep their last digits only, so +221 77 123 45 67 and 077 123 45 67 agree.
PHONE_DIGITS = 9


def normalise_phone(value: object) -> str:
    """The last `PHONE_DIGITS` digits of a phone number ('' if it has fewer than 6 digits)."""
    if value is None:
        return ""
    digits = "".join(c for c in str(value) if c.isdigit())
    return digits[-PHONE_DIGITS:] if len(digits) >= 6 else ""


# --- one person ----------------------------------------------------------------------------

@dataclass(frozen=True)
class NormalisedPerson:
    """The identifiers of one record after normalisation; empty strings or None when missing."""

    given: str
    family: str
    date_of_birth: PartialDate | None
    sex: str
    citizenship: str
    id_document: str = ""
    phone: str = ""
    address_street: str = ""
    address_locality: str = ""
    address_admin_area: str = ""
    country_of_birth: str = ""

    def __repr__(self) -> str:  # identifiers must not reach logs or tracebacks
        present = [name for name, value in vars(self).items() if value]
        return f"NormalisedPerson(<{len(present)} identifiers present>)"

    @property
    def names(self) -> str:
        """All name words, given first; empty if both names are missing."""
        return " ".join(part for part in (self.given, self.family) if part)


def normalise_person(given: object = None, family: object = None, date_of_birth: object = None,
                     sex: object = None, citizenship: object = None, *,
                     dob_estimated: bool = False, id_document: object = None,
                     phone: object = None, address_street: object = None,
                     address_locality: object = None, address_admin_area: object = None,
                     country_of_birth: object = None) -> NormalisedPerson:
    """Normalise every identifier of one record.

    An estimated date of birth keeps only its year: the codebook asks officers to enter
    1 July of the year when only the year is known, and that made-up day must not count.

    >>> p = normalise_person("Ana", "López", "1990-07-01", "female", ("es",), dob_estimated=True)
    >>> p.names, p.date_of_birth, p.sex, p.citizenship
    ('ana lopez', PartialDate(year=1990, month=None, day=None), 'f', 'es')
    """
    date = parse_partial_date(date_of_birth)
    if date is not None and dob_estimated:
        date = date.to_year()
    return NormalisedPerson(
        given=normalise_name(None if given is None else str(given)),
        family=normalise_name(None if family is None else str(family)),
        date_of_birth=date,
        sex=normalise_sex(sex),
        citizenship=normalise_citizenship(citizenship),
        id_document=normalise_document_number(id_document),
        phone=normalise_phone(phone),
        address_street=normalise_text(address_street),
        address_locality=normalise_text(address_locality),
        address_admin_area=normalise_text(address_admin_area),
        country_of_birth=normalise_text(country_of_birth),
    )
