"""k-anonymised microdata: record-level exports where nobody is in a group smaller than k.

Why: a published row of (sex, age band, citizenship, year, country of exploitation) identifies
a person when few people share it. CTDC publishes its downloadable Global Dataset k-anonymised
with k = 11: records in attribute combinations rarer than k are redacted. `k_anonymise` does the
same over the quasi-identifiers a caller declares: it first generalises (ages to the CTDC
ageBroad bands, dates to years), then drops every record whose combination of quasi-identifier
values (missing counts as a value) is shared by fewer than k records, and says how many it dropped.

It refuses columns that are direct identifiers or restricted elements of the codebook: those never
belong in an export, k or not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tipdata.model import Codebook
from tipdata.statistics.catalogue import default_codebook
from tipdata.statistics.disclosure import DEFAULT_K

#: CTDC ageBroad bands: (upper age inclusive, label); missing age is -99
CTDC_AGE_BANDS: tuple[tuple[int, str], ...] = (
    (8, "0--8"), (17, "9--17"), (20, "18--20"), (23, "21--23"), (26, "24--26"), (29, "27--29"),
    (38, "30--38"), (47, "39--47"), (200, "48+"),
)
MISSING_BAND = "-99"
Generaliser = Callable[[pd.Series], pd.Series]


def age_to_band(ages: pd.Series) -> pd.Series:
    """Ages in years to CTDC ageBroad labels; missing or negative ages become -99."""
    values = pd.to_numeric(ages, errors="coerce").to_numpy(float)
    uppers = np.array([u for u, _ in CTDC_AGE_BANDS], dtype=float)
    labels = np.array([label for _, label in CTDC_AGE_BANDS] + [MISSING_BAND], dtype=object)
    known = ~np.isnan(values) & (values >= 0)
    positions = np.searchsorted(uppers, np.where(known, values, 0), side="left")
    return pd.Series(np.where(known, labels[np.minimum(positions, len(uppers))], MISSING_BAND),
                     index=ages.index, dtype=object)


def date_to_year(dates: pd.Series) -> pd.Series:
    """Dates to calendar years (as CTDC yearOfRegistration); missing stays missing."""
    return pd.to_datetime(dates, errors="coerce").dt.year.astype("Int64")


GENERALISERS: dict[str, Generaliser] = {"age_band": age_to_band, "year": date_to_year}


@dataclass(frozen=True)
class KAnonymisedMicrodata:
    """The records kept, and what was done to get there."""

    data: pd.DataFrame
    k: int
    quasi_identifiers: tuple[str, ...]
    records_in: int
    records_suppressed: int
    #: size of the smallest published group (0 when nothing is published)
    smallest_group: int

    def summary(self) -> str:
        return (f"k={self.k} over {', '.join(self.quasi_identifiers)}: {self.records_in} records in, "
                f"{self.records_suppressed} suppressed, {len(self.data)} published "
                f"(smallest group {self.smallest_group})")


def k_anonymise(records: pd.DataFrame, quasi_identifiers: Sequence[str], k: int = DEFAULT_K, *,
                generalise: Mapping[str, str | Generaliser] | None = None,
                codebook: Codebook | None = None) -> KAnonymisedMicrodata:
    """Generalise, then drop records in quasi-identifier groups smaller than k.

    `generalise` maps a column to "age_band", "year" or a function of the column.

    >>> out = k_anonymise(df, ["person_sex", "person_age"], generalise={"person_age": "age_band"})  # doctest: +SKIP
    >>> out.records_suppressed                                                                      # doctest: +SKIP
    """
    if k < 1 or int(k) != k:
        raise ValueError(f"k must be a whole number of at least 1, not {k!r}")
    quasi_identifiers = tuple(quasi_identifiers)
    missing = [q for q in quasi_identifiers if q not in records.columns]
    if missing:
        raise ValueError(f"quasi-identifiers {missing} are not columns of the records; "
                         f"columns are {list(records.columns)}")
    _refuse_identifiers(records.columns, codebook or default_codebook())
    data = records.copy()
    for column, how in (generalise or {}).items():
        if column not in data.columns:
            raise ValueError(f"cannot generalise {column!r}: not a column of the records")
        function = GENERALISERS.get(how) if isinstance(how, str) else how
        if function is None:
            raise ValueError(f"unknown generalisation {how!r}; use one of {', '.join(GENERALISERS)} or a function")
        data[column] = function(data[column])
    if quasi_identifiers and len(data):
        keys = data[list(quasi_identifiers)].astype(object).where(data[list(quasi_identifiers)].notna(), "∅")
        keys = keys.map(lambda v: repr(v) if isinstance(v, tuple | list) else v)
        sizes = keys.assign(_one=1).groupby(list(quasi_identifiers), dropna=False)["_one"] \
            .transform("size").to_numpy()
    else:
        sizes = np.full(len(data), len(data))
    keep = sizes >= k
    kept = data[keep].reset_index(drop=True)
    return KAnonymisedMicrodata(kept, int(k), quasi_identifiers, len(data), int((~keep).sum()),
                                int(sizes[keep].min()) if keep.any() else 0)


def _refuse_identifiers(columns: Sequence[str], codebook: Codebook) -> None:
    bad = [c for c in columns if c in codebook.elements
           and codebook.elements[c].sensitivity in ("direct_identifier", "restricted")]
    if bad:
        raise ValueError(f"microdata must not carry direct identifiers or restricted elements: {bad}; "
                         "drop these columns before exporting")
