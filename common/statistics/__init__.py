"""Indicators and disclosure control: what ministries report, protected before it is published.

    from tipdata.statistics import compute_indicators, protect_table

    tables = compute_indicators(ledger.iter_records(), "2025", "NG", person_of=links)
    published = {code: protect_table(table, k=11).published for code, table in tables.items()}

The catalogue (`indicators.yaml`, docs/indicators.md) defines each indicator; `compute_indicators`
returns unprotected tidy tables; `protect_table` applies primary and secondary (complementary)
suppression and optional rounding; `k_anonymise` protects microdata exports.
"""

from tipdata.statistics.catalogue import (
    CatalogueError,
    DimensionSpec,
    IndicatorCatalogue,
    IndicatorSpec,
    check_catalogue,
    load_catalogue,
)
from tipdata.statistics.disclosure import DEFAULT_K, AppliedRule, ProtectedTable, protect_table
from tipdata.statistics.frame import records_frame
from tipdata.statistics.indicators import add_rate, compute_indicator, compute_indicators
from tipdata.statistics.microdata import KAnonymisedMicrodata, age_to_band, k_anonymise
from tipdata.statistics.scope import Area, Period

__all__ = [
    "DEFAULT_K", "AppliedRule", "Area", "CatalogueError", "DimensionSpec", "IndicatorCatalogue",
    "IndicatorSpec", "KAnonymisedMicrodata", "Period", "ProtectedTable", "add_rate", "age_to_band",
    "check_catalogue", "compute_indicator", "compute_indicators", "k_anonymise", "load_catalogue",
    "protect_table", "records_frame",
]
