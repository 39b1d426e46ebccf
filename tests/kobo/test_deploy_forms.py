"""Deploying built XLSForms to the Kobo double: create, then update in place, with a dry-run plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.kobo.kobo_connector_fixtures import SCREENING, xlsform_bytes
from tipdata.kobo_forms.cli import kobo_app
from tipdata.kobo_forms.deploy import (
    BuiltForm,
    BuiltFormMissing,
    apply_deploy,
    plan_deploy,
    plan_form,
    read_built_forms,
)
from tipdata.kobo_forms.form_assets import (
    AmbiguousFormAsset,
    FormAsset,
    FormAssetRegistry,
    claimed_form_id,
    find_form_asset,
)

pytest_plugins = ("tests.kobo.kobo_connector_fixtures",)

CHILD = "tip_screening_child"


@pytest.fixture
def forms_dir(tmp_path, codebook) -> Path:
    folder = tmp_path / "xlsforms"
    folder.mkdir()
    for form_id in (SCREENING, CHILD):
        (folder / f"{form_id}.xlsx").write_bytes(xlsform_bytes(codebook, form_id))
    return folder


@pytest.fixture
def registry(tmp_path) -> FormAssetRegistry:
    return FormAssetRegistry(tmp_path / "kobo-assets.json")


def survey_assets(kobo) -> list[dict]:
    return [a for a in kobo.state.assets.values() if a.asset_type == "survey"]


def deploy(client, forms_dir, codebook, registry, form_ids=(SCREENING,)):
    built = read_built_forms(forms_dir, list(form_ids), codebook.forms)
    steps = plan_deploy(client, built, registry)
    return steps, apply_deploy(client, built, steps, registry)


def changed_copy(codebook, forms_dir: Path) -> None:
    """Rewrite the screening XLSForm as the next codebook release would (new title → new version)."""
    changed = codebook.model_copy(update={"forms": {
        **codebook.forms,
        SCREENING: codebook.forms[SCREENING].model_copy(update={"title": "TIP screening v2"})}})
    (forms_dir / f"{SCREENING}.xlsx").write_bytes(xlsform_bytes(changed, SCREENING))


def test_built_form__reads_settings(forms_dir):
    """should read the form id, title and version that `tipdata build` put in the settings"""
    form = BuiltForm.read(forms_dir / f"{SCREENING}.xlsx")
    assert form.form_id == SCREENING
    assert form.title == "Trafficking indicators screening - adult"
    assert form.version.startswith("0.1.0.")
    assert not form.encrypted
    assert "content" not in repr(form) or "b'" not in repr(form)


def test_read_built_forms__names_every_missing_form(forms_dir, codebook):
    """should report unknown and unbuilt forms together, pointing at `tipdata build`"""
    with pytest.raises(BuiltFormMissing) as caught:
        read_built_forms(forms_dir, ["tip_referral", "not_a_form"], codebook.forms)
    assert "tip_referral.xlsx is missing" in str(caught.value)
    assert "'not_a_form' is not a codebook form" in str(caught.value)
    assert "tipdata build" in str(caught.value)


def test_deploy__creates_a_deployed_survey(kobo, client, forms_dir, codebook, registry):
    """should import (library=false, name) as a survey, deploy it active and return its links"""
    steps, results = deploy(client, forms_dir, codebook, registry)
    assert [s.action for s in steps] == ["create"]
    [result] = results
    asset = client.assets.get(result.asset_uid)
    assert asset["asset_type"] == "survey"
    assert asset["name"] == "Trafficking indicators screening - adult"
    assert asset["deployment_status"] == "deployed"
    assert result.kobo_version_id == asset["deployed_version_id"]
    assert result.links["url"].startswith("https://")
    imports = [r for r in kobo.requests if r.method == "POST" and r.path == "/api/v2/imports/"]
    assert len(imports) == 1
    assert registry.get(client.config.base_url, SCREENING).asset_uid == result.asset_uid


def test_deploy__second_run_is_unchanged(kobo, client, forms_dir, codebook, registry):
    """should find the deployed asset again and send nothing when the form did not change"""
    deploy(client, forms_dir, codebook, registry)
    kobo.clear_requests()
    steps, results = deploy(client, forms_dir, codebook, registry)
    assert [s.action for s in steps] == ["unchanged"]
    assert [r for r in kobo.requests if r.method != "GET"] == []
    assert len(survey_assets(kobo)) == 1


def test_deploy__changed_form_replaces_in_place(kobo, client, forms_dir, codebook, registry):
    """should replace the content of the same asset and redeploy it, never creating a second"""
    _, [first] = deploy(client, forms_dir, codebook, registry)
    changed_copy(codebook, forms_dir)
    steps, [second] = deploy(client, forms_dir, codebook, registry)
    assert [s.action for s in steps] == ["replace"]
    assert second.asset_uid == first.asset_uid
    assert second.kobo_version_id != first.kobo_version_id
    assert len(survey_assets(kobo)) == 1
    asset = client.assets.get(first.asset_uid)
    assert asset["deployed_version_id"] == asset["version_id"] == second.kobo_version_id
    assert asset["name"] == "TIP screening v2"
    patches = [r for r in kobo.requests if r.method == "PATCH" and r.path.endswith("/deployment/")]
    assert len(patches) == 1


def test_deploy__finds_the_asset_without_the_registry(kobo, client, forms_dir, codebook, tmp_path):
    """should match the asset by the form id in its content when the registry file is lost"""
    _, [first] = deploy(client, forms_dir, codebook, FormAssetRegistry(tmp_path / "a.json"))
    changed_copy(codebook, forms_dir)  # the title changes too: the match is by form id
    steps, [second] = deploy(client, forms_dir, codebook, FormAssetRegistry(tmp_path / "b.json"))
    assert [s.action for s in steps] == ["replace"]
    assert second.asset_uid == first.asset_uid
    assert len(survey_assets(kobo)) == 1


def test_deploy__archived_form_is_redeployed(kobo, client, forms_dir, codebook, registry):
    """should plan a replace for an archived asset and make it active again"""
    _, [first] = deploy(client, forms_dir, codebook, registry)
    client.deployment.set_active(first.asset_uid, False)
    steps, [again] = deploy(client, forms_dir, codebook, registry)
    assert [(s.action, s.reason) for s in steps] == [
        ("replace", "the asset is not deployed and active")]
    assert client.assets.get(again.asset_uid)["deployment__active"] is True


def test_deploy__several_forms_one_asset_each(kobo, client, forms_dir, codebook, registry):
    """should give each form its own asset and keep them apart on the next run"""
    _, results = deploy(client, forms_dir, codebook, registry, (SCREENING, CHILD))
    assert len({r.asset_uid for r in results}) == 2
    steps, _ = deploy(client, forms_dir, codebook, registry, (SCREENING, CHILD))
    assert [s.action for s in steps] == ["unchanged", "unchanged"]
    assert len(survey_assets(kobo)) == 2


def test_find_form_asset__ambiguous_is_an_error(kobo, client, screening_xlsx):
    """should refuse to guess when two assets claim the same form"""
    kobo.create_form(screening_xlsx, name="a.xlsx", deploy=False)
    kobo.create_form(screening_xlsx, name="b.xlsx", deploy=False)
    with pytest.raises(AmbiguousFormAsset) as caught:
        find_form_asset(client, SCREENING, "Trafficking indicators screening - adult")
    assert len(caught.value.uids) == 2 and "archive or delete" in str(caught.value)


def test_find_form_asset__prefers_the_deployed_twin(kobo, client, screening_xlsx):
    """should pick the deployed asset when a failed earlier run left an undeployed copy"""
    kobo.create_form(screening_xlsx, name="a.xlsx", deploy=False)
    deployed = kobo.create_form(screening_xlsx, name="b.xlsx")
    assert find_form_asset(client, SCREENING, "x")["uid"] == deployed


def test_find_form_asset__ignores_other_forms_and_blocks(kobo, client, codebook):
    """should not take an asset holding another form, even one with the same title"""
    kobo.create_form(xlsform_bytes(codebook, CHILD), name="child.xlsx")
    assert find_form_asset(client, SCREENING, codebook.forms[CHILD].title) is None


def test_claimed_form_id__ignores_the_asset_uid():
    """should not treat the uid Kobo writes into a deployed XForm as a form id"""
    assert claimed_form_id({"uid": "aX", "content": {"settings": {"id_string": "aX"}}}) is None
    assert claimed_form_id({"uid": "aX", "content": {"settings": {"id_string": SCREENING}}}) \
        == SCREENING


def test_plan_form__pure_decisions(forms_dir):
    """should decide create / replace / unchanged from the asset and the registry alone"""
    form = BuiltForm.read(forms_dir / f"{SCREENING}.xlsx")
    deployed = {"uid": "aX", "deployment_status": "deployed", "version_id": "v2",
                "deployed_version_id": "v2", "content": {"settings": {}}}
    assert plan_form(form, None, None).action == "create"
    assert plan_form(form, deployed, FormAsset("aX", form.version, "v2")).action == "unchanged"
    assert plan_form(form, deployed, FormAsset("aX", "0.0.9.1", "v2")).action == "replace"
    assert plan_form(form, {**deployed, "version_id": "v3"},
                     FormAsset("aX", form.version, "v2")).reason == \
        "the asset has content changes that were never deployed"


def test_deploy__import_error_is_reported(kobo, client, tmp_path, codebook, registry):
    """should stop with Kobo's import error and hint when the XLSForm is rejected"""
    from tests.doubles.kobo_workbooks import build_xlsform

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / f"{SCREENING}.xlsx").write_bytes(build_xlsform(
        [("type", "name", "label"), ("integer", "age", "Age"), ("integer", "age", "Again")],
        settings={"form_title": "Broken", "form_id": SCREENING, "version": "1"}))
    built = read_built_forms(folder, [SCREENING], codebook.forms)
    steps = plan_deploy(client, built, registry)
    with pytest.raises(Exception) as caught:
        apply_deploy(client, built, steps, registry)
    assert "import failed" in str(caught.value) and "Duplicate" in str(caught.value)
    assert registry.get(client.config.base_url, SCREENING) is None


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def cli_env(kobo, monkeypatch, tmp_path):
    monkeypatch.setenv("TIPDATA_KOBO_URL", kobo.base_url)
    monkeypatch.setenv("TIPDATA_KOBO_TOKEN", kobo.token)
    return ["--registry", str(tmp_path / "registry.json")]


def test_deploy_command__dry_run_then_deploy(kobo, forms_dir, cli_env):
    """should print the plan without changing anything, then deploy and print the web link"""
    runner = CliRunner()
    planned = runner.invoke(kobo_app, ["deploy", SCREENING, "--dry-run", "--json",
                                       "--forms-dir", str(forms_dir), *cli_env])
    assert planned.exit_code == 0, planned.output
    assert [s["action"] for s in json.loads(planned.stdout)["plan"]] == ["create"]
    assert survey_assets(kobo) == []
    done = runner.invoke(kobo_app, ["deploy", SCREENING, "--forms-dir", str(forms_dir), *cli_env])
    assert done.exit_code == 0, done.output
    assert "create" in done.stdout and "https://" in done.stdout
    again = runner.invoke(kobo_app, ["deploy", SCREENING, "--dry-run", "--json",
                                     "--forms-dir", str(forms_dir), *cli_env])
    assert [s["action"] for s in json.loads(again.stdout)["plan"]] == ["unchanged"]
    assert kobo.token not in done.output + planned.output + again.output


def test_deploy_command__unknown_form_is_a_usage_error(cli_env, forms_dir):
    """should exit 2 naming the unknown form"""
    result = CliRunner().invoke(kobo_app, ["deploy", "tip_nothing", "--forms-dir",
                                           str(forms_dir), *cli_env])
    assert result.exit_code == 2 and "tip_nothing" in result.output


def test_deploy_command__bad_token_exits_1_with_hint(kobo, forms_dir, cli_env, monkeypatch):
    """should exit 1 with the 401 explanation when the token is wrong"""
    monkeypatch.setenv("TIPDATA_KOBO_TOKEN", "f" * 40)
    result = CliRunner().invoke(kobo_app, ["deploy", SCREENING, "--forms-dir", str(forms_dir),
                                           *cli_env])
    assert result.exit_code == 1
    assert "401" in result.output and "Account Settings" in result.output
    assert "f" * 40 not in result.output
