"""k-anonymised microdata: generalise, drop rare combinations, report how many."""

from __future__ import annotations

import pandas as pd
import pytest

from tipdata.statistics import age_to_band, k_anonymise


def test_k_anonymise__drops_records_in_groups_smaller_than_k(codebook) -> None:
    """should keep only records whose quasi-identifier combination is shared by k or more"""
    data = pd.DataFrame({"person_sex": ["female"] * 11 + ["male"] * 10 + ["female"],
                         "person_age": [20] * 11 + [30] * 10 + [70]})
    out = k_anonymise(data, ["person_sex", "person_age"], k=11, generalise={"person_age": "age_band"},
                      codebook=codebook)
    assert out.records_in == 22
    assert out.records_suppressed == 11
    assert len(out.data) == 11
    assert set(out.data["person_age"]) == {"18--20"}
    assert out.smallest_group == 11
    assert "11 suppressed" in out.summary()


def test_k_anonymise__generalising_first_keeps_more_records(codebook) -> None:
    """should merge ages into bands before counting groups, so nearby ages protect each other"""
    data = pd.DataFrame({"person_age": [30, 31, 32, 33, 34, 35], "ident_date": ["2025-01-02"] * 3 + ["2025-09-09"] * 3})
    raw = k_anonymise(data, ["person_age", "ident_date"], k=3, codebook=codebook)
    banded = k_anonymise(data, ["person_age", "ident_date"], k=3, codebook=codebook,
                         generalise={"person_age": "age_band", "ident_date": "year"})
    assert raw.records_suppressed == 6
    assert banded.records_suppressed == 0
    assert banded.data["ident_date"].tolist() == [2025] * 6


def test_k_anonymise__missing_values_form_a_group_of_their_own(codebook) -> None:
    """should count records with a missing quasi-identifier together, not drop or merge them silently"""
    data = pd.DataFrame({"person_sex": [None, None, "female"], "person_citizenship": [("NG",), ("NG",), ("NG",)]})
    out = k_anonymise(data, ["person_sex", "person_citizenship"], k=2, codebook=codebook)
    assert out.records_suppressed == 1
    assert out.data["person_sex"].isna().all()


def test_k_anonymise__refuses_direct_identifiers_and_restricted_elements(codebook) -> None:
    """should refuse to export names or immigration status whatever k is"""
    data = pd.DataFrame({"person_given_names": ["x"], "person_immigration_status": ["y"], "person_sex": ["male"]})
    with pytest.raises(ValueError, match="person_given_names.*person_immigration_status"):
        k_anonymise(data, ["person_sex"], k=1, codebook=codebook)


def test_age_to_band__ctdc_bands_and_missing() -> None:
    """should band ages as CTDC ageBroad and mark a missing age -99"""
    bands = age_to_band(pd.Series([0, 8, 9, 17, 18, 48, 99, None, -1]))
    assert bands.tolist() == ["0--8", "0--8", "9--17", "9--17", "18--20", "48+", "48+", "-99", "-99"]
