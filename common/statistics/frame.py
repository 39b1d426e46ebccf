"""Canonical records into one pandas DataFrame, built once, typed for vectorised indicators.

Built column by column, not row by row: the envelope fields are read in one C-level pass, and the
element values are read per distinct key order of the values dicts (records of one form share
it) with `operator.itemgetter` (`element_entries`), then typed on the non-empty values only. A
million records take a few CPU seconds (`bench/indicators.py`).

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
from collections.abc import Iterable, Mapping, Sequence
from operator import attrgetter, itemgetter
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
    """One record's kind (the reference the columnar `_kinds` must agree with)."""
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


#: one element's non-empty entries: the rows that hold it, and their values (object array)
Entries = tuple[np.ndarray, np.ndarray]
_ENVELOPE_FIELDS = attrgetter("record_id", "form_id", "location", "consent_purposes")
_ENVELOPE, _VALUES = attrgetter("envelope"), attrgetter("values")


def _extract(records: list[CanonicalRecord], codebook: Codebook, purpose: str,
             catalogue: IndicatorCatalogue | None) -> pd.DataFrame:
    """Columns straight from the records, in one pass over the envelopes and one over the values.

    Per-record Python work is limited to reading the envelope fields and the key order of each
    values dict; everything else runs per distinct key order ("shape": records of one form
    share it), per distinct value, or in numpy.
    """
    elements = frame_elements(codebook, catalogue)
    count = len(records)
    envelopes = list(map(_ENVELOPE, records))
    fields = list(zip(*map(_ENVELOPE_FIELDS, envelopes), strict=True)) if count else [(), (), (), ()]
    record_ids, form_ids, locations, purposes = fields
    entries = element_entries(list(map(_VALUES, records)), elements)
    columns: dict[str, Any] = {
        "record_id": _object_array(record_ids),
        "kind": _kinds(form_ids, entries, _form_kinds(codebook), count),
        "location": _object_array(locations),
        "consented": _per_distinct_flag(purposes, lambda chosen: purpose in chosen),
    }
    empty: Entries = (np.empty(0, dtype=np.int64), np.empty(0, dtype=object))
    for code in elements:
        rows, values = entries.get(code, empty)
        columns[code] = _typed_entries(rows, values, count, codebook.elements[code].type, codebook, code)
    frame = pd.DataFrame(columns, copy=False)
    frame.attrs[FRAME_MARK] = True
    return frame


def _object_array(items: Sequence[Any]) -> np.ndarray:
    """A 1-D object array of arbitrary items (tuples stay whole)."""
    return np.fromiter(items, dtype=object, count=len(items))


def element_entries(values: Sequence[Mapping[str, Any]], elements: Sequence[str]) -> dict[str, Entries]:
    """For each wanted element, the rows whose values dict holds it and those values (None kept).

    Records are grouped by the key order of their values dict (hashed in C by `pd.factorize`);
    for each group one C-level `itemgetter` reads the wanted keys of every record and `zip` turns
    the rows into columns. When nearly every record has its own key order, a plain row-by-row
    pass is cheaper.

    >>> element_entries([{"a": 1, "x": 0}, {"a": 2}], ["a"])["a"][0].tolist()
    [0, 1]
    """
    count = len(values)
    if not count:
        return {}
    wanted = frozenset(elements)
    shape_of, shapes = pd.factorize(_object_array(list(map(tuple, values))))
    if len(shapes) > max(64, count // 16):
        return _entries_row_by_row(values, wanted)
    order = np.argsort(shape_of, kind="stable")
    bounds = np.searchsorted(shape_of[order], np.arange(len(shapes) + 1))
    rows_of: dict[str, list[np.ndarray]] = {}
    values_of: dict[str, list[np.ndarray]] = {}
    for index, shape in enumerate(shapes):
        codes = [code for code in shape if code in wanted]
        if not codes:
            continue
        members = order[bounds[index]:bounds[index + 1]]
        dicts = itemgetter(*members.tolist())(values) if len(members) > 1 else (values[int(members[0])],)
        got = list(map(itemgetter(*codes), dicts))
        columns = zip(*got, strict=True) if len(codes) > 1 else (got,)
        for code, column in zip(codes, columns, strict=True):
            rows_of.setdefault(code, []).append(members)
            values_of.setdefault(code, []).append(_object_array(column))
    # rows come grouped by shape, not ascending: typing scatters values to their rows
    return {code: (np.concatenate(chunks) if len(chunks) > 1 else chunks[0],
                   np.concatenate(values_of[code]) if len(chunks) > 1 else values_of[code][0])
            for code, chunks in rows_of.items()}


def _entries_row_by_row(values: Sequence[Mapping[str, Any]], wanted: frozenset[str]) -> dict[str, Entries]:
    rows_of: dict[str, list[int]] = {}
    values_of: dict[str, list[Any]] = {}
    for row, item in enumerate(values):
        for code, value in item.items():
            if code in wanted:
                if code not in rows_of:
                    rows_of[code], values_of[code] = [], []
                rows_of[code].append(row)
                values_of[code].append(value)
    return {code: (np.asarray(rows, dtype=np.int64), _object_array(values_of[code]))
            for code, rows in rows_of.items()}


def _kinds(form_ids: Sequence[str | None], entries: Mapping[str, Entries],
           form_kinds: Mapping[str, str], count: int) -> pd.Categorical:
    """Each record's kind: from its form, else from the first anchor element it holds
    (the rule of `_kind_of`, applied per distinct form id and per anchor column)."""
    other = KINDS.index("other")
    codes = np.full(count, -1, dtype=np.int64)
    if count:
        form_codes, forms = pd.factorize(pd.Series(_object_array(form_ids), dtype=object))
        lookup = np.array([KINDS.index(form_kinds[f]) if f and f in form_kinds else -1 for f in forms] + [-1],
                          dtype=np.int64)
        codes = lookup[form_codes]  # factorize marks None as -1, the lookup's last entry
    unknown = codes < 0
    fallback = np.full(count, other, dtype=np.int64)
    for kind, anchor in reversed(KIND_ANCHORS):  # the first anchor a record holds wins
        if anchor in entries:
            rows, values = entries[anchor]
            held = rows[np.fromiter((v is not None for v in values), dtype=bool, count=len(values))]
            fallback[held] = KINDS.index(kind)
    codes = np.where(unknown, fallback, codes)
    return pd.Categorical.from_codes(codes, categories=KINDS)


def _per_distinct_flag(items: Sequence[Any], test: Any) -> np.ndarray:
    """`test(item)` for every item, evaluated once per distinct item (items must hash)."""
    if not len(items):
        return np.zeros(0, dtype=bool)
    codes, uniques = pd.factorize(pd.Series(_object_array(items), dtype=object))
    lookup = np.array([bool(test(u)) for u in uniques] + [bool(test(frozenset()))], dtype=bool)
    return lookup[codes]


def _typed(column: np.ndarray | pd.Series, kind: str, codebook: Codebook, code: str) -> Any:
    """A full column of Python values as the dtype its element type calls for."""
    array = np.asarray(column, dtype=object)
    rows = np.arange(len(array), dtype=np.int64)
    return _typed_entries(rows, array, len(array), kind, codebook, code)


def _typed_entries(rows: np.ndarray, values: np.ndarray, count: int, kind: str, codebook: Codebook,
                   code: str) -> Any:
    """A column of `count` rows, typed as its element type calls for, from its entries.

    Work is done on the non-empty values only: most columns are empty for most records (a
    referral has no identification date), so a million-row column is often a few hundred
    thousand values.
    """
    keep = pd.notna(values)
    if not keep.all():
        rows, values = rows[keep], values[keep]
    if kind in ("date", "datetime"):
        out = np.full(count, np.datetime64("NaT"), dtype="datetime64[s]")
        out[rows] = _dates(values)
        return out
    if kind == "select_one":
        options = codebook.options_for(codebook.elements[code])
        categories = list(options.codes()) if options else sorted({str(v) for v in values})
        codes = np.full(count, -1, dtype=np.int64)
        codes[rows] = pd.Categorical(values, categories=categories).codes
        return pd.Categorical.from_codes(codes, categories=categories)
    if kind in ("integer", "decimal"):
        out = np.full(count, np.nan)
        out[rows] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)
        return out
    if kind == "boolean":
        out = np.full(count, np.nan)
        out[rows] = [_truth(v) for v in values]
        return out
    if kind == "select_multiple":
        set_codes, categories = _option_sets(values)
        codes = np.full(count, -1, dtype=np.int64)
        codes[rows] = set_codes
        return pd.Categorical.from_codes(codes, categories=categories)
    out = np.full(count, None, dtype=object)
    out[rows] = values
    return out


def _option_sets(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Multi-select values as codes into sorted option sets ("a b": sorted codes joined by a
    space, as XLSForm writes them; -1 for an empty choice). A column holds few distinct sets, so
    everything derived from it is computed once per category; and a categorical is stored
    without copying the frame."""
    try:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object))
        keys = [_set_key(u) for u in uniques]
    except TypeError:  # unhashable values (lists): key each one
        keys = [_set_key(v) for v in values]
        codes = np.arange(len(values))
    categories = sorted({k for k in keys if k is not None})
    position = {k: i for i, k in enumerate(categories)}
    lookup = np.array([position[k] if k is not None else -1 for k in keys] + [-1], dtype=np.int64)
    return lookup[np.asarray(codes, dtype=np.int64)], categories


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
