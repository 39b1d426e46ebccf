"""The aggregate side of the DHIS2 package: an indicator data set with its disaggregations.

Counts (victims identified, referrals made/accepted/completed, investigations, prosecutions,
convictions) are aggregate data elements. The person counts are disaggregated by sex × age band ×
form of exploitation, the justice counts by form of exploitation alone (they concern cases, not
one person's sex or age). Filling the counts is the aggregation step's job
(`aggregates.py`), not this one's.

Category options carry codebook option codes wherever the codebook has the code, so the
aggregation step maps a value to a category option without a crosswalk; the package adds the few
options the data needs that no codebook list has (`DIMENSIONS`, `extra`): sex not recorded,
several forms of exploitation, trafficking with the purpose not specified, related offences only.
Every option's UID derives from "<codebook list>:<code>", so an option the codebook gains later
keeps the UID the package gave it.

Form of exploitation is the ICCS grouping (02041 sexual exploitation, 02042 forced labour or
services incl. slavery and servitude, 02043 organ removal, 02044 other purposes), shared by the
victim and the justice counts so that DHIS2 can put them side by side. Not the codebook's fifteen
forms: DHIS2 2.41+ refuses a category combo of more than 500 combinations by default
(`metadata.categories.max_combinations`, E1128; also at most 5 categories per combo, E1126, and
50 options per category, E1127), and sex (5) × age band (10) × 15+ forms is over it. The builder
checks these limits (`CATEGORY_LIMITS`) and refuses a package DHIS2 would refuse.

`/api/metadata` does not create category option combos (COCs); `tipdata dhis2 install` asks
DHIS2 to generate them for the package's combos after the commit
(`POST /api/maintenance/categoryOptionComboUpdate/categoryCombo/{uid}`, see `option_combos.py`
for why they are not shipped in the package).

The data set is Yearly by default: the indicators are annual, and DHIS2 would add up shorter
periods into the year (aggregationType SUM), which is wrong for counts of distinct persons and
for cells suppressed in one quarter; see docs/dhis2.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tipdata.model import Codebook

from .names import NAME_LIMIT, SHORT_NAME_LIMIT, UniqueNames, fit, fit_code
from .uids import UidRegistry
from .vocabulary import has_word, word

DEFAULT_CATEGORY_COMBO = "bjDvmb4bfuf"
#: period types a data set may have (the ones `tipdata dhis2 push-aggregates` can fill)
PERIOD_TYPES = ("Yearly", "Quarterly", "Monthly")
DEFAULT_PERIOD_TYPE = "Yearly"


@dataclass(frozen=True)
class CategoryLimits:
    """DHIS2's default caps on disaggregations (dhis.conf `metadata.categories.*`, 2.41+)."""

    categories_per_combo: int = 5      # E1126
    options_per_category: int = 50     # E1127
    combinations: int = 500            # E1128


CATEGORY_LIMITS = CategoryLimits()


@dataclass(frozen=True)
class Dimension:
    """One disaggregation: which codes become its category options, in order.

    `keep`: the codes of the codebook list `option_list` to use (all when None); `extra`: codes
    added after them, taken from the codebook when the list has them (label included), else the
    package's own (labels in `vocabulary.py`, key `option:<dimension>:<code>`).
    """

    option_list: str
    keep: tuple[str, ...] | None = None
    extra: tuple[str, ...] = ()


#: ICCS trafficking group -> the exploitation_form option its victims and offences are filed under
ICCS_GROUP_OPTIONS: dict[str, str] = {"02041": "sexual_exploitation", "02042": "forced_labour",
                                      "02043": "organ_removal", "02044": "other"}
MULTIPLE_FORMS = "multiple_forms"
PURPOSE_UNSPECIFIED = "purpose_unspecified"
OTHER_OFFENCE = "other_offence"
UNKNOWN = "unknown"

#: disaggregation -> its category options
DIMENSIONS: dict[str, Dimension] = {
    "sex": Dimension("sex", extra=(UNKNOWN,)),
    "age_band": Dimension("age_band"),
    "exploitation_form": Dimension(
        "exploitation_form", keep=tuple(ICCS_GROUP_OPTIONS.values()),
        extra=(MULTIPLE_FORMS, PURPOSE_UNSPECIFIED, OTHER_OFFENCE, UNKNOWN)),
}
_PERSON_COUNT = ("sex", "age_band", "exploitation_form")
_CASE_COUNT = ("exploitation_form",)
#: count -> its disaggregations (justice counts concern cases, not one person's sex or age)
COUNTS: dict[str, tuple[str, ...]] = {
    "victims_identified": _PERSON_COUNT,
    "referrals_made": _PERSON_COUNT,
    "referrals_accepted": _PERSON_COUNT,
    "referrals_completed": _PERSON_COUNT,
    "investigations": _CASE_COUNT,
    "prosecutions": _CASE_COUNT,
    "convictions": _CASE_COUNT,
}


def dimension_codes(codebook: Codebook, dimension: str) -> tuple[str, ...]:
    """The option codes of a disaggregation, in category order; () when the codebook has no list.

    >>> dimension_codes(load_codebook(), "sex")   # doctest: +SKIP
    ('female', 'male', 'intersex', 'declined', 'unknown')
    """
    spec = DIMENSIONS[dimension]
    option_list = codebook.option_lists.get(spec.option_list)
    if option_list is None or not option_list.options:
        return ()
    listed = option_list.codes()
    kept = listed if spec.keep is None else tuple(c for c in spec.keep if c in listed)
    return tuple(dict.fromkeys((*kept, *spec.extra)))


def category_option_seed(dimension: str, code: str) -> str:
    """The UID seed of a category option: "<codebook list>:<code>" (stable across rebuilds)."""
    return f"{DIMENSIONS[dimension].option_list}:{code}"


def option_label(codebook: Codebook, dimension: str, code: str, lang: str) -> str:
    """The option's label: the package's word when it has one, else the codebook's text."""
    key = f"option:{dimension}:{code}"
    if has_word(key, "en"):
        return word(key, lang)
    return codebook.option_text(lang, DIMENSIONS[dimension].option_list, code)


Translate = Callable[[dict[str, Callable[[str], str | None]]], list[dict[str, str]]]
Sharing = Callable[[bool], dict[str, Any]]


@dataclass
class AggregatePart:
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def category_option_uid(registry: UidRegistry, dimension: str, code: str) -> str:
    """The UID of the category option ``code`` of disaggregation ``dimension``."""
    return registry.uid("categoryOption", category_option_seed(dimension, code))


def build_aggregate(codebook: Codebook, registry: UidRegistry, translate: Translate,
                    sharing: Sharing, element_names: UniqueNames, element_short_names: UniqueNames,
                    period_type: str, org_units: tuple[str, ...],
                    limits: CategoryLimits = CATEGORY_LIMITS) -> AggregatePart:
    """Categories, category combos, aggregate data elements and the data set (pure).

    Raises ValueError when a disaggregation exceeds DHIS2's default limits (`limits`): the server
    would refuse the whole package (E1126-E1128).
    """
    if period_type not in PERIOD_TYPES:
        raise ValueError(f"aggregate period type {period_type!r} is not one of {', '.join(PERIOD_TYPES)}")
    part = AggregatePart()
    option_names = UniqueNames(NAME_LIMIT, "code")
    option_short_names = UniqueNames(SHORT_NAME_LIMIT)
    categories, category_options = [], []
    sizes: dict[str, int] = {}
    for dimension, spec in DIMENSIONS.items():
        codes = dimension_codes(codebook, dimension)
        if not codes:
            part.warnings.append(
                f"aggregate data set: no '{spec.option_list}' option list in the codebook, so the "
                f"counts are not disaggregated by {dimension.replace('_', ' ')}"
            )
            continue
        if len(codes) > limits.options_per_category:
            raise ValueError(f"category {dimension} would have {len(codes)} options; DHIS2 accepts "
                             f"at most {limits.options_per_category} (E1127)")
        sizes[dimension] = len(codes)
        category_uid = registry.uid("category", dimension)
        refs = []
        for code in codes:
            uid = category_option_uid(registry, dimension, code)
            refs.append({"id": uid})

            def label(lang: str, code: str = code, dimension: str = dimension,
                      prefix: str = "category:") -> str:
                return (f"{word(prefix + dimension, lang)}: "
                        f"{option_label(codebook, dimension, code, lang)}")

            def short_label(lang: str, f: Callable[..., str] = label) -> str:
                return f(lang, prefix="category_short:")

            key = category_option_seed(dimension, code)
            name, name_suffix = option_names.claim_with_suffix(key, label(codebook.source_language))
            short, short_suffix = option_short_names.claim_with_suffix(
                key, short_label(codebook.source_language))
            category_options.append({
                "id": uid,
                "code": fit_code(f"TIP_{spec.option_list}_{code}".upper()),
                "name": name,
                "shortName": short,
                "sharing": sharing(True),
                "translations": translate({
                    "NAME": lambda lang, f=label, s=name_suffix: fit(f(lang), NAME_LIMIT - len(s)) + s,
                    "SHORT_NAME": lambda lang, f=short_label, s=short_suffix:
                        fit(f(lang), SHORT_NAME_LIMIT - len(s)) + s,
                }),
            })
        categories.append({
            "id": category_uid,
            "code": fit_code(f"TIP_{dimension}".upper()),
            "name": word(f"category:{dimension}"),
            "shortName": fit(word(f"category:{dimension}"), SHORT_NAME_LIMIT),
            "dataDimensionType": "DISAGGREGATION",
            "dataDimension": True,
            "categoryOptions": refs,
            "sharing": sharing(False),
            "translations": translate({
                "NAME": lambda lang, d=dimension: word(f"category:{d}", lang),
                "SHORT_NAME": lambda lang, d=dimension: fit(word(f"category:{d}", lang),
                                                             SHORT_NAME_LIMIT),
            }),
        })
    available = list(sizes)

    combos: dict[tuple[str, ...], str] = {}
    combo_objects = []
    data_elements, data_set_elements = [], []
    for count, wanted in COUNTS.items():
        dimensions = tuple(d for d in wanted if d in available)
        if not dimensions:
            combo_uid = DEFAULT_CATEGORY_COMBO
        elif dimensions in combos:
            combo_uid = combos[dimensions]
        else:
            combinations = 1
            for d in dimensions:
                combinations *= sizes[d]
            if len(dimensions) > limits.categories_per_combo or combinations > limits.combinations:
                raise ValueError(
                    f"category combo {' x '.join(dimensions)} would have {len(dimensions)} categories "
                    f"and {combinations} option combinations; DHIS2 accepts at most "
                    f"{limits.categories_per_combo} and {limits.combinations} by default (E1126, "
                    "E1128): use fewer options or split the disaggregation")
            key = "+".join(dimensions)
            combo_uid = combos[dimensions] = registry.uid("categoryCombo", key)
            labels = [word(f"category:{d}").removeprefix("TIP ") for d in dimensions]
            combo_objects.append({
                "id": combo_uid,
                "code": fit_code("TIP_" + "_".join(dimensions).upper()),
                "name": fit("TIP " + " × ".join(labels), NAME_LIMIT),
                "dataDimensionType": "DISAGGREGATION",
                "categories": [{"id": registry.uid("category", d)} for d in dimensions],
                "sharing": sharing(False),
            })
        uid = registry.uid("dataElement", f"aggregate:{count}")
        name, name_suffix = element_names.claim_with_suffix(f"aggregate:{count}",
                                                            word(f"count:{count}"))
        short, short_suffix = element_short_names.claim_with_suffix(f"aggregate:{count}",
                                                                    word(f"count:{count}"))
        data_elements.append({
            "id": uid,
            "code": fit_code(f"TIP_AGG_{count}".upper()),
            "name": name,
            "shortName": short,
            "domainType": "AGGREGATE",
            "valueType": "INTEGER_ZERO_OR_POSITIVE",
            "aggregationType": "SUM",
            "zeroIsSignificant": True,
            "categoryCombo": {"id": combo_uid},
            "sharing": sharing(False),
            "translations": translate({
                "NAME": lambda lang, c=count, s=name_suffix:
                    fit(word(f"count:{c}", lang), NAME_LIMIT - len(s)) + s,
                "SHORT_NAME": lambda lang, c=count, s=short_suffix:
                    fit(word(f"count:{c}", lang), SHORT_NAME_LIMIT - len(s)) + s,
            }),
        })
        data_set_elements.append({"dataElement": {"id": uid}})

    data_set_uid = registry.uid("dataSet", "indicators")
    data_set = {
        "id": data_set_uid,
        "code": "TIP_INDICATORS",
        "name": word("dataset"),
        "shortName": fit(word("dataset"), SHORT_NAME_LIMIT),
        "description": word("dataset:description"),
        "periodType": period_type,
        "categoryCombo": {"id": DEFAULT_CATEGORY_COMBO},
        "dataSetElements": [{**element, "dataSet": {"id": data_set_uid}}
                            for element in data_set_elements],
        "organisationUnits": [{"id": uid} for uid in org_units],
        "sharing": sharing(True),
        "translations": translate({
            "NAME": lambda lang: word("dataset", lang),
            "SHORT_NAME": lambda lang: fit(word("dataset", lang), SHORT_NAME_LIMIT),
            "DESCRIPTION": lambda lang: word("dataset:description", lang),
        }),
    }
    part.objects = {
        "categoryOptions": category_options,
        "categories": categories,
        "categoryCombos": combo_objects,
        "dataElements": data_elements,
        "dataSets": [data_set],
    }
    return part
