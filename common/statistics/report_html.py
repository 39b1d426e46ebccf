"""The report as one self-contained HTML page: headline numbers, charts, every table, the method.

Built for reading at a glance and for printing: the headline numbers first, then charts (inline
SVG, each with a title, a text description and the table of the numbers it draws), then every
published table by section, then how the numbers were protected. No scripts, no fonts or
stylesheets from elsewhere: the file opens offline and prints the same everywhere. Every text
from the codebook or the linkage (labels, agency names) is escaped by the template.

The view built here only reads `Report`, which holds protected tables only. Every word on the
page is in the report's language: the template asks `words` (report_words.yaml) for its own
sentences, and the view passes translated labels, titles and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tipdata.html_templates import template_environment
from tipdata.statistics.report import (
    SUPPRESSED_MARK,
    Cell,
    PublishedTable,
    Report,
    disclosure_statement,
    readme_items,
)
from tipdata.statistics.report_charts import Series, bar_chart_svg, trend_chart_svg
from tipdata.statistics.report_linkage import NOT_LINKED, OVERLAP_DIMENSION
from tipdata.statistics.report_words import ReportWords

TEMPLATE = "report.html.j2"
#: decimals shown per statistic / column
DIGITS: dict[str, int] = {"count": 0, "mean": 2, "median": 1, "rate": 2, "population": 0}
#: value columns with a heading of their own (`column.<name>` in report_words.yaml)
COLUMN_NAMES: tuple[str, ...] = ("value", "q1", "q3", "n", "population", "rate")
#: breakdowns the charts show, in order (titles: `chart.breakdown.<dimension>`)
CHARTED_BREAKDOWNS: tuple[str, ...] = (
    "sex",
    "age_band",
    "exploitation_form",
    "identifying_agency_type",
)


@dataclass(frozen=True)
class CellView:
    """One cell of a rendered table; `label` cells name a row or a column of labels."""

    text: str
    suppressed: bool = False
    total: bool = False
    label: bool = False
    span: int = 1


@dataclass(frozen=True)
class BlockView:
    """One breakdown of a table as a grid: header rows, then body rows of cells."""

    caption: str
    header: list[list[CellView]]
    rows: list[list[CellView]]
    note: str | None = None


@dataclass(frozen=True)
class TableView:
    code: str
    anchor: str
    name: str
    definition: str
    unit: str
    numerator: str | None
    denominator: str | None
    standards: tuple[str, ...]
    notes: tuple[str, ...]
    blocks: list[BlockView]
    suppressed: int
    cells: int


@dataclass(frozen=True)
class FigureView:
    anchor: str
    title: str
    svg: str
    header: list[str]
    rows: list[list[CellView]]
    source: str
    wide: bool = False
    note: str | None = None


@dataclass(frozen=True)
class HeadlineView:
    label: str
    value: str
    suppressed: bool
    detail: str
    source: str
    group: str


@dataclass
class ReportView:
    report: Report
    headlines: list[HeadlineView]
    figures: list[FigureView]
    sections: list[tuple[str, str, list[TableView]]]
    method: list[tuple[str, str]]
    disclosure: str
    mark: str = SUPPRESSED_MARK
    contents: list[tuple[str, str]] = field(default_factory=list)
    words: ReportWords | None = None


def render_report_html(report: Report) -> str:
    """The report page (HTML5, inline CSS and SVG, no scripts).

    >>> html = render_report_html(build_report(records, None, ReportOptions(period="2025")))  # doctest: +SKIP
    """
    environment = template_environment()
    words = report.words
    return environment.get_template(TEMPLATE).render(
        view=report_view(report), w=words, number=words.number
    )


def report_view(report: Report) -> ReportView:
    words = report.words
    sections = []
    for key, title in report.sections:
        tables = [_table_view(t, words) for t in report.in_section(key)]
        if tables:
            sections.append((key, title, tables))
    return ReportView(
        report=report,
        headlines=[
            HeadlineView(
                h.label,
                h.cell.text(
                    0 if h.cell.value is None or float(h.cell.value).is_integer() else 1, words
                ),
                h.cell.suppressed,
                h.detail,
                h.source,
                h.group,
            )
            for h in report.headlines
        ],
        figures=_figures(report, words),
        sections=sections,
        method=[
            (heading, text)
            for key, heading, text in readme_items(report)
            if key not in ("report", "marker", "disclosure", "layout")
        ],
        disclosure=disclosure_statement(report),
        contents=[(f"sec-{key}", title) for key, title, _ in sections],
        words=words,
    )


# --- tables -----------------------------------------------------------------------------------------


def _table_view(table: PublishedTable, words: ReportWords) -> TableView:
    blocks = [_block(table, b, words) for b in table.breakdowns] or [_block(table, (), words)]
    return TableView(
        table.code,
        f"t-{table.code}",
        table.name,
        table.definition,
        table.unit,
        table.numerator,
        table.denominator,
        table.standards,
        table.notes,
        blocks,
        table.suppressed_cells,
        len(table.data),
    )


def _text(
    table: PublishedTable, value: object, suppressed: bool, column: str, words: ReportWords
) -> CellView:
    if suppressed:
        return CellView(SUPPRESSED_MARK, suppressed=True)
    digits = (
        DIGITS.get(column, DIGITS.get(table.statistic, 0)) if column != table.count_column else 0
    )
    if column in ("q1", "q3"):
        digits = DIGITS.get(table.statistic, 1)
    try:
        missing = value is None or value != value
    except TypeError:  # pd.NA
        missing = True
    return CellView("–" if missing else words.number(float(value), digits))


def _column_name(column: str, words: ReportWords) -> str:
    return words(f"column.{column}") if column in COLUMN_NAMES else column


def _block(table: PublishedTable, breakdown: tuple[str, ...], words: ReportWords) -> BlockView:
    rows_data = table.breakdown_rows(breakdown)
    names = table.dimension_names
    caption = (
        words("total")
        if not breakdown
        else words(
            "block.by",
            dimensions=_joined([names[d][:1].lower() + names[d][1:] for d in breakdown], words),
        )
    )
    multi = [d for d in breakdown if d in table.non_additive]
    note = words("block.multi_response", dimension=names[multi[0]]) if multi else None
    total = table.total_code
    if len(breakdown) >= 2 and table.statistic == "count" and len(table.value_columns) == 1:
        return _cross_tab(table, rows_data, breakdown, caption, note, words)
    header = [
        [CellView(names[d], label=True) for d in breakdown]
        + [CellView(_column_name(c, words)) for c in table.value_columns]
    ]
    if not breakdown:
        header = [[CellView("", label=True)] + header[0]]
    body = []
    ordered = (
        rows_data.sort_values(by=list(breakdown), key=lambda s: s == total, kind="stable")
        if breakdown
        else rows_data
    )
    for record in ordered.to_dict("records"):
        is_total = all(record[d] == total for d in breakdown)
        cells = [
            CellView(
                table.labels[d].get(str(record[d]), str(record[d])), total=is_total, label=True
            )
            for d in breakdown
        ]
        if not breakdown:
            cells = [CellView(words("total"), total=True, label=True)]
        cells += [
            _text(table, record[c], bool(record["suppressed"]), c, words)
            for c in table.value_columns
        ]
        body.append(cells)
    return BlockView(caption, header, body, note)


def _cross_tab(
    table: PublishedTable,
    rows_data,
    breakdown: tuple[str, ...],
    caption: str,
    note: str | None,
    words: ReportWords,
) -> BlockView:
    """Rows: every combination of the breakdown's first dimensions; columns: the last one."""
    total = table.total_code
    *row_dims, column_dim = breakdown
    columns = [c for c in dict.fromkeys(rows_data[column_dim].astype(str)) if c != total] + [total]
    keys = list(
        dict.fromkeys(tuple(str(r[d]) for d in row_dims) for r in rows_data.to_dict("records"))
    )
    keys.sort(key=lambda key: tuple(part == total for part in key))  # totals last, order kept
    lookup = {tuple(str(r[d]) for d in breakdown): r for r in rows_data.to_dict("records")}
    names = table.dimension_names
    header = [
        [
            CellView("", label=True, span=len(row_dims)),
            CellView(names[column_dim], span=len(columns)),
        ],
        [CellView(names[d], label=True) for d in row_dims]
        + [CellView(table.labels[column_dim].get(c, c), total=c == total) for c in columns],
    ]
    body = []
    for key in keys:
        is_total = all(part == total for part in key)
        cells = [
            CellView(table.labels[d].get(part, part), total=is_total, label=True)
            for d, part in zip(row_dims, key, strict=True)
        ]
        for column in columns:
            record = lookup.get((*key, column))
            cells.append(
                CellView("–")
                if record is None
                else _text(table, record["value"], bool(record["suppressed"]), "value", words)
            )
        body.append(cells)
    return BlockView(caption, header, body, note)


# --- figures ----------------------------------------------------------------------------------------


def _joined(words_list: list[str], words: ReportWords) -> str:
    """'sex', 'age' → 'sex and age'; three or more with commas."""
    if len(words_list) == 1:
        return words_list[0]
    return ", ".join(words_list[:-1]) + words("and") + words_list[-1]


def _value(cell: Cell) -> float | None:
    return None if cell.suppressed or cell.value is None else float(cell.value)


def _describe(kind: str, categories: list[str], series: list[Series], words: ReportWords) -> str:
    parts = []
    for index, category in enumerate(categories):
        values = []
        for line in series:
            value = line.values[index]
            shown = words("chart.confidential") if value is None else words.number(value)
            values.append(f"{line.name} {shown}" if len(series) > 1 else shown)
        parts.append(f"{category}: {', '.join(values)}")
    return f"{kind}. " + "; ".join(parts) + "."


def _data_rows(
    categories: list[str], series: list[Series], words: ReportWords
) -> list[list[CellView]]:
    rows = []
    for index, category in enumerate(categories):
        row = [CellView(category, label=True)]
        for line in series:
            value = line.values[index]
            row.append(
                CellView(SUPPRESSED_MARK, suppressed=True)
                if value is None
                else CellView(words.number(value))
            )
        rows.append(row)
    return rows


def _bar_figure(
    anchor: str,
    title: str,
    categories: list[str],
    series: list[Series],
    source: str,
    unit: str,
    words: ReportWords,
    note: str | None = None,
) -> FigureView:
    description = _describe(words("chart.bar"), categories, series, words)
    svg = bar_chart_svg(
        anchor, title, description, categories, series, unit=unit, number=words.number
    )
    return FigureView(
        anchor,
        title,
        svg,
        ["", *(s.name for s in series)],
        _data_rows(categories, series, words),
        source,
        note=note,
    )


def _figures(report: Report, words: ReportWords) -> list[FigureView]:
    tables = report.tables
    figures: list[FigureView] = []
    trend = tables.get("VIC_IDENT_TREND")
    if trend is not None:
        dim = trend.dimensions[0]
        buckets = [str(b) for b in trend.data[dim] if b != trend.total_code]
        records = Series(
            words("chart.series.records"), tuple(_value(trend.cell(**{dim: b})) for b in buckets)
        )
        persons_table = tables.get("VIC_PERSONS_TREND")
        persons = (
            Series(
                words("chart.series.persons"),
                tuple(_value(persons_table.cell(**{dim: b})) for b in buckets),
            )
            if persons_table is not None
            else None
        )
        series = [records, *([persons] if persons else [])]
        title = words("chart.trend.title", bucket=words(f"bucket.{dim}"))
        kind = words("chart.column_with_line") if persons else words("chart.column")
        description = _describe(kind, buckets, series, words)
        svg = trend_chart_svg(
            "fig-trend",
            title,
            description,
            buckets,
            records,
            persons,
            unit=words("chart.unit.victims"),
            number=words.number,
            months=words.months,
        )
        rows = [
            [
                CellView(s.name, label=True),
                *(
                    CellView(SUPPRESSED_MARK, suppressed=True)
                    if v is None
                    else CellView(words.number(v))
                    for v in s.values
                ),
            ]
            for s in series
        ]
        figures.append(
            FigureView(
                "fig-trend",
                title,
                svg,
                ["", *buckets],
                rows,
                "VIC_IDENT_TREND" + (", VIC_PERSONS_TREND" if persons else ""),
                wide=True,
            )
        )

    people = tables.get("VIC_IDENT_PERSONS") if report.deduplicated else tables.get("VIC_IDENT")
    if people is not None:
        whom = "persons" if report.deduplicated else "records"
        for dim in CHARTED_BREAKDOWNS:
            if dim not in people.dimensions:
                continue
            codes = [
                c for c in dict.fromkeys(people.data[dim].astype(str)) if c != people.total_code
            ]
            cells = [people.cell(**{dim: c}) for c in codes]
            keep = [
                i for i, c in enumerate(cells) if c.suppressed or c.value
            ]  # empty categories left out
            categories = [people.labels[dim][codes[i]] for i in keep]
            series = [Series(words(f"chart.noun.{whom}"), tuple(_value(cells[i]) for i in keep))]
            left_out = len(codes) - len(keep)
            figures.append(
                _bar_figure(
                    f"fig-{dim}",
                    words(f"chart.breakdown.{dim}"),
                    categories,
                    series,
                    people.code,
                    words(f"chart.unit.{whom}"),
                    words,
                    words(f"chart.left_out.{'one' if left_out == 1 else 'many'}", count=left_out)
                    if left_out
                    else None,
                )
            )

    overlap = tables.get("VIC_PERSONS_OVERLAP")
    victims = tables.get("VIC_IDENT")
    persons_table = tables.get("VIC_IDENT_PERSONS")
    if overlap is not None and victims is not None and persons_table is not None:
        figures.append(
            _bar_figure(
                "fig-dedup",
                words("chart.dedup.title"),
                [words("chart.dedup.raw"), words("chart.dedup.unique")],
                [
                    Series(
                        words("chart.dedup.series"),
                        (_value(victims.cell()), _value(persons_table.cell())),
                    )
                ],
                "VIC_IDENT, VIC_IDENT_PERSONS",
                words("chart.unit.victims"),
                words,
            )
        )
        codes = [c for c in overlap.labels[OVERLAP_DIMENSION] if c != overlap.total_code]
        cells = {c: overlap.cell(seen_by=c) for c in codes}
        codes = [c for c in codes if c != NOT_LINKED or cells[c].suppressed or cells[c].value]
        figures.append(
            _bar_figure(
                "fig-overlap",
                words("chart.overlap.title"),
                [overlap.labels[OVERLAP_DIMENSION][c] for c in codes],
                [Series(words("chart.overlap.series"), tuple(_value(cells[c]) for c in codes))],
                "VIC_PERSONS_OVERLAP",
                words("chart.unit.persons"),
                words,
            )
        )

    for anchor, group, items in (
        (
            "fig-protection",
            "protection",
            (("REF_MADE", "made"), ("REF_ACCEPTED", "accepted"), ("REF_COMPLETED", "completed")),
        ),
        (
            "fig-justice",
            "justice",
            (
                ("JUS_INVESTIGATIONS", "investigated"),
                ("JUS_PROSECUTIONS", "prosecuted"),
                ("JUS_CONVICTIONS", "convicted"),
            ),
        ),
    ):
        present = [
            (code, words(f"chart.{group}.{label}")) for code, label in items if code in tables
        ]
        if present:
            figures.append(
                _bar_figure(
                    anchor,
                    words(f"chart.{group}.title"),
                    [label for _, label in present],
                    [
                        Series(
                            words("chart.number"),
                            tuple(_value(tables[c].cell()) for c, _ in present),
                        )
                    ],
                    ", ".join(c for c, _ in present),
                    "",
                    words,
                )
            )
    return figures
