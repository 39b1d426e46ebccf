"""The report's words in the reader's language: `report_words.yaml` read into one lookup.

Why a data file: translators edit one YAML file, not Python; a test reads the same file and
fails when an indicator, dimension, category or sentence lacks a language, so a report can
never come out half translated. Codebook text (the option labels that name most categories)
stays in the codebook's own translations; this file holds what the report itself says.

    words = report_words("fr")
    words("page.charts")                                   # 'Graphiques'
    words("page.protected", k=11)                          # 'protégé avec k = 11'
    words.number(1234.5, 1)                                # '1 234,5'
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tipdata.statistics.catalogue import IndicatorCatalogue

WORDS_PATH = Path(__file__).with_name("report_words.yaml")
#: text fields of an indicator the report prints
INDICATOR_FIELDS: tuple[str, ...] = ("name", "definition", "numerator", "denominator", "unit")


class ReportLanguageError(ValueError):
    """A language the report has no words for; the message lists the ones it has."""


@dataclass(frozen=True)
class ReportWords:
    """Every text of the report in one language, with English where the catalogue holds it.

    >>> report_words("es")("page.charts")
    'Gráficos'
    """

    language: str
    strings: Mapping[str, str] = field(repr=False)
    indicators: Mapping[str, Mapping[str, str]] = field(repr=False)
    dimensions: Mapping[str, str] = field(repr=False)
    categories: Mapping[str, str] = field(repr=False)
    standards: Mapping[str, str] = field(repr=False)
    months: tuple[str, ...] = field(repr=False)
    thousands: str = ","
    decimal: str = "."

    def __call__(self, key: str, **values: Any) -> str:
        """The sentence `key`, placeholders filled (a missing key is a bug: KeyError)."""
        text = self.strings[key]
        return text.format(**values) if values else text

    def indicator(self, code: str, part: str, english: str | None) -> str | None:
        """An indicator's name, definition, numerator, denominator or unit; `english` is the
        catalogue's text, returned as it is in English (and when the indicator has no such part)."""
        if english is None or self.language == "en":
            return english
        return self.indicators.get(code, {}).get(part, english)

    def own_table(self, code: str) -> Mapping[str, str]:
        """Name, definition and unit of a table the report adds to the catalogue's."""
        return self.indicators[code]

    def standard(self, english: str) -> str:
        """A reference an indicator answers to ("US TIP report (convictions)"), translated."""
        return english if self.language == "en" else self.standards.get(english, english)

    def dimension(self, code: str, english: str) -> str:
        return english if self.language == "en" else self.dimensions.get(code, english)

    def category(self, code: str) -> str | None:
        """The report's own label of a category, None when an option list should name it."""
        return self.categories.get(code)

    def month(self, number: int) -> str:
        return self.months[number - 1]

    def number(self, value: float, digits: int = 0) -> str:
        """`value` with the language's thousands separator and decimal mark.

        >>> report_words("fr").number(1234567.891, 2), report_words("es").number(-1234, 0)
        ('1\\u202f234\\u202f567,89', '-1.234')
        """
        text = f"{value:,.{digits}f}"
        if self.thousands == "," and self.decimal == ".":
            return text
        return text.replace(",", "\x00").replace(".", self.decimal).replace("\x00", self.thousands)


def words_document(path: Path = WORDS_PATH) -> dict[str, Any]:
    """The parsed YAML file (for the completeness test and for `report_words`)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def report_languages() -> tuple[str, ...]:
    """The languages the report can be written in, English first.

    >>> report_languages()
    ('en', 'fr', 'es')
    """
    return tuple(_document()["languages"])


@cache
def report_words(language: str = "en") -> ReportWords:
    """The report's words in `language` (one of `report_languages()`)."""
    document = _document()
    if language not in document["languages"]:
        raise ReportLanguageError(
            f"the report has no words in {language!r}; choose among "
            f"{', '.join(document['languages'])}. Fix: pass --lang with one of them, "
            f"or add the language to {WORDS_PATH.name}."
        )
    numbers = document["numbers"][language]
    return ReportWords(
        language=language,
        strings={key: texts[language] for key, texts in document["strings"].items()},
        indicators={
            code: texts[language]
            for code, texts in document["indicators"].items()
            if language in texts
        },
        dimensions={
            code: texts[language]
            for code, texts in document["dimensions"].items()
            if language in texts
        },
        categories={code: texts[language] for code, texts in document["categories"].items()},
        standards={
            english: texts[language]
            for english, texts in document["standards"].items()
            if language in texts
        },
        months=tuple(document["months"][language]),
        thousands=numbers["thousands"],
        decimal=numbers["decimal"],
    )


def missing_translations(
    catalogue: IndicatorCatalogue, document: Mapping[str, Any] | None = None
) -> list[str]:
    """Every text the report would print untranslated, one line each (empty: complete).

    Checks every sentence in every language, every catalogue indicator's texts and every
    dimension's name in every language but English, the report's own tables and categories
    in every language, months and number formats.
    """
    document = document or _document()
    languages = list(document["languages"])
    others = [lang for lang in languages if lang != "en"]
    problems: list[str] = []

    def need(where: str, texts: Mapping[str, Any] | None, wanted: list[str]) -> None:
        texts = texts or {}
        problems.extend(f"{where}: no {lang!r} text" for lang in wanted if not texts.get(lang))

    for key, texts in document["strings"].items():
        need(f"string {key}", texts, languages)
        problems += _placeholder_problems(f"string {key}", texts or {})
    for code, spec in catalogue.indicators.items():
        texts = document["indicators"].get(code) or {}
        for lang in others:
            for part in INDICATOR_FIELDS:
                if getattr(spec, part) and not (texts.get(lang) or {}).get(part):
                    problems.append(f"indicator {code}: no {lang!r} {part}")
    own = [code for code in document["indicators"] if code not in catalogue.indicators]
    for code in own:
        for lang in languages:
            parts = document["indicators"][code].get(lang) or {}
            problems += [
                f"report table {code}: no {lang!r} {part}"
                for part in ("name", "definition", "unit")
                if not parts.get(part)
            ]
        for part in ("name", "definition", "unit"):
            texts = {
                lang: (document["indicators"][code].get(lang) or {}).get(part) for lang in languages
            }
            problems += _placeholder_problems(f"report table {code} {part}", texts)
    for code in catalogue.dimensions:
        need(f"dimension {code}", document["dimensions"].get(code), others)
    for standard in dict.fromkeys(
        s for spec in catalogue.indicators.values() for s in spec.standards
    ):
        need(f"standard {standard!r}", document["standards"].get(standard), others)
    for code, texts in document["categories"].items():
        need(f"category {code}", texts, languages)
    for lang in languages:
        if len((document.get("months") or {}).get(lang) or []) != 12:
            problems.append(f"months: {lang!r} needs twelve")
        if lang not in (document.get("numbers") or {}):
            problems.append(f"numbers: no {lang!r} format")
    return problems


def _placeholder_problems(where: str, texts: Mapping[str, str | None]) -> list[str]:
    """A translation must fill the same {placeholders} as the English text, or formatting fails."""

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    english = fields(texts.get("en") or "")
    return [
        f"{where}: {lang!r} has placeholders {sorted(fields(text))}, English {sorted(english)}"
        for lang, text in texts.items()
        if text and fields(text) != english
    ]


@cache
def _document() -> dict[str, Any]:
    return words_document()
