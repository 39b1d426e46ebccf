"""Synthetic people and noisy re-registrations, for tests and benchmarks of linkage.

No real person is in here: names are drawn independently from short lists of common given and
family names from several regions and built from syllables (a long tail of rarer names), dates
of birth uniformly from 1950-2010. Even so, names repeat far more than in a real population of the
same size, which makes the synthetic data a hard case for precision. A "re-registration"
is the same person as another agency might record them: typos (a letter substituted, dropped,
doubled or two letters transposed), given and family names swapped, day and month swapped, only
the year known, the sex or a name missing. Everything is driven by one seed, so a benchmark or
test sees the same data on every run.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, replace

from tipdata.linkage.encoding import PersonIdentifiers

GIVEN_NAMES: tuple[str, ...] = (
    "Amina", "Fatima", "Aisha", "Mariam", "Zainab", "Hawa", "Aminata", "Fatoumata", "Grace",
    "Blessing", "Joy", "Esther", "Mercy", "Faith", "Precious", "Ngozi", "Chioma", "Adaeze",
    "Maria", "Ana", "Rosa", "Carmen", "Lucia", "Sofia", "Daniela", "Valentina", "Camila",
    "Olena", "Iryna", "Natalia", "Oksana", "Tetiana", "Svitlana", "Yulia", "Anastasia", "Daria",
    "Elena", "Ioana", "Mihaela", "Andreea", "Bianca", "Nguyen", "Linh", "Mai", "Thu", "Lan",
    "Priya", "Anjali", "Sunita", "Pooja", "Kavita", "Rani", "Siti", "Nur", "Dewi", "Ayu",
    "Mohammed", "Ahmed", "Ali", "Omar", "Ibrahim", "Yusuf", "Hassan", "Moussa", "Abdoulaye",
    "Mamadou", "Ousmane", "Emmanuel", "Samuel", "Daniel", "John", "Peter", "Joseph", "David",
    "Juan", "Carlos", "Jose", "Luis", "Miguel", "Andriy", "Oleksandr", "Dmytro", "Serhiy",
    "Ion", "Andrei", "Mihai", "Minh", "Tuan", "Hung", "Raj", "Amit", "Ravi", "Sanjay", "Budi",
    "Agus", "Kofi", "Kwame", "Yaw", "Chukwuma", "Tunde", "Sipho", "Thabo", "Tesfaye", "Abebe",
)
FAMILY_NAMES: tuple[str, ...] = (
    "Diallo", "Traore", "Coulibaly", "Keita", "Camara", "Toure", "Sow", "Ba", "Ndiaye", "Diop",
    "Okafor", "Okeke", "Adeyemi", "Balogun", "Mensah", "Asante", "Owusu", "Boateng", "Kamau",
    "Mwangi", "Otieno", "Wanjiru", "Dlamini", "Nkosi", "Tesfaye", "Bekele", "Haile", "Garcia",
    "Rodriguez", "Martinez", "Lopez", "Gonzalez", "Hernandez", "Perez", "Sanchez", "Ramirez",
    "Torres", "Flores", "Shevchenko", "Kovalenko", "Bondarenko", "Tkachenko", "Kravchenko",
    "Melnyk", "Popescu", "Ionescu", "Popa", "Dumitru", "Stan", "Nguyen", "Tran", "Le", "Pham",
    "Hoang", "Vu", "Sharma", "Singh", "Kumar", "Patel", "Das", "Khan", "Rahman", "Hossain",
    "Ahmed", "Ali", "Hassan", "Hussein", "Mohamed", "Abdullah", "Santoso", "Wijaya", "Putri",
    "Smith", "Johnson", "Brown", "Williams", "Jones", "Miller", "Davis", "Wilson", "Taylor",
    "Kowalski", "Nowak", "Wisniewski", "Horvat", "Kovacs", "Nagy", "Petrov", "Ivanov", "Smirnov",
    "Rossi", "Russo", "Ferrari", "Silva", "Santos", "Oliveira", "Pereira", "Costa", "Ferreira",
)
#: Rarer names are built from consonant-vowel syllables (two or three, sometimes a final
#: consonant): real name lists are long-tailed, and a population drawn only from the common names
#: above would share names far more often than people do.
_CONSONANTS = "bdfgkklmmnnprsstvz"
_VOWELS = "aaeiiou"
_FINALS = "nnrslm"
SEXES = ("female", "male")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class NoiseRates:
    """Chance of each fault in a re-registration (independent of each other)."""

    typo_given: float = 0.2
    typo_family: float = 0.2
    swap_names: float = 0.05
    swap_day_month: float = 0.03
    year_only: float = 0.05
    missing_sex: float = 0.05
    missing_given: float = 0.02


DEFAULT_NOISE = NoiseRates()


def make_person(rng: random.Random, record_id: str) -> PersonIdentifiers:
    """One synthetic person. Half the given names and 30% of the family names come from the
    common lists, the others are built from syllables; one given name in five is a double name."""
    given = _given(rng)
    if rng.random() < 0.2:
        given += " " + _given(rng)
    family = rng.choice(FAMILY_NAMES) if rng.random() < 0.3 else _rare_name(rng)
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(60 * 365))
    return PersonIdentifiers(record_id, given, family, born.isoformat(), rng.choice(SEXES))


def _given(rng: random.Random) -> str:
    return rng.choice(GIVEN_NAMES) if rng.random() < 0.5 else _rare_name(rng)


def _rare_name(rng: random.Random) -> str:
    syllables = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.choice((2, 2, 3))))
    if rng.random() < 0.4:
        syllables += rng.choice(_FINALS)
    return syllables.capitalize()


def typo(rng: random.Random, text: str) -> str:
    """One keyboard-style fault: substitute, drop, double or transpose a letter."""
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:i] + rng.choice(_LETTERS) + text[i + 1:]
    if kind == 1:
        return text[:i] + text[i + 1:]
    if kind == 2:
        return text[:i] + text[i] + text[i:]
    return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]


def reregister(rng: random.Random, person: PersonIdentifiers, record_id: str,
               noise: NoiseRates = DEFAULT_NOISE) -> PersonIdentifiers:
    """The same person as another agency might have recorded them."""
    given, family, born, sex = person.given_names or "", person.family_names or "", \
        str(person.date_of_birth), person.sex
    if rng.random() < noise.typo_given:
        given = typo(rng, given)
    if rng.random() < noise.typo_family:
        family = typo(rng, family)
    if rng.random() < noise.swap_names:
        given, family = family, given
    year, month, day = born.split("-")
    if rng.random() < noise.swap_day_month and int(day) <= 12:
        born = f"{year}-{day}-{month}"
    if rng.random() < noise.year_only:
        born = year
    if rng.random() < noise.missing_sex:
        sex = None
    if rng.random() < noise.missing_given:
        given = ""
    return replace(person, record_id=record_id, given_names=given or None, family_names=family,
                   date_of_birth=born, sex=sex)


def overlapping_batches(people: int, overlap: float, seed: int = 7, noise: NoiseRates = DEFAULT_NOISE
                        ) -> tuple[list[PersonIdentifiers], list[PersonIdentifiers], set[tuple[str, str]]]:
    """Two agencies' records: each has `people` records and a share `overlap` of the first
    agency's people also appear (re-registered, with noise) in the second.

    Returns (first, second, true links as (first id, second id)).

    >>> a, b, links = overlapping_batches(100, 0.3)
    >>> len(a), len(b), len(links)
    (100, 100, 30)
    """
    rng = random.Random(seed)
    first = [make_person(rng, f"a{i}") for i in range(people)]
    shared = int(round(people * overlap))
    second = [reregister(rng, first[i], f"b{i}", noise) for i in range(shared)]
    second += [make_person(rng, f"b{i}") for i in range(shared, people)]
    links = {(f"a{i}", f"b{i}") for i in range(shared)}
    return first, second, links
