"""Deploy built XLSForms to KoboToolbox: plan (create / replace / unchanged), then apply.

Per form, following kobo-api.md §10:

- **create**: `POST /api/v2/imports/` (`file`, `name`, `library=false`) → poll the task →
  `messages.created[0].uid` → `POST …/deployment/ {"active": true}` → read the asset for its
  `version_id` and web-form links;
- **replace**: the same import with `destination=<asset url>` (the content is replaced in place,
  same uid, same submissions) → `messages.updated[0].uid` → read `version_id` → `PATCH
  …/deployment/ {"active": true, "version_id": …}` (or `POST` if the asset was never deployed:
  replacing content never redeploys, §3.3);
- **unchanged**: the asset is deployed and active and its deployed version is the one our
  current XLSForm version became last time (registry), or its stored settings still carry our
  version; nothing is sent.

The asset is found by the stable codebook form id (`form_assets.find_form_asset`), so running
deploy twice updates the same project and never duplicates it. Imports are never retried after
they may have reached the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tipdata.http import PlatformError
from tipdata.kobo_forms.connector import KoboClient
from tipdata.kobo_forms.form_assets import FormAsset, FormAssetRegistry, find_form_asset
from tipdata.spreadsheet import read_xlsx

DeployAction = Literal["create", "replace", "unchanged"]


class BuiltFormMissing(Exception):
    """An XLSForm to deploy is not in the build output."""


@dataclass(frozen=True)
class BuiltForm:
    """One XLSForm from `tipdata build`, with what its settings sheet says."""

    form_id: str
    title: str
    version: str
    path: Path
    content: bytes = field(repr=False)
    encrypted: bool = False

    @classmethod
    def read(cls, path: Path) -> BuiltForm:
        """Read `xlsforms/<form>.xlsx`; raises ValueError naming what is wrong with it."""
        content = Path(path).read_bytes()
        try:
            sheets = read_xlsx(content)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise ValueError(f"{path} is not a readable XLSForm ({type(exc).__name__}). "
                             "Fix: run `tipdata build`") from None
        rows = sheets.get("settings") or []
        if len(rows) < 2:
            raise ValueError(f"{path} has no settings row. Fix: run `tipdata build`")
        settings = {str(k): ("" if v is None else str(v)) for k, v in zip(rows[0], rows[1],
                                                                          strict=False) if k}
        if not settings.get("form_id"):
            raise ValueError(f"{path}: settings has no form_id. Fix: run `tipdata build`")
        return cls(settings["form_id"], settings.get("form_title") or settings["form_id"],
                   settings.get("version", ""), Path(path), content,
                   bool(settings.get("public_key")))


def read_built_forms(forms_dir: Path, form_ids: Sequence[str] | None,
                     known_form_ids: Iterable[str]) -> list[BuiltForm]:
    """The built XLSForms to deploy: the named forms, or every codebook form.

    Raises `BuiltFormMissing` naming every missing or unknown form at once.
    """
    known = sorted(known_form_ids)
    wanted = list(form_ids) if form_ids else known
    problems = [f"{form_id!r} is not a codebook form (known: {', '.join(known)})"
                for form_id in wanted if form_id not in known]
    problems += [f"{forms_dir / f'{form_id}.xlsx'} is missing"
                 for form_id in wanted if form_id in known
                 and not (forms_dir / f"{form_id}.xlsx").is_file()]
    if problems:
        raise BuiltFormMissing("; ".join(problems) + ". Fix: run `tipdata build`, and name "
                               "forms by their codebook id")
    return [BuiltForm.read(forms_dir / f"{form_id}.xlsx") for form_id in wanted]


@dataclass(frozen=True)
class DeployStep:
    """What deploy will do with one form, and why."""

    form_id: str
    action: DeployAction
    asset_uid: str | None
    reason: str


@dataclass(frozen=True)
class DeployResult:
    """What deploy did with one form; `links` are the Enketo web-form links (§4.4)."""

    form_id: str
    action: DeployAction
    asset_uid: str
    kobo_version_id: str | None
    links: dict[str, str]
    encrypted: bool

    def as_dict(self) -> dict[str, Any]:
        return {"form_id": self.form_id, "action": self.action, "asset_uid": self.asset_uid,
                "kobo_version_id": self.kobo_version_id, "links": self.links,
                "encrypted": self.encrypted}


def _deployed_and_active(asset: dict[str, Any]) -> bool:
    if asset.get("deployment_status") is not None:
        return asset["deployment_status"] == "deployed"
    return bool(asset.get("has_deployment")) and asset.get("deployment__active") is not False


def _stored_version(asset: dict[str, Any]) -> str | None:
    content = asset.get("content")
    settings = content.get("settings") if isinstance(content, dict) else None
    value = settings.get("version") if isinstance(settings, dict) else None
    return str(value) if value else None


def plan_form(form: BuiltForm, asset: dict[str, Any] | None,
              known: FormAsset | None) -> DeployStep:
    """The step for one form, from what the server holds (pure: no requests).

    >>> plan_form(form, None, None).action
    'create'
    """
    if asset is None:
        return DeployStep(form.form_id, "create", None, "no Kobo asset holds this form yet")
    uid = str(asset["uid"])
    if not _deployed_and_active(asset):
        return DeployStep(form.form_id, "replace", uid, "the asset is not deployed and active")
    current, deployed = asset.get("version_id"), asset.get("deployed_version_id")
    if current and deployed and current != deployed:
        return DeployStep(form.form_id, "replace", uid,
                          "the asset has content changes that were never deployed")
    if known is not None and known.asset_uid == uid and known.form_version == form.version \
            and known.kobo_version_id and known.kobo_version_id == deployed:
        return DeployStep(form.form_id, "unchanged", uid, f"version {form.version} is deployed")
    if _stored_version(asset) == form.version and deployed and current == deployed:
        return DeployStep(form.form_id, "unchanged", uid, f"version {form.version} is deployed")
    return DeployStep(form.form_id, "replace", uid, f"version {form.version} differs from the "
                      "deployed one")


def plan_deploy(client: KoboClient, forms: Sequence[BuiltForm],
                registry: FormAssetRegistry) -> list[DeployStep]:
    """One step per form: what `apply_deploy` would do. Only reads from the server."""
    server = client.config.base_url
    steps = []
    for form in forms:
        known = registry.get(server, form.form_id)
        asset = find_form_asset(client, form.form_id, form.title, known=known)
        steps.append(plan_form(form, asset, known))
    return steps


def apply_deploy(client: KoboClient, forms: Sequence[BuiltForm], steps: Sequence[DeployStep],
                 registry: FormAssetRegistry, *,
                 on_result: Callable[[DeployResult], None] | None = None,
                 import_timeout: float = 300.0) -> list[DeployResult]:
    """Carry out the plan, form by form; the registry is saved after each deployed form.

    A failure raises `PlatformError` (or `KoboImportFailed`) after the forms before it were
    deployed and recorded, so running deploy again continues where it stopped.
    """
    by_id = {form.form_id: form for form in forms}
    results = []
    for step in steps:
        form = by_id[step.form_id]
        if step.action == "unchanged":
            assert step.asset_uid is not None
            asset = client.assets.get(step.asset_uid)
        elif step.action == "create":
            asset = _create(client, form, import_timeout)
        else:
            assert step.asset_uid is not None
            asset = _replace(client, form, step.asset_uid, import_timeout)
        uid = str(asset["uid"])
        version_id = asset.get("deployed_version_id") or asset.get("version_id")
        registry.put(client.config.base_url, form.form_id,
                     FormAsset(uid, form.version, str(version_id) if version_id else None))
        registry.save()
        links = asset.get("deployment__links") or {}
        result = DeployResult(form.form_id, step.action, uid,
                              str(version_id) if version_id else None,
                              {str(k): str(v) for k, v in links.items()},
                              bool(asset.get("deployment__encrypted", form.encrypted)))
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _create(client: KoboClient, form: BuiltForm, timeout: float) -> dict[str, Any]:
    task_uid = client.imports.create(form.content, name=form.title, filename=form.path.name)
    task = client.imports.wait(task_uid, timeout=timeout)
    uid = _imported_uid(client, task, "created", task_uid)
    asset = client.assets.get(uid)
    if asset.get("asset_type") not in (None, "survey"):
        raise PlatformError("POST", client.session.url("api/v2/imports/"), 201,
                            f"the import made a {asset.get('asset_type')!r}, not a survey",
                            "the server ignored library=false; delete the asset on Kobo and "
                            "deploy again")
    client.deployment.create(uid, active=True)
    return client.assets.get(uid)


def _replace(client: KoboClient, form: BuiltForm, uid: str, timeout: float) -> dict[str, Any]:
    task_uid = client.imports.create(form.content, name=form.title, filename=form.path.name,
                                     destination=client.assets.url(uid))
    task = client.imports.wait(task_uid, timeout=timeout)
    updated = _imported_uid(client, task, "updated", task_uid)
    if updated != uid:
        raise PlatformError("POST", client.session.url("api/v2/imports/"), 201,
                            f"the import replaced asset {updated}, not {uid}",
                            "check the destination URL; nothing else was changed")
    asset = client.assets.get(uid)
    if client.deployment.get(uid) is None:
        client.deployment.create(uid, active=True)
    else:
        client.deployment.redeploy(uid, str(asset["version_id"]))
    return client.assets.get(uid)


def _imported_uid(client: KoboClient, task: dict[str, Any], kind: str, task_uid: str) -> str:
    messages = task.get("messages") or {}
    entries = messages.get(kind) or []
    if not entries or not isinstance(entries[0], dict) or not entries[0].get("uid"):
        raise PlatformError("GET", client.session.url(f"api/v2/imports/{task_uid}/"), 200,
                            f"the finished import lists no {kind} asset",
                            "check the asset list on Kobo; deploy again to continue")
    return str(entries[0]["uid"])
