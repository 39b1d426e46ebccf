"""The aggregate side of the DHIS2 package: an indicator data set with its disaggregations.

Counts (victims identified, referrals made/accepted/completed, investigations, prosecutions,
convictions) are aggregate data elements disaggregated by sex, age band and form of
exploitation. The category options are the codebook's own option codes (lists `sex`,
`age_band`, `exploitation_form`), so the aggregation step can map a tracker value to a category
option without a crosswalk. Filling the counts is the aggregation step's job, not this one's.

`/api/metadata` does not create category option combos: after importing, generate them with
`POST /api/maintenance/categoryOptionComboUpdate` (DHIS2 2.43 also checks that combos sent in a
payload equal the generated set, so none are sent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tipdata.model import Codebook

from .names import NAME_LIMIT, SHORT_NAME_LIMIT, UniqueNames, fit, fit_code
from .uids import UidRegistry
from .vocabulary import word

DEFAULT_CATEGORY_COMBO = "bjDvmb4bfuf"

#: disaggregation -> the codebook option list whose codes become its category options
DIMENSIONS: dict[str, str] = {
    "sex": "sex",
    "age_band": "age_band",
    "exploitation_form": "exploitation_form",
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

Translate = Callable[[dict[str, Callable[[str], str | None]]], list[dict[str, str]]]
Sharing = Callable[[bool], dict[str, Any]]


@dataclass
class AggregatePart:
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def category_option_uid(registry: UidRegistry, list_name: str, code: str) -> str:
    """The UID of the category option for option ``code`` of codebook list ``list_name``."""
    return registry.uid("categoryOption", f"{list_name}:{code}")


def build_aggregate(codebook: Codebook, registry: UidRegistry, translate: Translate,
                    sharing: Sharing, element_names: UniqueNames, element_short_names: UniqueNames,
                    period_type: str, org_units: tuple[str, ...]) -> AggregatePart:
    """Categories, category combos, aggregate data elements and the data set (pure)."""
    part = AggregatePart()
    option_names = UniqueNames(NAME_LIMIT, "code")
    option_short_names = UniqueNames(SHORT_NAME_LIMIT)
    categories, category_options = [], []
    available: list[str] = []
    for dimension, list_name in DIMENSIONS.items():
        option_list = codebook.option_lists.get(list_name)
        if option_list is None or not option_list.options:
            part.warnings.append(
                f"aggregate data set: no '{list_name}' option list in the codebook, so the counts "
                f"are not disaggregated by {dimension.replace('_', ' ')}"
            )
            continue
        available.append(dimension)
        category_uid = registry.uid("category", dimension)
        refs = []
        for option in option_list.options:
            uid = category_option_uid(registry, list_name, option.code)
            refs.append({"id": uid})

            def label(lang: str, code: str = option.code, dimension: str = dimension,
                      list_name: str = list_name) -> str:
                return (f"{word('category:' + dimension, lang)}: "
                        f"{codebook.option_text(lang, list_name, code)}")

            key = f"{list_name}:{option.code}"
            name, name_suffix = option_names.claim_with_suffix(key, label(codebook.source_language))
            short, short_suffix = option_short_names.claim_with_suffix(
                key, label(codebook.source_language))
            category_options.append({
                "id": uid,
                "code": fit_code(f"TIP_{list_name}_{option.code}".upper()),
                "name": name,
                "shortName": short,
                "sharing": sharing(True),
                "translations": translate({
                    "NAME": lambda lang, f=label, s=name_suffix: fit(f(lang), NAME_LIMIT - len(s)) + s,
                    "SHORT_NAME": lambda lang, f=label, s=short_suffix:
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
        "periodType": period_type,
        "categoryCombo": {"id": DEFAULT_CATEGORY_COMBO},
        "dataSetElements": [{**element, "dataSet": {"id": data_set_uid}}
                            for element in data_set_elements],
        "organisationUnits": [{"id": uid} for uid in org_units],
        "sharing": sharing(True),
        "translations": translate({
            "NAME": lambda lang: word("dataset", lang),
            "SHORT_NAME": lambda lang: fit(word("dataset", lang), SHORT_NAME_LIMIT),
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
