"""The indicator catalogue: `indicators.yaml` read into typed, checked objects.

The catalogue is the one place an indicator is defined (code, name, definition, numerator and
denominator, unit, statistic, breakdowns, source elements); the computation reads it and the
documentation describes it. `check_catalogue` holds it against the codebook, so an element that
is renamed, loses its statistics consent or changes its option list shows up as a catalogue
problem instead of as a silently empty column in a published table.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tipdata.codebook import load_codebook
from tipdata.model import Codebook

CATALOGUE_PATH = Path(__file__).with_name("indicators.yaml")

Derivation = Literal[
    "option", "multi_option", "age_band", "age_group", "citizenship_group", "iccs_group",
    "outcome_domain",
]
Population = Literal[
    "victim_records", "victim_persons", "referrals", "services", "service_records",
    "first_service", "outcome_change", "outcome_domain_change", "investigations",
    "prosecutions", "convictions", "prison_sentences",
]
Statistic = Literal["count", "median", "mean"]

#: elements every indicator may read whatever its population: the links between records
LINK_ELEMENTS: tuple[str, ...] = ("case_reference", "svc_case_reference")
#: the purpose a source element must be consented for
STATISTICS_PURPOSE = "statistics"
#: sensitivity classes no indicator may read
FORBIDDEN_CLASSES: frozenset[str] = frozenset({"direct_identifier", "restricted"})


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DimensionSpec(_Frozen):
    """How one disaggregation is derived from codebook elements, and its published categories."""

    code: str
    name: str
    description: str | None = None
    derive: Derivation
    sources: tuple[str, ...] = Field(min_length=1)
    categories: tuple[str, ...] = ()
    categories_from: str | None = None
    map: dict[str, str] = {}
    missing: str | None = None
    unmapped: str | None = None
    bands: dict[str, float] = {}
    child_bands: tuple[str, ...] = ()
    iccs_groups: dict[str, str] = {}
    fallback_groups: dict[str, str] = {}
    multiple: str | None = None

    @property
    def additive(self) -> bool:
        """Whether the categories add up to the total (false for multi-response dimensions)."""
        return self.derive not in ("multi_option", "outcome_domain")


class IndicatorSpec(_Frozen):
    """One published indicator."""

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    name: str
    definition: str
    numerator: str
    denominator: str | None = None
    unit: str
    statistic: Statistic
    measure: str | None = None
    population: Population
    date: str
    where: dict[str, tuple[str, ...]] = {}
    breakdowns: tuple[tuple[str, ...], ...] = ()
    source_elements: tuple[str, ...] = Field(min_length=1)
    standards: tuple[str, ...] = ()
    #: with a population table, also publish value per this many population (SDG: 100,000)
    rate_per: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _measure_for_statistics(self) -> IndicatorSpec:
        if self.statistic != "count" and not self.measure:
            raise ValueError(f"indicator {self.code}: a {self.statistic} needs a `measure`")
        return self

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Every dimension of the indicator's table, in first-use order."""
        return tuple(dict.fromkeys(d for b in self.breakdowns for d in b))


class IndicatorCatalogue(_Frozen):
    version: int
    total_code: str = "_T"
    dimensions: dict[str, DimensionSpec]
    indicators: dict[str, IndicatorSpec]

    def categories(self, dimension: str, codebook: Codebook) -> tuple[str, ...]:
        """The published categories of a dimension, in order (the option list's order when
        `categories_from` names one, with the missing category appended when the list lacks it).
        """
        spec = self.dimensions[dimension]
        if spec.categories:
            return spec.categories
        if spec.derive == "outcome_domain":
            return tuple(s.removeprefix("out_") for s in spec.sources)
        codes = codebook.option_lists[spec.categories_from].codes() if spec.categories_from else ()
        if spec.missing and spec.missing not in codes:
            codes = (*codes, spec.missing)
        return tuple(codes)


class CatalogueError(ValueError):
    """The catalogue file cannot be read or contradicts the codebook; lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"indicator catalogue has {len(problems)} problem(s):\n{lines}\n"
                         f"Fix: correct {CATALOGUE_PATH.name} (format described at its top).")


def parse_catalogue(data: dict) -> IndicatorCatalogue:
    """Build the catalogue from the YAML structure (dimension codes and indicator codes become keys).

    >>> parse_catalogue({"version": 1, "dimensions": {}, "indicators": []}).indicators
    {}
    """
    dimensions = {code: {"code": code, **spec} for code, spec in (data.get("dimensions") or {}).items()}
    indicators = {}
    for entry in data.get("indicators") or []:
        code = entry.get("code")
        if code in indicators:
            raise CatalogueError([f"indicator {code} is defined twice"])
        indicators[code] = entry
    return IndicatorCatalogue.model_validate(
        {"version": data.get("version"), "total_code": data.get("total_code", "_T"),
         "dimensions": dimensions, "indicators": indicators})


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> IndicatorCatalogue:
    """The shipped catalogue (or another file in the same format), parsed and typed.

    >>> load_catalogue().indicators["SDG_16_2_2"].breakdowns
    (('sex', 'age_group', 'exploitation_form'),)
    """
    return parse_catalogue(yaml.safe_load(path.read_text(encoding="utf-8")))


@cache
def default_codebook() -> Codebook:
    """The shipped codebook, read once per process (reading it takes about half a second)."""
    return load_codebook()


def check_catalogue(catalogue: IndicatorCatalogue, codebook: Codebook) -> list[str]:
    """Every contradiction between the catalogue and the codebook, one message each.

    Each source element must exist, be consented for statistics and not be a direct identifier
    or restricted; each dimension's categories must match its option list; each `where` must
    name existing option codes; each breakdown must use declared dimensions.
    """
    problems: list[str] = []
    elements = codebook.elements
    total = catalogue.total_code

    def element_problem(where: str, code: str) -> str | None:
        element = elements.get(code)
        if element is None:
            return f"{where}: element {code!r} is not in codebook {codebook.id} {codebook.version}"
        if element.sensitivity in FORBIDDEN_CLASSES:
            return f"{where}: element {code!r} is {element.sensitivity}; indicators never read it"
        if STATISTICS_PURPOSE not in element.consent:
            return f"{where}: element {code!r} is not consented for {STATISTICS_PURPOSE}"
        return None

    for code, dim in catalogue.dimensions.items():
        where = f"dimension {code}"
        problems += [p for s in dim.sources if (p := element_problem(where, s))]
        if dim.categories_from and dim.categories_from not in codebook.option_lists:
            problems.append(f"{where}: categories_from {dim.categories_from!r} is not an option list")
            continue
        if not dim.categories and not dim.categories_from and dim.derive != "outcome_domain":
            problems.append(f"{where}: needs `categories` or `categories_from`")
            continue
        categories = catalogue.categories(code, codebook)
        if total in categories:
            problems.append(f"{where}: category {total!r} is reserved for totals")
        if len(set(categories)) != len(categories):
            problems.append(f"{where}: categories repeat")
        named = [*dim.map.values(), *dim.iccs_groups.values(), *dim.fallback_groups.values(),
                 *dim.bands, *(x for x in (dim.missing, dim.unmapped, dim.multiple) if x)]
        problems += [f"{where}: {c!r} is not one of its categories" for c in named
                     if c not in categories]
        if dim.derive in ("option", "multi_option") and dim.sources[0] in elements:
            options = codebook.options_for(elements[dim.sources[0]])
            if options is None:
                problems.append(f"{where}: source {dim.sources[0]!r} has no option list")
            else:
                problems += [f"{where}: map key {c!r} is not an option of {options.name!r}"
                             for c in dim.map if options.option(c) is None]
        if dim.additive and dim.derive != "outcome_domain" and not dim.missing:
            problems.append(f"{where}: an additive dimension needs `missing` (the category of an "
                            "empty value), or its categories would not add up to the total")
        if dim.derive == "age_band" and set(dim.bands) != set(categories) - {dim.missing}:
            problems.append(f"{where}: `bands` must give an upper age for every category but {dim.missing!r}")

    for code, indicator in catalogue.indicators.items():
        where = f"indicator {code}"
        for name in (indicator.date, *indicator.source_elements, *indicator.where):
            if (p := element_problem(where, name)):
                problems.append(p)
        for name in (indicator.date, *indicator.where):
            if name not in indicator.source_elements:
                problems.append(f"{where}: {name!r} is used but not listed in source_elements")
        for name, codes in indicator.where.items():
            element = elements.get(name)
            options = codebook.options_for(element) if element else None
            if options is not None:
                problems += [f"{where}: where {name}: {c!r} is not an option of {options.name!r}"
                             for c in codes if options.option(c) is None]
        for breakdown in indicator.breakdowns:
            unknown = [d for d in breakdown if d not in catalogue.dimensions]
            if unknown:
                problems.append(f"{where}: breakdown {list(breakdown)} uses undeclared {unknown}")
            if len(set(breakdown)) != len(breakdown):
                problems.append(f"{where}: breakdown {list(breakdown)} repeats a dimension")
            multi = [d for d in breakdown if d in catalogue.dimensions
                     and not catalogue.dimensions[d].additive]
            if multi and len(breakdown) > 1:
                problems.append(f"{where}: multi-response dimension {multi[0]!r} must be a breakdown of its own")
    return problems
