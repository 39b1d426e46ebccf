"""Charts for the HTML report: matplotlib drawings as inline SVG, the same bytes on every run.

Why SVG from matplotlib: the report must be one self-contained file that opens offline and
prints sharply; SVG text stays text (`svg.fonttype = none`), so screen readers and search see
the numbers. Determinism: no date in the metadata, a fixed `svg.hashsalt` for the ids
matplotlib derives from content, and ids prefixed per chart so several charts can live in one
page. Only `Figure` objects are used (no pyplot): nothing global changes, and any backend works.

Charts draw published numbers only. A suppressed value is drawn as no bar, with `[c]` where the
bar would start, so a chart never shows more than its table.
"""

from __future__ import annotations

import io
import re
import textwrap
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: colour-blind-safe (Okabe-Ito) colours, dark enough for text contrast on white
PALETTE: tuple[str, ...] = ("#0b5394", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
INK = "#1d232b"
MUTED = "#5d6672"
GRID = "#d9dee5"
MARK = "[c]"
MONTHS: tuple[str, ...] = tuple("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())
NumberFormat = Callable[[float, int], str]
#: figure widths (inches; 72 SVG units each) near the width the page shows them at, so that
#: text in every chart appears at about the same size as the page's own small print
BAR_WIDTH = 5.4
TREND_WIDTH = 11.3
_RC = {
    "svg.hashsalt": "tipdata-report",
    "svg.fonttype": "none",
    "font.family": ["DejaVu Sans"],
    "font.size": 10,
    "axes.edgecolor": GRID,
    "axes.labelcolor": INK,
    "xtick.color": MUTED,
    "ytick.color": INK,
    "text.color": INK,
}
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


@dataclass(frozen=True)
class Series:
    """One row of bars (or one line): a name and a value per category, None when suppressed."""

    name: str
    values: tuple[float | None, ...]


def bar_chart_svg(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
    number: NumberFormat | None = None,
) -> str:
    """Horizontal bars, one group per category (one bar per series), values at the bar ends
    (written by `number(value, digits)`, English by default).

    >>> svg = bar_chart_svg("c1", "Victims by sex", "Female 40, male 31.", ["Female", "Male"],
    ...                     [Series("records", (40, 31))])
    >>> svg.startswith("<svg") and 'id="c1"' in svg and "<title" in svg
    True
    """
    wrapped = [plain("\n".join(textwrap.wrap(c, 26)) or c) for c in categories]
    lines = max((w.count("\n") + 1 for w in wrapped), default=1)
    group = 0.34 * len(series) + 0.12 + 0.14 * (lines - 1)
    height = 0.55 + group * max(len(categories), 1) + (0.3 if len(series) > 1 else 0)
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(BAR_WIDTH, height))
        longest = max((len(line) for w in wrapped for line in w.split("\n")), default=4)
        left = min(0.45, (0.2 + longest * 0.075) / BAR_WIDTH)
        axes = figure.add_axes(
            (left, 0.42 / height, 0.9 - left, 1 - (0.62 + (0.3 if len(series) > 1 else 0)) / height)
        )
        known = [v for s in series for v in s.values if v is not None]
        top = max(known, default=0) or 1
        width = 0.8 / len(series)
        for index, line in enumerate(series):
            positions = [
                i + (index - (len(series) - 1) / 2) * width for i in range(len(categories))
            ]
            heights = [v if v is not None else 0 for v in line.values]
            axes.barh(
                positions,
                heights,
                height=width * 0.92,
                color=PALETTE[index % len(PALETTE)],
                label=plain(line.name),
            )
            for y, value in zip(positions, line.values, strict=True):
                text = MARK if value is None else _number(value, number)
                axes.text(
                    (value or 0) + top * 0.01,
                    y,
                    text,
                    va="center",
                    ha="left",
                    fontsize=9,
                    color=MUTED if value is None else INK,
                    style="italic" if value is None else "normal",
                )
        axes.set_yticks(range(len(categories)), wrapped)
        axes.invert_yaxis()
        axes.set_xlim(0, top * 1.18)
        axes.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        axes.grid(axis="x", color=GRID, linewidth=0.6)
        axes.set_axisbelow(True)
        for side in ("top", "right", "left"):
            axes.spines[side].set_visible(False)
        axes.tick_params(axis="y", length=0)
        if unit:
            axes.set_xlabel(unit, color=MUTED, fontsize=9)
        if len(series) > 1:
            figure.legend(
                loc="upper left",
                ncols=len(series),
                frameon=False,
                fontsize=9,
                bbox_to_anchor=(left, 1.0),
            )
        return _svg(figure, chart_id, title, description)


def trend_chart_svg(
    chart_id: str,
    title: str,
    description: str,
    buckets: Sequence[str],
    bars: Series,
    line: Series | None = None,
    *,
    unit: str = "",
    number: NumberFormat | None = None,
    months: Sequence[str] = MONTHS,
) -> str:
    """Columns per month or quarter (`bars`), optionally a line over them (`line`); `months`
    names the months on the axis."""
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(TREND_WIDTH, 3.6))
        axes = figure.add_axes((0.06, 0.19, 0.93, 0.68))
        known = [v for v in (*bars.values, *(line.values if line else ())) if v is not None]
        top = max(known, default=0) or 1
        positions = list(range(len(buckets)))
        axes.bar(
            positions,
            [v or 0 for v in bars.values],
            width=0.7,
            color=PALETTE[0],
            label=plain(bars.name),
        )
        for x, value in zip(positions, bars.values, strict=True):
            axes.text(
                x,
                (value or 0) + top * 0.015,
                MARK if value is None else _number(value, number),
                ha="center",
                va="bottom",
                fontsize=8.5,
                color=MUTED if value is None else INK,
            )
        if line is not None:
            axes.plot(
                positions,
                [v if v is not None else float("nan") for v in line.values],
                color=PALETTE[1],
                marker="o",
                markersize=4,
                linewidth=2,
                label=plain(line.name),
            )
        axes.set_xticks(positions, [_short_bucket(b, months) for b in buckets])
        axes.set_ylim(0, top * 1.15)
        axes.yaxis.set_major_locator(MaxNLocator(5, integer=True))
        axes.grid(axis="y", color=GRID, linewidth=0.6)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.tick_params(axis="x", length=0)
        if unit:
            axes.set_ylabel(unit, color=MUTED, fontsize=9)
        handles, names = axes.get_legend_handles_labels()
        order = sorted(range(len(names)), key=lambda i: names[i] != plain(bars.name))  # bars first
        figure.legend(
            [handles[i] for i in order],
            [names[i] for i in order],
            loc="upper left",
            ncols=2,
            frameon=False,
            fontsize=9,
            bbox_to_anchor=(0.05, 1.0),
        )
        return _svg(figure, chart_id, title, description)


def plain(text: str) -> str:
    """Text matplotlib draws as it is: `$` would otherwise start mathematical notation.

    >>> plain("costs $5 and $6")
    'costs \\\\$5 and \\\\$6'
    """
    return text.replace("$", r"\$")


def _short_bucket(label: str, months: Sequence[str] = MONTHS) -> str:
    """'2025-03' → 'Mar\\n2025'; quarters stay as they are."""
    if re.fullmatch(r"\d{4}-\d{2}", label):
        return f"{months[int(label[5:]) - 1]}\n{label[:4]}"
    return label.replace("-", "\n")


def _number(value: float, number: NumberFormat | None = None) -> str:
    digits = 0 if float(value).is_integer() else 1
    return number(value, digits) if number else f"{value:,.{digits}f}"


def _svg(figure: Figure, chart_id: str, title: str, description: str) -> str:
    """The figure as an inline `<svg>`: no XML prolog or metadata, ids prefixed, a title and a
    description for assistive technology, width following its container."""
    buffer = io.StringIO()
    with matplotlib.rc_context(_RC), warnings.catch_warnings():
        # text stays text (svg.fonttype none): the browser draws glyphs DejaVu Sans lacks
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(
            buffer,
            format="svg",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = _ID.sub(lambda m: f'id="{chart_id}-{m[1]}"', text)
    text = _REF.sub(lambda m: f"{m[1]}{chart_id}-{m[2]}", text)
    text = text.replace("*{stroke-linejoin", f"#{chart_id} *{{stroke-linejoin", 1)
    opening = re.match(r"<svg[^>]*>", text)
    assert opening is not None
    root = opening[0]
    view_box = re.search(r'viewBox="([^"]+)"', root)
    attributes = (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'id="{chart_id}" class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'viewBox="{view_box[1] if view_box else "0 0 460 300"}" preserveAspectRatio="xMinYMin meet">'
    )
    labels = (
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
    )
    return attributes + labels + text[opening.end() :].strip() + "\n"
