"""Indicator tables → one DHIS2 `dataValueSets` payload for the package's aggregate data set.

The metadata package (see `aggregate.py`) holds an aggregate data set whose counts (victims
identified, referrals made / accepted / completed, investigations, prosecutions, convictions)
are disaggregated by sex × age band × form of exploitation, or by form of exploitation alone for
the justice counts; the category options carry codebook option codes. This module is the
pure half of `tipdata dhis2 push-aggregates`:

1. `aggregate_catalogue` derives, from the shipped indicator catalogue, one indicator per count
   whose single breakdown is exactly the data element's categories (DHIS2 stores only the full
   cross; its totals are sums of the cells);
2. the caller computes those indicators (`compute_indicators`) and protects each table
   (`protect_table`: primary and secondary suppression over the cells *and* their margins, so a
   cell kept out of DHIS2 cannot be recovered from a total published elsewhere);
3. `build_data_value_set` turns the published full-cross cells into data values, addressed by the
   package's UIDs and the server's category option combo UIDs (DHIS2 generates those, so the
   caller looks them up: `combos_by_options`). Suppressed cells are **not sent**; they are counted.

How values become category options (the package's options, `aggregate.DIMENSIONS`):
- sex: the codebook code (female, male, intersex, declined); no value → `unknown` ("not recorded");
- age band: the recorded band, else the age at identification cut into the bands; else `unknown`;
- form of exploitation, victims: the ICCS group of the purposes recorded (`expl_palermo_purpose`,
  each option's ICCS standard): 02041 → `sexual_exploitation`, 02042 → `forced_labour` (incl.
  slavery, servitude, child labour), 02043 → `organ_removal`, 02044 → `other`; purposes in more
  than one group → `multiple_forms`; none, `unknown` or `declined` → `unknown`;
- form of exploitation, justice counts: the same groups from the offences' ICCS codes
  (`inv_offences`, `pros_charges`); several groups → `multiple_forms`; trafficking without a
  purpose (0204) → `purpose_unspecified`; related offences only (0202, 0203, other) →
  `other_offence`; none recorded → `unknown`.
A package built before these options existed lacks some of them: cells that need a missing option
are counted as unrepresentable (category `_<code>`, e.g. `_multiple_forms`), never sent and never
merged into another option.

Deterministic: the same tables, layout and combos give the same payload, value for value.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tipdata.model import Codebook
from tipdata.records import CanonicalRecord
from tipdata.statistics.catalogue import DimensionSpec, IndicatorCatalogue, load_catalogue
from tipdata.statistics.disclosure import DEFAULT_K, ProtectedTable, protect_table
from tipdata.statistics.indicators import compute_indicators
from tipdata.statistics.scope import Area, Period

from .aggregate import (
    COUNTS,
    DEFAULT_CATEGORY_COMBO,
    DIMENSIONS,
    ICCS_GROUP_OPTIONS,
    MULTIPLE_FORMS,
    OTHER_OFFENCE,
    PURPOSE_UNSPECIFIED,
    UNKNOWN,
    category_option_seed,
    dimension_codes,
)
from .uids import uid_for

DEFAULT_CATEGORY_OPTION_COMBO = "HllvX50cXC0"
DEFAULT_ATTRIBUTE_OPTION_COMBO = DEFAULT_CATEGORY_OPTION_COMBO

#: the shipped catalogue's indicator each count of the data set is computed from
COUNT_INDICATORS: dict[str, str] = {
    "victims_identified": "VIC_IDENT",
    "referrals_made": "REF_MADE",
    "referrals_accepted": "REF_ACCEPTED",
    "referrals_completed": "REF_COMPLETED",
    "investigations": "JUS_INVESTIGATIONS",
    "prosecutions": "JUS_PROSECUTIONS",
    "convictions": "JUS_CONVICTIONS",
}
#: counts of justice records: their form of exploitation comes from the ICCS offence codes
JUSTICE_COUNTS: frozenset[str] = frozenset({"investigations", "prosecutions", "convictions"})
#: ICCS trafficking group -> the exploitation_form option (victims and offences alike)
OFFENCE_OPTIONS: dict[str, str] = ICCS_GROUP_OPTIONS
OFFENCE_PURPOSE_UNSPECIFIED = ("0204", PURPOSE_UNSPECIFIED)
#: options a cell may need; a package lacking one holds such cells as unrepresentable `_<code>`
_NEEDED = (UNKNOWN, MULTIPLE_FORMS, PURPOSE_UNSPECIFIED, OTHER_OFFENCE, *ICCS_GROUP_OPTIONS.values())
UNREPRESENTABLE: frozenset[str] = frozenset(f"_{code}" for code in _NEEDED)


def _option_or_sentinel(code: str, codes: tuple[str, ...]) -> str:
    """`code` when the package's category has it, else its unrepresentable stand-in `_<code>`."""
    return code if code in codes else f"_{code}"


_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-?(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


# --- periods ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportingPeriod:
    """A period both sides understand: tipdata's date range and DHIS2's ISO period id.

    >>> ReportingPeriod.parse("2025-Q2").dhis2, ReportingPeriod.parse("202503").dhis2
    ('2025Q2', '202503')
    """

    period: Period
    dhis2: str
    period_type: str  # DHIS2 period type name: Yearly | Quarterly | Monthly

    @classmethod
    def parse(cls, text: str) -> ReportingPeriod:
        """`2025` (Yearly), `2025Q1` / `2025-Q1` (Quarterly), `202503` / `2025-03` (Monthly)."""
        text = text.strip()
        if (m := _YEAR.match(text)):
            year = int(m[1])
            return cls(Period.year(year), f"{year}", "Yearly")
        if (m := _QUARTER.match(text)):
            year, quarter = int(m[1]), int(m[2])
            first = 3 * quarter - 2
            last = first + 2
            return cls(Period(dt.date(year, first, 1), dt.date(year, last, calendar.monthrange(year, last)[1])),
                       f"{year}Q{quarter}", "Quarterly")
        if (m := _MONTH.match(text)) and 1 <= int(m[2]) <= 12:
            year, month = int(m[1]), int(m[2])
            return cls(Period(dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])),
                       f"{year}{month:02d}", "Monthly")
        raise ValueError(f"cannot read period {text!r} for DHIS2; use a year (2025), a quarter "
                         "(2025Q1 or 2025-Q1) or a month (202503 or 2025-03)")


# --- the package's aggregate data set ---------------------------------------------------------------

@dataclass(frozen=True)
class CountLayout:
    """One count of the data set: its data element, category combo and dimensions in combo order."""

    count: str
    data_element: str
    category_combo: str
    dimensions: tuple[str, ...]


@dataclass(frozen=True)
class AggregateLayout:
    """What the metadata package says about the aggregate data set, found by deterministic UIDs."""

    data_set: str
    period_type: str
    org_units: tuple[str, ...]
    counts: dict[str, CountLayout]
    #: dimension -> option code -> category option UID (only options the package's category lists)
    options: dict[str, dict[str, str]]
    problems: tuple[str, ...] = ()

    @property
    def category_combos(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.category_combo for c in self.counts.values()))


class LayoutError(ValueError):
    """The metadata package lacks what an aggregate push needs; lists every gap."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the DHIS2 metadata package cannot take the aggregates:\n{lines}\n"
                         "Fix: rebuild the package (tipdata build) and install it (tipdata dhis2 install).")


def layout_from_package(package: Mapping[str, Any], codebook: Codebook) -> AggregateLayout:
    """The aggregate data set of a package: data set, data elements, combos and options.

    Objects are found by the UIDs the builder derives from codes (`uid_for`), so a renamed object
    is still found and a missing one is named. Raises `LayoutError` when the data set or every
    count is missing; a single missing count is listed in `problems` and left out.

    >>> layout_from_package(load_package(), load_codebook()).counts["convictions"].dimensions  # doctest: +SKIP
    ('exploitation_form',)
    """
    by_id = {key: {o.get("id"): o for o in package.get(key, []) if isinstance(o, dict)}
             for key in ("dataSets", "dataElements", "categoryCombos", "categories")}
    data_set_uid = uid_for("dataSet", "indicators")
    data_set = by_id["dataSets"].get(data_set_uid)
    if data_set is None:
        raise LayoutError([f"no aggregate data set (dataSets {data_set_uid}, code TIP_INDICATORS)"])
    in_set = {(e.get("dataElement") or {}).get("id") for e in data_set.get("dataSetElements", [])}
    category_dimension = {uid_for("category", d): d for d in DIMENSIONS}
    problems: list[str] = []
    options: dict[str, dict[str, str]] = {}
    for dimension in DIMENSIONS:
        category = by_id["categories"].get(uid_for("category", dimension))
        codes = dimension_codes(codebook, dimension)
        if category is None or not codes:
            continue
        listed = {ref.get("id") for ref in category.get("categoryOptions", [])}
        options[dimension] = {code: uid for code in codes
                              if (uid := uid_for("categoryOption", category_option_seed(dimension, code))) in listed}
    counts: dict[str, CountLayout] = {}
    for count in COUNTS:
        de_uid = uid_for("dataElement", f"aggregate:{count}")
        element = by_id["dataElements"].get(de_uid)
        if element is None:
            problems.append(f"count {count}: no data element {de_uid} (TIP_AGG_{count.upper()})")
            continue
        if de_uid not in in_set:
            problems.append(f"count {count}: data element {de_uid} is not in data set {data_set_uid}")
            continue
        combo_uid = (element.get("categoryCombo") or {}).get("id") or ""
        combo = by_id["categoryCombos"].get(combo_uid)
        refs = combo.get("categories", []) if combo else []
        dimensions = tuple(category_dimension.get(ref.get("id"), "") for ref in refs)
        if combo is None and combo_uid != DEFAULT_CATEGORY_COMBO:
            problems.append(f"count {count}: category combo {combo_uid} is not in the package")
            continue
        if "" in dimensions or any(d not in options for d in dimensions):
            problems.append(f"count {count}: category combo {combo_uid} has a category that is not "
                            f"one of {', '.join(DIMENSIONS)}")
            continue
        counts[count] = CountLayout(count, de_uid, combo_uid, dimensions)
    if not counts:
        raise LayoutError(problems or ["the data set has none of the counts"])
    return AggregateLayout(data_set_uid, str(data_set.get("periodType") or ""),
                           tuple(ref.get("id") for ref in data_set.get("organisationUnits", [])),
                           counts, options, tuple(problems))


# --- the catalogue the data set is filled from ------------------------------------------------------

def indicator_code(count: str) -> str:
    """The aggregate catalogue's indicator for a count: `DHIS2_VICTIMS_IDENTIFIED`."""
    return f"DHIS2_{count.upper()}"


def _dimension_code(count: str, dimension: str) -> str:
    if dimension == "exploitation_form" and count in JUSTICE_COUNTS:
        return "dhis2_offence_form"
    return f"dhis2_{dimension}"


def aggregate_catalogue(layout: AggregateLayout, base: IndicatorCatalogue | None = None) -> IndicatorCatalogue:
    """One indicator per count of the layout, broken down exactly by the data element's categories.

    Each indicator is the shipped catalogue's indicator for the count (same population, date,
    filters and source elements); only its breakdown and dimensions change, so the numbers agree
    with `tipdata report` wherever both publish the same cell.

    >>> catalogue = aggregate_catalogue(layout)                         # doctest: +SKIP
    >>> catalogue.indicators["DHIS2_INVESTIGATIONS"].breakdowns         # doctest: +SKIP
    (('dhis2_offence_form',),)
    """
    base = base or load_catalogue()
    dimensions: dict[str, DimensionSpec] = {}
    indicators = {}
    for count, count_layout in layout.counts.items():
        spec = base.indicators[COUNT_INDICATORS[count]]
        breakdown = []
        for dimension in count_layout.dimensions:
            code = _dimension_code(count, dimension)
            if code not in dimensions:
                dimensions[code] = _dimension(code, dimension, layout.options[dimension], base)
            breakdown.append(code)
        sources = {s for d in breakdown for s in dimensions[d].sources}
        indicators[indicator_code(count)] = spec.model_copy(update={
            "code": indicator_code(count), "breakdowns": (tuple(breakdown),), "rate_per": None,
            "source_elements": tuple(dict.fromkeys((*spec.source_elements, *sorted(sources)))),
        })
    return IndicatorCatalogue(version=base.version, total_code=base.total_code,
                              dimensions=dimensions, indicators=indicators)


def _dimension(code: str, dimension: str, options: Mapping[str, str],
               base: IndicatorCatalogue) -> DimensionSpec:
    codes = tuple(options)
    unknown = _option_or_sentinel(UNKNOWN, codes)
    if dimension == "sex":
        return DimensionSpec(code=code, name="Sex (DHIS2 category)", derive="option",
                             sources=base.dimensions["sex"].sources,
                             categories=tuple(dict.fromkeys((*codes, unknown))),
                             missing=unknown, unmapped=unknown)
    if dimension == "age_band":
        ages = base.dimensions["age_band"]
        bands = {c: upper for c, upper in ages.bands.items() if c in codes}
        if set(bands) != set(codes) - {unknown}:
            raise LayoutError([f"age band options {sorted(set(codes) - set(bands) - {unknown})} have no "
                               "upper age in the indicator catalogue's age_band dimension"])
        return DimensionSpec(code=code, name="Age band (DHIS2 category)", derive="age_band",
                             sources=ages.sources, categories=tuple(dict.fromkeys((*codes, unknown))),
                             bands=bands, missing=unknown)
    groups = {iccs: _option_or_sentinel(option, codes) for iccs, option in ICCS_GROUP_OPTIONS.items()}
    multiple = _option_or_sentinel(MULTIPLE_FORMS, codes)
    if code == "dhis2_offence_form":
        unspecified = _option_or_sentinel(PURPOSE_UNSPECIFIED, codes)
        related = _option_or_sentinel(OTHER_OFFENCE, codes)
        categories = (*codes, *groups.values(), multiple, unspecified, related, unknown)
        return DimensionSpec(code=code, name="Form of exploitation of the offence (DHIS2 category)",
                             derive="iccs_group", sources=base.dimensions["offence_form"].sources,
                             categories=tuple(dict.fromkeys(categories)), iccs_groups=groups,
                             fallback_groups={OFFENCE_PURPOSE_UNSPECIFIED[0]: unspecified},
                             multiple=multiple, missing=unknown, unmapped=related)
    categories = (*codes, *groups.values(), multiple, unknown)
    return DimensionSpec(code=code, name="Form of exploitation (DHIS2 category)", derive="iccs_group",
                         sources=base.dimensions["exploitation_form"].sources,
                         categories=tuple(dict.fromkeys(categories)), iccs_groups=groups,
                         multiple=multiple, missing=unknown, unmapped=unknown)


# --- the protected tables ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AggregateTables:
    """Per count, its indicator table after disclosure control; and who was left out."""

    protected: dict[str, ProtectedTable]
    excluded_without_consent: int
    notes: tuple[str, ...] = ()


def protected_tables(records: Iterable[CanonicalRecord], layout: AggregateLayout, period: Period,
                     area: Area | None = None, *, k: int = DEFAULT_K, codebook: Codebook,
                     person_of: Mapping[str, str] | None = None,
                     catalogue: IndicatorCatalogue | None = None) -> AggregateTables:
    """Compute every count of the layout for one period and protect each table with threshold k.

    Only records whose person consented to `statistics` are counted (`compute_indicators`).

    >>> tables = protected_tables(ledger.iter_records(), layout, Period.year(2025), codebook=cb)  # doctest: +SKIP
    """
    catalogue = catalogue or aggregate_catalogue(layout)
    tables = compute_indicators(records, period, area, person_of, codebook=codebook, catalogue=catalogue)
    protected = {count: protect_table(tables[indicator_code(count)], k=k) for count in layout.counts}
    first = next(iter(tables.values()), None)
    excluded = int(first.attrs.get("excluded_without_consent", 0)) if first is not None else 0
    notes = tuple(dict.fromkeys(n for t in tables.values() for n in t.attrs.get("notes", [])))
    return AggregateTables(protected, excluded, notes)


# --- category option combos -----------------------------------------------------------------------

ComboLookup = Mapping[str, Mapping[frozenset[str], str]]


def combos_by_options(category_option_combos: Iterable[Mapping[str, Any]]) -> dict[str, dict[frozenset[str], str]]:
    """Category combo UID -> (set of category option UIDs -> category option combo UID).

    From `GET /api/categoryOptionCombos?fields=id,categoryCombo[id],categoryOptions[id]`: DHIS2
    generates these ids on the server, so they are looked up, never computed.

    >>> combos_by_options([{"id": "Coc00000001", "categoryCombo": {"id": "Cc000000001"},
    ...                     "categoryOptions": [{"id": "Co000000001"}]}])
    {'Cc000000001': {frozenset({'Co000000001'}): 'Coc00000001'}}
    """
    result: dict[str, dict[frozenset[str], str]] = {}
    for coc in category_option_combos:
        combo = (coc.get("categoryCombo") or {}).get("id")
        if not combo or not coc.get("id"):
            continue
        key = frozenset(ref.get("id") for ref in coc.get("categoryOptions", []) if isinstance(ref, dict))
        result.setdefault(combo, {})[key] = coc["id"]
    return result


# --- the payload ------------------------------------------------------------------------------------

@dataclass
class CountSummary:
    """What happened to one count's cells (numbers of cells, never their values)."""

    cells: int = 0
    sent: int = 0
    suppressed: int = 0
    #: cells in a category the package cannot hold, by category (`_not_recorded`, ...)
    unrepresentable: Counter[str] = field(default_factory=Counter)
    #: cells whose category option combo the server does not have
    no_combo: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"cells": self.cells, "sent": self.sent, "suppressed": self.suppressed,
                "unrepresentable": dict(sorted(self.unrepresentable.items())),
                "no_combo": self.no_combo}


@dataclass
class DataValueSetPlan:
    """The payload to POST and, per count, how many cells were sent, suppressed or left out."""

    payload: dict[str, Any]
    counts: dict[str, CountSummary]
    warnings: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(s.sent for s in self.counts.values())

    @property
    def suppressed(self) -> int:
        return sum(s.suppressed for s in self.counts.values())

    @property
    def unrepresentable(self) -> int:
        return sum(sum(s.unrepresentable.values()) for s in self.counts.values())

    @property
    def no_combo(self) -> int:
        return sum(s.no_combo for s in self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {"data_values": self.sent, "suppressed": self.suppressed,
                "unrepresentable": self.unrepresentable, "no_combo": self.no_combo,
                "counts": {c: s.to_json() for c, s in self.counts.items()}, "warnings": self.warnings}


def build_data_value_set(protected: Mapping[str, ProtectedTable], layout: AggregateLayout,
                         combos: ComboLookup, *, period: str, org_unit: str,
                         attribute_option_combo: str = DEFAULT_ATTRIBUTE_OPTION_COMBO) -> DataValueSetPlan:
    """Published full-cross cells → `{"dataSet", "period", "orgUnit", "dataValues": [...]}`.

    `protected`: count → `protect_table(...)` of the aggregate catalogue's indicator (keyed by
    count, e.g. "victims_identified"). Margins are never sent (DHIS2 sums the cells itself);
    suppressed cells, cells DHIS2 cannot hold and cells without a combo on the server are counted
    in the plan instead. Published zeros are sent: the data elements are zero-significant, and a
    zero overwrites a count pushed earlier for the same cell.

    >>> plan = build_data_value_set({"victims_identified": protected}, layout, combos,
    ...                             period="2025", org_unit="ImspTQPwCqd")   # doctest: +SKIP
    """
    values: list[dict[str, str]] = []
    summaries: dict[str, CountSummary] = {}
    warnings: list[str] = []
    for count, count_layout in layout.counts.items():
        if count not in protected:
            warnings.append(f"{count}: no table was given; nothing sent for it")
            continue
        summary = summaries[count] = CountSummary()
        table = protected[count]
        frame = table.published_df
        total = frame.attrs.get("total_code", "_T")
        columns = [_dimension_code(count, d) for d in count_layout.dimensions]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{count}: the table has no column {missing}; compute it with "
                             "aggregate_catalogue(layout)")
        cells = frame[columns].astype(object).to_numpy() if columns else np.empty((len(frame), 0), dtype=object)
        inner = np.all(cells != total, axis=1) if columns else np.ones(len(frame), dtype=bool)
        count_column = frame.attrs.get("count_column", "value")
        counted = frame[count_column].to_numpy(float)
        suppressed = table.suppressed_mask.to_numpy(bool)
        lookup = combos.get(count_layout.category_combo, {})
        for row in np.flatnonzero(inner):
            summary.cells += 1
            if suppressed[row]:
                summary.suppressed += 1
                continue
            codes = tuple(cells[row])
            unplaced = next((c for c in codes if c in UNREPRESENTABLE), None)
            if unplaced is not None:
                summary.unrepresentable[unplaced] += 1
                continue
            option_uids = [layout.options[d].get(code) for d, code in zip(count_layout.dimensions, codes, strict=True)]
            if not option_uids:
                coc: str | None = DEFAULT_CATEGORY_OPTION_COMBO
            else:
                coc = lookup.get(frozenset(option_uids)) if None not in option_uids else None
            if coc is None:
                summary.no_combo += 1
                continue
            values.append({"dataElement": count_layout.data_element, "categoryOptionCombo": coc,
                           "value": str(int(counted[row]))})
            summary.sent += 1
        if summary.no_combo:
            warnings.append(f"{count}: {summary.no_combo} cell(s) have no category option combo on the "
                            f"server for combo {count_layout.category_combo}; generate them "
                            "(Maintenance → category option combos, or --generate-combos)")
    payload = {"dataSet": layout.data_set, "period": period, "orgUnit": org_unit,
               "attributeOptionCombo": attribute_option_combo, "dataValues": values}
    return DataValueSetPlan(payload, summaries, warnings)
