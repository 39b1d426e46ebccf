"""Which Kobo asset holds which codebook form — found again on every deploy and pull.

Re-deploying must update the asset that already holds a form, never create a second one, so
each form is matched to its asset by the stable codebook form id, not by title alone:

1. the registry (`FormAssetRegistry`, a small JSON file per project) remembers, per server, the
   asset uid each form was deployed to and which of our versions went out as which Kobo version;
2. the asset's stored content keeps the XLSForm settings row, where our `form_id` sits as
   `settings.id_string` (kpi stores the XLSForm `form_id` under that name and only fills it from
   the file name when absent, kobo-api.md §3.2; at deploy Kobo writes the asset uid into the
   *published* XForm, §4.2, which this code also accepts as "no claim");
3. failing both, an asset whose name equals the form title (Kobo names an imported asset from
   `settings.form_title`, §3.2) and whose content does not claim another form.

Several matches are an error that names them: choosing one silently could send one form's
submissions to another's pipeline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tipdata.http import PlatformError
from tipdata.kobo_forms.connector import KoboClient

DEFAULT_REGISTRY_PATH = Path(".tipdata/kobo-assets.json")


class AmbiguousFormAsset(Exception):
    """More than one Kobo asset claims the same codebook form."""

    def __init__(self, form_id: str, uids: Iterable[str]) -> None:
        self.form_id = form_id
        self.uids = tuple(uids)
        super().__init__(
            f"form {form_id!r} matches {len(self.uids)} Kobo assets ({', '.join(self.uids)}). "
            "Fix: archive or delete the extra projects on Kobo, or record the right one with "
            f"`tipdata kobo deploy {form_id}` after removing the others")


@dataclass(frozen=True)
class FormAsset:
    """What the registry remembers about one deployed form on one server."""

    asset_uid: str
    #: our XLSForm version (settings.version) that was last deployed
    form_version: str | None = None
    #: Kobo's `version_id` that our version became when deployed
    kobo_version_id: str | None = None


class FormAssetRegistry:
    """JSON file: server URL → form id → `FormAsset`. Written atomically, owner-only."""

    def __init__(self, path: Path = DEFAULT_REGISTRY_PATH) -> None:
        self.path = Path(path)
        self._data: dict[str, dict[str, dict[str, Any]]] = {}
        if self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read the Kobo asset registry {self.path}: {exc}. "
                                 "Fix: repair or delete it (deploy finds assets again)") from None
            self._data = loaded.get("servers", {}) if isinstance(loaded, dict) else {}

    def get(self, server: str, form_id: str) -> FormAsset | None:
        entry = self._data.get(_server_key(server), {}).get(form_id)
        if not isinstance(entry, dict) or not entry.get("asset_uid"):
            return None
        return FormAsset(str(entry["asset_uid"]), entry.get("form_version"),
                         entry.get("kobo_version_id"))

    def put(self, server: str, form_id: str, asset: FormAsset) -> None:
        self._data.setdefault(_server_key(server), {})[form_id] = asdict(asset)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"servers": self._data}, handle, indent=2, sort_keys=True)
        os.replace(temporary, self.path)


def _server_key(server: str) -> str:
    return server.rstrip("/")


def claimed_form_id(asset: dict[str, Any]) -> str | None:
    """The codebook form id an asset's content carries, if any (`settings.id_string`)."""
    content = asset.get("content")
    settings = content.get("settings") if isinstance(content, dict) else None
    if isinstance(settings, list):  # older content keeps settings as a one-row list
        settings = settings[0] if settings and isinstance(settings[0], dict) else None
    if not isinstance(settings, dict):
        return None
    for key in ("id_string", "form_id"):
        value = settings.get(key)
        if isinstance(value, str) and value and value != asset.get("uid"):
            return value
    return None


def _is_survey(asset: dict[str, Any]) -> bool:
    return asset.get("asset_type", "survey") == "survey"


def find_form_asset(client: KoboClient, form_id: str, title: str, *,
                    known: FormAsset | None = None) -> dict[str, Any] | None:
    """The full asset that holds `form_id`, or None when the server has none.

    Raises `AmbiguousFormAsset` when several assets claim the form.

    >>> find_form_asset(client, "tip_screening_adult", "Trafficking indicators screening - adult")
    {'uid': 'aJ7sd2kqWcH5YbVfXe8mLp', 'name': 'Trafficking indicators screening - adult', ...}
    """
    if known is not None:
        try:
            asset = client.assets.get(known.asset_uid)
        except PlatformError as exc:
            if exc.status != 404:
                raise
        else:
            if _is_survey(asset) and claimed_form_id(asset) in (form_id, None):
                return asset
    listed = [a for a in client.assets.list(query="asset_type:survey") if _is_survey(a)]
    claimed = [a for a in listed if "content" in a and claimed_form_id(a) == form_id]
    by_title = [a for a in listed if "content" in a and claimed_form_id(a) is None
                and a.get("name") == title]
    # The list view leaves `content` out (as kpi's does): read those assets in full, title
    # matches first; the others only while nothing was found (a renamed form, a lost registry).
    unread = sorted((a for a in listed if "content" not in a), key=lambda a: a.get("name") != title)
    for summary in unread:
        if (claimed or by_title) and summary.get("name") != title:
            break
        asset = client.assets.get(str(summary["uid"]))
        claim = claimed_form_id(asset)
        if claim == form_id:
            claimed.append(asset)
        elif claim is None and asset.get("name") == title and _is_survey(asset):
            by_title.append(asset)
    claimed = claimed or by_title
    if not claimed:
        return None
    if len(claimed) > 1:
        deployed = [a for a in claimed if a.get("has_deployment")]
        if len(deployed) != 1:
            raise AmbiguousFormAsset(form_id, sorted(str(a["uid"]) for a in claimed))
        claimed = deployed
    return claimed[0]
