"""The units indicators count, one DataFrame each: victim records, persons, referrals, services,
first services, outcome changes, investigations, prosecutions, convictions, prison sentences.

Every population frame has a `unit` column (what a count counts distinctly), an `_in_area`
column, the element columns its indicators and dimensions read, and, for statistics, its
measure column. Records of later stages (referral, service, outcome, investigation, prosecution)
carry the attributes of the case they cite (`svc_case_reference` = the case's `case_reference`),
so a referral can be broken down by the person's age group; when two consented case records share
a reference, the one identified first is the case.

Only records whose person consented (the frame's `consented` column) are taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property

import numpy as np
import pandas as pd

from tipdata.model import Codebook
from tipdata.statistics.catalogue import IndicatorCatalogue
from tipdata.statistics.frame import has_option, kind_elements
from tipdata.statistics.scope import Area, Period

#: columns every population keeps besides its kind's elements
META_COLUMNS: tuple[str, ...] = ("record_id", "kind", "location", "consented")
#: levels whose elements describe the person or the case; linked records borrow them
CASE_LEVELS: frozenset[str] = frozenset({"person", "case", "identification"})
SERVICE_KINDS: tuple[str, ...] = ("service", "both")
NOT_VICTIM = "not_victim"
IMPRISONMENT = "imprisonment"
#: populations with one row per unit by construction (record ids are unique, persons and cases
#: are grouped); the others (distinct cases among services, case × domain) are counted distinctly
ONE_ROW_PER_UNIT: frozenset[str] = frozenset({
    "victim_records", "victim_persons", "referrals", "service_records", "first_service",
    "outcome_change", "investigations", "prosecutions", "convictions", "prison_sentences",
})


def take_rows(frame: pd.DataFrame, columns: list[str], rows: np.ndarray) -> pd.DataFrame:
    """`frame.loc[rows, columns]` with a fresh RangeIndex, one column at a time.

    `.loc` on a wide frame reindexes and consolidates its blocks; taking each column's values
    (categorical codes, numpy arrays) is several times faster on a million rows.
    """
    data: dict[str, object] = {}
    for column in columns:
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            data[column] = pd.Categorical.from_codes(series.cat.codes.to_numpy()[rows], dtype=series.dtype)
        else:
            data[column] = series.to_numpy()[rows]
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)), columns=columns, copy=False)


class Populations:
    """Builds (and caches) each population of one computation: one frame, one period, one area."""

    def __init__(self, frame: pd.DataFrame, codebook: Codebook, catalogue: IndicatorCatalogue,
                 period: Period, area: Area, person_of: Mapping[str, str] | None) -> None:
        self.frame = frame
        self.codebook = codebook
        self.catalogue = catalogue
        self.period = period
        self.area = area
        self.person_of = person_of
        self._built: dict[str, pd.DataFrame] = {}
        self._kinds: dict[str, pd.DataFrame] = {}
        self._unique: dict[str, bool] = {}
        self.builders: dict[str, Callable[[], pd.DataFrame]] = {
            "victim_records": self._victim_records,
            "victim_persons": self._victim_persons,
            "referrals": lambda: self._linked_kind("referral"),
            "services": lambda: self._services(unit="case"),
            "service_records": lambda: self._services(unit="record_id"),
            "first_service": self._first_service,
            "outcome_change": lambda: self._outcome_changes()[0],
            "outcome_domain_change": lambda: self._outcome_changes()[1],
            "investigations": lambda: self._linked_kind("investigation"),
            "prosecutions": lambda: self._linked_kind("prosecution"),
            "convictions": lambda: self._linked_kind("prosecution"),
            "prison_sentences": self._prison_sentences,
        }

    def get(self, name: str) -> pd.DataFrame:
        if name not in self._built:
            self._built[name] = self.builders[name]()
        return self._built[name]

    def units_unique(self, name: str) -> bool:
        """Whether each unit of the population is on one row (counts are then row counts)."""
        if name not in self._unique:
            self._unique[name] = name in ONE_ROW_PER_UNIT or bool(self.get(name)["unit"].is_unique)
        return self._unique[name]

    # --- cases and links ------------------------------------------------------------------------

    def _of_kind(self, kind: str) -> pd.DataFrame:
        """The records of one kind, with only the columns that kind's forms collect."""
        if kind not in self._kinds:
            elements = tuple(c for c in self.frame.columns if c not in META_COLUMNS)
            columns = [*META_COLUMNS, *kind_elements(self.codebook, elements)[kind]]
            mask = (self.frame["kind"] == kind).to_numpy() & self.frame["consented"].to_numpy(bool)
            columns = [c for c in columns if c in self.frame.columns]
            self._kinds[kind] = take_rows(self.frame, columns, np.flatnonzero(mask))
        return self._kinds[kind]

    @cached_property
    def cases(self) -> pd.DataFrame:
        """Case records, each flagged in or out of the area."""
        cases = self._of_kind("case")  # a frame of its own: adding a column touches nothing else
        cases["_in_area"] = self._area_mask(cases, own_case=True)
        return cases

    @cached_property
    def case_positions(self) -> pd.Series:
        """case_reference → position in `cases`; on a shared reference the case identified first
        (then the first in input order: the ledger yields records in record id order) wins."""
        cases = self.cases
        dates = cases["ident_date"].to_numpy("datetime64[s]").astype(np.int64)
        dates = np.where(cases["ident_date"].isna().to_numpy(), np.iinfo(np.int64).max, dates)
        order = np.argsort(dates, kind="stable")
        refs = cases["case_reference"].to_numpy(object)[order]
        first = ~pd.Series(refs).duplicated(keep="first").to_numpy() & pd.notna(refs)
        return pd.Series(order[first], index=refs[first])

    def _case_of(self, refs: pd.Series) -> np.ndarray:
        """Position in `cases` of the case each reference cites, -1 when none."""
        positions = self.case_positions
        found = positions.index.get_indexer(refs.to_numpy(object))
        return np.where(found >= 0, positions.to_numpy()[np.maximum(found, 0)], -1)

    @cached_property
    def case_columns(self) -> tuple[str, ...]:
        """Case-level columns that dimensions read: what linked records borrow from their case."""
        sources = {s for d in self.catalogue.dimensions.values() for s in d.sources}
        return tuple(c for c in self.frame.columns if c in sources
                     and self.codebook.elements[c].level in CASE_LEVELS)

    def _area_mask(self, rows: pd.DataFrame, *, own_case: bool) -> np.ndarray:
        mask = np.ones(len(rows), dtype=bool)
        if self.area.country:
            if own_case:
                mask &= (rows["ident_country"].astype(object) == self.area.country).to_numpy()
            else:
                mask[:] = False  # a record citing no known case cannot be placed in a country
        if self.area.locations:
            mask &= rows["location"].isin(self.area.locations).to_numpy()
        return mask

    def _linked(self, rows: pd.DataFrame, *, unit: str = "record_id") -> pd.DataFrame:
        """Rows of a later stage with their case's attributes and area (own area when orphaned)."""
        rows = rows.reset_index(drop=True).copy()
        at = self._case_of(rows["svc_case_reference"])
        has_case = at >= 0
        cases = self.cases
        for column in self.case_columns:
            borrowed = cases[column].take(np.maximum(at, 0)).reset_index(drop=True)
            if isinstance(borrowed.dtype, pd.CategoricalDtype):
                codes = np.where(has_case, borrowed.cat.codes.to_numpy(), -1)
                rows[column] = pd.Categorical.from_codes(codes, dtype=borrowed.dtype)
            else:
                rows[column] = borrowed.where(pd.Series(has_case)).to_numpy()
        in_case_area = cases["_in_area"].to_numpy()[np.maximum(at, 0)] & has_case
        rows["_in_area"] = np.where(has_case, in_case_area, self._area_mask(rows, own_case=False))
        rows["_case"] = at
        rows["unit"] = rows[unit].to_numpy(object) if unit != "case" else np.where(
            rows["svc_case_reference"].notna(), rows["svc_case_reference"].astype(object), rows["record_id"])
        return rows

    # --- victims ------------------------------------------------------------------------------

    def _victim_records(self) -> pd.DataFrame:
        cases = self.cases
        victims = cases[(cases["ident_trafficking_status"] != NOT_VICTIM).to_numpy()].copy()
        victims["unit"] = victims["record_id"]
        return victims

    def _victim_persons(self) -> pd.DataFrame:
        """One row per person among the period's identification records in the area.

        The status is the latest recorded (by decision date, else identification date); a person
        whose latest status is not_victim is left out. Other attributes: first recorded, in date order.
        """
        cases = self.cases
        dates = cases["ident_date"]
        in_scope = (dates >= pd.Timestamp(self.period.start)) & (dates <= pd.Timestamp(self.period.end))
        rows = cases[(in_scope.to_numpy() & cases["_in_area"].to_numpy())].copy()
        if not self.person_of:
            rows = rows[(rows["ident_trafficking_status"] != NOT_VICTIM).to_numpy()]
            rows["unit"] = rows["record_id"]
            return rows
        person = rows["record_id"].map(self.person_of)
        rows["unit"] = person.where(person.notna(), rows["record_id"]).astype(object)
        rows = rows.sort_values(["unit", "ident_date", "record_id"], kind="stable")
        grouped = rows.groupby("unit", sort=False, observed=True)
        persons = grouped.first()  # first non-missing value per column, in date order
        status_order = rows.assign(_status_date=rows["ident_status_decision_date"].fillna(rows["ident_date"]))
        status_order = status_order.sort_values(["unit", "_status_date", "record_id"], kind="stable")
        persons["ident_trafficking_status"] = status_order.groupby(
            "unit", sort=False, observed=True)["ident_trafficking_status"].last().reindex(persons.index)
        persons = persons.reset_index()
        persons["_in_area"] = True
        return persons[(persons["ident_trafficking_status"] != NOT_VICTIM).to_numpy()]

    # --- protection ---------------------------------------------------------------------------

    def _linked_kind(self, kind: str) -> pd.DataFrame:
        """All records of a later-stage kind, linked to their cases (once per kind)."""
        key = f"_linked_{kind}"
        if key not in self._built:
            self._built[key] = self._linked(self._of_kind(kind))
        return self._built[key]

    def _services(self, unit: str) -> pd.DataFrame:
        """Service records (kind service or both), counted per record or per case."""
        rows = self._linked_kind("service")
        rows = rows[rows["svc_record_kind"].isin(SERVICE_KINDS).to_numpy()].copy()
        if unit == "case":
            rows["unit"] = np.where(rows["svc_case_reference"].notna(),
                                    rows["svc_case_reference"].astype(object), rows["record_id"])
        return rows

    def _first_service(self) -> pd.DataFrame:
        """Victim records with the days from identification to the earliest service of their case."""
        victims = self.get("victim_records")
        referrals = self.get("referrals")
        services = self.get("service_records")
        starts = pd.concat([
            pd.DataFrame({"_case": referrals["_case"], "date": referrals["ref_first_service_date"]}),
            pd.DataFrame({"_case": services["_case"], "date": services["svc_date"]}),
        ], ignore_index=True)
        starts = starts[(starts["_case"] >= 0) & starts["date"].notna()]
        first = starts.groupby("_case")["date"].min()
        # victims keep their position in `cases` as index
        first_dates = first.reindex(victims.index)
        days = (first_dates.to_numpy("datetime64[s]") - victims["ident_date"].to_numpy("datetime64[s]"))
        days = days.astype("timedelta64[D]").astype(float)
        days[np.isnat(first_dates.to_numpy("datetime64[s]")) | np.isnat(victims["ident_date"].to_numpy("datetime64[s]"))] = np.nan
        victims = victims.copy()
        victims["days_to_first_service"] = np.where(np.isnan(days), np.nan, np.maximum(days, 0))
        return victims

    def _outcome_changes(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per case with two or more scored assessments: first → latest change, overall and per domain."""
        key = "_outcomes"
        if key in self._built:
            return self._built[key], self._built[key + "_domains"]
        domains = self.catalogue.dimensions["outcome_domain"].sources
        rows = self._of_kind("outcome")
        rows = rows[rows["svc_case_reference"].notna().to_numpy() & rows["out_assessment_date"].notna().to_numpy()]
        ratings = np.column_stack([pd.to_numeric(rows[d].astype(object), errors="coerce").to_numpy(float)
                                   for d in domains]) if len(rows) else np.empty((0, len(domains)))
        rated = ~np.isnan(ratings)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_rating = np.where(rated.any(axis=1), np.nansum(ratings, axis=1) / rated.sum(axis=1), np.nan)
        stored = rows["out_average_score"].to_numpy(float)
        scores = pd.DataFrame({
            "case_ref": rows["svc_case_reference"].to_numpy(object),
            "date": rows["out_assessment_date"].to_numpy("datetime64[s]"),
            "number": rows["out_assessment_number"].to_numpy(float),
            "record_id": rows["record_id"].to_numpy(object),
            "location": rows["location"].to_numpy(object),
            "score": np.where(np.isnan(stored), mean_rating, stored),
        })
        for position, domain in enumerate(domains):
            scores[domain] = ratings[:, position]
        scores = scores[scores["score"].notna()].sort_values(["case_ref", "date", "number", "record_id"], kind="stable")
        grouped = scores.groupby("case_ref", sort=False)
        first, last, count = grouped.head(1).set_index("case_ref"), grouped.tail(1).set_index("case_ref"), grouped.size()
        cases = count.index[count.to_numpy() >= 2]
        first, last = first.loc[cases], last.loc[cases]
        change = pd.DataFrame({
            "svc_case_reference": cases.to_numpy(object),
            "out_assessment_date": last["date"].to_numpy("datetime64[s]"),
            "score_change": last["score"].to_numpy(float) - first["score"].to_numpy(float),
            "record_id": last["record_id"].to_numpy(object),
            "location": last["location"].to_numpy(object),
        })
        change = self._linked(change, unit="case")
        parts = []
        for domain in domains:
            both = ~np.isnan(first[domain].to_numpy()) & ~np.isnan(last[domain].to_numpy())
            part = change[both].loc[:, ["unit", "out_assessment_date", "_in_area", *self.case_columns]].copy()
            part["domain_change"] = (last[domain].to_numpy() - first[domain].to_numpy())[both]
            part["outcome_domain"] = domain.removeprefix("out_")
            parts.append(part)
        domain_changes = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        self._built[key], self._built[key + "_domains"] = change, domain_changes
        return change, domain_changes

    # --- justice ------------------------------------------------------------------------------

    def _prison_sentences(self) -> pd.DataFrame:
        rows = self.get("convictions")
        imprisoned = has_option(rows["pros_sentence_type"], IMPRISONMENT)
        rows = rows[imprisoned & rows["pros_sentence_months"].notna().to_numpy()].copy()
        rows["sentence_months"] = rows["pros_sentence_months"].to_numpy(float)
        return rows
