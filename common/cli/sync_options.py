"""Options and error reporting shared by `tipdata sync`, `status`, `quarantine` and `audit`.

Every command reads tipdata.toml (`--config`, else TIPDATA_CONFIG, else ./tipdata.toml), prints
counts, ids and codes (never case contents), and turns the library's errors into one readable
message with its fix: exit 1 for invalid input or a failed run, tracebacks only with `--debug`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from tipdata.codebook import load_codebook
from tipdata.crypto.at_rest import AtRestError
from tipdata.ledger import Ledger, LedgerError
from tipdata.model import Codebook
from tipdata.policy import PolicyError, PolicyInvalid
from tipdata.problems import CodebookInvalid
from tipdata.sync.config import ConfigInvalid, SyncConfig, load_config
from tipdata.sync.session import open_ledger_for

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="tipdata.toml to use (default: TIPDATA_CONFIG, else ./tipdata.toml).",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")]


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]{message}[/]", soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def reporting_errors(debug: bool = False) -> Iterator[None]:
    """Print what went wrong and how to fix it (no traceback unless --debug), then exit 1."""
    try:
        yield
    except typer.Exit:
        raise
    except (ConfigInvalid, PolicyInvalid, CodebookInvalid) as exc:
        if debug:
            raise
        for problem in exc.problems:
            err_console.print(f"[red]{problem.render()}[/]", soft_wrap=True)
        fail(f"{len(exc.problems)} problem(s); nothing was done.")
    except (LedgerError, AtRestError) as exc:
        if debug:
            raise
        fail(str(exc))
    except (PolicyError, ValueError, OSError) as exc:
        if debug:
            raise
        fail(str(exc))


@functools.cache
def shipped_codebook() -> Codebook:
    """The codebook, loaded once per process (it takes most of a second)."""
    return load_codebook()


def read_config(path: Path | None, codebook: Codebook | None = None) -> SyncConfig:
    return load_config(path, codebook=codebook)


def open_config_ledger(path: Path | None) -> tuple[SyncConfig, Codebook, Ledger]:
    """The configuration and its ledger, for commands that need no platform."""
    codebook = shipped_codebook()
    config = read_config(path, codebook)
    return config, codebook, open_ledger_for(config, codebook)


def parse_moment(text: str | None, option: str) -> dt.datetime | None:
    """`2026-03-01` or `2026-03-01T10:00[+02:00]` as an aware time (UTC when no zone is given)."""
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not a date (YYYY-MM-DD) or date-time (ISO 8601)", 2)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
