"""Install → push-aggregates with the real package: option combos, org unit assignments, periods.

`tipdata dhis2 install` asks DHIS2 to generate the category option combos after the commit (the
package ships none, see `option_combos.py`) and keeps the org units the server already assigns;
`push-aggregates` refuses a period of another type than the data set's and gives no warning when
the period type matches and the org unit is assigned. The double's maintenance endpoint and
category limits (E1126-E1128 from 2.41) are pinned here as well.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.dhis2.connector_support import ORG_UNIT, VERSIONS, connect
from tests.dhis2.test_aggregates import PERIOD, K, client_for, make_records, stored
from tests.doubles.dhis2 import Dhis2Double
from tipdata.codebook import load_codebook
from tipdata.dhis2_app import cli
from tipdata.dhis2_app.aggregate_push import (
    PeriodTypeMismatch,
    fetch_category_option_combos,
    push_aggregates,
)
from tipdata.dhis2_app.aggregates import (
    AggregateTables,
    ReportingPeriod,
    combos_by_options,
    layout_from_package,
    protected_tables,
)
from tipdata.dhis2_app.cli import dhis2_app
from tipdata.dhis2_app.metadata import DeploymentPolicy, build_metadata
from tipdata.dhis2_app.option_combos import MAINTENANCE_AUTHORITY
from tipdata.dhis2_app.uids import uid_for
from tipdata.model import Codebook

OTHER_UNIT = "AAAAAAAAAAA"


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return load_codebook()


@pytest.fixture(scope="module")
def package(codebook) -> dict[str, Any]:
    return build_metadata(codebook).json


@pytest.fixture(scope="module")
def layout(package, codebook):
    return layout_from_package(package, codebook)


@pytest.fixture(scope="module")
def tables(layout, codebook) -> AggregateTables:
    return protected_tables(make_records(90), layout, PERIOD.period, k=K, codebook=codebook)


@pytest.fixture(params=VERSIONS)
def any_version(request: pytest.FixtureRequest) -> Iterator[Dhis2Double]:
    with Dhis2Double(request.param) as running:
        yield running


@pytest.fixture
def double() -> Iterator[Dhis2Double]:
    with Dhis2Double("2.42") as running:
        yield running


def expected_combos(layout) -> dict[str, int]:
    """Category combo -> how many option combos its categories' options make."""
    return {
        count.category_combo: math.prod(len(layout.options[d]) for d in count.dimensions)
        for count in layout.counts.values()
    }


def server_combos(double: Dhis2Double, layout) -> dict[str, dict[frozenset[str], str]]:
    return combos_by_options(
        fetch_category_option_combos(client_for(double), layout.category_combos)
    )


def assigned(double: Dhis2Double, key: str, uid: str) -> list[str]:
    return [ref["id"] for ref in double.store.get(key, uid).get("organisationUnits", [])]


# --- install generates the option combos ----------------------------------------------------------------


def test_install__generates_the_option_combos_of_every_combo(
    any_version, codebook, package, layout
):
    """should commit, then have DHIS2 generate one option combo per option product, and report the count"""
    result = connect(any_version, codebook, package, org_unit=ORG_UNIT).install(
        assign_to=[ORG_UNIT]
    )
    assert result.ok and result.phase == "commit", [p.render() for p in result.problems[:3]]
    wanted = expected_combos(layout)
    assert result.option_combos["created"] == sum(wanted.values()) == 408
    assert {
        combo: len(found) for combo, found in server_combos(any_version, layout).items()
    } == wanted
    posts = any_version.requests_to("maintenance/categoryOptionComboUpdate/categoryCombo/", "POST")
    assert sorted(p.path.rsplit("/", 1)[-1] for p in posts) == sorted(wanted)


def test_install__reinstall_keeps_the_option_combo_uids(double, codebook, package, layout):
    """should create nothing on a re-install and keep every option combo UID"""
    connector = connect(double, codebook, package, org_unit=ORG_UNIT)
    connector.install()
    before = server_combos(double, layout)
    again = connector.install()
    assert again.ok and again.option_combos["created"] == 0 and again.option_combos["deleted"] == 0
    assert server_combos(double, layout) == before


def test_install__an_added_option_keeps_existing_option_combos(double, codebook, package, layout):
    """should add the new option's combos and keep the UIDs of the ones already there (data stays addressed)"""
    missing = uid_for("categoryOption", "sex:unknown")
    older = {
        **package,
        "categoryOptions": [o for o in package["categoryOptions"] if o["id"] != missing],
        "categories": [
            {**c, "categoryOptions": [r for r in c["categoryOptions"] if r["id"] != missing]}
            for c in package["categories"]
        ],
    }
    assert connect(double, codebook, older, org_unit=ORG_UNIT).install().ok
    before = server_combos(double, layout)
    result = connect(double, codebook, package, org_unit=ORG_UNIT).install()
    after = server_combos(double, layout)
    person = layout.counts["victims_identified"].category_combo
    assert result.option_combos["created"] == 400 - 320 and len(after[person]) == 400
    assert before[person].items() <= after[person].items()


def test_install__without_maintenance_authority_warns_with_the_manual_step(
    codebook, package, layout
):
    """should import the package and name the missing authority and the manual step instead of generating"""
    with Dhis2Double("2.43", authorities=("F_METADATA_IMPORT",)) as double:
        result = connect(double, codebook, package, org_unit=ORG_UNIT).install()
        assert result.ok and result.option_combos["denied"] and result.option_combos["created"] == 0
        warning = next(w for w in result.warnings if MAINTENANCE_AUTHORITY in w)
        assert "Update category option combinations" in warning
        assert server_combos(double, layout) == {}
        assert len(double.requests_to("maintenance/", "POST")) == 1  # stops at the first refusal


def test_install__validate_only_generates_nothing(double, codebook, package):
    """should not ask for option combos when only validating"""
    result = connect(double, codebook, package, org_unit=ORG_UNIT).install(validate_only=True)
    assert result.ok and result.option_combos is None
    assert double.requests_to("maintenance/", "POST") == []


# --- org unit assignments ------------------------------------------------------------------------------


def test_install__assigns_program_and_data_set_and_keeps_server_assignments(
    double, codebook, package, layout
):
    """should assign both to --assign-org-unit and keep them when the package is installed again without it"""
    double.store.put(
        "organisationUnits",
        {
            "id": OTHER_UNIT,
            "name": "Other",
            "shortName": "Other",
            "openingDate": "2000-01-01",
            "path": f"/{OTHER_UNIT}",
        },
    )
    connector = connect(double, codebook, package, org_unit=ORG_UNIT)
    first = connector.install(assign_to=[ORG_UNIT])
    assert first.ok and not [w for w in first.warnings if "assigned to no org unit" in w]
    program = package["programs"][0]["id"]
    assert assigned(double, "programs", program) == [ORG_UNIT]
    assert assigned(double, "dataSets", layout.data_set) == [ORG_UNIT]
    assert connector.install(assign_to=[OTHER_UNIT]).ok and connector.install().ok
    assert assigned(double, "programs", program) == [ORG_UNIT, OTHER_UNIT]
    assert assigned(double, "dataSets", layout.data_set) == [ORG_UNIT, OTHER_UNIT]


def test_install__an_unassigned_data_set_is_a_warning(double, codebook, package):
    """should warn that the data set reports nowhere when no org unit is assigned"""
    result = connect(double, codebook, package, org_unit=ORG_UNIT).install()
    assert result.ok and any(
        "data set TIP_INDICATORS is assigned to no org unit" in w for w in result.warnings
    )


# --- periods and warnings of push-aggregates ----------------------------------------------------------


def installed(
    double: Dhis2Double, codebook: Codebook, package: dict[str, Any], assign: bool = True
):
    result = connect(double, codebook, package, org_unit=ORG_UNIT).install(
        assign_to=[ORG_UNIT] if assign else []
    )
    assert result.ok
    return client_for(double)


def test_push__yearly_period_to_an_assigned_org_unit_has_no_warning(
    any_version, codebook, package, tables
):
    """should commit a year to the Yearly data set of an installed package without any warning"""
    client = installed(any_version, codebook, package)
    result = push_aggregates(
        client, [], codebook, package, period=PERIOD, org_unit=ORG_UNIT, k=K, tables=tables
    )
    assert (
        result.ok
        and result.commit is not None
        and result.warnings == []
        and result.plan.warnings == []
    )
    assert result.plan.unrepresentable == 0 and result.plan.no_combo == 0
    assert len(stored(any_version)) == result.plan.sent > 0


def test_push__a_quarter_to_the_yearly_data_set_is_refused(double, codebook, package, tables):
    """should refuse a quarter for a Yearly data set before computing or sending anything"""
    client = installed(double, codebook, package)
    with pytest.raises(PeriodTypeMismatch, match="Yearly"):
        push_aggregates(
            client,
            [],
            codebook,
            package,
            period=ReportingPeriod.parse("2025Q1"),
            org_unit=ORG_UNIT,
            k=K,
            tables=tables,
        )
    assert double.requests_to("dataValueSets") == []


def test_push__quarterly_package_takes_quarters_without_warning(double, codebook):
    """should push a quarter to the data set of a package built Quarterly, without a warning"""
    package = build_metadata(codebook, DeploymentPolicy(aggregate_period_type="Quarterly")).json
    client = installed(double, codebook, package)
    layout = layout_from_package(package, codebook)
    quarter = ReportingPeriod.parse("2025Q3")
    tables = protected_tables(make_records(90), layout, quarter.period, k=K, codebook=codebook)
    result = push_aggregates(
        client, [], codebook, package, period=quarter, org_unit=ORG_UNIT, k=K, tables=tables
    )
    assert result.ok and result.warnings == [] and result.plan.payload["period"] == "2025Q3"
    with pytest.raises(PeriodTypeMismatch, match="Quarterly"):
        push_aggregates(
            client, [], codebook, package, period=PERIOD, org_unit=ORG_UNIT, k=K, tables=tables
        )


def test_push__unassigned_org_unit_and_missing_data_set_are_warnings(
    double, codebook, package, tables
):
    """should warn about an org unit the data set is not assigned to, and about a data set the server lacks"""
    client = client_for(double)
    missing = push_aggregates(
        client,
        [],
        codebook,
        package,
        period=PERIOD,
        org_unit=ORG_UNIT,
        k=K,
        tables=tables,
        dry_run=True,
    )
    assert any("has no data set" in w for w in missing.warnings)
    installed(double, codebook, package, assign=False)
    unassigned = push_aggregates(
        client,
        [],
        codebook,
        package,
        period=PERIOD,
        org_unit=ORG_UNIT,
        k=K,
        tables=tables,
        dry_run=True,
    )
    assert [w for w in unassigned.warnings if "not assigned" in w and "--assign-org-unit" in w]


def test_cli_push_aggregates__period_of_another_type_exits_2(
    double, codebook, package, monkeypatch, tmp_path
):
    """should exit 2 naming the data set's period type when the period is of another type"""
    installed(double, codebook, package)
    monkeypatch.setattr(cli, "load_codebook", lambda path: codebook)
    monkeypatch.setenv("TIPDATA_DHIS2_URL", double.base_url)
    monkeypatch.setenv("TIPDATA_DHIS2_TOKEN", double.token)
    monkeypatch.delenv("TIPDATA_DHIS2_TOKEN_FILE", raising=False)
    result = CliRunner().invoke(
        dhis2_app,
        [
            "push-aggregates",
            "--period",
            "202503",
            "--org-unit",
            ORG_UNIT,
            "--ledger",
            str(tmp_path / "ledger.sqlite"),
        ],
    )
    assert result.exit_code == 2 and "Yearly" in result.output
    assert not (tmp_path / "ledger.sqlite").exists()  # refused before the ledger is read


def test_cli_install__reports_the_generated_option_combos(
    double, codebook, package, monkeypatch, tmp_path
):
    """should print how many option combos DHIS2 generated and assign the data set with --assign-org-unit"""
    package_file = tmp_path / "package.json"
    package_file.write_text(json.dumps(package), encoding="utf-8")
    monkeypatch.setattr(cli, "load_codebook", lambda path: codebook)
    monkeypatch.setenv("TIPDATA_DHIS2_URL", double.base_url)
    monkeypatch.setenv("TIPDATA_DHIS2_TOKEN", double.token)
    monkeypatch.delenv("TIPDATA_DHIS2_TOKEN_FILE", raising=False)
    result = CliRunner().invoke(
        dhis2_app, ["install", "--metadata", str(package_file), "--assign-org-unit", ORG_UNIT]
    )
    assert result.exit_code == 0, result.output
    assert "category option combos: 408 created" in result.output
    data_set = package["dataSets"][0]["id"]
    assert assigned(double, "dataSets", data_set) == [ORG_UNIT]


# --- the double ----------------------------------------------------------------------------------------


def _combo_package(forms: int) -> dict[str, Any]:
    """Three categories (5 × 10 × forms options) in one combo, in the builder's shape."""
    sharing = {"public": "rw------", "external": False, "users": {}, "userGroups": {}}
    options, categories = [], []
    for name, size in (("a", 5), ("b", 10), ("c", forms)):
        refs = []
        for i in range(size):
            uid = uid_for("categoryOption", f"limit:{name}{i}")
            options.append(
                {
                    "id": uid,
                    "name": f"Limit {name}{i}",
                    "shortName": f"Limit {name}{i}",
                    "sharing": sharing,
                }
            )
            refs.append({"id": uid})
        categories.append(
            {
                "id": uid_for("category", f"limit:{name}"),
                "name": f"Limit {name}",
                "shortName": f"Limit {name}",
                "dataDimensionType": "DISAGGREGATION",
                "categoryOptions": refs,
                "sharing": sharing,
            }
        )
    combo = {
        "id": uid_for("categoryCombo", "limit"),
        "name": "Limit combo",
        "dataDimensionType": "DISAGGREGATION",
        "categories": [{"id": c["id"]} for c in categories],
        "sharing": sharing,
    }
    return {"categoryOptions": options, "categories": categories, "categoryCombos": [combo]}


@pytest.mark.parametrize(
    "version, forms, refused",
    [("2.40", 15, False), ("2.41", 15, True), ("2.43", 15, True), ("2.43", 10, False)],
)
def test_double_metadata__combinations_over_500_refused_from_2_41(version, forms, refused):
    """should refuse a combo of more than 500 combinations with E1128 from 2.41 (600 = sex × age × 15 forms)"""
    with Dhis2Double(version) as double:
        report = client_for(double).import_metadata(_combo_package(forms), "VALIDATE")
        codes = [
            e["errorCode"]
            for t in report["typeReports"]
            for o in t["objectReports"]
            for e in o["errorReports"]
        ]
        assert codes == (["E1128"] if refused else []) and (report["status"] == "ERROR") is refused


def test_double_combos__per_combo_update_answers_import_summaries(
    double, package, layout, codebook
):
    """should answer each combo's update with an ImportSummaries WebMessage and keep combos holding data"""
    installed(double, codebook, package)
    client = client_for(double)
    justice = layout.counts["convictions"].category_combo
    path = f"maintenance/categoryOptionComboUpdate/categoryCombo/{justice}"
    body = client.api.request("POST", path, expected=(200,)).json()
    assert (
        body["message"] == "Import was successful."
        and body["response"]["responseType"] == "ImportSummaries"
    )
    assert body["response"]["imported"] == 0
    used = next(iter(server_combos(double, layout)[justice].values()))
    double.store.data_values[("X", "2025", ORG_UNIT, used, "HllvX50cXC0")] = {"value": "3"}
    category = double.store.get("categories", uid_for("category", "exploitation_form"))
    category["categoryOptions"] = category["categoryOptions"][1:]
    answer = client.api.request("POST", path, expected=(409,)).json()
    assert answer["status"] == "WARNING" and answer["response"]["ignored"] >= 1
    assert used in {c["id"] for c in fetch_category_option_combos(client, [justice])}


def test_double_combos__maintenance_needs_the_authority():
    """should answer 403 naming F_PERFORM_MAINTENANCE to a user without it"""
    with Dhis2Double("2.42", authorities=()) as double:
        response = client_for(double).api.request(
            "POST", "maintenance/categoryOptionComboUpdate", expected=(403,)
        )
        assert MAINTENANCE_AUTHORITY in response.json()["message"]


def test_double_combos__are_the_option_products_of_the_layout(double, codebook, package, layout):
    """should generate exactly the option products the layout predicts"""
    installed(double, codebook, package)
    found = server_combos(double, layout)
    for count in layout.counts.values():
        products = {
            frozenset(p)
            for p in itertools.product(*[layout.options[d].values() for d in count.dimensions])
        }
        assert set(found[count.category_combo]) == products
