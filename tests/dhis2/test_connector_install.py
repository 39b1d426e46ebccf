"""`Dhis2Connector.install`: VALIDATE first, COMMIT only when DHIS2 found nothing wrong."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dhis2.connector_support import VERSIONS, build_package, connect
from tests.doubles.dhis2 import Dhis2Double
from tipdata.codebook import load_codebook


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(params=VERSIONS)
def double(request: pytest.FixtureRequest) -> Iterator[Dhis2Double]:
    with Dhis2Double(request.param) as running:
        yield running


def test_install__validates_then_commits(double, codebook):
    """should send importMode=VALIDATE, then COMMIT, and report the created objects"""
    package = build_package(codebook)
    result = connect(double, codebook, package).install()
    posts = double.requests_to("/api/metadata", "POST")
    assert result.ok and result.phase == "commit" and result.problems == []
    assert [p.query["importMode"] for p in posts] == ["VALIDATE", "COMMIT"]
    assert all(p.query["importStrategy"] == "CREATE_AND_UPDATE" and p.query["atomicMode"] == "ALL" for p in posts)
    assert result.stats["created"] == sum(len(v) for v in package.values())
    assert set(double.metadata_of("programs")) == {package["programs"][0]["id"]}


def test_install__second_run_updates(double, codebook):
    """should update the same objects on a second install (deterministic UIDs)"""
    connector = connect(double, codebook)
    first = connector.install()
    second = connector.install()
    assert second.ok and second.stats["created"] == 0 and second.stats["updated"] == first.stats["created"]


def test_install__failing_validation_lists_objects_and_commits_nothing(double, codebook):
    """should stop after VALIDATE, listing each object, property and DHIS2 code, and import nothing"""
    package = build_package(codebook)
    broken_element = package["dataElements"][0]
    broken_element["code"] = "x" * 51
    del package["trackedEntityAttributes"][1]["shortName"]
    package["programStages"][0]["programStageDataElements"][0]["dataElement"] = {"id": "DeMissing01"}
    result = connect(double, codebook, package).install()
    found = {(p.object_type, p.uid, p.property, p.code) for p in result.problems}
    assert not result.ok and result.phase == "validate"
    assert found == {
        ("DataElement", broken_element["id"], "code", "E4001"),
        ("TrackedEntityAttribute", package["trackedEntityAttributes"][1]["id"], "shortName", "E4000"),
        ("ProgramStage", package["programStages"][0]["id"], "dataElement", "E5002"),
    }
    assert [p.query["importMode"] for p in double.requests_to("/api/metadata", "POST")] == ["VALIDATE"]
    assert double.metadata_of("dataElements") == {}


@pytest.mark.parametrize("version, ok", [("2.40", True), ("2.41", True), ("2.42", False), ("2.43", False)])
def test_install__tracked_entity_type_short_name_is_version_dependent(version, ok, codebook):
    """should pass without TrackedEntityType.shortName up to 2.41 and fail validation from 2.42"""
    package = build_package(codebook)
    del package["trackedEntityTypes"][0]["shortName"]
    with Dhis2Double(version) as double:
        result = connect(double, codebook, package).install()
    assert result.ok is ok
    if not ok:
        assert [(p.object_type, p.code) for p in result.problems] == [("TrackedEntityType", "E4000")]


def test_install__refuses_a_package_with_immigration_status(double, codebook):
    """should refuse, before sending anything, a package that would put a restricted element on DHIS2"""
    package = build_package(codebook, extra_te_attributes={"person_immigration_status": "TEXT"})
    result = connect(double, codebook, package).install()
    assert not result.ok and result.phase == "refused"
    assert [(p.code, p.property) for p in result.problems] == [("DH403", "code")]
    assert double.requests_to("/api/metadata") == []


def test_install__assigns_the_program_to_extra_org_units(codebook):
    """should add the given org units to the program before importing it"""
    with Dhis2Double("2.42", org_units=("ImspTQPwCqd", "OuSecond001")) as double:
        connector = connect(double, codebook)
        result = connector.install(assign_to=["OuSecond001"])
        program = next(iter(double.metadata_of("programs").values()))
    assert result.ok
    assert [ref["id"] for ref in program["organisationUnits"]] == ["ImspTQPwCqd", "OuSecond001"]


def test_install__validate_only_stops_before_commit(double, codebook):
    """should ask DHIS2 to validate and import nothing with validate_only"""
    result = connect(double, codebook).install(validate_only=True)
    assert result.ok and result.phase == "validate"
    assert double.metadata_of("programs") == {}


def test_install__warns_about_legacy_sharing_from_241(double, codebook):
    """should warn that 2.41+ ignores legacy publicAccess keys"""
    package = build_package(codebook)
    package["programs"][0]["publicAccess"] = "rwrw----"
    result = connect(double, codebook, package).install()
    assert result.ok
    assert bool(result.warnings) is (double.minor >= 41)


def test_install__warns_when_the_program_has_no_org_unit(double, codebook):
    """should warn that DHIS2 will refuse enrollments when no org unit is assigned"""
    result = connect(double, codebook, build_package(codebook, org_units=())).install()
    assert result.ok and any("--assign-org-unit" in w for w in result.warnings)
