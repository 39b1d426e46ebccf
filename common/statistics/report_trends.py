"""Victims identified per month or quarter of the reporting period, as publishable tables.

Each bucket is computed by `compute_indicators` for that month or quarter (the same consent,
status and area rules as the period's own tables), so a trend can never disagree with the
indicator it breaks down. The records trend is additive (every record has one identification
date: the months add up to the period's total); the persons trend is not (a person identified
in March and again in May is one person of the year but counted in both months), so it is
published as a multi-response breakdown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from tipdata.model import Codebook
from tipdata.statistics.catalogue import IndicatorCatalogue
from tipdata.statistics.indicators import compute_indicators
from tipdata.statistics.scope import Area, Period

Granularity = Literal["month", "quarter", "auto", "none"]
#: trend tables and the catalogue indicator each one breaks down by time
TREND_OF: dict[str, str] = {"VIC_IDENT_TREND": "VIC_IDENT", "VIC_PERSONS_TREND": "VIC_IDENT_PERSONS"}


def trend_granularity(period: Period, wanted: Granularity = "auto") -> str | None:
    """The bucket size to use: months for periods up to two years, quarters beyond, none for a
    period shorter than two months (a trend of one bar says nothing)."""
    months = (period.end.year - period.start.year) * 12 + period.end.month - period.start.month + 1
    if wanted == "none" or months < 2:
        return None
    if wanted != "auto":
        return wanted
    return "month" if months <= 24 else "quarter"


def trend_buckets(period: Period, granularity: str) -> list[tuple[str, Period]]:
    """(label, sub-period) for each month or quarter the period touches, clipped to the period.

    >>> [label for label, _ in trend_buckets(Period.parse("2025-01-15/2025-03-10"), "month")]
    ['2025-01', '2025-02', '2025-03']
    """
    buckets = []
    year, month = period.start.year, period.start.month
    if granularity == "quarter":
        month = 3 * ((month - 1) // 3) + 1
    step = 3 if granularity == "quarter" else 1
    while dt.date(year, month, 1) <= period.end:
        label = f"{year}-Q{(month - 1) // 3 + 1}" if granularity == "quarter" else f"{year}-{month:02d}"
        whole = Period.parse(label)
        buckets.append((label, Period(max(whole.start, period.start), min(whole.end, period.end))))
        month += step
        if month > 12:
            year, month = year + 1, month - 12
    return buckets


def trend_tables(frame: pd.DataFrame, codebook: Codebook, catalogue: IndicatorCatalogue,
                 period: Period, area: Area, person_of: Mapping[str, str] | None,
                 granularity: str, totals: Mapping[str, int], total: str = "_T") -> dict[str, pd.DataFrame]:
    """`VIC_IDENT_TREND` (records) and, with a person map, `VIC_PERSONS_TREND` (persons), one
    row per bucket plus the period's total (`totals`: the grand totals of VIC_IDENT and
    VIC_IDENT_PERSONS for the whole period)."""
    codes = ["VIC_IDENT", *(["VIC_IDENT_PERSONS"] if person_of else [])]
    totals_only = _totals_only(catalogue, codes)
    labels, per_bucket = [], {code: [] for code in codes}
    for label, bucket in trend_buckets(period, granularity):
        tables = compute_indicators(frame, bucket, area, person_of, codebook=codebook,
                                    catalogue=totals_only, codes=codes)
        labels.append(label)
        for code in codes:
            per_bucket[code].append(_grand_total(tables[code], total))
    out = {}
    for name, source in TREND_OF.items():
        if source not in per_bucket:
            continue
        additive = source == "VIC_IDENT"
        if additive and sum(per_bucket[source]) != totals[source]:
            raise RuntimeError(f"{name}: buckets add up to {sum(per_bucket[source])}, the period's "
                                 f"total is {totals[source]}")
        table = pd.DataFrame({granularity: [total, *labels],
                              "value": np.array([totals[source], *per_bucket[source]], dtype=np.int64)})
        table.attrs.update({
            "indicator": name, "unit": "identification record" if additive else "person",
            "statistic": "count", "dimensions": [granularity],
            "non_additive": [] if additive else [granularity], "total_code": total,
            "value_column": "value", "count_column": "value", "notes": [],
            "period": period.label(), "area": area.label(), "deduplicated": not additive,
        })
        out[name] = table
    return out


def _totals_only(catalogue: IndicatorCatalogue, codes: list[str]) -> IndicatorCatalogue:
    """The catalogue with `codes` reduced to their first breakdown: a bucket needs only its
    total, with the same population and filters as the indicator (a table needs a dimension)."""
    indicators = {code: catalogue.indicators[code].model_copy(
        update={"breakdowns": catalogue.indicators[code].breakdowns[:1]}) for code in codes}
    return catalogue.model_copy(update={"indicators": indicators})


def _grand_total(table: pd.DataFrame, total: str) -> int:
    dims = table.attrs["dimensions"]
    row = table[(table[dims] == total).all(axis=1)] if dims else table
    return int(row["value"].iloc[0])
