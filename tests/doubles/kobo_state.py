"""What the Kobo double remembers: users, assets and their versions, deployments, submissions, hooks.

Pure in-memory state guarded by one re-entrant lock (`KoboState.lock`); the HTTP layer
(`kobo_api.py`) and the Python test API (`kobo.py`) both go through the methods here, so the
rules live in one place. Rules follow `kobo-api.md` §3–§9 (kpi `Asset`, `AssetVersion`,
`OpenRosaDeploymentBackend`, `Instance`/`ParsedInstance`, `Hook`/`HookLog`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.kobo_forms import DeployedForm, build_xform, content_summary
from tests.doubles.kobo_query import matches, referenced_fields, sort_documents
from tests.doubles.kobo_submissions import (
    METADATA_KEYS,
    RenderContext,
    StoredAttachment,
    SubmissionRow,
    metadata_view,
    remove_uuid_prefix,
    render_submission,
)

UID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ENKETO_HOST = "https://ee.kobo-double.invalid"
"""Enketo links point at a reserved `.invalid` host: the double serves no web forms."""

PERM_VIEW_ASSET = "view_asset"
PERM_CHANGE_ASSET = "change_asset"
PERM_VIEW_SUBMISSIONS = "view_submissions"
PERM_CHANGE_SUBMISSIONS = "change_submissions"
PERM_DELETE_SUBMISSIONS = "delete_submissions"
PERM_VALIDATE_SUBMISSIONS = "validate_submissions"
ALL_PERMISSIONS = frozenset(
    {
        PERM_VIEW_ASSET,
        PERM_CHANGE_ASSET,
        PERM_VIEW_SUBMISSIONS,
        PERM_CHANGE_SUBMISSIONS,
        PERM_DELETE_SUBMISSIONS,
        PERM_VALIDATE_SUBMISSIONS,
    }
)

HOOK_STATUS_FAILED, HOOK_STATUS_PENDING, HOOK_STATUS_SUCCESS, HOOK_STATUS_PROCESSING = 0, 1, 2, 3
HOOK_STATUS_LABELS = {0: "failed", 1: "pending", 2: "success", 3: "processing"}
"""`HookLogStatus` labels as kpi declares them (`status_str` is `get_status_display()`)."""


def new_uid(prefix: str) -> str:
    """A kpi-style uid: type prefix + random characters, 22 characters in all."""
    return prefix + "".join(secrets.choice(UID_ALPHABET) for _ in range(22 - len(prefix)))


def drf_datetime(moment: dt.datetime | None) -> str | None:
    """DRF's DateTimeField output: ISO 8601 in UTC with a `Z`."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class SubmissionRefused(Exception):
    """The server would not accept this submission (OpenRosa 404/405 equivalents)."""


@dataclass
class User:
    username: str
    token: str = field(repr=False)
    id: int
    password: str | None = field(default=None, repr=False)


@dataclass
class AssetVersion:
    uid: str
    date_modified: dt.datetime
    content_hash: str
    deployed: bool = False
    date_deployed: dt.datetime | None = None
    version_string: str | None = None


@dataclass
class Deployment:
    backend: str
    active: bool
    version_id: str
    formhub_uuid: str
    enketo_id: str
    form: DeployedForm


@dataclass
class Hook:
    uid: str
    asset_uid: str
    name: str
    endpoint: str
    active: bool
    export_type: str
    auth_level: str
    settings: dict[str, Any]
    email_notification: bool
    subset_fields: list[str]
    payload_template: str | None
    date_created: dt.datetime
    date_modified: dt.datetime
    created_seq: int


@dataclass
class HookLog:
    uid: str
    hook_uid: str
    submission_id: int
    tries: int
    status: int
    status_code: int | None
    message: str
    date_created: dt.datetime
    date_modified: dt.datetime


@dataclass
class Asset:
    id: int
    uid: str
    owner: str
    name: str
    asset_type: str
    content: dict[str, Any]
    summary: dict[str, Any]
    date_created: dt.datetime
    date_modified: dt.datetime
    versions: list[AssetVersion] = field(default_factory=list)
    deployment: Deployment | None = None
    date_deployed: dt.datetime | None = None
    shares: dict[str, set[str]] = field(default_factory=dict)
    rows: list[SubmissionRow] = field(default_factory=list, repr=False)
    hooks: dict[str, Hook] = field(default_factory=dict)
    hook_logs: dict[str, HookLog] = field(default_factory=dict)
    data_version: int = 0
    query_cache: dict[tuple[str, str], tuple[int, list[SubmissionRow]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def version_id(self) -> str | None:
        return self.versions[-1].uid if self.versions else None

    @property
    def deployed_version_id(self) -> str | None:
        return self.deployment.version_id if self.deployment else None

    @property
    def deployed_versions(self) -> list[AssetVersion]:
        return [v for v in self.versions if v.deployed]

    def version_strings(self) -> dict[str, str]:
        return {v.uid: v.version_string for v in self.versions if v.version_string}


@dataclass
class ImportTask:
    uid: str
    owner: str
    date_created: dt.datetime
    status: str
    polls_until_done: int
    outcome_status: str
    messages: dict[str, Any]
    error_messages: dict[str, Any] = field(default_factory=dict)
    """Kobo's `messages` once the task has failed (empty while it is processing)."""
    apply: Any = field(default=None, repr=False)
    """Callable run under the state lock when the task completes (creates/replaces the asset)."""


class KoboState:
    """All of the double's data; call its methods while holding `lock`."""

    def __init__(
        self,
        *,
        default_page_size: int = 100,
        max_page_size: int = 1000,
        import_polls_until_done: int = 1,
    ) -> None:
        self.lock = threading.RLock()
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.import_polls_until_done = import_polls_until_done
        self.users: dict[str, User] = {}
        self.assets: dict[str, Asset] = {}
        self.imports: dict[str, ImportTask] = {}
        self._next_asset_id = 1
        self._next_submission_id = 1
        self._next_user_id = 1
        self._seq = 0
        self.clock_offset = dt.timedelta()

    # ------------------------------------------------------------------ basics

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.clock_offset

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add_user(
        self, username: str, token: str | None = None, password: str | None = None
    ) -> User:
        if username in self.users:
            raise ValueError(f"user {username!r} already exists")
        user = User(
            username=username,
            token=token or secrets.token_hex(20),
            id=self._next_user_id,
            password=password,
        )
        self._next_user_id += 1
        self.users[username] = user
        return user

    def user_for_token(self, token: str) -> User | None:
        for user in self.users.values():
            if secrets.compare_digest(user.token, token):
                return user
        return None

    def permissions(self, asset: Asset, username: str) -> set[str]:
        if asset.owner == username:
            return set(ALL_PERMISSIONS)
        return set(asset.shares.get(username, set()))

    def can_view(self, asset: Asset, username: str) -> bool:
        return PERM_VIEW_ASSET in self.permissions(asset, username)

    def visible_assets(self, username: str) -> list[Asset]:
        mine = [a for a in self.assets.values() if self.can_view(a, username)]
        return sorted(mine, key=lambda a: a.date_modified, reverse=True)

    # ------------------------------------------------------------------ assets

    def create_asset(
        self, owner: str, *, name: str, asset_type: str, content: dict[str, Any] | None = None
    ) -> Asset:
        now = self.now()
        asset = Asset(
            id=self._next_asset_id,
            uid=new_uid("a"),
            owner=owner,
            name=name,
            asset_type=asset_type,
            content=content or {"survey": [], "settings": {}},
            summary={},
            date_created=now,
            date_modified=now,
        )
        self._next_asset_id += 1
        asset.summary = content_summary(asset.content)
        asset.versions.append(
            AssetVersion(
                uid=new_uid("v"), date_modified=now, content_hash=_content_hash(asset.content)
            )
        )
        self.assets[asset.uid] = asset
        return asset

    def save_content(self, asset: Asset, content: dict[str, Any], name: str | None = None) -> None:
        """Replace the content; a change creates a new AssetVersion. Never redeploys (§3.3)."""
        now = self.now()
        if name is not None:
            asset.name = name
        asset.content = content
        asset.summary = content_summary(content)
        asset.date_modified = now
        content_hash = _content_hash(content)
        if not asset.versions or asset.versions[-1].content_hash != content_hash:
            asset.versions.append(
                AssetVersion(uid=new_uid("v"), date_modified=now, content_hash=content_hash)
            )

    def version_number_and_date(self, asset: Asset) -> str:
        """`Asset.version_number_and_date`: deployed count (+1 if latest undeployed) and date."""
        count = len(asset.deployed_versions)
        if not asset.versions[-1].deployed:
            count += 1
        return f"{count} ({asset.date_modified:%Y-%m-%d %H:%M:%S})"

    def deploy(self, asset: Asset, *, active: bool) -> Deployment:
        """First deploy or redeploy of the latest version; raises DeployFailed from pyxform."""
        latest = asset.versions[-1]
        version_string = self.version_number_and_date(asset)
        form = build_xform(
            asset.content,
            asset_uid=asset.uid,
            title=asset.name,
            version_string=version_string,
            version_uid=latest.uid,
        )
        now = self.now()
        latest.deployed = True
        latest.date_deployed = now
        latest.version_string = version_string
        if asset.deployment is None:
            asset.deployment = Deployment(
                backend="openrosa",
                active=active,
                version_id=latest.uid,
                formhub_uuid=uuid.uuid4().hex,
                enketo_id=new_uid("")[:8],
                form=form,
            )
        else:
            asset.deployment.active = active
            asset.deployment.version_id = latest.uid
            asset.deployment.form = form
        asset.date_deployed = now
        return asset.deployment

    def deployment_status(self, asset: Asset) -> str:
        if asset.deployment is None:
            return "draft"
        return "deployed" if asset.deployment.active else "archived"

    def enketo_links(self, asset: Asset) -> dict[str, str]:
        """`deployment__links`: only when deployed and active (§4.4; mock backend's four keys)."""
        if asset.deployment is None or not asset.deployment.active:
            return {}
        enketo_id = asset.deployment.enketo_id
        return {
            "offline_url": f"{ENKETO_HOST}/x/{enketo_id}",
            "url": f"{ENKETO_HOST}/{enketo_id}",
            "iframe_url": f"{ENKETO_HOST}/i/{enketo_id}",
            "preview_url": f"{ENKETO_HOST}/preview/{enketo_id}",
        }

    # ------------------------------------------------------------------ submissions

    def require_accepting(self, asset: Asset) -> Deployment:
        if asset.deployment is None:
            raise SubmissionRefused(f"asset {asset.uid} is not deployed (OpenRosa 404)")
        if not asset.deployment.active:
            raise SubmissionRefused("Form is not active (OpenRosa 405): the asset is archived")
        return asset.deployment

    def next_submission_id(self) -> int:
        value = self._next_submission_id
        self._next_submission_id += 1
        return value

    def append_row(self, asset: Asset, row: SubmissionRow) -> None:
        asset.rows.append(row)
        self.data_changed(asset)

    def data_changed(self, asset: Asset) -> None:
        asset.data_version += 1
        asset.query_cache.clear()

    def find_row(self, asset: Asset, key: str | int) -> SubmissionRow | None:
        """`/data/{id}/`: `{id}` is `_id`, `_uuid`, or the rootUuid without `uuid:`."""
        text = str(key)
        if text.isascii() and text.isdigit():
            row = self._row_by_id(asset, int(text))
            if row is not None:
                return row
        for row in asset.rows:
            if row.uuid == text or remove_uuid_prefix(row.root_uuid) == text:
                return row
        return None

    def _row_by_id(self, asset: Asset, submission_id: int) -> SubmissionRow | None:
        rows = asset.rows
        low, high = 0, len(rows)
        while low < high:
            middle = (low + high) // 2
            if rows[middle].id < submission_id:
                low = middle + 1
            else:
                high = middle
        if low < len(rows) and rows[low].id == submission_id:
            return rows[low]
        return None

    def remove_row(self, asset: Asset, row: SubmissionRow) -> None:
        asset.rows.remove(row)
        self.data_changed(asset)

    def render_context(self, asset: Asset, base_url: str) -> RenderContext:
        formhub_uuid = asset.deployment.formhub_uuid if asset.deployment else ""
        return RenderContext(
            asset_uid=asset.uid,
            formhub_uuid=formhub_uuid,
            owner_username=asset.owner,
            base_url=base_url,
            version_strings=asset.version_strings(),
        )

    def select_rows(
        self,
        asset: Asset,
        query: Mapping[str, Any],
        sort: Mapping[str, Any],
        cache_key: tuple[str, str],
    ) -> list[SubmissionRow]:
        """Rows matching `query` in `sort` order; O(page) for the plain `_id` order.

        Filtered or re-sorted results are cached per (query, sort) until the data changes, so
        following `next` links costs O(n) once, then O(page) per page.
        """
        plain_order = not sort or dict(sort) == {"_id": 1}
        if not query and plain_order:
            return asset.rows
        bounds = _id_bounds(query) if plain_order else None
        if bounds is not None:  # an incremental pull's `_id` window: rows are in `_id` order
            above, at_most = bounds
            start = 0 if above is None else bisect.bisect_right(asset.rows, above, key=_row_id)
            end = (
                len(asset.rows)
                if at_most is None
                else bisect.bisect_right(asset.rows, at_most, key=_row_id)
            )
            return asset.rows[start:end]
        cached = asset.query_cache.get(cache_key)
        if cached and cached[0] == asset.data_version:
            return cached[1]
        if query:
            needs_answers = not referenced_fields(query) <= METADATA_KEYS
            ctx = self.render_context(asset, "")
            selected = [
                row
                for row in asset.rows
                if matches(
                    render_submission(row, ctx) if needs_answers else metadata_view(row, asset.uid),
                    query,
                )
            ]
        else:
            selected = list(asset.rows)
        if not plain_order:
            ctx = self.render_context(asset, "")
            sort_needs_answers = not set(sort) <= METADATA_KEYS

            def field_value(row: SubmissionRow, name: str) -> Any:
                source = (
                    render_submission(row, ctx)
                    if sort_needs_answers
                    else metadata_view(row, asset.uid)
                )
                return source.get(name)

            selected = sort_documents(selected, sort, field_value)
        if len(asset.query_cache) > 16:
            asset.query_cache.clear()
        asset.query_cache[cache_key] = (asset.data_version, selected)
        return selected

    def new_attachment(
        self, basename: str, mimetype: str, question_xpath: str | None, content: bytes
    ) -> StoredAttachment:
        return StoredAttachment(
            uid=new_uid("att"),
            basename=basename,
            mimetype=mimetype,
            question_xpath=question_xpath,
            content=content,
        )

    # ------------------------------------------------------------------ hooks

    def hook_totals(self, asset: Asset, hook: Hook) -> dict[int, int]:
        totals = {HOOK_STATUS_SUCCESS: 0, HOOK_STATUS_FAILED: 0, HOOK_STATUS_PENDING: 0}
        for log in asset.hook_logs.values():
            if log.hook_uid == hook.uid and log.status in totals:
                totals[log.status] += 1
        return totals

    def log_for(self, asset: Asset, hook_uid: str, submission_id: int) -> HookLog | None:
        for log in asset.hook_logs.values():
            if log.hook_uid == hook_uid and log.submission_id == submission_id:
                return log
        return None


def _content_hash(content: dict[str, Any]) -> str:
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _row_id(row: SubmissionRow) -> int:
    return row.id


def _id_bounds(query: Mapping[str, Any]) -> tuple[int | None, int | None] | None:
    """(above, at most) for a query that is only `{"_id": {"$gt": a, "$lte": b}}` (either bound
    alone too) with whole numbers, which a binary search answers; None for any other query."""
    condition = query.get("_id") if len(query) == 1 else None
    if not isinstance(condition, dict) or not condition or not set(condition) <= {"$gt", "$lte"}:
        return None
    if any(type(value) is not int for value in condition.values()):
        return None
    return condition.get("$gt"), condition.get("$lte")
