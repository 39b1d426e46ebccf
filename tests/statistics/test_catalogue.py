"""The indicator catalogue against the codebook, and the scope of a report."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import yaml

from tipdata.logic import evaluate, parse
from tipdata.statistics import Area, Period, check_catalogue, load_catalogue
from tipdata.statistics.catalogue import CATALOGUE_PATH, CatalogueError, parse_catalogue
from tipdata.statistics.dimensions import age_band
from tipdata.validation import symbols_of


def shipped() -> dict:
    return yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))


def test_check_catalogue__shipped_catalogue_matches_the_codebook(codebook) -> None:
    """should find no contradiction between indicators.yaml and the codebook"""
    assert check_catalogue(load_catalogue(), codebook) == []


def test_catalogue__has_the_indicators_ministries_report() -> None:
    """should define identification, protection, justice and SDG 16.2.2 indicators with their metadata"""
    indicators = load_catalogue().indicators
    for code in ["VIC_IDENT", "VIC_IDENT_PERSONS", "SDG_16_2_2", "REF_MADE", "REF_ACCEPTED", "REF_COMPLETED",
                 "SVC_DAYS_TO_FIRST", "SVC_BY_TYPE", "OUT_CHANGE", "OUT_DOMAIN_CHANGE", "JUS_INVESTIGATIONS",
                 "JUS_PROSECUTIONS", "JUS_CONVICTIONS", "JUS_SENTENCES", "JUS_PRISON_MONTHS"]:
        spec = indicators[code]
        assert spec.name and spec.definition and spec.numerator and spec.unit and spec.source_elements
    assert indicators["SDG_16_2_2"].breakdowns == (("sex", "age_group", "exploitation_form"),)
    assert indicators["SDG_16_2_2"].rate_per == 100_000


def test_check_catalogue__reports_every_problem(codebook) -> None:
    """should name an unknown element, an identifier, a non-consented element and a bad option at once"""
    data = shipped()
    first = data["indicators"][0]
    first["source_elements"] = [*first["source_elements"], "no_such_element", "person_given_names", "case_worker"]
    first["where"] = {"ident_trafficking_status": ["maybe"]}
    first["source_elements"].append("ident_trafficking_status")
    problems = check_catalogue(parse_catalogue(data), codebook)
    text = "\n".join(problems)
    assert "'no_such_element' is not in codebook" in text
    assert "'person_given_names' is direct_identifier" in text
    assert "'case_worker' is not consented for statistics" in text
    assert "'maybe' is not an option of 'trafficking_status'" in text


def test_check_catalogue__multi_response_must_stand_alone(codebook) -> None:
    """should refuse a multi-response dimension crossed with another dimension"""
    data = shipped()
    data["indicators"][0]["breakdowns"] = [["sex", "service_type"]]
    assert any("must be a breakdown of its own" in p for p in check_catalogue(parse_catalogue(data), codebook))


def test_parse_catalogue__duplicate_indicator_code_is_refused() -> None:
    """should refuse two indicators with one code"""
    data = shipped()
    data["indicators"].append(data["indicators"][0])
    with pytest.raises(CatalogueError, match="defined twice"):
        parse_catalogue(data)


def test_age_band_dimension__agrees_with_the_codebook_calculation(codebook) -> None:
    """should band every age exactly as the codebook's person_age_band calculation does"""
    catalogue = load_catalogue()
    spec = catalogue.dimensions["age_band"]
    categories = catalogue.categories("age_band", codebook)
    ages = list(range(0, 101))
    ours = age_band(pd.DataFrame({"person_age": [float(a) for a in ages]}), spec, categories)
    element = codebook.elements["person_age_band"]
    symbols = symbols_of(codebook)
    theirs = [evaluate(parse(element.calculation), {"person_age": a}, symbols=symbols) for a in ages]
    assert list(ours.astype(str)) == theirs


@pytest.mark.parametrize(("text", "start", "end"), [
    ("2025", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    ("2024-Q1", dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
    ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
    ("2025-03-15/2025-04-02", dt.date(2025, 3, 15), dt.date(2025, 4, 2)),
])
def test_period_parse__reads_years_quarters_months_and_ranges(text: str, start: dt.date, end: dt.date) -> None:
    """should read each period notation into its first and last day"""
    assert Period.parse(text) == Period(start, end)


def test_period__refuses_a_reversed_or_unreadable_period() -> None:
    """should say how to write a period"""
    with pytest.raises(ValueError, match="before it starts"):
        Period(dt.date(2025, 2, 1), dt.date(2025, 1, 1))
    with pytest.raises(ValueError, match="use 2025, 2025-Q2"):
        Period.parse("last year")


def test_area_label__names_country_and_locations() -> None:
    """should label an area by its name, else its country and locations"""
    assert Area().label() == "all areas"
    assert Area(country="NG", locations={"OU_B", "OU_A"}).label() == "NG OU_A+OU_B"
    assert Area(country="NG", name="Nigeria").label() == "Nigeria"


def test_indicators_doc__lists_every_indicator_and_dimension() -> None:
    """should document every indicator and dimension of the catalogue in docs/indicators.md"""
    doc = (CATALOGUE_PATH.parents[2] / "docs" / "indicators.md").read_text(encoding="utf-8")
    catalogue = load_catalogue()
    missing = [c for c in [*catalogue.indicators, *catalogue.dimensions] if f"`{c}`" not in doc]
    assert missing == []
