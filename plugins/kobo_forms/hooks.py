"""Register a Kobo REST Service (webhook) on each form's asset, idempotently.

Kobo POSTs each *new* submission's JSON to the endpoint with our secret in a custom header
(`settings.custom_headers`, kobo-api.md §7.2), so the receiver can refuse anyone else. Running
the command again finds the hook it made (same endpoint or same name) and updates it in place
rather than adding a second one, which would make Kobo deliver every submission twice.

Hooks complement the pull, they do not replace it: Kobo fires them only on creation (never on
edit or delete), retries only 502/503/504, and may deliver duplicates (README.md, §7.3–7.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from tipdata.kobo_forms.connector import KoboClient

HOOK_NAME = "tipdata-ingest"
SECRET_HEADER = "X-Tipdata-Hook-Secret"
SECRET_ENV = "TIPDATA_HOOK_SECRET"
HookAction = Literal["create", "update", "unchanged"]


@dataclass(frozen=True)
class HookSpec:
    """The REST Service we want on an asset. The secret never appears in a repr."""

    endpoint: str
    secret: str = field(repr=False)
    name: str = HOOK_NAME
    header: str = SECRET_HEADER

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"hook URL {self.endpoint!r} must look like https://host/path "
                             "(Kobo refuses other schemes: 'Invalid scheme')")
        if not self.secret:
            raise ValueError(f"no hook secret; set {SECRET_ENV}")

    def body(self) -> dict[str, Any]:
        """The JSON Kobo's hook serializer takes (§7.2): all fields, JSON, secret header."""
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "active": True,
            "export_type": "json",
            "auth_level": "no_auth",
            "settings": {"custom_headers": {self.header: self.secret}},
            "subset_fields": [],
        }


@dataclass(frozen=True)
class HookResult:
    """What happened on one asset; `duplicates` are other hooks to the same endpoint."""

    form_id: str
    asset_uid: str
    action: HookAction
    hook_uid: str | None
    duplicates: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"form_id": self.form_id, "asset_uid": self.asset_uid, "action": self.action,
                "hook_uid": self.hook_uid, "duplicates": list(self.duplicates)}


def _same_endpoint(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def plan_hook(existing: list[Mapping[str, Any]], spec: HookSpec
              ) -> tuple[HookAction, str | None, tuple[str, ...]]:
    """(action, uid of the hook to update, uids of extra matching hooks), without requests.

    A hook matches when it has our endpoint or our name. It is `unchanged` only when every
    field we set is visible and equal — Kobo may not echo `settings`, and then we update, which
    is harmless (PATCH to the same values).

    >>> plan_hook([], HookSpec("https://sync.example.org/kobo/hook", "s3cret"))
    ('create', None, ())
    """
    matches = [h for h in existing
               if _same_endpoint(str(h.get("endpoint", "")), spec.endpoint)
               or h.get("name") == spec.name]
    if not matches:
        return "create", None, ()
    # Prefer the one with our endpoint, then the oldest listed.
    matches.sort(key=lambda h: not _same_endpoint(str(h.get("endpoint", "")), spec.endpoint))
    chosen, extra = matches[0], tuple(str(h.get("uid")) for h in matches[1:])
    wanted = spec.body()
    comparable = all(key in chosen for key in wanted)
    headers = (chosen.get("settings") or {}).get("custom_headers") if comparable else None
    if comparable and headers == wanted["settings"]["custom_headers"] and all(
            chosen.get(key) == value for key, value in wanted.items() if key != "settings"):
        return "unchanged", str(chosen.get("uid")), extra
    return "update", str(chosen.get("uid")), extra


def ensure_hook(client: KoboClient, form_id: str, asset_uid: str, spec: HookSpec, *,
                dry_run: bool = False) -> HookResult:
    """Make sure exactly our hook exists on the asset (create or update); returns what it did."""
    existing = client.hooks.list(asset_uid)
    action, hook_uid, extra = plan_hook(existing, spec)
    if not dry_run:
        if action == "create":
            created = client.hooks.create(asset_uid, spec.body())
            hook_uid = str(created.get("uid")) if created.get("uid") else None
        elif action == "update":
            assert hook_uid is not None
            client.hooks.update(asset_uid, hook_uid, spec.body())
    return HookResult(form_id, asset_uid, action, hook_uid, extra)
