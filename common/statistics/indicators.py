"""Indicators from canonical records: one tidy table per indicator of the catalogue.

`compute_indicators(records, period, area, person_of=None)` returns `{code: DataFrame}`. Each
table has one column per dimension of the indicator, holding a category or the total code `_T`
(SDMX style), and the value column(s):

    count    value
    mean     value, n          (n: units the mean is over)
    median   value, q1, q3, n  (linear interpolation, as pandas)

Every breakdown is published with all its margins (each subset of its dimensions down to the
grand total), every category is listed (zeros included), and counts over additive dimensions
add up exactly: the counts come from one cube (`numpy.bincount` over the category codes) and the
margins are its sums. `DataFrame.attrs` says what the table is (indicator, unit, period, area,
dimensions, which dimensions are multi-response, records left out for lack of consent, notes);
`tipdata.statistics.protect_table` reads it.

Numbers are unprotected: publish only `protect_table(...)` output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from tipdata.model import Codebook
from tipdata.records import CanonicalRecord
from tipdata.statistics.catalogue import (
    IndicatorCatalogue,
    IndicatorSpec,
    default_codebook,
    load_catalogue,
)
from tipdata.statistics.dimensions import DimensionUnavailable, derive
from tipdata.statistics.frame import records_frame
from tipdata.statistics.populations import Populations
from tipdata.statistics.scope import Area, Period, as_area, as_period

#: dimensions a population table may break the denominator down by
POPULATION_DIMENSIONS: tuple[str, ...] = ("sex", "age_group", "age_band")
RATE_COLUMN = "rate"
POPULATION_COLUMN = "population"


def compute_indicators(
    records: Iterable[CanonicalRecord] | pd.DataFrame,
    period: Period | str | int,
    area: Area | str | None = None,
    person_of: Mapping[str, str] | None = None,
    *,
    population: pd.DataFrame | None = None,
    reporting_country: str | None = None,
    codes: Sequence[str] | None = None,
    codebook: Codebook | None = None,
    catalogue: IndicatorCatalogue | None = None,
    purpose: str = "statistics",
) -> dict[str, pd.DataFrame]:
    """Every indicator of the catalogue (or those in `codes`) for one period and area.

    `records`: canonical records (e.g. `ledger.iter_records()`) or a frame from `records_frame`
    (build it once when computing several periods). Only records whose person consented to
    `purpose` are counted. `person_of` maps record ids to person ids (from record linkage) for
    the de-duplicated indicators. `population`: columns among sex / age_group / age_band plus
    `population`, for rates (SDG 16.2.2 per 100,000). `reporting_country` (ISO alpha-2) decides
    national / foreign; it defaults to the area's country.

    >>> tables = compute_indicators(ledger.iter_records(), "2025", "NG")     # doctest: +SKIP
    >>> tables["SDG_16_2_2"].query("sex == '_T' and age_group == '_T'")     # doctest: +SKIP
    """
    codebook = codebook or default_codebook()
    catalogue = catalogue or load_catalogue()
    period, area = as_period(period), as_area(area)
    frame = records_frame(records, codebook, purpose=purpose, catalogue=catalogue)
    consented = frame["consented"].to_numpy(bool)
    excluded = int((~consented).sum())
    populations = Populations(
        frame, codebook, catalogue, period, area, person_of
    )  # consented rows only
    country = reporting_country or area.country
    chosen = list(codes) if codes is not None else list(catalogue.indicators)
    unknown = [c for c in chosen if c not in catalogue.indicators]
    if unknown:
        raise KeyError(
            f"no indicator {', '.join(unknown)} in the catalogue; known: {', '.join(catalogue.indicators)}"
        )
    tables = {}
    for code in chosen:
        spec = catalogue.indicators[code]
        table = compute_indicator(spec, populations, catalogue, codebook, reporting_country=country)
        if spec.rate_per and population is not None:
            table = add_rate(table, population, spec.rate_per)
        table.attrs.update(
            {
                "period": period.label(),
                "area": area.label(),
                "excluded_without_consent": excluded,
                "deduplicated": bool(person_of) and spec.population == "victim_persons",
            }
        )
        tables[code] = table
    return tables


def compute_indicator(
    spec: IndicatorSpec,
    populations: Populations,
    catalogue: IndicatorCatalogue,
    codebook: Codebook,
    *,
    reporting_country: str | None = None,
) -> pd.DataFrame:
    """One indicator's tidy table over the populations of one period and area."""
    rows = populations.get(spec.population)
    period = populations.period
    dates = rows[spec.date]
    mask = rows["_in_area"].to_numpy(bool) & (
        (dates >= pd.Timestamp(period.start)) & (dates <= pd.Timestamp(period.end))
    ).to_numpy(bool)
    for element, wanted in spec.where.items():
        mask &= rows[element].isin(wanted).to_numpy(bool)
    sources = {s for d in spec.dimensions for s in catalogue.dimensions[d].sources}
    needed = [
        c
        for c in rows.columns
        if c in sources or c in ("unit", spec.measure) or c in spec.dimensions
    ]
    rows = rows.loc[mask, needed]  # one narrow copy
    notes: list[str] = []
    left_out: dict[str, str] = {}
    derived: dict[str, Any] = {}
    categories: dict[str, tuple[str, ...]] = {}
    for dimension in spec.dimensions:
        dim_spec = catalogue.dimensions[dimension]
        categories[dimension] = catalogue.categories(dimension, codebook)
        try:
            if dim_spec.derive == "outcome_domain":
                derived[dimension] = pd.Categorical(
                    rows[dimension].astype(object), categories=categories[dimension]
                )
            else:
                derived[dimension] = derive(
                    dim_spec,
                    rows,
                    categories[dimension],
                    codebook,
                    reporting_country=reporting_country,
                )
        except DimensionUnavailable as why:
            notes.append(f"breakdowns by {dimension} left out: {why}")
            left_out[dimension] = why.reason
    additive = {d: catalogue.dimensions[d].additive for d in spec.dimensions}
    table = tabulate(
        rows,
        spec,
        derived,
        categories,
        additive,
        catalogue.total_code,
        units_unique=populations.units_unique(spec.population),
    )
    non_additive = [d for d in table.attrs.pop("_dims") if not additive[d]]
    table.attrs.update(
        {
            "indicator": spec.code,
            "name": spec.name,
            "unit": spec.unit,
            "statistic": spec.statistic,
            "dimensions": [c for c in table.columns if c in categories],
            "non_additive": non_additive,
            "total_code": catalogue.total_code,
            "value_column": "value",
            "count_column": "value" if spec.statistic == "count" else "n",
            "notes": notes,
            "left_out": left_out,
        }
    )
    return table


def tabulate(
    rows: pd.DataFrame,
    spec: IndicatorSpec,
    derived: Mapping[str, Any],
    categories: Mapping[str, tuple[str, ...]],
    additive: Mapping[str, bool],
    total: str = "_T",
    *,
    units_unique: bool | None = None,
) -> pd.DataFrame:
    """All breakdowns of `spec` whose dimensions were derived, with every margin, as one table."""
    dims = [d for d in spec.dimensions if d in derived]
    breakdowns = [b for b in spec.breakdowns if all(d in derived for d in b)] or [()]
    unique_units = rows["unit"].is_unique if units_unique is None else units_unique
    measure = rows[spec.measure].to_numpy(float) if spec.measure else None
    pieces = []
    for breakdown in breakdowns:
        if any(not additive[d] for d in breakdown):
            pieces.append(
                _multi_response(
                    rows,
                    spec,
                    breakdown[0],
                    derived[breakdown[0]],
                    categories[breakdown[0]],
                    measure,
                )
            )
        elif spec.statistic == "count" and unique_units:
            pieces.append(_counts(breakdown, derived, categories, len(rows)))
        else:
            pieces.append(_grouped(rows, spec, breakdown, derived, categories, measure))
    table = pd.concat(pieces, ignore_index=True)
    for d in dims:
        if d not in table.columns:
            table[d] = total
        column = table[d].astype(object)
        table[d] = column.where(column.notna(), total)
    value_columns = [c for c in ("value", "q1", "q3", "n") if c in table.columns]
    table = (
        table[[*dims, *value_columns]]
        .drop_duplicates(subset=dims, keep="first")
        .reset_index(drop=True)
    )
    if spec.statistic == "count":
        table["value"] = table["value"].astype(np.int64)
    if "n" in table.columns:
        table["n"] = table["n"].astype(np.int64)
    table.attrs["_dims"] = dims
    return table


def _subsets(breakdown: Sequence[str]) -> list[tuple[str, ...]]:
    return [s for size in range(len(breakdown) + 1) for s in combinations(breakdown, size)]


def _product(dims: Sequence[str], categories: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    if not dims:
        return pd.DataFrame(index=[0])
    index = pd.MultiIndex.from_product([list(categories[d]) for d in dims], names=list(dims))
    return index.to_frame(index=False)


def _counts(
    breakdown: Sequence[str],
    derived: Mapping[str, Any],
    categories: Mapping[str, tuple[str, ...]],
    total_rows: int,
) -> pd.DataFrame:
    """Counts of the full cross of the breakdown from one bincount; margins are its sums."""
    if not breakdown:
        return pd.DataFrame({"value": [total_rows]})
    sizes = [len(categories[d]) for d in breakdown]
    codes = [np.asarray(derived[d].codes, dtype=np.int64) for d in breakdown]
    key = np.ravel_multi_index(codes, sizes) if codes[0].size else np.zeros(0, dtype=np.int64)
    cube = np.bincount(key, minlength=int(np.prod(sizes))).reshape(sizes)
    parts = []
    for subset in _subsets(breakdown):
        summed = tuple(i for i, d in enumerate(breakdown) if d not in subset)
        margin = cube.sum(axis=summed) if summed else cube
        part = _product(subset, categories)
        part["value"] = np.asarray(margin).reshape(-1)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _statistics(
    values: pd.core.groupby.SeriesGroupBy | pd.Series, statistic: str, units: Any
) -> dict[str, Any]:
    if statistic == "count":
        return {"value": units}
    if statistic == "mean":
        return {"value": values.mean(), "n": units}
    quantiles = values.quantile([0.25, 0.5, 0.75])
    if isinstance(values, pd.Series):
        return {
            "value": quantiles.loc[0.5],
            "q1": quantiles.loc[0.25],
            "q3": quantiles.loc[0.75],
            "n": units,
        }
    quantiles = quantiles.unstack()
    return {"value": quantiles[0.5], "q1": quantiles[0.25], "q3": quantiles[0.75], "n": units}


def _grouped(
    rows: pd.DataFrame,
    spec: IndicatorSpec,
    breakdown: Sequence[str],
    derived: Mapping[str, Any],
    categories: Mapping[str, tuple[str, ...]],
    measure: np.ndarray | None,
) -> pd.DataFrame:
    """Statistics (or distinct-unit counts) by every subset of an additive breakdown."""
    data = pd.DataFrame({d: derived[d] for d in breakdown}, index=pd.RangeIndex(len(rows)))
    data["unit"] = rows["unit"].to_numpy(object)
    if measure is not None:
        data["m"] = measure
        data = data[~np.isnan(measure)]
    parts = []
    for subset in _subsets(breakdown):
        if not subset:
            stats = _statistics(
                data["m"] if measure is not None else None, spec.statistic, data["unit"].nunique()
            )
            parts.append(pd.DataFrame({k: [v] for k, v in stats.items()}))
            continue
        grouped = data.groupby(list(subset), observed=False)
        units = grouped["unit"].nunique()
        stats = _statistics(grouped["m"] if measure is not None else None, spec.statistic, units)
        part = pd.DataFrame(stats).reindex(
            pd.MultiIndex.from_frame(_product(subset, categories))
            if len(subset) > 1
            else pd.Index(categories[subset[0]], name=subset[0])
        )
        part["n" if spec.statistic != "count" else "value"] = part[
            "n" if spec.statistic != "count" else "value"
        ].fillna(0)
        parts.append(part.reset_index())
    return pd.concat(parts, ignore_index=True)


def _multi_response(
    rows: pd.DataFrame,
    spec: IndicatorSpec,
    dimension: str,
    values: Any,
    categories: Sequence[str],
    measure: np.ndarray | None,
) -> pd.DataFrame:
    """A multi-response breakdown: per category the distinct units choosing it; the total counts
    each unit once. Categories do not add up to the total."""
    units = rows["unit"].to_numpy(object)
    if isinstance(values, pd.Categorical):  # already one row per (unit, category)
        long = pd.DataFrame({"unit": units, dimension: values})
        if measure is not None:
            long["m"] = measure
    else:
        lengths = np.fromiter((len(t) for t in values), dtype=np.int64, count=len(values))
        flat = [c for t in values for c in t]
        long = pd.DataFrame(
            {
                "unit": np.repeat(units, lengths),
                dimension: pd.Categorical(flat, categories=list(categories)),
            }
        )
        if measure is not None:
            long["m"] = np.repeat(measure, lengths)
    if measure is not None:
        long = long[long["m"].notna()]
        rows_units = long["unit"].nunique()
        total = _statistics(long["m"], spec.statistic, rows_units)
    else:
        total = _statistics(None, "count", pd.Series(units).nunique())
    grouped = long.groupby(dimension, observed=False)
    stats = _statistics(
        grouped["m"] if measure is not None else None, spec.statistic, grouped["unit"].nunique()
    )
    part = pd.DataFrame(stats).reindex(pd.Index(list(categories), name=dimension))
    count_column = "value" if spec.statistic == "count" else "n"
    part[count_column] = part[count_column].fillna(0)
    return pd.concat(
        [pd.DataFrame({k: [v] for k, v in total.items()}), part.reset_index()], ignore_index=True
    )


def add_rate(
    table: pd.DataFrame, population: pd.DataFrame, per: int = 100_000, total: str | None = None
) -> pd.DataFrame:
    """`population` and `rate` (value per `per` inhabitants) columns, where the population table
    covers the row: it must match the row on the population dimensions it has, and the row must be
    a total on the population dimensions it lacks.

    >>> add_rate(table, pd.DataFrame({"population": [21_000_000]}))   # doctest: +SKIP
    """
    total = total or table.attrs.get("total_code", "_T")
    if POPULATION_COLUMN not in population.columns:
        raise ValueError(
            "the population table needs a `population` column (and optionally "
            f"{', '.join(POPULATION_DIMENSIONS)} columns, `{total}` for totals)"
        )
    dims = [d for d in table.attrs.get("dimensions", []) if d in table.columns]
    keys = [c for c in population.columns if c != POPULATION_COLUMN]
    unknown = [k for k in keys if k not in dims]
    if unknown:
        raise ValueError(
            f"population columns {unknown} are not dimensions of {table.attrs.get('indicator')}"
        )
    lacking = [d for d in dims if d in POPULATION_DIMENSIONS and d not in keys]
    attrs = dict(table.attrs)
    pops = population[[*keys, POPULATION_COLUMN]].astype({k: object for k in keys})
    merged = (
        table.merge(pops, how="left", on=keys)
        if keys
        else table.assign(**{POPULATION_COLUMN: float(pops[POPULATION_COLUMN].iloc[0])})
    )
    if lacking:
        covered = np.logical_and.reduce([merged[d].to_numpy(object) == total for d in lacking])
        merged[POPULATION_COLUMN] = merged[POPULATION_COLUMN].where(covered)
    with np.errstate(divide="ignore", invalid="ignore"):
        merged[RATE_COLUMN] = merged["value"] / merged[POPULATION_COLUMN].astype(float) * per
    merged.attrs = attrs
    merged.attrs["rate"] = {
        "column": RATE_COLUMN,
        "numerator": "value",
        "denominator": POPULATION_COLUMN,
        "per": per,
    }
    return merged
