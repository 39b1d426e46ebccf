"""Words for the codes in a published report: category labels, dimension names, periods.

Tables are computed over codes (`female`, `age_9_17`, `_T`); readers need words. A category
takes the report's own label when report_words.yaml has one (`categories`: codes the catalogue
defines itself, such as `child` or `multiple_forms`), else the label of the option with the same
code in the option list of the dimension's source element, in the report's language (the
codebook's translation), else a label made from the code ("age_48_plus" → "48+"). Labels are codebook
text: the renderers escape them (HTML) or make them formula-safe (CSV, XLSX).
"""

from __future__ import annotations

import re

from tipdata.model import Codebook
from tipdata.statistics.catalogue import IndicatorCatalogue
from tipdata.statistics.report_words import ReportWords, report_words
from tipdata.statistics.scope import Area, Period

#: dimensions the report adds to the catalogue's (names: `dimension.<code>` in report_words.yaml)
REPORT_DIMENSIONS: tuple[str, ...] = ("month", "quarter", "seen_by")
_AGE_BAND = re.compile(r"^age_(\d+)_(\d+|plus)$")


def humanise(code: str, words: ReportWords | None = None) -> str:
    """A readable label for a code that no option list names: the report's own label of the
    category when it has one, else one made from the code.

    >>> humanise("age_48_plus"), humanise("age_9_17"), humanise("forced_begging"), humanise("child", report_words("fr"))
    ('48+', '9–17', 'Forced begging', 'Enfants (moins de 18 ans)')
    """
    own = (words or report_words()).category(code)
    if own is not None:
        return own
    if match := _AGE_BAND.match(code):
        low, high = match.groups()
        return f"{low}+" if high == "plus" else f"{low}–{high}"
    text = code.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else code


def category_labels(
    dimension: str,
    categories: tuple[str, ...] | list[str],
    codebook: Codebook,
    catalogue: IndicatorCatalogue,
    words: ReportWords | None = None,
    total: str = "_T",
) -> dict[str, str]:
    """Code → label for every category of a dimension, the total code included, in the
    language of `words` (option labels from the codebook's translation of that language).

    >>> category_labels("sex", ("female", "other"), load_codebook(), load_catalogue())  # doctest: +SKIP
    {'_T': 'Total', 'female': 'Female', 'other': 'Other'}
    """
    words = words or report_words()
    option_list = _option_list_of(dimension, codebook, catalogue)
    labels = {total: words("total")}
    for code in categories:
        if code == total:
            continue
        if (
            option_list is not None
            and codebook.option_lists[option_list].option(code) is not None
            and words.category(code) is None
        ):
            labels[code] = codebook.option_text(words.language, option_list, code)
        else:
            labels[code] = humanise(code, words)
    return labels


def dimension_name(
    dimension: str, catalogue: IndicatorCatalogue, words: ReportWords | None = None
) -> str:
    words = words or report_words()
    if dimension in catalogue.dimensions:
        return words.dimension(dimension, catalogue.dimensions[dimension].name)
    if dimension in REPORT_DIMENSIONS:
        return words(f"dimension.{dimension}")
    return humanise(dimension, words)


def period_text(period: Period, words: ReportWords | None = None) -> str:
    """ "2025", "2025-Q2", "2025-03" for whole years, quarters and months; else "start to end".

    >>> period_text(Period.parse("2025-Q2")), period_text(Period.parse("2025-01-01/2025-02-10"))
    ('2025-Q2', '2025-01-01 to 2025-02-10')
    """
    for candidate in _named_periods(period.start.year):
        if Period.parse(candidate) == period:
            return candidate
    if period.start.year == period.end.year:
        for month in range(1, 13):
            name = f"{period.start.year}-{month:02d}"
            if Period.parse(name) == period:
                return name
    return (words or report_words())(
        "period.range", start=period.start.isoformat(), end=period.end.isoformat()
    )


def area_text(area: Area, words: ReportWords | None = None) -> str:
    """The area's name, country or locations; "all areas" (translated) for an empty area.

    >>> area_text(Area(country="NG")), area_text(Area(), report_words("es"))
    ('NG', 'todas las zonas')
    """
    if area.name or area.country or area.locations:
        return area.label()
    return (words or report_words())("area.all")


def _named_periods(year: int) -> list[str]:
    return [str(year), *(f"{year}-Q{q}" for q in range(1, 5))]


def _option_list_of(
    dimension: str, codebook: Codebook, catalogue: IndicatorCatalogue
) -> str | None:
    spec = catalogue.dimensions.get(dimension)
    if spec is None:
        return None
    if spec.categories_from:
        return spec.categories_from
    for source in spec.sources:
        element = codebook.elements.get(source)
        if element is not None and element.options in codebook.option_lists:
            return element.options
    return None
