"""Words for the codes in a published report: category labels, dimension names, periods.

Tables are computed over codes (`female`, `age_9_17`, `_T`); readers need words. A category
takes the label of the option with the same code in the option list of the dimension's source
element (translated when the report's language has it), else a label made from the code
("sexual_exploitation" → "Sexual exploitation", "age_48_plus" → "48+"). Labels are codebook
text: the renderers escape them (HTML) or make them formula-safe (CSV, XLSX).
"""

from __future__ import annotations

import re

from tipdata.model import Codebook
from tipdata.statistics.catalogue import IndicatorCatalogue
from tipdata.statistics.scope import Period

TOTAL_LABEL = "Total"

#: labels of the categories the catalogue defines itself (not taken from an option list)
FIXED_LABELS: dict[str, str] = {
    "unknown": "Unknown",
    "other": "Other",
    "child": "Children (under 18)",
    "adult": "Adults (18 and over)",
    "national": "Nationals",
    "foreign": "Foreign nationals",
    "stateless": "Stateless",
    "multiple_forms": "More than one form",
    "purpose_unspecified": "Trafficking, purpose not specified",
    "other_offence": "Related offences only",
    "other_purposes": "Other purposes",
    "forced_labour": "Forced labour or services",
    "organ_removal": "Organ removal",
    "sexual_exploitation": "Sexual exploitation",
}
#: names of the dimensions the report adds to the catalogue's
REPORT_DIMENSIONS: dict[str, str] = {
    "month": "Month", "quarter": "Quarter", "seen_by": "Seen by",
}
_AGE_BAND = re.compile(r"^age_(\d+)_(\d+|plus)$")


def humanise(code: str) -> str:
    """A readable label for a code that no option list names.

    >>> humanise("age_48_plus"), humanise("age_9_17"), humanise("forced_begging")
    ('48+', '9–17', 'Forced begging')
    """
    if code in FIXED_LABELS:
        return FIXED_LABELS[code]
    if (match := _AGE_BAND.match(code)):
        low, high = match.groups()
        return f"{low}+" if high == "plus" else f"{low}–{high}"
    text = code.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else code


def category_labels(dimension: str, categories: tuple[str, ...] | list[str], codebook: Codebook,
                    catalogue: IndicatorCatalogue, language: str | None = None,
                    total: str = "_T") -> dict[str, str]:
    """Code → label for every category of a dimension, the total code included.

    >>> category_labels("sex", ("female", "other"), load_codebook(), load_catalogue())  # doctest: +SKIP
    {'_T': 'Total', 'female': 'Female', 'other': 'Other'}
    """
    language = language or codebook.source_language
    option_list = _option_list_of(dimension, codebook, catalogue)
    labels = {total: TOTAL_LABEL}
    for code in categories:
        if code == total:
            continue
        if option_list is not None and codebook.option_lists[option_list].option(code) is not None \
                and code not in FIXED_LABELS:
            labels[code] = codebook.option_text(language, option_list, code)
        else:
            labels[code] = humanise(code)
    return labels


def dimension_name(dimension: str, catalogue: IndicatorCatalogue) -> str:
    if dimension in catalogue.dimensions:
        return catalogue.dimensions[dimension].name
    return REPORT_DIMENSIONS.get(dimension, humanise(dimension))


def period_text(period: Period) -> str:
    """"2025", "2025-Q2", "2025-03" for whole years, quarters and months; else "start to end".

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
    return f"{period.start.isoformat()} to {period.end.isoformat()}"


def _named_periods(year: int) -> list[str]:
    return [str(year), *(f"{year}-Q{q}" for q in range(1, 5))]


def _option_list_of(dimension: str, codebook: Codebook, catalogue: IndicatorCatalogue) -> str | None:
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
