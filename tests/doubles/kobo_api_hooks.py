"""The REST Services routes of the Kobo double: hooks CRUD, hook logs, and retries.

Followed (`kobo-api.md` §7; kpi read, not copied): `kobo/apps/hook/views/v2/hook.py` (retry:
200 with `pending_uids`, 304 "No data to retry", 400 for disabled hooks), `hook_log.py`
(synchronous log retry, `can_retry` after 120 s), `filters.py` (`status`, `start_date`,
`end_date`), `serializers/v2/hook.py`, `hook_log.py`. Permission: `change_asset` and
`view_submissions`, otherwise 404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from tests.doubles.kobo_api_base import NOT_FOUND, ApiBase, ApiError, Page
from tests.doubles.kobo_hooks import validate_hook
from tests.doubles.kobo_http import HttpRequest, HttpResponse, json_response
from tests.doubles.kobo_state import (
    HOOK_STATUS_FAILED,
    HOOK_STATUS_LABELS,
    HOOK_STATUS_PENDING,
    PERM_CHANGE_ASSET,
    PERM_VIEW_SUBMISSIONS,
    Asset,
    Hook,
    HookLog,
    User,
    drf_datetime,
    new_uid,
)

HOOK_STALLED_PENDING_SECONDS = 120
HOOK_MAX_RETRIES = 3


class HookRoutes(ApiBase):
    """Handlers for `/api/v2/assets/{uid}/hooks…`."""

    allow_unsecured_hooks: bool = True
    _retry_log: Callable[[str, str], HookLog | None]

    def _hook_asset(self, user: User, uid: str) -> Asset:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_CHANGE_ASSET, PERM_VIEW_SUBMISSIONS, hide=True)
        return asset

    def _hook(self, asset: Asset, hook_uid: str) -> Hook:
        hook = asset.hooks.get(hook_uid)
        if hook is None:
            raise ApiError(404, NOT_FOUND)
        return hook

    def hook_json(self, asset: Asset, hook: Hook, base_url: str) -> dict[str, Any]:
        url = f"{base_url}/api/v2/assets/{asset.uid}/hooks/{hook.uid}/"
        totals = self.state.hook_totals(asset, hook)
        return {
            "url": url, "logs_url": f"{url}logs/", "asset": asset.id, "uid": hook.uid,
            "name": hook.name, "endpoint": hook.endpoint, "active": hook.active,
            "export_type": hook.export_type, "auth_level": hook.auth_level,
            "settings": hook.settings, "date_modified": drf_datetime(hook.date_modified),
            "email_notification": hook.email_notification, "subset_fields": hook.subset_fields,
            "payload_template": hook.payload_template,
            "success_count": totals[2], "failed_count": totals[0], "pending_count": totals[1],
        }

    def hook_list(self, request: HttpRequest, user: User, after: list, uid: str) -> HttpResponse:
        asset = self._hook_asset(user, uid)
        hooks = sorted(asset.hooks.values(), key=lambda h: h.name)
        page = Page.from_request(request, self.state.default_page_size, self.state.max_page_size)
        results = [self.hook_json(asset, h, request.base_url) for h in page.slice(hooks)]
        return json_response(200, page.envelope(request, len(hooks), results))

    def hook_create(self, request: HttpRequest, user: User, after: list,
                    uid: str) -> HttpResponse:
        asset = self._hook_asset(user, uid)
        clean, errors = validate_hook(self._body(request), partial=False, existing=None,
                                      allow_unsecured=self.allow_unsecured_hooks)
        if errors:
            raise ApiError(400, errors)
        now = self.state.now()
        hook = Hook(uid=new_uid("h"), asset_uid=asset.uid, name=clean["name"],
                    endpoint=clean["endpoint"], active=clean.get("active", True),
                    export_type=clean.get("export_type", "json"),
                    auth_level=clean.get("auth_level", "no_auth"),
                    settings=clean.get("settings") or {},
                    email_notification=clean.get("email_notification", True),
                    subset_fields=clean.get("subset_fields", []),
                    payload_template=clean.get("payload_template"),
                    date_created=now, date_modified=now, created_seq=self.state.next_seq())
        asset.hooks[hook.uid] = hook
        return json_response(201, self.hook_json(asset, hook, request.base_url))

    def hook_detail(self, request: HttpRequest, user: User, after: list, uid: str,
                    hook: str) -> HttpResponse:
        asset = self._hook_asset(user, uid)
        return json_response(200, self.hook_json(asset, self._hook(asset, hook), request.base_url))

    def _hook_update(self, request: HttpRequest, user: User, uid: str, hook_uid: str,
                     partial: bool) -> HttpResponse:
        asset = self._hook_asset(user, uid)
        hook = self._hook(asset, hook_uid)
        clean, errors = validate_hook(self._body(request), partial=partial, existing=vars(hook),
                                      allow_unsecured=self.allow_unsecured_hooks)
        if errors:
            raise ApiError(400, errors)
        for name, value in clean.items():
            setattr(hook, name, value if name != "settings" else (value or {}))
        hook.date_modified = self.state.now()
        return json_response(200, self.hook_json(asset, hook, request.base_url))

    def hook_patch(self, request: HttpRequest, user: User, after: list, uid: str,
                   hook: str) -> HttpResponse:
        return self._hook_update(request, user, uid, hook, partial=True)

    def hook_put(self, request: HttpRequest, user: User, after: list, uid: str,
                 hook: str) -> HttpResponse:
        return self._hook_update(request, user, uid, hook, partial=False)

    def hook_delete(self, request: HttpRequest, user: User, after: list, uid: str,
                    hook: str) -> HttpResponse:
        asset = self._hook_asset(user, uid)
        self._hook(asset, hook)
        del asset.hooks[hook]
        for log_uid in [u for u, log in asset.hook_logs.items() if log.hook_uid == hook]:
            del asset.hook_logs[log_uid]
        return HttpResponse(204)

    def hook_retry(self, request: HttpRequest, user: User, after: list, uid: str,
                   hook: str) -> HttpResponse:
        asset = self._hook_asset(user, uid)
        found = self._hook(asset, hook)
        if not found.active:
            return json_response(400, {"detail": "Cannot retry on disabled hooks"})
        threshold = self.state.now() - dt.timedelta(seconds=HOOK_STALLED_PENDING_SECONDS)
        logs = [log for log in asset.hook_logs.values() if log.hook_uid == hook and (
            log.status == HOOK_STATUS_FAILED or (
                log.status == HOOK_STATUS_PENDING and log.tries >= HOOK_MAX_RETRIES
                and log.date_modified <= threshold))]
        if not logs:
            return json_response(304, {"detail": "No data to retry"})
        for log in logs:
            log.status = HOOK_STATUS_PENDING
        return json_response(200, {"detail": "Task successfully scheduled",
                                   "pending_uids": [log.uid for log in logs]})

    def hook_log_json(self, asset: Asset, log: HookLog, base_url: str) -> dict[str, Any]:
        return {
            "url": f"{base_url}/api/v2/assets/{asset.uid}/hooks/{log.hook_uid}/logs/{log.uid}/",
            "uid": log.uid, "submission_id": log.submission_id, "tries": log.tries,
            "status": log.status, "status_str": HOOK_STATUS_LABELS[log.status],
            "status_code": log.status_code, "message": log.message,
            "date_modified": drf_datetime(log.date_modified),
        }

    def hook_log_list(self, request: HttpRequest, user: User, after: list, uid: str,
                      hook: str) -> HttpResponse:
        asset = self._hook_asset(user, uid)
        self._hook(asset, hook)
        logs = [log for log in asset.hook_logs.values() if log.hook_uid == hook]
        params = request.query
        if params.get("status", "") != "":
            try:
                wanted = int(params["status"])
            except ValueError:
                raise ApiError(400, {"status": ["Select a valid choice. That choice is not one "
                                                "of the available choices."]}) from None
            logs = [log for log in logs if log.status == wanted]
        for name, keep in (("start_date", lambda a, b: a >= b), ("end_date", lambda a, b: a < b)):
            if params.get(name):
                try:
                    bound = dt.datetime.fromisoformat(params[name].replace("Z", "+00:00"))
                except ValueError:
                    raise ApiError(400, {name: ["Enter a valid date/time."]}) from None
                if bound.tzinfo is None:
                    bound = bound.replace(tzinfo=dt.UTC)
                logs = [log for log in logs if keep(log.date_modified, bound)]
        logs.sort(key=lambda log: log.date_created, reverse=True)
        page = Page.from_request(request, self.state.default_page_size, self.state.max_page_size)
        results = [self.hook_log_json(asset, log, request.base_url) for log in page.slice(logs)]
        return json_response(200, page.envelope(request, len(logs), results))

    def hook_log_detail(self, request: HttpRequest, user: User, after: list, uid: str,
                        hook: str, log: str) -> HttpResponse:
        asset = self._hook_asset(user, uid)
        self._hook(asset, hook)
        found = asset.hook_logs.get(log)
        if found is None or found.hook_uid != hook:
            raise ApiError(404, NOT_FOUND)
        return json_response(200, self.hook_log_json(asset, found, request.base_url))

    def hook_log_retry_unlocked(self, request: HttpRequest, user: User, after: list, uid: str,
                       hook: str, log: str) -> HttpResponse:
        with self.state.lock:
            asset = self._hook_asset(user, uid)
            found_hook = self._hook(asset, hook)
            found = asset.hook_logs.get(log)
            if found is None or found.hook_uid != hook:
                raise ApiError(404, NOT_FOUND)
            threshold = self.state.now() - dt.timedelta(seconds=HOOK_STALLED_PENDING_SECONDS)
            can_retry = found_hook.active and found.date_modified < threshold and (
                found.status == HOOK_STATUS_FAILED or (
                    found.status == HOOK_STATUS_PENDING and found.tries >= HOOK_MAX_RETRIES))
            if not can_retry:
                return json_response(400, {"detail": "Data is being or has already been processed",
                                           "status_code": None})
            found.status = HOOK_STATUS_PENDING
        result = self._retry_log(uid, log)  # sends without holding the lock
        with self.state.lock:
            if result is not None and result.status == 2:
                return json_response(200, {"detail": result.message,
                                           "status_code": result.status_code})
            status_code = result.status_code if result else None
            message = result.message if result else ""
            return json_response(400, {"detail": f"HTTP {status_code} - {message}",
                                       "status_code": status_code})

