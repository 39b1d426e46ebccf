"""The published indicator report: every table protected, then rendered as HTML, XLSX and CSV.

Two calls, pure core and I/O at the edge:

    report = build_report(ledger.iter_records(), codebook, ReportOptions(period="2025", area="NG",
                                                                         linkage="result.json"))
    write_report(report, Path("report/"))      # report.html, report.xlsx, csv/<CODE>.csv

`build_report` computes the catalogue's indicators for the period and area
(`compute_indicators`), the monthly (or quarterly) trend of victims identified and, with a
linkage result, the persons identified by each combination of agencies; then protects every
table together (`report_protection.protect_linked`: primary suppression below k, secondary
suppression, linked tables hiding the same cells, optional rounding). A `Report` holds only the
protected tables: nothing unprotected can reach a file. `write_report` renders them.

Suppressed cells are shown as `[c]` (confidential) in every format, primary and secondary alike:
telling which cells are small would tell an attacker more than the suppression hides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tipdata.linkage.matching import LinkageResult
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord
from tipdata.statistics.catalogue import IndicatorCatalogue, default_codebook, load_catalogue
from tipdata.statistics.disclosure import DEFAULT_K, ProtectedTable, Rounding
from tipdata.statistics.frame import records_frame
from tipdata.statistics.indicators import compute_indicators
from tipdata.statistics.report_labels import area_text, category_labels, dimension_name, period_text
from tipdata.statistics.report_linkage import (
    OVERLAP_DIMENSION,
    LinkageView,
    as_linkage_view,
    overlap_labels,
    overlap_table,
)
from tipdata.statistics.report_protection import TableToProtect, protect_linked
from tipdata.statistics.report_trends import Granularity, trend_granularity, trend_tables
from tipdata.statistics.report_words import ReportWords, report_languages, report_words
from tipdata.statistics.scope import Area, Period, as_area, as_period

FORMATS: tuple[str, ...] = ("html", "xlsx", "csv")
SUPPRESSED_MARK = "[c]"
#: report sections (their titles: `section.<key>` in report_words.yaml), by indicator code prefix
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("identification", ("VIC", "SDG")),
    ("protection", ("REF", "SVC", "OUT")),
    ("justice", ("JUS",)),
)
#: tables the report adds to the catalogue's (their words: `indicators` in report_words.yaml)
REPORT_TABLES: tuple[str, ...] = ("VIC_IDENT_TREND", "VIC_PERSONS_TREND", "VIC_PERSONS_OVERLAP")


@dataclass(frozen=True)
class ReportOptions:
    """What to report on and how to protect it.

    `linkage`: a `LinkageResult`, the JSON `tipdata link match --out` wrote (parsed, or its
    path): de-duplicates persons and adds the agency overlap. `rounding` ("floor" or "random")
    rounds published counts to a multiple of `rounding_base` after suppression. `trend`: month,
    quarter, auto (months up to two years) or none. `population`: a population table for SDG
    16.2.2 rates (see `add_rate`). `codes`: a subset of the catalogue. `generated_on`: a date to
    print on the report (none by default, so the same data give the same bytes). `language`:
    the report's language, one of `report_languages()` ("en", "fr", "es"; default English):
    every heading, indicator text, category label, chart and note is written in it.

    >>> ReportOptions(period="2025", area="NG", k=11).k
    11
    """

    period: Period | str | int
    area: Area | str | None = None
    k: int = DEFAULT_K
    rounding: Rounding | None = None
    rounding_base: int | None = None
    rounding_seed: int | None = None
    linkage: LinkageResult | LinkageView | Mapping[str, Any] | str | Path | None = None
    title: str | None = None
    language: str | None = None
    trend: Granularity = "auto"
    population: pd.DataFrame | None = None
    codes: Sequence[str] | None = None
    generated_on: dt.date | None = None


@dataclass(frozen=True)
class Cell:
    """One published number: `value` is None when the cell is suppressed."""

    value: float | int | None
    suppressed: bool

    def text(self, digits: int = 0, words: ReportWords | None = None) -> str:
        """The cell as printed: `[c]`, a dash for no value, else the number (in `words`'
        language: 1,234 / 1 234 / 1.234).

        >>> Cell(1234, False).text(), Cell(1234, False).text(0, report_words("fr")), Cell(None, True).text()
        ('1,234', '1\u202f234', '[c]')
        """
        if self.suppressed:
            return SUPPRESSED_MARK
        if self.value is None:
            return "–"
        return (words or report_words()).number(self.value, digits)


@dataclass(frozen=True, eq=False)
class PublishedTable:
    """A protected table and what a reader needs to understand it.

    `data`: one column per dimension (category code or the total code), the value column(s)
    (missing where suppressed) and `suppressed` (bool). Never holds a suppressed value.
    """

    code: str
    name: str
    definition: str
    unit: str
    statistic: str
    section: str
    dimensions: tuple[str, ...]
    dimension_names: dict[str, str]
    labels: dict[str, dict[str, str]]
    breakdowns: tuple[tuple[str, ...], ...]
    non_additive: tuple[str, ...]
    value_columns: tuple[str, ...]
    count_column: str
    total_code: str
    data: pd.DataFrame
    numerator: str | None = None
    denominator: str | None = None
    standards: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    deduplicated: bool = False

    @property
    def suppressed_cells(self) -> int:
        return int(self.data["suppressed"].sum())

    def cell(self, column: str | None = None, **categories: str) -> Cell:
        """The cell at the given categories (other dimensions at their total).

        >>> report.tables["VIC_IDENT"].cell(sex="female")   # doctest: +SKIP
        Cell(value=339, suppressed=False)
        """
        column = column or "value"
        unknown = set(categories) - set(self.dimensions)
        if unknown:
            raise KeyError(
                f"{self.code} has no dimension {sorted(unknown)}; it has {list(self.dimensions)}"
            )
        mask = pd.Series(True, index=self.data.index)
        for dim in self.dimensions:
            mask &= self.data[dim] == categories.get(dim, self.total_code)
        rows = self.data[mask]
        if rows.empty:
            raise KeyError(f"{self.code} has no cell {categories}")
        row = rows.iloc[0]
        if bool(row["suppressed"]):
            return Cell(None, True)
        value = row[column]
        if pd.isna(value):
            return Cell(None, False)
        return Cell(int(value) if column == self.count_column else float(value), False)

    def breakdown_rows(self, breakdown: tuple[str, ...]) -> pd.DataFrame:
        """The rows of one breakdown with its margins: every dimension outside it at the total."""
        mask = pd.Series(True, index=self.data.index)
        for dim in self.dimensions:
            if dim not in breakdown:
                mask &= self.data[dim] == self.total_code
        return self.data[mask]


@dataclass(frozen=True)
class Headline:
    """A number for the top of the report, read from a protected table."""

    key: str
    label: str
    cell: Cell
    detail: str
    source: str
    #: "victims" (who was identified) or "response" (what was done)
    group: str = "victims"


@dataclass(frozen=True, eq=False)
class Report:
    """Everything `write_report` renders: protected tables, headlines, how they were protected."""

    title: str
    period: Period
    area: Area
    k: int
    rounding: str | None
    language: str
    tables: dict[str, PublishedTable]
    headlines: tuple[Headline, ...]
    deduplicated: bool
    linkage_sources: tuple[str, ...]
    linkage_threshold: float | None
    excluded_without_consent: int
    trend: str | None
    generated_on: dt.date | None
    sections: tuple[tuple[str, str], ...] = field(
        default=tuple((key, report_words()(f"section.{key}")) for key, _ in SECTIONS)
    )
    notes: tuple[str, ...] = ()

    @property
    def words(self) -> ReportWords:
        """The report's words in its language."""
        return report_words(self.language)

    @property
    def period_text(self) -> str:
        return period_text(self.period, self.words)

    @property
    def area_text(self) -> str:
        return area_text(self.area, self.words)

    @property
    def suppressed_cells(self) -> int:
        return sum(t.suppressed_cells for t in self.tables.values())

    def in_section(self, section: str) -> list[PublishedTable]:
        return [t for t in self.tables.values() if t.section == section]


# --- building -----------------------------------------------------------------------------------


def build_report(
    records: Iterable[CanonicalRecord] | pd.DataFrame,
    codebook: Codebook | None,
    options: ReportOptions,
) -> Report:
    """Compute, protect and describe every table of the report; no file is touched.

    >>> report = build_report(ledger.iter_records(), load_codebook(),
    ...                       ReportOptions(period="2025", area="NG", linkage="links.json"))  # doctest: +SKIP
    >>> report.tables["VIC_IDENT_PERSONS"].cell().text()                                      # doctest: +SKIP
    '1,234'
    """
    codebook = codebook or default_codebook()
    catalogue = load_catalogue()
    period, area = as_period(options.period), as_area(options.area)
    language = options.language or "en"
    if language not in report_languages():
        raise ValueError(
            f"the report cannot be written in {language!r}; choose among "
            f"{', '.join(report_languages())}"
        )
    if language not in codebook.languages:
        raise ValueError(
            f"language {language!r} is not in the codebook; it has {', '.join(codebook.languages)}"
        )
    words = report_words(language)
    view = as_linkage_view(options.linkage)
    person_of = view.person_of if view else None
    frame = records_frame(records, codebook, catalogue=catalogue)

    codes = list(options.codes) if options.codes is not None else list(catalogue.indicators)
    if person_of is None:  # without a person map VIC_IDENT_PERSONS repeats VIC_IDENT
        codes = [c for c in codes if c != "VIC_IDENT_PERSONS"]
    needed = list(
        dict.fromkeys([*codes, "VIC_IDENT", *(["VIC_IDENT_PERSONS"] if person_of else [])])
    )
    raw = compute_indicators(
        frame,
        period,
        area,
        person_of,
        codebook=codebook,
        catalogue=catalogue,
        codes=needed,
        population=options.population,
    )
    excluded = int(raw["VIC_IDENT"].attrs.get("excluded_without_consent", 0))
    totals = {
        code: _grand_total(raw[code]) for code in ("VIC_IDENT", "VIC_IDENT_PERSONS") if code in raw
    }

    granularity = trend_granularity(period, options.trend)
    extra: dict[str, pd.DataFrame] = {}
    if granularity:
        extra.update(
            trend_tables(frame, codebook, catalogue, period, area, person_of, granularity, totals)
        )
    if view is not None:
        extra["VIC_PERSONS_OVERLAP"] = overlap_table(frame, codebook, catalogue, period, area, view)

    key_of = {code: _link_key(code, catalogue, deduplicated=person_of is not None) for code in raw}
    key_of.update(
        {
            "VIC_IDENT_TREND": key_of["VIC_IDENT"],
            "VIC_PERSONS_TREND": key_of.get("VIC_IDENT_PERSONS"),
            "VIC_PERSONS_OVERLAP": key_of.get("VIC_IDENT_PERSONS"),
        }
    )
    to_protect = {
        code: TableToProtect(table, key_of.get(code)) for code, table in {**raw, **extra}.items()
    }
    protected = protect_linked(
        to_protect,
        options.k,
        rounding=options.rounding,
        base=options.rounding_base,
        seed=options.rounding_seed,
    )

    order = _ordered(codes, extra)
    tables = {
        code: _published(
            code,
            to_protect[code].table,
            protected[code],
            catalogue,
            codebook,
            words,
            view,
            granularity,
        )
        for code in order
    }
    return Report(
        title=options.title or words("title"),
        period=period,
        area=area,
        k=options.k,
        rounding=_rounding_text(options, words),
        language=language,
        tables=tables,
        headlines=tuple(_headlines(tables, person_of is not None, words)),
        deduplicated=person_of is not None,
        linkage_sources=view.sources if view else (),
        linkage_threshold=view.threshold if view else None,
        excluded_without_consent=excluded,
        trend=granularity,
        generated_on=options.generated_on,
        sections=tuple((key, words(f"section.{key}")) for key, _ in SECTIONS),
        notes=tuple(_report_notes(person_of is not None, excluded, options, words)),
    )


def _ordered(codes: list[str], extra: Mapping[str, pd.DataFrame]) -> list[str]:
    """Catalogue order, each report table right after the indicator it breaks down."""
    after = {
        "VIC_IDENT_TREND": "VIC_IDENT",
        "VIC_PERSONS_TREND": "VIC_IDENT_PERSONS",
        "VIC_PERSONS_OVERLAP": "VIC_IDENT_PERSONS",
    }
    out = []
    for code in codes:
        out.append(code)
        out += [name for name, parent in after.items() if parent == code and name in extra]
    out += [name for name in extra if name not in out]
    return out


def _grand_total(table: pd.DataFrame) -> int:
    total = table.attrs.get("total_code", "_T")
    dims = table.attrs["dimensions"]
    return int(table[(table[dims] == total).all(axis=1)]["value"].iloc[0])


def _link_key(code: str, catalogue: IndicatorCatalogue, *, deduplicated: bool) -> tuple:
    """Tables with equal keys count the same units, so equal categories are the same number."""
    spec = catalogue.indicators[code]
    population = spec.population
    if population == "victim_persons" and not deduplicated:
        population = "victim_records"  # without a person map each record is a person
    return (
        population,
        spec.date,
        tuple(sorted(spec.where.items())),
        spec.measure if spec.statistic != "count" else None,
    )


def _section(code: str) -> str:
    for key, prefixes in SECTIONS:
        if code.startswith(prefixes):
            return key
    return SECTIONS[-1][0]


def _published(
    code: str,
    table: pd.DataFrame,
    protected: ProtectedTable,
    catalogue: IndicatorCatalogue,
    codebook: Codebook,
    words: ReportWords,
    view: LinkageView | None,
    granularity: str | None,
) -> PublishedTable:
    attrs = table.attrs
    dims = tuple(attrs["dimensions"])
    total = attrs.get("total_code", "_T")
    data = protected.published_df.copy()
    data["suppressed"] = protected.suppressed_mask.to_numpy(bool)
    value_columns = tuple(c for c in data.columns if c not in dims and c != "suppressed")
    labels: dict[str, dict[str, str]] = {}
    for dim in dims:
        categories = list(dict.fromkeys(str(v) for v in data[dim]))
        if dim == OVERLAP_DIMENSION and view is not None:
            labels[dim] = {total: words("total"), **overlap_labels(view.sources, words)}
        elif dim in ("month", "quarter"):
            labels[dim] = {c: (words("total") if c == total else c) for c in categories}
        else:
            labels[dim] = category_labels(dim, categories, codebook, catalogue, words, total)
    if code in catalogue.indicators:
        spec = catalogue.indicators[code]
        name, definition, unit = (
            words.indicator(code, part, getattr(spec, part))
            for part in ("name", "definition", "unit")
        )
        breakdowns = tuple(b for b in spec.breakdowns if all(d in dims for d in b))
        extra_fields: dict[str, Any] = {
            "numerator": words.indicator(code, "numerator", spec.numerator),
            "denominator": words.indicator(code, "denominator", spec.denominator),
            "standards": tuple(words.standard(s) for s in spec.standards),
        }
    else:
        bucket = granularity or "month"
        texts = words.own_table(code)
        name, definition, unit = (
            texts[part].format(bucket=words(f"bucket.{bucket}"), buckets=words(f"bucket.{bucket}s"))
            for part in ("name", "definition", "unit")
        )
        breakdowns = (dims,)
        extra_fields = {}
    left_out = attrs.get("left_out") or {}
    notes = tuple(
        words(f"note.left_out.{reason}", dimension=dimension_name(dim, catalogue, words))
        for dim, reason in left_out.items()
    )
    return PublishedTable(
        code=code,
        name=name,
        definition=definition,
        unit=unit,
        statistic=attrs.get("statistic", "count"),
        section=_section(code),
        dimensions=dims,
        dimension_names={d: dimension_name(d, catalogue, words) for d in dims},
        labels=labels,
        breakdowns=breakdowns,
        non_additive=tuple(attrs.get("non_additive") or ()),
        value_columns=value_columns,
        count_column=attrs.get("count_column", "value"),
        total_code=total,
        data=data.reset_index(drop=True),
        notes=notes,
        deduplicated=bool(attrs.get("deduplicated")),
        **extra_fields,
    )


def _headlines(
    tables: Mapping[str, PublishedTable], deduplicated: bool, words: ReportWords
) -> list[Headline]:
    out = []
    victims = tables.get("VIC_IDENT")
    persons = tables.get("VIC_IDENT_PERSONS") if deduplicated else None
    if victims is not None:
        out.append(
            Headline(
                "victims_records",
                words("headline.victims_records"),
                victims.cell(),
                words("headline.victims_records.detail"),
                "VIC_IDENT",
            )
        )
    if persons is not None:
        detail = words("headline.victims_persons.detail")
        raw, unique = victims.cell() if victims else Cell(None, True), persons.cell()
        if not raw.suppressed and not unique.suppressed and raw.value:
            detail = words(
                "headline.victims_persons.removed", count=words.number(raw.value - unique.value)
            )
        out.append(
            Headline(
                "victims_persons",
                words("headline.victims_persons"),
                unique,
                detail,
                "VIC_IDENT_PERSONS",
            )
        )
    overlap = tables.get("VIC_PERSONS_OVERLAP")
    if overlap is not None:
        shared = [c for c in overlap.labels[OVERLAP_DIMENSION] if "+" in c]
        cells = [overlap.cell(seen_by=c) for c in shared]
        cell = (
            Cell(None, True)
            if any(c.suppressed for c in cells)
            else Cell(sum(c.value or 0 for c in cells), False)
        )
        out.append(
            Headline(
                "seen_by_several",
                words("headline.seen_by_several"),
                cell,
                words("headline.seen_by_several.detail"),
                "VIC_PERSONS_OVERLAP",
            )
        )
    people = persons or victims
    if people is not None and "age_group" in people.dimensions:
        child, whole = people.cell(age_group="child"), people.cell()
        detail = words("headline.children.detail")
        if not child.suppressed and not whole.suppressed and whole.value:
            whom = "persons" if people is persons else "records"
            detail = words(
                f"headline.children.share_{whom}", percent=f"{100 * child.value / whole.value:.0f}"
            )
        out.append(Headline("children", words("headline.children"), child, detail, people.code))
    for key, code in (
        ("referrals", "REF_MADE"),
        ("investigations", "JUS_INVESTIGATIONS"),
        ("prosecutions", "JUS_PROSECUTIONS"),
        ("convictions", "JUS_CONVICTIONS"),
    ):
        if code in tables:
            out.append(
                Headline(
                    key,
                    words(f"headline.{key}"),
                    tables[code].cell(),
                    words(f"headline.{key}.detail"),
                    code,
                    "response",
                )
            )
        if code == "REF_MADE" and "SVC_DAYS_TO_FIRST" in tables:
            days = tables["SVC_DAYS_TO_FIRST"].cell()
            if days.suppressed or days.value is not None:
                out.append(
                    Headline(
                        "days_to_service",
                        words("headline.days_to_service"),
                        days,
                        words("headline.days_to_service.detail"),
                        "SVC_DAYS_TO_FIRST",
                        "response",
                    )
                )
    return out


def _rounding_text(options: ReportOptions, words: ReportWords) -> str | None:
    if not options.rounding:
        return None
    base = options.rounding_base or (options.k if options.rounding == "floor" else 5)
    return words(f"rounding.{'floor' if options.rounding == 'floor' else 'random'}", base=base)


def _report_notes(
    deduplicated: bool, excluded: int, options: ReportOptions, words: ReportWords
) -> list[str]:
    notes = []
    if not deduplicated:
        notes.append(words("note.not_deduplicated"))
    if excluded:
        notes.append(words("note.no_consent"))
    if options.population is None:
        notes.append(words("note.no_population"))
    return notes


# --- words -----------------------------------------------------------------------------------------


def readme_items(report: Report) -> list[tuple[str, str, str]]:
    """(key, heading, text) of what the README sheet says; the HTML method section shows some."""
    words = report.words
    items = [
        ("report", words("readme.report"), report.title),
        ("period", words("readme.period"), report.period_text),
        ("area", words("readme.area"), report.area_text),
        (
            "counting",
            words("readme.counting"),
            words("readme.counting.persons", sources=", ".join(report.linkage_sources))
            if report.deduplicated
            else words("readme.counting.records"),
        ),
        ("disclosure", words("readme.disclosure"), disclosure_statement(report)),
        ("marker", words("readme.marker"), words("readme.marker.text", mark=SUPPRESSED_MARK)),
        ("rounding", words("readme.rounding"), report.rounding or words("rounding.none")),
        ("consent", words("readme.consent"), words("readme.consent.text")),
        ("layout", words("readme.layout"), words("readme.layout.text")),
    ]
    if report.language != "en":
        items.append(("language", words("readme.language"), report.language))
    items += [("note", words("readme.note"), note) for note in report.notes]
    return items


def readme_rows(report: Report) -> list[tuple[str, str]]:
    """What the README sheet says, as (heading, text) rows."""
    return [(heading, text) for _key, heading, text in readme_items(report)]


def disclosure_statement(report: Report) -> str:
    """The rules, in words, for every rendering of the report."""
    return report.words("disclosure.statement", k=report.k, k_minus_1=report.k - 1)


# --- writing --------------------------------------------------------------------------------------


def write_report(report: Report, out_dir: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the report into `out_dir` (created if missing): `report.html`, `report.xlsx` and
    `csv/<CODE>.csv`, for the formats asked. Returns the paths written.

    >>> write_report(report, Path("report"), formats=("html",))   # doctest: +SKIP
    [PosixPath('report/report.html')]
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s) {unknown}; choose among {list(FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "html" in formats:
        from tipdata.statistics.report_html import render_report_html

        path = out_dir / "report.html"
        path.write_text(render_report_html(report), encoding="utf-8")
        written.append(path)
    if "xlsx" in formats:
        from tipdata.statistics.report_xlsx import report_workbook

        path = out_dir / "report.xlsx"
        path.write_bytes(report_workbook(report))
        written.append(path)
    if "csv" in formats:
        from tipdata.statistics.report_tidy import report_csv_files

        folder = out_dir / "csv"
        folder.mkdir(exist_ok=True)
        for name, text in report_csv_files(report).items():
            path = folder / name
            path.write_text(text, encoding="utf-8", newline="")
            written.append(path)
    return written
