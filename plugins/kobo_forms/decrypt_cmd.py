"""`tipdata kobo decrypt --key KEY.pem DIR --out OUT`: decrypt downloaded encrypted submissions.

DIR holds one folder per submission, as Briefcase or a Kobo download lays them out: a manifest
`submission.xml` beside `submission.xml.enc` and the media `.enc` files. Each good submission
lands in `OUT/<instance id>/` (`submission.xml` plus its media) with owner-only permissions;
each bad one is named with its file and reason, never its contents, and makes the exit code 1.

Exit codes: 0 all decrypted; 1 some submission failed or none was found; 2 unusable arguments
or key.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tipdata.cli.keys_cmd import read_passphrase
from tipdata.crypto.keys import (
    PASSPHRASE_ENV_VAR,
    KeyFileError,
    load_private_key,
    private_key_file_is_encrypted,
)
from tipdata.kobo_forms.odk_encryption import (
    MANIFEST_FILE_NAME,
    DecryptedSubmission,
    FailedSubmission,
    decrypt_directory,
    find_submission_manifests,
)

PROGRESS_THRESHOLD = 20
"""Draw a progress bar from this many submissions on."""

_SAFE_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_PRIVATE_DIR_MODE = 0o700
_PRIVATE_FILE_MODE = 0o600


@dataclass(frozen=True)
class SubmissionFailure:
    """One submission that was not written: where it was, a stable reason code, and why."""

    location: str
    reason: str
    message: str


def decrypt_command(
    key: Annotated[
        Path,
        typer.Option(
            "--key",
            metavar="KEY.pem",
            help="Private key PEM that pairs with the form's settings.public_key.",
            dir_okay=False,
        ),
    ],
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="Folder of submission folders (submission.xml manifest beside *.enc files).",
            file_okay=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="OUT",
            help="Folder for decrypted output: OUT/<instance id>/submission.xml and media.",
            file_okay=False,
        ),
    ],
    passphrase_env: Annotated[
        str,
        typer.Option(
            "--passphrase-env",
            metavar="NAME",
            help="Environment variable holding the key passphrase; prompts if it is unset.",
        ),
    ] = PASSPHRASE_ENV_VAR,
) -> None:
    """Decrypt every encrypted submission under DIR into OUT, verifying each signature."""
    directory, out = Path(directory), Path(out)
    if not directory.is_dir():
        _usage_error(f"{directory} is not a folder; pass the folder of downloaded submissions")
    if _is_within(out, directory):
        _usage_error(
            f"--out {out} is inside {directory}; choose an output folder outside it so "
            "decrypted files are never mistaken for downloads"
        )

    try:
        encrypted = private_key_file_is_encrypted(key)
        passphrase = read_passphrase(passphrase_env, confirm=False) if encrypted else None
        private_key = load_private_key(key, passphrase)
    except KeyFileError as exc:
        _usage_error(str(exc))

    total = len(find_submission_manifests(directory))
    if total == 0:
        typer.echo(
            f"Error: no {MANIFEST_FILE_NAME} found under {directory}; expected one folder per "
            "submission with its manifest beside its .enc files.",
            err=True,
        )
        raise typer.Exit(1)

    try:
        out.mkdir(mode=_PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        _usage_error(f"cannot create --out {out} ({exc.strerror}); choose a writable folder")
    written: dict[str, str] = {}
    failures: list[SubmissionFailure] = []
    legacy_signatures = 0
    with _progress_reporter(total) as on_progress:
        for outcome in decrypt_directory(directory, private_key, on_progress=on_progress):
            if isinstance(outcome, FailedSubmission):
                location = _relative_folder(outcome.manifest_path, directory)
                failures.append(SubmissionFailure(location, outcome.reason, str(outcome.error)))
                continue
            failure = _write_submission(outcome, out, written)
            if failure is not None:
                failures.append(failure)
            elif outcome.signature_scheme == "enketo-legacy":
                legacy_signatures += 1

    typer.echo(
        f"Decrypted {len(written)} of {total} submission(s) into {out}; {len(failures)} failed."
    )
    if legacy_signatures:
        typer.echo(
            f"{legacy_signatures} of them carried Enketo's pre-2025 signature of non-ASCII text "
            "(enketo/enketo#1421) and were verified against that scheme."
        )
    for failure in failures:
        typer.echo(f"FAILED {failure.location}: {failure.message}", err=True)
    if failures:
        raise typer.Exit(1)


def _write_submission(
    submission: DecryptedSubmission, out: Path, written: dict[str, str]
) -> SubmissionFailure | None:
    """Write one decrypted submission to OUT/<instance id>/, or say why it was not written."""
    instance_id = submission.instance_id
    location = f"submission {instance_id!r}"
    if not _SAFE_FOLDER_NAME.fullmatch(instance_id):
        return SubmissionFailure(
            location,
            "unsafe_instance_id",
            "the instance id cannot be used as a folder name [unsafe_instance_id]. "
            "Fix: decrypt it with the Python API and store it by hand",
        )
    if instance_id in written:
        return SubmissionFailure(
            location,
            "duplicate_instance_id",
            "appears twice in the input; the first copy was kept [duplicate_instance_id]. "
            "Fix: remove the duplicate download",
        )
    folder = out / instance_id
    try:
        folder.mkdir(mode=_PRIVATE_DIR_MODE, exist_ok=True)
        _write_private_file(folder / MANIFEST_FILE_NAME, submission.submission_xml)
        for name, content in submission.media.items():
            _write_private_file(folder / name, content)
    except OSError as exc:
        return SubmissionFailure(
            location,
            "write_failed",
            f"could not write to {folder} ({exc.strerror}) [write_failed]. "
            "Fix: check free space and permissions of --out",
        )
    written[instance_id] = str(folder)
    return None


def _write_private_file(path: Path, content: bytes) -> None:
    """Write `content` to `path` atomically with owner-only permissions."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(
        temporary,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
        _PRIVATE_FILE_MODE,
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def _progress_reporter(total: int) -> Iterator[Callable[[int, int], None] | None]:
    """A `decrypt_directory` progress callback drawing a rich bar on stderr, when worth it."""
    if total < PROGRESS_THRESHOLD:
        yield None
        return
    progress = Progress(
        TextColumn("Decrypting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("decrypt", total=total)

        def on_progress(done: int, _total: int) -> None:
            progress.update(task, completed=done)

        yield on_progress


def _relative_folder(manifest_path: Path, directory: Path) -> str:
    folder = manifest_path.parent
    try:
        return str(folder.relative_to(directory)) + "/"
    except ValueError:
        return str(folder)


def _is_within(path: Path, parent: Path) -> bool:
    resolved, resolved_parent = path.resolve(), parent.resolve()
    return resolved == resolved_parent or resolved_parent in resolved.parents


def _usage_error(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(2)
