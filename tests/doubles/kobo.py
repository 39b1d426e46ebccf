"""KoboDouble: a contract double of the KoboToolbox KPI API v2, served over real HTTP on 127.0.0.1.

It is a test double, not a Kobo server: it implements what tipdata's Kobo connector relies on, as
documented in `/work/shared/reference/kobo-api.md` (and `odk-encryption.md` for encrypted
records), and where the doc is silent, as kobotoolbox/kpi behaves (each `kobo_*.py` module names
the kpi files it followed). Covered:

- Token auth (`Authorization: Token <key>`; Basic for users given a password): 401
  `{"detail": "Invalid token."}`; assets of other users answer 404 (kpi hides existence).
- `/api/v2/imports/` (multipart `file`/`base64Encoded`/`url`, `name`, `library`, `destination`,
  `desired_type`): the upload is read with pyxform's reader and checked like kpi does; the task
  reports `processing` until polled `import_polls_until_done` times, then `complete`/`error`.
- `/api/v2/assets/` list/detail/create/update/delete, `/versions/`, `/deployment/` (POST 200,
  twice 405, PATCH toggles or redeploys, stale `version_id` 500, pyxform errors 400).
- `/data/` with `start`/`limit` (default 100, silently capped at 1000), `query`, `sort`,
  `fields`, `next`/`previous`; `/data/{id}/`, `.xml`, DELETE, `validation_status`, Enketo links,
  attachments.
- REST Services: hooks CRUD, logs, retry endpoints; deliveries POSTed by `fire_hooks`.
- Faults (`double.faults`), a request log (`double.requests`), a controllable clock.

Python test API (no HTTP): `add_user`, `share_asset`, `create_form`, `add_submission`,
`add_generated_submissions`, `add_encrypted_submission`, `edit_submission`,
`delete_submission`, `set_validation_status`, `fire_hooks`, `run_hook_retries`, `advance_clock`.

Example:
    with KoboDouble() as kobo:
        uid = kobo.create_form(xlsx_bytes, name="TIP screening")
        kobo.add_submission(uid, {"grp_person": {"age": 34}})
        requests.get(f"{kobo.base_url}/api/v2/assets/{uid}/data/",
                     headers={"Authorization": f"Token {kobo.token}"}).json()["count"]  # 1
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.doubles.kobo_api import KoboApi
from tests.doubles.kobo_faults import FaultPlan
from tests.doubles.kobo_forms import (
    DeployFailed,
    ImportFailed,
    import_content,
    read_workbook,
    take_form_title,
)
from tests.doubles.kobo_hooks import (
    MAX_ATTEMPTS,
    delivery_request,
    json_payload,
    send,
    xml_payload,
)
from tests.doubles.kobo_http import DoubleHttpServer
from tests.doubles.kobo_state import (
    ALL_PERMISSIONS,
    HOOK_STATUS_FAILED,
    HOOK_STATUS_PENDING,
    HOOK_STATUS_SUCCESS,
    Asset,
    HookLog,
    KoboState,
    SubmissionRefused,
    new_uid,
)
from tests.doubles.kobo_submissions import (
    AnswersSource,
    SubmissionRow,
    find_question_xpath,
    flatten_instance_xml,
    format_submission_time,
    guess_mimetype,
    instance_xml,
    merge_answers,
    normalize_answers,
    render_submission,
    validation_status_json,
)

__all__ = ["DeployFailed", "HookDelivery", "KoboDouble", "LoggedRequest", "SubmissionRefused"]


@dataclass(frozen=True)
class LoggedRequest:
    """One request the double answered: never a body, never a header."""

    method: str
    path: str
    params: Mapping[str, str]
    status: int


@dataclass(frozen=True)
class HookDelivery:
    """One POST the double made to a REST Service endpoint (no body kept)."""

    hook_uid: str
    endpoint: str
    submission_id: int
    status_code: int | None


class KoboDouble:
    """The KoboToolbox double: state, an HTTP server, faults, and a Python test API."""

    def __init__(self, *, username: str = "tip_sync", token: str | None = None,
                 default_page_size: int = 100, max_page_size: int = 1000,
                 import_polls_until_done: int = 1, hook_timeout: float = 30.0,
                 allow_unsecured_hook_endpoints: bool = True) -> None:
        """`max_page_size=30000` imitates servers older than kpi PR #6472 (§5.1)."""
        self.state = KoboState(default_page_size=default_page_size, max_page_size=max_page_size,
                               import_polls_until_done=import_polls_until_done)
        self.faults = FaultPlan()
        self.hook_timeout = hook_timeout
        self.username = username
        self.token = self.state.add_user(username, token).token
        self._requests: list[LoggedRequest] = []
        self._deliveries: list[HookDelivery] = []
        self._log_lock = threading.Lock()
        self.api = KoboApi(self.state, self.faults, self._retry_log_now)
        self.api.allow_unsecured_hooks = allow_unsecured_hook_endpoints
        self._server = DoubleHttpServer(self.api, self.faults, self._log_request)

    def __repr__(self) -> str:
        return f"KoboDouble({self.base_url or 'not started'})"

    # ------------------------------------------------------------------ server

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` once started (the KPI host; there is no separate kc host)."""
        return self._server.base_url

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (a free port unless given) in a background thread; return the URL."""
        return self._server.start(port)

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> KoboDouble:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def auth_headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Token {token or self.token}", "Accept": "application/json"}

    # ------------------------------------------------------------------ request log

    def _log_request(self, method: str, path: str, params: dict[str, str], status: int) -> None:
        with self._log_lock:
            self._requests.append(LoggedRequest(method, path, dict(params), status))

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._requests.clear()

    @property
    def hook_deliveries(self) -> list[HookDelivery]:
        with self._log_lock:
            return list(self._deliveries)

    # ------------------------------------------------------------------ users and time

    def add_user(self, username: str, *, token: str | None = None,
                 password: str | None = None) -> str:
        """Create another account; returns its API token. A password enables Basic auth."""
        with self.state.lock:
            return self.state.add_user(username, token, password).token

    def share_asset(self, asset_uid: str, username: str, *permissions: str) -> None:
        """Grant `view_asset`, `change_asset`, `view_submissions`, … on an asset to a user."""
        unknown = set(permissions) - ALL_PERMISSIONS
        if unknown:
            raise ValueError(f"unknown permissions {sorted(unknown)}; use {sorted(ALL_PERMISSIONS)}")
        with self.state.lock:
            self._asset(asset_uid).shares.setdefault(username, set()).update(permissions)

    def advance_clock(self, seconds: float) -> None:
        """Move the double's clock forward (submission times, hook retry thresholds)."""
        with self.state.lock:
            self.state.clock_offset += dt.timedelta(seconds=seconds)

    def now(self) -> dt.datetime:
        with self.state.lock:
            return self.state.now()

    # ------------------------------------------------------------------ forms

    def create_form(self, xlsform: bytes, *, name: str = "", owner: str | None = None,
                    deploy: bool = True, active: bool = True) -> str:
        """Import (and deploy) an XLSForm without HTTP, as a survey; returns the asset uid.

        Raises ValueError when the import would fail and DeployFailed when pyxform rejects it.
        """
        owner = owner or self.username
        try:
            imported = import_content(read_workbook(xlsform), filename=name, library=False,
                                      desired_type=None, into_existing=False)
        except ImportFailed as error:
            raise ValueError(f"{error.error_type}: {error.message}") from None
        with self.state.lock:
            title = take_form_title(imported.content)
            asset = self.state.create_asset(owner, name=title or imported.filename,
                                            asset_type="survey", content=imported.content)
            if deploy:
                try:
                    self.state.deploy(asset, active=active)
                except DeployFailed:
                    del self.state.assets[asset.uid]
                    raise
            return asset.uid

    def finish_imports(self) -> None:
        """Complete every import task still `processing` (as if Celery had run)."""
        with self.state.lock:
            self.api.finish_imports()

    def asset_json(self, asset_uid: str) -> dict[str, Any]:
        """The asset as `GET /api/v2/assets/{uid}/` shows it to its owner."""
        with self.state.lock:
            return self.api.asset_json(self._asset(asset_uid), self.base_url)

    def form_version(self, asset_uid: str) -> str | None:
        """The deployed XForm `version` ("N (date)"), e.g. for an encryption manifest."""
        with self.state.lock:
            asset = self._asset(asset_uid)
            if asset.deployment is None:
                return None
            return asset.version_strings().get(asset.deployment.version_id)

    def deployed_xform(self, asset_uid: str) -> str | None:
        with self.state.lock:
            deployment = self._asset(asset_uid).deployment
            return deployment.form.xform_xml if deployment else None

    def _asset(self, asset_uid: str) -> Asset:
        asset = self.state.assets.get(asset_uid)
        if asset is None:
            raise KeyError(f"no asset {asset_uid!r} in the Kobo double")
        return asset

    # ------------------------------------------------------------------ submissions

    def add_submission(self, asset_uid: str, answers: Mapping[str, Any], *,
                       submitted_at: dt.datetime | None = None, submitted_by: str | None = None,
                       attachments: Mapping[str, bytes] | None = None,
                       version: str | None = None, instance_id: str | None = None,
                       status: str = "submitted_via_web",
                       geolocation: tuple[float, float] | None = None,
                       deliver_hooks: bool = True) -> int:
        """Store a new submission as if Collect/Enketo had sent it; returns its `_id`.

        `answers` may nest groups as mappings and repeats as lists of mappings; values become
        strings and empty ones are dropped (`normalize_answers`). `attachments` maps file names
        to bytes; a file is linked to the question whose answer is its name. `version` defaults
        to the deployed version (an older deployed one imitates an outdated device). Active
        hooks fire unless `deliver_hooks=False`, as Kobo fires them on creation.

        Raises SubmissionRefused for undeployed or archived forms.
        """
        normalized = normalize_answers(answers)
        with self.state.lock:
            asset = self._asset(asset_uid)
            deployment = self.state.require_accepting(asset)
            if version is not None and version not in {v.uid for v in asset.deployed_versions}:
                raise SubmissionRefused(f"version {version!r} was never deployed")
            row = SubmissionRow(
                id=self.state.next_submission_id(),
                instance_id=instance_id or f"uuid:{uuid.uuid4()}",
                submission_time=format_submission_time(submitted_at or self.state.now()),
                version=version or deployment.version_id, created_seq=self.state.next_seq(),
                answers=normalized, status=status, submitted_by=submitted_by,
                geolocation=geolocation or (None, None))
            row.attachments = tuple(
                self.state.new_attachment(name, guess_mimetype(name),
                                          find_question_xpath(normalized, name), content)
                for name, content in (attachments or {}).items())
            self.state.append_row(asset, row)
        if deliver_hooks:
            self.fire_hooks(asset_uid, row.id)
        return row.id

    def add_generated_submissions(self, asset_uid: str, count: int,
                                  make_answers: AnswersSource, *,
                                  first_time: dt.datetime | None = None,
                                  interval: dt.timedelta = dt.timedelta(seconds=1)) -> list[int]:
        """Add `count` submissions whose answers are produced on demand by `make_answers(i)`.

        For benchmarks: rows keep only metadata, answers are rendered per page, so 100,000
        records cost a few tens of MB. `make_answers` must be deterministic. No hooks fire.
        """
        start = first_time or self.state.now()
        with self.state.lock:
            asset = self._asset(asset_uid)
            deployment = self.state.require_accepting(asset)
            ids = []
            for index in range(count):
                row = SubmissionRow(
                    id=self.state.next_submission_id(), instance_id=f"uuid:{uuid.uuid4()}",
                    submission_time=format_submission_time(start + interval * index),
                    version=deployment.version_id, created_seq=self.state.next_seq(),
                    source=make_answers, source_index=index)
                asset.rows.append(row)
                ids.append(row.id)
            self.state.data_changed(asset)
        return ids

    def add_encrypted_submission(self, asset_uid: str, manifest_xml: bytes,
                                 files: Mapping[str, bytes], *,
                                 submitted_at: dt.datetime | None = None,
                                 deliver_hooks: bool = True) -> int:
        """Store an encrypted submission as Kobo does: manifest as the instance, `.enc` files as attachments.

        `/data/` then shows the flattened manifest (no `__version__`, no `formhub/uuid`),
        `/data/{id}.xml` the manifest itself, and each `.enc` file downloads through its
        `_attachments[].download_url` (`kobo-api.md` §8.2). The manifest's root `id` must be
        the asset uid, as Kobo finds the form by it.
        """
        root_name, attributes, flat = flatten_instance_xml(manifest_xml)
        instance_id = flat.get("meta/instanceID") or flat.get("orx:meta/orx:instanceID")
        if not instance_id:
            raise SubmissionRefused("the manifest has no instanceID (OpenRosa 400)")
        if attributes.get("id") != asset_uid:
            raise SubmissionRefused(f"the manifest id {attributes.get('id')!r} is not the asset "
                                    f"uid {asset_uid!r} (OpenRosa 404)")
        listed = [flat.get("encryptedXmlFile")]
        media = flat.get("media")
        if isinstance(media, list):
            listed += [item.get("media/file") for item in media]
        elif flat.get("media/file"):
            listed.append(flat["media/file"])
        ordered = [name for name in listed if name in files]
        ordered += [name for name in files if name not in ordered]
        with self.state.lock:
            asset = self._asset(asset_uid)
            self.state.require_accepting(asset)
            row = SubmissionRow(
                id=self.state.next_submission_id(), instance_id=instance_id,
                submission_time=format_submission_time(submitted_at or self.state.now()),
                version=None, created_seq=self.state.next_seq(), answers=flat,
                manifest_xml=manifest_xml)
            row.attachments = tuple(
                self.state.new_attachment(name, guess_mimetype(name), None, files[name])
                for name in ordered)
            self.state.append_row(asset, row)
        if deliver_hooks:
            self.fire_hooks(asset_uid, row.id)
        return row.id

    def edit_submission(self, asset_uid: str, submission_id: int, changes: Mapping[str, Any], *,
                        attachments: Mapping[str, bytes] | None = None) -> str:
        """Edit like Enketo does (§5.5); returns the new `meta/instanceID`.

        Same `_id`, same `meta/rootUuid`, same `_submission_time`; the old instanceID moves to
        `meta/deprecatedID`, `__version__` becomes the latest deployed version. A `None` value
        removes an answer. No hook fires. Encrypted submissions cannot be edited.
        """
        with self.state.lock:
            asset = self._asset(asset_uid)
            row = self._row(asset, submission_id)
            if row.encrypted:
                raise SubmissionRefused("encrypted submissions cannot be edited")
            if asset.deployment is None:
                raise SubmissionRefused("the asset is not deployed")
            row.answers = merge_answers(row.current_answers(), changes)
            row.source = None
            row.deprecated_id = row.instance_id
            row.instance_id = f"uuid:{uuid.uuid4()}"
            row.version = asset.deployment.version_id
            if attachments:
                kept = [a for a in row.attachments if a.basename not in attachments]
                row.attachments = tuple(kept) + tuple(
                    self.state.new_attachment(name, guess_mimetype(name),
                                              find_question_xpath(row.answers, name), content)
                    for name, content in attachments.items())
            self.state.data_changed(asset)
            return row.instance_id

    def delete_submission(self, asset_uid: str, submission_id: int) -> None:
        with self.state.lock:
            asset = self._asset(asset_uid)
            self.state.remove_row(asset, self._row(asset, submission_id))

    def set_validation_status(self, asset_uid: str, submission_id: int, status_uid: str,
                              *, by: str | None = None) -> None:
        """`validation_status_approved`, `…_not_approved` or `…_on_hold`."""
        with self.state.lock:
            asset = self._asset(asset_uid)
            row = self._row(asset, submission_id)
            row.validation_status = validation_status_json(status_uid, by or self.username,
                                                           self.state.now())
            self.state.data_changed(asset)

    def submission(self, asset_uid: str, submission_id: int) -> dict[str, Any]:
        """A submission as `/data/{id}/` returns it (URLs point at this double)."""
        with self.state.lock:
            asset = self._asset(asset_uid)
            return render_submission(self._row(asset, submission_id),
                                     self.state.render_context(asset, self.base_url))

    def submission_ids(self, asset_uid: str) -> list[int]:
        with self.state.lock:
            return [row.id for row in self._asset(asset_uid).rows]

    def _row(self, asset: Asset, submission_id: int) -> SubmissionRow:
        row = self.state.find_row(asset, submission_id)
        if row is None:
            raise KeyError(f"no submission {submission_id} in asset {asset.uid}")
        return row

    # ------------------------------------------------------------------ REST Services

    def fire_hooks(self, asset_uid: str, submission: int | Mapping[str, Any]) -> list[dict[str, Any]]:
        """Deliver a newly created submission to the asset's active hooks, as Kobo does.

        One log per hook × submission: calling again (e.g. after an edit) sends nothing, and
        hooks created after the submission never see it. A 502/503/504 or a read timeout
        leaves the log `pending` for `run_hook_retries()`; anything else fails at once.
        Returns the logs touched, as the hook-log API shows them.
        """
        submission_id = int(submission["_id"] if isinstance(submission, Mapping) else submission)
        with self.state.lock:
            asset = self._asset(asset_uid)
            row = self._row(asset, submission_id)
            started: list[str] = []
            for hook in sorted(asset.hooks.values(), key=lambda h: h.name):
                if not hook.active or hook.created_seq > row.created_seq:
                    continue
                if self.state.log_for(asset, hook.uid, submission_id) is not None:
                    continue
                now = self.state.now()
                log = HookLog(uid=new_uid("hl"), hook_uid=hook.uid, submission_id=submission_id,
                              tries=0, status=HOOK_STATUS_PENDING, status_code=None, message="",
                              date_created=now, date_modified=now)
                asset.hook_logs[log.uid] = log
                started.append(log.uid)
        for log_uid in started:
            self._attempt(asset_uid, log_uid)
        return self._log_jsons(asset_uid, started)

    def run_hook_retries(self) -> int:
        """Make the next attempt of every delivery waiting for a retry; returns how many.

        Kobo waits ~60 s, 120 s, 240 s between attempts (`kobo_hooks.retry_delay`); the double
        does not wait — each call is one round of retries.
        """
        with self.state.lock:
            due = [(asset.uid, log.uid) for asset in self.state.assets.values()
                   for log in asset.hook_logs.values()
                   if log.status == HOOK_STATUS_PENDING and log.tries >= 1]
        for asset_uid, log_uid in due:
            self._attempt(asset_uid, log_uid)
        return len(due)

    def hook_logs(self, asset_uid: str) -> list[dict[str, Any]]:
        with self.state.lock:
            uids = list(self._asset(asset_uid).hook_logs)
        return self._log_jsons(asset_uid, uids)

    def _log_jsons(self, asset_uid: str, log_uids: list[str]) -> list[dict[str, Any]]:
        with self.state.lock:
            asset = self._asset(asset_uid)
            return [self.api.hook_log_json(asset, asset.hook_logs[uid], self.base_url)
                    for uid in log_uids if uid in asset.hook_logs]

    def _retry_log_now(self, asset_uid: str, log_uid: str) -> HookLog | None:
        self._attempt(asset_uid, log_uid)
        with self.state.lock:
            return self._asset(asset_uid).hook_logs.get(log_uid)

    def _attempt(self, asset_uid: str, log_uid: str) -> None:
        with self.state.lock:
            asset = self.state.assets.get(asset_uid)
            log = asset.hook_logs.get(log_uid) if asset else None
            if asset is None or log is None:
                return
            hook = asset.hooks.get(log.hook_uid)
            if hook is None or not hook.active:
                return  # Kobo's send() returns early for inactive hooks; the log stays as is
            row = self.state.find_row(asset, log.submission_id)
            if row is None:
                self._finish_log(log, None, "Submission has been deleted", HOOK_STATUS_FAILED)
                return
            ctx = self.state.render_context(asset, self.base_url)
            if hook.export_type == "xml":
                body: Any = xml_payload(instance_xml(row, ctx), hook.subset_fields)
            else:
                body = json_payload(render_submission(row, ctx), hook.subset_fields,
                                    hook.payload_template)
            request = delivery_request(hook.uid, hook.endpoint, hook.export_type,
                                       hook.auth_level, hook.settings, body)
        sends = 2 if self.faults.take_duplicate_delivery() else 1
        for _ in range(sends):
            result = send(request, self.hook_timeout)
            with self._log_lock:
                self._deliveries.append(HookDelivery(hook.uid, hook.endpoint, log.submission_id,
                                                     result.status_code))
        with self.state.lock:
            tries = log.tries + 1
            if result.success:
                status = HOOK_STATUS_SUCCESS
            elif result.retriable and tries < MAX_ATTEMPTS:
                status = HOOK_STATUS_PENDING
            else:
                status = HOOK_STATUS_FAILED
            self._finish_log(log, result.status_code, result.message, status)

    def _finish_log(self, log: HookLog, status_code: int | None, message: str,
                    status: int) -> None:
        log.tries += 1
        log.status = status
        log.status_code = status_code
        log.message = message
        log.date_modified = self.state.now()

