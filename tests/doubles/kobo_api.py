"""The KPI `/api/v2/` surface of the Kobo double: routing, authentication, imports, assets, deployment.

Data routes live in `kobo_api_data.py`, REST Services in `kobo_api_hooks.py`, shared paging and
lookups in `kobo_api_base.py`. Source of truth: `/work/shared/reference/kobo-api.md`; where it
is silent this module follows kobotoolbox/kpi at 2e5efb0172e6 (read, never copied):
- `kpi/views/v2/import_task.py::create`, `kpi/models/import_export_task.py` (task flow, messages);
- `kpi/views/v2/asset.py::deployment`, `kpi/serializers/v2/deployment.py` (200/405/400/500);
- `kpi/serializers/v2/asset.py` (`AssetSerializer`/`AssetListSerializer` field names),
  `kpi/paginators.py::AssetPagination`, `Asset.Meta.ordering` (`-date_modified`);
- `kpi/authentication.py` (401 with `WWW-Authenticate: Session`), DRF `TokenAuthentication`
  (its header error texts), Django `APPEND_SLASH` (301 to the slashed URL).

Unknown paths get Django's HTML 404 page; exceptions kpi does not handle get its HTML 500 page.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from tests.doubles.kobo_api_base import FORBIDDEN, NOT_FOUND, ApiError, Page, ServerError
from tests.doubles.kobo_api_data import DataRoutes
from tests.doubles.kobo_api_hooks import HookRoutes
from tests.doubles.kobo_faults import PROXY_PAGES, FaultPlan
from tests.doubles.kobo_forms import (
    DeployFailed,
    ImportedContent,
    ImportFailed,
    content_from_kpi_json,
    import_content,
    read_workbook,
    take_form_title,
)
from tests.doubles.kobo_http import HttpRequest, HttpResponse, json_response
from tests.doubles.kobo_state import (
    PERM_CHANGE_ASSET,
    Asset,
    HookLog,
    ImportTask,
    KoboState,
    User,
    drf_datetime,
    new_uid,
)

DJANGO_404_PAGE = (b"<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n"
                   b"<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this "
                   b"server.</p>\n</body>\n</html>\n")
ASSET_TYPES = ("text", "empty", "question", "block", "survey", "template", "collection")


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    handlers: dict[str, str]
    """HTTP method → name of the KoboApi method answering it. Names ending in `_unlocked`
    take the state lock themselves (they make outbound HTTP calls first)."""


def _route(pattern: str, **handlers: str) -> Route:
    return Route(re.compile(pattern), {k.upper(): v for k, v in handlers.items()})


_UID = r"(?P<uid>[^/.]+)"
_PK = r"(?P<pk>[^/.]+)"
_FMT = r"(?P<fmt>\.json|\.xml)?"
ROUTES: tuple[Route, ...] = (
    _route(r"^/token/$", get="token"),
    _route(r"^/api/v2/imports/$", get="import_list", post="import_create_unlocked"),
    _route(r"^/api/v2/imports/(?P<uid>[^/.]+)/$", get="import_detail"),
    _route(r"^/api/v2/assets/$", get="asset_list", post="asset_create"),
    _route(rf"^/api/v2/assets/{_UID}/$", get="asset_detail", patch="asset_update",
           delete="asset_delete"),
    _route(rf"^/api/v2/assets/{_UID}/deployment/$", get="deployment_get",
           post="deployment_create", patch="deployment_update"),
    _route(rf"^/api/v2/assets/{_UID}/versions/$", get="version_list"),
    _route(rf"^/api/v2/assets/{_UID}/data{_FMT}/$", get="data_list"),
    _route(rf"^/api/v2/assets/{_UID}/data(?P<fmt>\.json|\.xml)$", get="data_list"),
    _route(rf"^/api/v2/assets/{_UID}/data/{_PK}/validation_status/$",
           get="validation_status_get", patch="validation_status_set"),
    _route(rf"^/api/v2/assets/{_UID}/data/{_PK}/enketo/(?P<action>edit|view)/$",
           get="enketo_link"),
    _route(rf"^/api/v2/assets/{_UID}/data/{_PK}/attachments/$", get="attachment_by_xpath"),
    _route(rf"^/api/v2/assets/{_UID}/data/{_PK}/attachments/(?P<att>[^/]+)/"
           r"(?:(?P<suffix>original|small|medium|large)/)?$", get="attachment_get"),
    _route(rf"^/api/v2/assets/{_UID}/data/{_PK}{_FMT}/$", get="data_detail",
           delete="data_delete"),
    _route(rf"^/api/v2/assets/{_UID}/data/{_PK}(?P<fmt>\.json|\.xml)$", get="data_detail"),
    _route(rf"^/api/v2/assets/{_UID}/hooks/$", get="hook_list", post="hook_create"),
    _route(rf"^/api/v2/assets/{_UID}/hooks/(?P<hook>[^/.]+)/$", get="hook_detail",
           patch="hook_patch", put="hook_put", delete="hook_delete"),
    _route(rf"^/api/v2/assets/{_UID}/hooks/(?P<hook>[^/.]+)/retry/$", patch="hook_retry"),
    _route(rf"^/api/v2/assets/{_UID}/hooks/(?P<hook>[^/.]+)/logs/$", get="hook_log_list"),
    _route(rf"^/api/v2/assets/{_UID}/hooks/(?P<hook>[^/.]+)/logs/(?P<log>[^/.]+)/$",
           get="hook_log_detail"),
    _route(rf"^/api/v2/assets/{_UID}/hooks/(?P<hook>[^/.]+)/logs/(?P<log>[^/.]+)/retry/$",
           patch="hook_log_retry_unlocked"),
)


class KoboApi(DataRoutes, HookRoutes):
    """Routes requests to handlers; holds the state lock while a handler runs (unless told not to)."""

    def __init__(self, state: KoboState, faults: FaultPlan,
                 retry_log: Callable[[str, str], HookLog | None]) -> None:
        super().__init__(state, faults)
        self._retry_log = retry_log
        self.allow_unsecured_hooks = True

    # ------------------------------------------------------------------ dispatch

    def __call__(self, request: HttpRequest) -> HttpResponse:
        route, match = self._match(request.path)
        if route is None:
            slashed = request.path + "/"
            if not request.path.endswith("/") and self._match(slashed)[0] is not None:
                location = request.base_url + slashed + (
                    f"?{request.raw_query}" if request.raw_query else "")
                return HttpResponse(301, b"", "text/html", {"Location": location})
            return HttpResponse(404, DJANGO_404_PAGE, "text/html")
        method = "GET" if request.method == "HEAD" else request.method
        after: list[Callable[[], None]] = []
        try:
            user = self._authenticate(request)
            name = route.handlers.get(method)
            if name is None:
                raise ApiError(405, {"detail": f'Method "{request.method}" not allowed.'})
            handler = getattr(self, name)
            kwargs = {k: v for k, v in match.groupdict().items()}
            if name.endswith("_unlocked"):
                response = handler(request, user, after=after, **kwargs)
            else:
                with self.state.lock:
                    response = handler(request, user, after=after, **kwargs)
        except ApiError as error:
            response = error.response
        except ServerError:
            response = HttpResponse(500, PROXY_PAGES[500].encode("utf-8"), "text/html")
        for action in after:
            action()
        return response

    def _match(self, path: str) -> tuple[Route | None, re.Match[str] | None]:
        for route in ROUTES:
            match = route.pattern.match(path)
            if match:
                return route, match
        return None, None

    def _authenticate(self, request: HttpRequest) -> User:
        header = request.header("authorization") or ""
        scheme, _, credentials = header.partition(" ")
        unauthenticated = {"WWW-Authenticate": "Session"}
        if scheme.lower() == "token":
            parts = header.split()
            if len(parts) == 1:
                raise ApiError(401, {"detail": "Invalid token header. No credentials provided."},
                               unauthenticated)
            if len(parts) > 2:
                raise ApiError(401, {"detail": "Invalid token header. Token string should not "
                                               "contain spaces."}, unauthenticated)
            with self.state.lock:
                user = self.state.user_for_token(parts[1])
            if user is None:
                raise ApiError(401, {"detail": "Invalid token."}, unauthenticated)
            return user
        if scheme.lower() == "basic" and credentials:
            try:
                username, _, password = base64.b64decode(credentials).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise ApiError(401, {"detail": "Invalid basic header. Credentials not correctly "
                                               "base64 encoded."}, unauthenticated) from None
            with self.state.lock:
                user = self.state.users.get(username)
            if user is None or user.password is None or user.password != password:
                raise ApiError(401, {"detail": "Invalid username/password."}, unauthenticated)
            return user
        raise ApiError(401, {"detail": "Authentication credentials were not provided."},
                       unauthenticated)

    # ------------------------------------------------------------------ token

    def token(self, request: HttpRequest, user: User, after: list) -> HttpResponse:
        return json_response(200, {"token": user.token})

    # ------------------------------------------------------------------ imports

    def import_create_unlocked(self, request: HttpRequest, user: User,
                               after: list) -> HttpResponse:
        """Imports may download a `url`; do that before taking the lock (it may be this server)."""
        form = request.form()
        if "url" in form and "base64Encoded" not in form and "file" not in form:
            try:
                response = requests.get(form["url"].text, timeout=10)
                response.raise_for_status()
                downloaded: bytes | ImportFailed = response.content
            except requests.RequestException as error:
                downloaded = ImportFailed(str(error), type(error).__name__)
            with self.state.lock:
                return self._import_create(request, user, form, downloaded)
        with self.state.lock:
            return self._import_create(request, user, form, None)

    def _import_create(self, request: HttpRequest, user: User, form: dict[str, Any],
                       downloaded: bytes | ImportFailed | None) -> HttpResponse:
        library = form["library"].text not in ("false",) if "library" in form else True
        filename = form["name"].text if "name" in form else None
        destination = form["destination"].text if "destination" in form else None
        desired_type = form["desired_type"].text if "desired_type" in form else None
        upload: bytes | None = None
        failure: ImportFailed | None = None
        if "base64Encoded" in form:
            encoded = form["base64Encoded"].text
            if "base64" not in encoded:
                raise ServerError("substring not found")  # kpi: str.index raises → 500
            try:
                upload = base64.b64decode(encoded[encoded.index("base64") + 7:])
            except (binascii.Error, ValueError) as error:
                failure = ImportFailed(str(error), type(error).__name__)
        elif "file" in form:
            upload = form["file"].value
        elif isinstance(downloaded, ImportFailed):
            failure = downloaded
        elif downloaded is not None:
            upload = downloaded
        else:
            failure = ImportFailed("ImportTask data must contain `base64Encoded`, `url`, or "
                                   "`single_xls_url`", "Exception")
        task = ImportTask(uid=new_uid("i"), owner=user.username, date_created=self.state.now(),
                          status="processing", polls_until_done=self.state.import_polls_until_done,
                          outcome_status="error", messages={})
        if failure is None:
            try:
                task.apply = self._plan_import(user, upload or b"", filename=filename,
                                               destination=destination, library=library,
                                               desired_type=desired_type)
                task.outcome_status = "complete"
            except ImportFailed as error:
                failure = error
        if failure is not None:
            task.error_messages = {"error": failure.message, "error_type": failure.error_type}
        self.state.imports[task.uid] = task
        url = f"{request.base_url}/api/v2/imports/{task.uid}/"
        return json_response(201, {"uid": task.uid, "url": url, "status": "processing"})

    def _plan_import(self, user: User, upload: bytes, *, filename: str | None,
                     destination: str | None, library: bool,
                     desired_type: str | None) -> Callable[[], dict[str, Any]]:
        target: Asset | None = None
        if destination:
            match = re.search(r"/api/v2/assets/([^/.]+)", destination)
            target = self.state.assets.get(match.group(1)) if match else None
            if target is None:
                raise ImportFailed("Asset matching query does not exist.", "DoesNotExist")
            if PERM_CHANGE_ASSET not in self.state.permissions(target, user.username):
                raise ImportFailed("user cannot update asset", "PermissionDenied")
            if target.asset_type == "collection":
                raise ImportFailed("cannot import into a collection at this time",
                                   "NotImplementedError")
        imported = import_content(read_workbook(upload), filename=filename, library=library,
                                  desired_type=desired_type, into_existing=target is not None)

        def apply() -> dict[str, Any]:
            return self._apply_import(user, imported, target)

        return apply

    def _apply_import(self, user: User, imported: ImportedContent,
                      target: Asset | None) -> dict[str, Any]:
        content = imported.content
        title = take_form_title(content)
        if target is None:
            if "id_string" not in content["settings"] and "form_id" not in content["settings"]:
                content["settings"]["id_string"] = re.sub(r"[^a-z0-9_]+", "_",
                                                          imported.filename.lower()).strip("_")
            asset = self.state.create_asset(user.username, name=title or imported.filename,
                                            asset_type=imported.asset_type, content=content)
            kind = "collection" if imported.asset_type == "collection" else "asset"
            return {"created": [{"uid": asset.uid, "summary": asset.summary, "kind": kind,
                                 "owner__username": user.username}]}
        old_name = target.name
        if target.asset_type == "empty":
            target.asset_type = "survey"
        new_name = title or target.name or imported.filename
        self.state.save_content(target, content, name=new_name)
        return {
            "updated": [{"uid": target.uid, "summary": target.summary, "kind": "asset",
                         "owner__username": user.username}],
            "audit_logs": [{"asset_uid": target.uid, "asset_id": target.id,
                            "latest_version_uid": target.version_id, "ip_address": None,
                            "source": None, "old_name": old_name, "new_name": target.name,
                            "project_owner": target.owner}],
        }

    def _import_json(self, task: ImportTask, request: HttpRequest, with_url: bool) -> dict:
        body: dict[str, Any] = {}
        if with_url:
            body["url"] = f"{request.base_url}/api/v2/imports/{task.uid}/"
        body.update({"status": task.status, "uid": task.uid, "messages": task.messages,
                     "date_created": drf_datetime(task.date_created)})
        return body

    def import_detail(self, request: HttpRequest, user: User, after: list,
                      uid: str) -> HttpResponse:
        task = self.state.imports.get(uid)
        if task is None or task.owner != user.username:
            raise ApiError(404, NOT_FOUND)
        if task.status in ("created", "processing"):
            if task.polls_until_done > 0:
                task.polls_until_done -= 1
            else:
                self._finish_import(task)
        return json_response(200, self._import_json(task, request, with_url=False))

    def _finish_import(self, task: ImportTask) -> None:
        if task.outcome_status == "complete" and task.apply is not None:
            try:
                task.messages = task.apply()
                task.status = "complete"
            except DeployFailed as error:  # pragma: no cover - imports never run pyxform
                task.messages = {"error": str(error), "error_type": "PyXFormError"}
                task.status = "error"
        else:
            task.messages = task.error_messages
            task.status = "error"
        task.apply = None

    def finish_imports(self) -> None:
        """Complete every task still processing (the Python side can skip polling)."""
        for task in self.state.imports.values():
            if task.status == "processing":
                self._finish_import(task)

    def import_list(self, request: HttpRequest, user: User, after: list) -> HttpResponse:
        tasks = sorted((t for t in self.state.imports.values() if t.owner == user.username),
                       key=lambda t: t.date_created)
        page = Page.from_request(request, self.state.default_page_size, self.state.max_page_size)
        results = [self._import_json(t, request, with_url=True) for t in page.slice(tasks)]
        return json_response(200, page.envelope(request, len(tasks), results))

    # ------------------------------------------------------------------ assets

    def asset_json(self, asset: Asset, base_url: str, *, full: bool = True) -> dict[str, Any]:
        url = f"{base_url}/api/v2/assets/{asset.uid}/"
        deployment = asset.deployment
        rows = asset.rows
        versions = asset.deployed_versions[::-1]
        body: dict[str, Any] = {
            "url": url,
            "owner": f"{base_url}/api/v2/users/{asset.owner}/",
            "owner__username": asset.owner,
            "parent": None,
            "settings": {},
            "asset_type": asset.asset_type,
            "summary": asset.summary,
            "date_created": drf_datetime(asset.date_created),
            "date_modified": drf_datetime(asset.date_modified),
            "date_deployed": drf_datetime(asset.date_deployed),
            "version_id": asset.version_id,
            "version__content_hash": asset.versions[-1].content_hash if asset.versions else None,
            "version_count": len(asset.versions),
            "has_deployment": deployment is not None,
            "deployed_version_id": asset.deployed_version_id,
            "deployed_versions": {
                "count": len(versions), "next": None, "previous": None,
                "results": [{"uid": v.uid, "url": f"{url}versions/{v.uid}/",
                             "content_hash": v.content_hash,
                             "date_deployed": drf_datetime(v.date_deployed),
                             "date_modified": drf_datetime(v.date_modified)} for v in versions],
            },
            "deployment__links": self.state.enketo_links(asset),
            "deployment__active": deployment.active if deployment else False,
            "deployment__data_download_links": {},
            "deployment__submission_count": len(rows) if deployment else 0,
            "deployment__last_submission_time": (
                rows[-1].submission_time + "Z" if deployment and rows else None),
            "deployment__encrypted": bool(deployment and deployment.form.encrypted),
            "deployment__uuid": deployment.formhub_uuid if deployment else None,
            "deployment_status": self.state.deployment_status(asset),
            "content": asset.content,
            "xform_link": f"{url}xform/",
            "hooks_link": f"{url}hooks/",
            "tag_string": "",
            "uid": asset.uid,
            "kind": "asset",
            "xls_link": f"{url}xls/",
            "name": asset.name,
            "permissions": [],
            "data": f"{url}data/",
            "status": "private",
        }
        if not full:
            keep = ("url", "date_created", "date_modified", "date_deployed", "owner", "summary",
                    "owner__username", "parent", "uid", "tag_string", "settings", "kind", "name",
                    "asset_type", "version_id", "has_deployment", "deployed_version_id",
                    "deployment__active", "deployment__submission_count",
                    "deployment__last_submission_time", "deployment__encrypted",
                    "deployment__uuid", "deployment_status", "permissions", "data", "status")
            body = {k: body[k] for k in keep}
        return body

    def asset_list(self, request: HttpRequest, user: User, after: list) -> HttpResponse:
        assets = self.state.visible_assets(user.username)
        for term in (request.query.get("q") or "").split():
            field, _, value = term.partition(":")
            if field == "asset_type":
                assets = [a for a in assets if a.asset_type == value]
            elif field == "uid":
                assets = [a for a in assets if a.uid == value]
            elif field in ("name", "name__icontains"):
                assets = [a for a in assets if value.lower() in a.name.lower()]
        page = Page.from_request(request, self.state.default_page_size, self.state.max_page_size)
        results = [self.asset_json(a, request.base_url, full=False) for a in page.slice(assets)]
        return json_response(200, page.envelope(request, len(assets), results))

    def asset_create(self, request: HttpRequest, user: User, after: list) -> HttpResponse:
        body = self._body(request)
        asset_type = body.get("asset_type")
        if asset_type is None:
            raise ApiError(400, {"asset_type": ["This field is required."]})
        if asset_type not in ASSET_TYPES:
            raise ApiError(400, {"asset_type": [f'"{asset_type}" is not a valid choice.']})
        content = body.get("content")
        if isinstance(content, str):
            content = self._json_field(content, "content")
        content = content_from_kpi_json(content) if isinstance(content, dict) else None
        title = take_form_title(content) if content else None
        asset = self.state.create_asset(user.username, name=str(body.get("name") or title or ""),
                                        asset_type=asset_type, content=content)
        return json_response(201, self.asset_json(asset, request.base_url))

    def asset_detail(self, request: HttpRequest, user: User, after: list,
                     uid: str) -> HttpResponse:
        return json_response(200, self.asset_json(self._asset(user, uid), request.base_url))

    def asset_update(self, request: HttpRequest, user: User, after: list,
                     uid: str) -> HttpResponse:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_CHANGE_ASSET)
        body = self._body(request)
        content = body.get("content")
        if isinstance(content, str):
            content = self._json_field(content, "content")
        name = str(body["name"]) if "name" in body else None
        if isinstance(content, dict):
            content = content_from_kpi_json(content)
            name = take_form_title(content) or name
            self.state.save_content(asset, content, name=name)
        elif name is not None:
            asset.name = name
            asset.date_modified = self.state.now()
        return json_response(200, self.asset_json(asset, request.base_url))

    def asset_delete(self, request: HttpRequest, user: User, after: list,
                     uid: str) -> HttpResponse:
        asset = self._asset(user, uid)
        if asset.owner != user.username:
            raise ApiError(403, FORBIDDEN)
        del self.state.assets[uid]
        return HttpResponse(204)

    def version_list(self, request: HttpRequest, user: User, after: list,
                     uid: str) -> HttpResponse:
        asset = self._asset(user, uid)
        base = f"{request.base_url}/api/v2/assets/{asset.uid}/versions/"
        versions = [{"uid": v.uid, "url": f"{base}{v.uid}/", "content_hash": v.content_hash,
                     "date_deployed": drf_datetime(v.date_deployed),
                     "date_modified": drf_datetime(v.date_modified)}
                    for v in reversed(asset.versions)]
        page = Page.from_request(request, self.state.default_page_size, self.state.max_page_size)
        return json_response(200, page.envelope(request, len(versions), page.slice(versions)))

    # ------------------------------------------------------------------ deployment

    def _deployment_json(self, asset: Asset, base_url: str) -> dict[str, Any]:
        deployment = asset.deployment
        assert deployment is not None
        return {"backend": deployment.backend, "active": deployment.active,
                "version_id": deployment.version_id, "asset": self.asset_json(asset, base_url)}

    def _deployment_fields(self, request: HttpRequest) -> dict[str, Any]:
        body = self._body(request)
        fields: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        if "active" in body:
            value = body["active"]
            if value in (True, "true", "True", "1", 1, "on") and not isinstance(value, float):
                fields["active"] = True
            elif value in (False, "false", "False", "0", 0, "off") and not isinstance(value, float):
                fields["active"] = False
            else:
                errors["active"] = ["Must be a valid boolean."]
        for name in ("backend", "version_id"):
            if name in body:
                if isinstance(body[name], str | int) and not isinstance(body[name], bool):
                    fields[name] = str(body[name])
                else:
                    errors[name] = ["Not a valid string."]
        if errors:
            raise ApiError(400, errors)
        return fields

    def deployment_get(self, request: HttpRequest, user: User, after: list,
                       uid: str) -> HttpResponse:
        asset = self._asset(user, uid)
        if asset.deployment is None:
            raise ApiError(404, NOT_FOUND)
        return json_response(200, self._deployment_json(asset, request.base_url))

    def deployment_create(self, request: HttpRequest, user: User, after: list,
                          uid: str) -> HttpResponse:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_CHANGE_ASSET)
        if asset.asset_type != "survey":
            raise ServerError("BadAssetTypeException")  # a plain exception in kpi → 500
        if asset.deployment is not None:
            raise ApiError(405, {"detail": "Use PATCH to update an existing deployment"})
        fields = self._deployment_fields(request)
        if "version_id" in fields and fields["version_id"] != asset.version_id:
            raise ServerError("Only the current version_id can be deployed")  # kpi#2205
        if fields.get("backend", "openrosa") not in ("openrosa", "mock"):
            raise ServerError("unknown backend")
        try:
            self.state.deploy(asset, active=fields.get("active", False))
        except DeployFailed as error:
            raise ApiError(400, {"error": str(error)}) from None
        return json_response(200, self._deployment_json(asset, request.base_url))

    def deployment_update(self, request: HttpRequest, user: User, after: list,
                          uid: str) -> HttpResponse:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_CHANGE_ASSET)
        if asset.asset_type != "survey":
            raise ServerError("BadAssetTypeException")
        if asset.deployment is None:
            raise ApiError(405, {"detail": "Use POST to create a new deployment"})
        fields = self._deployment_fields(request)
        if fields.pop("backend", asset.deployment.backend) != asset.deployment.backend:
            raise ApiError(400, {"backend": "This field cannot be modified after the initial "
                                            "deployment."})
        if set(fields) == {"active"}:
            asset.deployment.active = fields["active"]
            return json_response(200, self._deployment_json(asset, request.base_url))
        if "version_id" in fields and fields["version_id"] != asset.version_id:
            raise ServerError("Only the current version_id can be deployed")
        try:
            self.state.deploy(asset, active=fields.get("active", asset.deployment.active))
        except DeployFailed as error:
            raise ApiError(400, {"error": str(error)}) from None
        return json_response(200, self._deployment_json(asset, request.base_url))
