"""Canonical records into one pandas DataFrame, built once, typed for vectorised indicators.

Only the elements the indicator catalogue reads are taken (never names, contacts, free-text
notes or immigration status: the catalogue check refuses direct identifiers and restricted
elements), each with a dtype fit for grouping: option codes as categoricals over the codebook
list, dates as datetime64, numbers as float, multi-selects as categoricals of option sets ("a b"). Each row also carries:

    record_id   the canonical record id
    kind        case | referral | service | outcome | investigation | prosecution | screening |
                other - from the form's level, else from which anchor element the record holds
    location    the envelope location (e.g. a DHIS2 org unit), or missing
    consented   whether the person consented to the statistics purpose

A DataFrame whose columns are element codes (plus `record_id`, and `kind`, `location`, and
`consented` or `consent_purposes` when known) can be passed to `records_frame` as well; it is
typed the same way.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tipdata.model import Codebook
from tipdata.records import CanonicalRecord
from tipdata.statistics.catalogue import LINK_ELEMENTS, IndicatorCatalogue, load_catalogue

#: `DataFrame.attrs` key marking a frame built (and typed) by `records_frame`
FRAME_MARK = "tipdata.statistics.frame"
KINDS: tuple[str, ...] = ("case", "referral", "service", "outcome", "investigation",
                          "prosecution", "screening", "other")
#: the element whose presence tells a record's kind when its form is not known
KIND_ANCHORS: tuple[tuple[str, str], ...] = (
    ("case", "ident_date"), ("case", "case_reference"), ("referral", "ref_date"),
    ("service", "svc_record_kind"), ("service", "svc_date"), ("outcome", "out_assessment_date"),
    ("investigation", "inv_opened_date"), ("prosecution", "pros_filed_date"),
    ("screening", "screening_date"),
)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def frame_elements(codebook: Codebook, catalogue: IndicatorCatalogue | None = None) -> tuple[str, ...]:
    """The element columns a records frame holds: what the catalogue reads, plus the links."""
    catalogue = catalogue or load_catalogue()
    wanted: dict[str, None] = {}
    for indicator in catalogue.indicators.values():
        wanted.update(dict.fromkeys((indicator.date, *indicator.source_elements, *indicator.where)))
    for dimension in catalogue.dimensions.values():
        wanted.update(dict.fromkeys(dimension.sources))
    wanted.update(dict.fromkeys(LINK_ELEMENTS))
    wanted.update(dict.fromkeys(anchor for _, anchor in KIND_ANCHORS))
    return tuple(code for code in wanted if code in codebook.elements)


def records_frame(records: Iterable[CanonicalRecord] | pd.DataFrame, codebook: Codebook, *,
                  purpose: str = "statistics",
                  catalogue: IndicatorCatalogue | None = None) -> pd.DataFrame:
    """One row per record, one typed column per element the indicators read.

    Build it once and pass it to `compute_indicators` for several periods or areas.

    >>> frame = records_frame(ledger.iter_records(), load_codebook())   # doctest: +SKIP
    """
    if isinstance(records, pd.DataFrame):
        if records.attrs.get(FRAME_MARK):
            return records
        return _type_dataframe(records, codebook, purpose, catalogue)
    return _from_records(list(records), codebook, purpose, catalogue)


def _form_kinds(codebook: Codebook) -> dict[str, str]:
    return {form_id: (form.level if form.level in KINDS else "other")
            for form_id, form in codebook.forms.items()}


def kind_elements(codebook: Codebook, elements: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Per kind, the wanted elements its forms collect (what to look for in its records)."""
    per_kind: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for form in codebook.forms.values():
        kind = form.level if form.level in KINDS else "other"
        per_kind[kind].update(form.element_codes())
    return {kind: tuple(e for e in elements if e in codes) for kind, codes in per_kind.items()}


def _kind_of(form_id: str | None, values: Mapping[str, Any], form_kinds: Mapping[str, str]) -> str:
    if form_id and form_id in form_kinds:
        return form_kinds[form_id]
    for kind, anchor in KIND_ANCHORS:
        if values.get(anchor) is not None:
            return kind
    return "other"


def _from_records(records: list[CanonicalRecord], codebook: Codebook, purpose: str,
                  catalogue: IndicatorCatalogue | None) -> pd.DataFrame:
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a million live records make every collection a full scan; nothing here cycles
    try:
        return _extract(records, codebook, purpose, catalogue)
    finally:
        if gc_was_enabled:
            gc.enable()


def _extract(records: list[CanonicalRecord], codebook: Codebook, purpose: str,
             catalogue: IndicatorCatalogue | None) -> pd.DataFrame:
    elements = frame_elements(codebook, catalogue)
    form_kinds = _form_kinds(codebook)
    per_kind = kind_elements(codebook, elements)
    count = len(records)
    envelopes = [r.envelope for r in records]
    values = [r.values for r in records]
    kinds = [_kind_of(e.form_id, v, form_kinds) for e, v in zip(envelopes, values, strict=True)]
    columns: dict[str, Any] = {
        "record_id": np.array([e.record_id for e in envelopes], dtype=object),
        "kind": pd.Categorical(kinds, categories=KINDS),
        "location": np.array([e.location for e in envelopes], dtype=object),
        "consented": np.array([purpose in e.consent_purposes for e in envelopes], dtype=bool),
    }
    kind_array = np.array(kinds, dtype=object)
    raw: dict[str, np.ndarray] = {code: np.full(count, None, dtype=object) for code in elements}
    for kind in KINDS:
        rows = np.flatnonzero(kind_array == kind)
        if not len(rows):
            continue
        of_kind = [values[i] for i in rows.tolist()]
        # a record may hold more than its form's elements (another platform's form); records
        # whose kind is not known from a form are searched for every wanted element
        codes = per_kind[kind] if kind != "other" else elements
        extra = [c for c in elements if c not in codes and any(c in v for v in of_kind[:64])]
        for code in (*codes, *extra):
            # object fromiter keeps tuples whole (a list of 1-tuples would become a 2-D array)
            found = [v.get(code) for v in of_kind]
            raw[code][rows] = np.fromiter(found, dtype=object, count=len(found))
    for code in elements:
        columns[code] = _typed(raw[code], codebook.elements[code].type, codebook, code)
    frame = pd.DataFrame(columns)
    frame.attrs[FRAME_MARK] = True
    return frame


def _typed(column: np.ndarray | pd.Series, kind: str, codebook: Codebook, code: str) -> Any:
    """A column of Python values as the dtype its element type calls for.

    Work is done on the non-empty values only: most columns are empty for most records (a
    referral has no identification date), so a million-row column is often a few hundred
    thousand values.
    """
    array = np.asarray(column, dtype=object)
    present = pd.notna(array)
    values = array[present]
    if kind in ("date", "datetime"):
        out = np.full(len(array), np.datetime64("NaT"), dtype="datetime64[s]")
        out[present] = _dates(values)
        return out
    if kind == "select_one":
        options = codebook.options_for(codebook.elements[code])
        categories = list(options.codes()) if options else sorted({str(v) for v in values})
        codes = np.full(len(array), -1, dtype=np.int64)
        codes[present] = pd.Categorical(values, categories=categories).codes
        return pd.Categorical.from_codes(codes, categories=categories)
    if kind in ("integer", "decimal"):
        return pd.to_numeric(pd.Series(array), errors="coerce").to_numpy(float)
    if kind == "boolean":
        out = np.full(len(array), np.nan)
        out[present] = [_truth(v) for v in values]
        return out
    if kind == "select_multiple":
        return _option_sets(values, present)
    return np.where(present, array, None)


def _option_sets(values: np.ndarray, present: np.ndarray) -> pd.Categorical:
    """A multi-select column as a categorical of option sets ("a b": sorted codes joined by a
    space, as XLSForm writes them). A column holds few distinct sets, so everything derived from
    it is computed once per category; and a categorical is stored without copying the frame."""
    try:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object))
        keys = [_set_key(u) for u in uniques]
    except TypeError:  # unhashable values (lists): key each one
        keys = [_set_key(v) for v in values]
        codes = np.arange(len(values))
    categories = sorted({k for k in keys if k is not None})
    position = {k: i for i, k in enumerate(categories)}
    lookup = np.array([position[k] if k is not None else -1 for k in keys] + [-1], dtype=np.int64)
    out = np.full(len(present), -1, dtype=np.int64)
    out[present] = lookup[np.asarray(codes, dtype=np.int64)]
    return pd.Categorical.from_codes(out, categories=categories)


def _set_key(value: Any) -> str | None:
    chosen = _options(value)
    return " ".join(chosen) if chosen else None


def option_sets(column: pd.Series) -> pd.Series:
    """A multi-select column (categorical of "a b" keys, or tuples) as tuples of option codes."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        sets = np.empty(len(column.cat.categories) + 1, dtype=object)
        for i, key in enumerate(column.cat.categories):
            sets[i] = tuple(str(key).split())
        sets[-1] = None
        return pd.Series(sets[column.cat.codes.to_numpy()], index=column.index, dtype=object)
    return column.map(_options)


def has_option(column: pd.Series, code: str) -> np.ndarray:
    """Whether each row's multi-select includes `code`."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        chosen = np.array([code in str(k).split() for k in column.cat.categories] + [False], dtype=bool)
        return chosen[column.cat.codes.to_numpy()]
    return column.map(lambda t: bool(t) and code in t).to_numpy(bool)


def _dates(values: np.ndarray) -> np.ndarray:
    """Non-empty dates (date objects, numpy/pandas datetimes or ISO text) as datetime64[s].
    Date objects go through ordinals, ~15x faster than numpy's object conversion."""
    if not len(values):
        return np.array([], dtype="datetime64[s]")
    sample = values[:256]
    if all(isinstance(v, dt.date) for v in sample):
        try:
            ordinals = np.fromiter((v.toordinal() - _EPOCH_ORDINAL for v in values),
                                   dtype=np.int64, count=len(values))
            return ordinals.astype("datetime64[D]").astype("datetime64[s]")
        except (AttributeError, TypeError):
            pass
    if all(isinstance(v, np.datetime64 | pd.Timestamp) for v in sample):
        parsed = pd.to_datetime(pd.Series(values), errors="coerce")
    else:
        parsed = pd.to_datetime(pd.Series(values).map(_date_text), errors="coerce", format="ISO8601")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.dt.normalize().to_numpy("datetime64[s]")


def _date_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)[:10]


def _truth(value: Any) -> float:
    if value is None:
        return np.nan
    if isinstance(value, bool | np.bool_):
        return float(value)
    text = str(value).strip().lower()
    return 1.0 if text in ("true", "1", "yes") else 0.0 if text in ("false", "0", "no") else np.nan


def _options(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        codes = value.split()
    elif isinstance(value, list | tuple | set | frozenset | np.ndarray):
        codes = [str(v) for v in value]
    else:
        return None
    return tuple(sorted(set(codes))) or None


def _type_dataframe(data: pd.DataFrame, codebook: Codebook, purpose: str,
                    catalogue: IndicatorCatalogue | None) -> pd.DataFrame:
    if "record_id" not in data.columns:
        raise ValueError("a records DataFrame needs a `record_id` column (the canonical record id); "
                         "build it with tipdata.statistics.records_frame(records, codebook)")
    if "consented" in data.columns:
        consented = data["consented"].fillna(False).astype(bool).to_numpy()
    elif "consent_purposes" in data.columns:
        consented = data["consent_purposes"].map(
            lambda p: p is not None and not isinstance(p, float) and purpose in p).to_numpy(bool)
    else:
        raise ValueError(
            "a records DataFrame needs `consented` (bool: the person consented to "
            f"{purpose!r}) or `consent_purposes` (sets of purposes), so indicators count only "
            "consented records; pass records_frame the canonical records to have it set")
    elements = frame_elements(codebook, catalogue)
    columns: dict[str, Any] = {"record_id": data["record_id"].astype(object).to_numpy()}
    columns["location"] = (data["location"].astype(object).to_numpy() if "location" in data.columns
                           else np.full(len(data), None, dtype=object))
    columns["consented"] = consented
    for code in elements:
        if code in data.columns:
            columns[code] = _typed(data[code].to_numpy(object), codebook.elements[code].type, codebook, code)
        else:
            columns[code] = _typed(np.full(len(data), None, dtype=object),
                                   codebook.elements[code].type, codebook, code)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(data)))
    if "kind" in data.columns:
        frame["kind"] = pd.Categorical(data["kind"].astype(object).to_numpy(), categories=KINDS)
    else:
        kind = np.full(len(data), "other", dtype=object)
        for name, anchor in reversed(KIND_ANCHORS):  # first anchor wins
            kind = np.where(frame[anchor].notna().to_numpy(), name, kind)
        frame["kind"] = pd.Categorical(kind, categories=KINDS)
    frame.attrs[FRAME_MARK] = True
    return frame
