"""Deriving a disaggregation (sex, age band, form of exploitation, ...) from typed element columns.

Each derivation is vectorised: it works on categorical codes or on the few distinct values of a
multi-select (a million records hold a few dozen distinct purpose combinations), never row by row.
The result is a `pandas.Categorical` over the dimension's published categories, so every table
lists every category, zeros included. Multi-response dimensions stay as tuples of option codes;
the tabulation explodes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from tipdata.model import Codebook
from tipdata.statistics.catalogue import DimensionSpec


class DimensionUnavailable(Exception):
    """The dimension cannot be derived in this scope (e.g. nationality without a reporting country).

    `reason` names the case for readers of other languages ("reporting_country" or "other").
    """

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


def source_of(spec: DimensionSpec, data: pd.DataFrame) -> str:
    """The first source element that has a value in this population (else the first one)."""
    present = [s for s in spec.sources if s in data.columns]
    for source in present:
        if data[source].notna().any():
            return source
    return present[0] if present else spec.sources[0]


def derive(
    spec: DimensionSpec,
    data: pd.DataFrame,
    categories: Sequence[str],
    codebook: Codebook,
    *,
    reporting_country: str | None = None,
) -> pd.Categorical | pd.Series:
    """The dimension for every row of `data` (a Categorical; a Series of tuples when multi-response)."""
    if spec.derive == "option":
        return recode_option(data[source_of(spec, data)], spec, categories)
    if spec.derive == "multi_option":
        return multi_option(data[source_of(spec, data)], categories)
    if spec.derive == "age_band":
        return age_band(data, spec, categories)
    if spec.derive == "age_group":
        return age_group(data, spec, categories)
    if spec.derive == "citizenship_group":
        if not reporting_country:
            raise DimensionUnavailable(
                f"{spec.code} needs a reporting country: give the area a country or pass reporting_country=",
                "reporting_country",
            )
        return citizenship_group(data, spec, categories, reporting_country)
    if spec.derive == "iccs_group":
        source = source_of(spec, data)
        options = codebook.options_for(codebook.elements[source])
        iccs = {o.code: o.standards.iccs for o in options.options} if options else {}
        return iccs_group(data[source], spec, categories, iccs)
    raise DimensionUnavailable(
        f"{spec.code} ({spec.derive}) is built by its population, not derived"
    )


def _index(categories: Sequence[str], code: str | None) -> int:
    return list(categories).index(code) if code is not None and code in categories else -1


def recode_option(
    column: pd.Series, spec: DimensionSpec, categories: Sequence[str]
) -> pd.Categorical:
    """Option codes through `map`; a code that is no category becomes `unmapped`, empty `missing`."""
    column = column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")
    unmapped = _index(categories, spec.unmapped or spec.missing)
    lookup = np.array(
        [
            _index(categories, spec.map.get(c, c)) if spec.map.get(c, c) in categories else unmapped
            for c in column.cat.categories
        ]
        + [_index(categories, spec.missing)],
        dtype=np.int64,
    )
    codes = column.cat.codes.to_numpy().astype(np.int64)
    return pd.Categorical.from_codes(
        lookup[codes], categories=list(categories)
    )  # -1 → last (missing)


def multi_option(column: pd.Series, categories: Sequence[str]) -> pd.Series:
    """The chosen options that are categories, as tuples (empty tuple when nothing was chosen)."""
    allowed = set(categories)
    return _per_distinct(column, lambda t: tuple(c for c in t if c in allowed) if t else ())


def age_band(data: pd.DataFrame, spec: DimensionSpec, categories: Sequence[str]) -> pd.Categorical:
    """The recorded band when it is a known band, else the age cut at the bands' upper ages."""
    band_source, *age_sources = spec.sources
    missing = _index(categories, spec.missing)
    out = np.full(len(data), missing, dtype=np.int64)
    age = _first_number(data, age_sources)
    bands = [c for c in categories if c in spec.bands]
    upper = np.array([spec.bands[c] for c in bands], dtype=float)
    known_age = ~np.isnan(age) & (age >= 0)
    positions = np.searchsorted(upper, np.where(known_age, age, 0), side="left")
    from_age = np.array([_index(categories, c) for c in bands] + [missing])[
        np.minimum(positions, len(bands))
    ]
    out = np.where(known_age, from_age, out)
    if band_source in data.columns:
        recorded = recode_option(
            data[band_source],
            spec.model_copy(update={"map": {}, "unmapped": spec.missing}),
            categories,
        ).codes.astype(np.int64)
        out = np.where((recorded >= 0) & (recorded != missing), recorded, out)
    return pd.Categorical.from_codes(out, categories=list(categories))


def age_group(data: pd.DataFrame, spec: DimensionSpec, categories: Sequence[str]) -> pd.Categorical:
    """Child when a minor or the age is disputed (presumption of minority), else by age, else by band."""
    minor_source, disputed_source, *rest = spec.sources
    age_sources, band_source = rest[:-1], rest[-1]
    child, adult, unknown = (_index(categories, c) for c in ("child", "adult", spec.missing))
    n = len(data)
    minor = (
        data[minor_source].to_numpy(float) if minor_source in data.columns else np.full(n, np.nan)
    )
    disputed = (
        (data[disputed_source].astype(object).to_numpy() == "yes")
        if disputed_source in data.columns
        else np.zeros(n, dtype=bool)
    )
    age = _first_number(data, age_sources)
    band = (
        data[band_source].astype(object).to_numpy()
        if band_source in data.columns
        else np.full(n, None)
    )
    child_band = np.isin(band, list(spec.child_bands))
    adult_band = pd.notna(band) & ~child_band & (band != "unknown")
    out = np.select(
        [
            (minor == 1) | disputed,
            ~np.isnan(age) & (age < 18),
            ~np.isnan(age),
            minor == 0,
            child_band,
            adult_band,
        ],
        [child, child, adult, adult, child, adult],
        default=unknown,
    )
    return pd.Categorical.from_codes(out.astype(np.int64), categories=list(categories))


def citizenship_group(
    data: pd.DataFrame, spec: DimensionSpec, categories: Sequence[str], reporting_country: str
) -> pd.Categorical:
    """Stateless, national (any citizenship is the reporting country), foreign, or unknown."""
    citizenship_source, stateless_source = spec.sources
    national, foreign, stateless, unknown = (
        _index(categories, c) for c in ("national", "foreign", "stateless", spec.missing)
    )
    if citizenship_source in data.columns:
        groups = _per_distinct(
            data[citizenship_source],
            lambda t: (national if reporting_country in t else foreign) if t else unknown,
        )
        out = groups.to_numpy(np.int64)
    else:
        out = np.full(len(data), unknown, dtype=np.int64)
    if stateless_source in data.columns:
        out = np.where(data[stateless_source].astype(object).to_numpy() == "yes", stateless, out)
    return pd.Categorical.from_codes(out, categories=list(categories))


def iccs_group(
    column: pd.Series,
    spec: DimensionSpec,
    categories: Sequence[str],
    iccs_of: Mapping[str, str | None],
) -> pd.Categorical:
    """Multi-select options grouped through their ICCS codes; several groups make `multiple`."""
    missing, unmapped, multiple = (
        _index(categories, c) for c in (spec.missing, spec.unmapped, spec.multiple)
    )

    def group(chosen: tuple[str, ...] | None) -> int:
        if not chosen:
            return missing
        codes = [iccs_of.get(c) for c in chosen]
        found = {spec.iccs_groups[c] for c in codes if c in spec.iccs_groups}
        if not found:
            found = {spec.fallback_groups[c] for c in codes if c in spec.fallback_groups}
        if not found:
            return unmapped
        return _index(categories, found.pop()) if len(found) == 1 else multiple

    return pd.Categorical.from_codes(
        _per_distinct(column, group).to_numpy(np.int64), categories=list(categories)
    )


def _per_distinct(column: pd.Series, function) -> pd.Series:  # noqa: ANN001 - any callable on one value
    """Apply `function` once per distinct value (tuples hash), then spread by factorised codes."""
    if isinstance(column.dtype, pd.CategoricalDtype):  # option sets "a b" from records_frame
        codes = column.cat.codes.to_numpy()
        results = [function(tuple(str(key).split())) for key in column.cat.categories]
    else:
        codes, uniques = pd.factorize(
            pd.Series(column.to_numpy(object), dtype=object), use_na_sentinel=True
        )
        results = [function(u) for u in uniques]
    missing_result = function(None)
    lookup = np.empty(len(results) + 1, dtype=object)
    for position, result in enumerate([*results, missing_result]):  # elementwise: tuples stay whole
        lookup[position] = result
    mapped = lookup[np.where(codes >= 0, codes, len(results))]
    if all(isinstance(r, int | np.integer) for r in [*results, missing_result]):
        return pd.Series(mapped.astype(np.int64), index=column.index)
    return pd.Series(mapped, index=column.index)


def _first_number(data: pd.DataFrame, sources: Sequence[str]) -> np.ndarray:
    """The first non-missing number across columns, row by row (as float, NaN when none)."""
    out = np.full(len(data), np.nan)
    for source in sources:
        if source in data.columns:
            values = data[source].to_numpy(float)
            out = np.where(np.isnan(out), values, out)
    return out
