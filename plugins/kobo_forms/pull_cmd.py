"""`tipdata kobo pull [FORM]... --out DIR`: submissions → canonical records as JSON lines.

Per form, appended to (created owner-only):

- `DIR/<form>.jsonl` — one canonical record per line (`CanonicalRecord.to_json`). Lines are
  upserts: an edited submission appears again with the same `envelope.record_id`, and the last
  line for an id is the current one;
- `DIR/<form>.quarantine.jsonl` — submissions that do not fit the codebook, with the reason code,
  every problem and the raw payload;
- `DIR/<form>.deleted.jsonl` — record ids of submissions deleted on Kobo.

The watermarks and seen submissions live in `--state FILE`: by default the SQLite file
`.tipdata/kobo-pull-state.sqlite` (memory flat however many submissions), a JSON file if FILE
ends in `.json`; an old default JSON file is imported once (`pull_state_files`).

Progress (which form, how many submissions) goes to stderr; the terminal never shows answers.
Exit codes: 0 done; 1 some submissions were quarantined (everything else was written) or a
request failed (the next run resumes); 2 unusable arguments, settings or key.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tipdata.cli.keys_cmd import read_passphrase
from tipdata.crypto.keys import (
    PASSPHRASE_ENV_VAR,
    KeyFileError,
    load_private_key,
    private_key_file_is_encrypted,
)
from tipdata.kobo_forms.form_assets import FormAssetRegistry, find_form_asset
from tipdata.kobo_forms.kobo_options import (
    DEFAULT_CODEBOOK,
    DEFAULT_REGISTRY,
    CodebookOpt,
    ConfigOpt,
    FormsArg,
    JsonOpt,
    RegistryOpt,
    ServerOpt,
    check_form_ids,
    connect,
    console,
    err_console,
    load_forms_codebook,
    reporting_failures,
    usage_error,
)
from tipdata.kobo_forms.pull import PullOptions, PullPage, pull_form
from tipdata.kobo_forms.pull_state_files import LEGACY_JSON_STATE_PATH, open_pull_state_file
from tipdata.kobo_forms.pull_state_sqlite import DEFAULT_SQLITE_STATE_PATH


@dataclass
class FormSummary:
    """Counts for one form; what `--json` prints and the table shows."""

    form_id: str
    asset_uid: str | None = None
    records: int = 0
    edited: int = 0
    quarantined: int = 0
    deleted: int = 0
    unchanged: int = 0
    attachments: int = 0
    attachment_failures: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "reasons": dict(sorted(self.reasons.items()))}


def pull_command(
    forms: FormsArg = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            file_okay=False,
            help="Folder for <form>.jsonl, <form>.quarantine.jsonl and <form>.deleted.jsonl.",
        ),
    ] = Path("kobo-records"),
    attachments: Annotated[
        Path | None,
        typer.Option(
            "--attachments",
            metavar="DIR",
            file_okay=False,
            help="Also download attachments into DIR/<asset>/<_id>/.",
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            metavar="KEY.pem",
            dir_okay=False,
            help="Private key for encrypted forms (passphrase from --passphrase-env or a prompt).",
        ),
    ] = None,
    passphrase_env: Annotated[
        str,
        typer.Option(
            "--passphrase-env",
            metavar="NAME",
            help="Environment variable holding the key passphrase.",
        ),
    ] = PASSPHRASE_ENV_VAR,
    reconcile: Annotated[
        bool | None,
        typer.Option(
            "--reconcile/--no-reconcile",
            help="Compare every submission with the server to find "
            "edits and deletions; default: when the last time is over a day ago.",
            show_default=False,
        ),
    ] = None,
    retry_quarantined: Annotated[
        bool,
        typer.Option(
            "--retry-quarantined",
            help="Map quarantined submissions again (after fixing the key "
            "or the codebook); implies --reconcile.",
        ),
    ] = False,
    state_path: Annotated[
        Path | None,
        typer.Option(
            "--state",
            metavar="FILE",
            dir_okay=False,
            help="Watermarks and seen submissions: a SQLite file (default "
            f"{DEFAULT_SQLITE_STATE_PATH}; memory stays flat however many submissions), or a JSON "
            "file if FILE ends in .json (kept in memory, about half a kilobyte per submission). "
            f"An old {LEGACY_JSON_STATE_PATH} is imported into the default once.",
            show_default=False,
        ),
    ] = None,
    server: ServerOpt = None,
    config_file: ConfigOpt = None,
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK,
    registry_path: RegistryOpt = DEFAULT_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """Pull new and edited submissions of each form as canonical records."""
    codebook = load_forms_codebook(codebook_dir)
    form_ids = check_form_ids(codebook, forms)
    private_key = _load_key(key, passphrase_env) if key is not None else None
    options = PullOptions(
        private_key=private_key,
        attachments_dir=attachments,
        reconcile=reconcile,
        retry_quarantined=retry_quarantined,
    )
    client = connect(server, config_file)
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        usage_error(f"cannot create --out {out} ({exc.strerror}); choose a writable folder")
    try:
        registry = FormAssetRegistry(registry_path)
        state = open_pull_state_file(state_path, announce=_say_on_one_line)
    except ValueError as exc:
        usage_error(str(exc))

    summaries: list[FormSummary] = []
    with contextlib.closing(state), reporting_failures(), _progress() as progress:
        for form_id in form_ids:
            summary = FormSummary(form_id)
            summaries.append(summary)
            form = codebook.forms[form_id]
            asset = find_form_asset(
                client, form_id, form.title, known=registry.get(client.config.base_url, form_id)
            )
            if asset is None:
                summary.error = "not deployed on this server (run `tipdata kobo deploy`)"
                continue
            summary.asset_uid = str(asset["uid"])
            task = progress.add_task(form_id, total=None)
            with _OutputFiles(out, form_id) as files:
                for page in pull_form(client, codebook, form_id, summary.asset_uid, state, options):
                    files.write(page)
                    _count(summary, page)
                    if page.server_count is not None:
                        progress.update(task, total=page.server_count)
                    if page.phase == "new":
                        progress.advance(task, page.received)
                    else:
                        progress.update(task, description=f"{form_id} (checking for edits)")
            progress.remove_task(task)

    if as_json:
        console.print_json(json.dumps({"forms": [s.as_dict() for s in summaries]}))
    else:
        for s in summaries:
            if s.error:
                err_console.print(f"[yellow]{s.form_id}: {s.error}[/]")
                continue
            reasons = ", ".join(f"{code}×{n}" for code, n in sorted(s.reasons.items()))
            console.print(
                f"{s.form_id} ({s.asset_uid}): {s.records} record(s) "
                f"({s.edited} edited), {s.quarantined} quarantined"
                f"{f' [{reasons}]' if reasons else ''}, {s.deleted} deleted, "
                f"{s.unchanged} unchanged"
                f"{f', {s.attachments} attachment(s)' if attachments else ''}"
                f"{f', {s.attachment_failures} attachment failure(s)' if s.attachment_failures else ''}."
            )
    if any(s.quarantined or s.error for s in summaries):
        raise typer.Exit(1)


def _count(summary: FormSummary, page: PullPage) -> None:
    summary.records += len(page.records)
    if page.phase == "changed":
        summary.edited += len(page.records)
    summary.quarantined += len(page.quarantined)
    summary.reasons.update(q.reason for q in page.quarantined)
    summary.deleted += len(page.deleted)
    summary.unchanged += page.unchanged
    summary.attachments += len(page.attachments)
    summary.attachment_failures += len(page.attachment_failures)


class _OutputFiles:
    """The three append-only JSON-lines files of one form, opened lazily, owner-only."""

    def __init__(self, out: Path, form_id: str) -> None:
        self._paths = {
            "records": out / f"{form_id}.jsonl",
            "quarantined": out / f"{form_id}.quarantine.jsonl",
            "deleted": out / f"{form_id}.deleted.jsonl",
        }
        self._handles: dict[str, IO[str]] = {}

    def __enter__(self) -> _OutputFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles.values():
            handle.close()

    def _handle(self, kind: str) -> IO[str]:
        if kind not in self._handles:
            fd = os.open(self._paths[kind], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._handles[kind] = os.fdopen(fd, "a", encoding="utf-8")
        return self._handles[kind]

    def write(self, page: PullPage) -> None:
        """Write and flush one page before the pull may record it as handled."""
        for kind, lines in (
            ("records", [r.to_json() for r in page.records]),
            ("quarantined", [q.to_json() for q in page.quarantined]),
            ("deleted", [{"record_id": rid, "asset_uid": page.asset_uid} for rid in page.deleted]),
        ):
            if not lines:
                continue
            handle = self._handle(kind)
            handle.write(
                "".join(json.dumps(line, ensure_ascii=False, default=str) + "\n" for line in lines)
            )
            handle.flush()
            os.fsync(handle.fileno())


def _say_on_one_line(line: str) -> None:
    err_console.print(line, soft_wrap=True, markup=False, highlight=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("Pulling {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _load_key(path: Path, passphrase_env: str) -> Any:
    try:
        encrypted = private_key_file_is_encrypted(path)
        passphrase = read_passphrase(passphrase_env, confirm=False) if encrypted else None
        return load_private_key(path, passphrase)
    except KeyFileError as exc:
        usage_error(str(exc))
