"""Options and connection set-up shared by `tipdata kobo deploy|pull|hook`.

The token has no command-line option on purpose: options end up in shell history and process
listings. It comes from `TIPDATA_KOBO_TOKEN`, a file named by `TIPDATA_KOBO_TOKEN_FILE`, or the
config file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from tipdata.codebook import DEFAULT_CODEBOOK_DIR, load_codebook
from tipdata.http import PlatformError
from tipdata.kobo_forms.connector import KoboClient, resolve_kobo_config
from tipdata.kobo_forms.form_assets import DEFAULT_REGISTRY_PATH, AmbiguousFormAsset
from tipdata.model import Codebook
from tipdata.problems import CodebookInvalid

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

ServerOpt = Annotated[str | None, typer.Option(
    "--server", metavar="URL", help="Kobo server (KPI host); default TIPDATA_KOBO_URL or the "
    "config file. The token comes from TIPDATA_KOBO_TOKEN(_FILE) or the config file.")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", metavar="FILE", help="tipdata config file (TOML; table `kobo` with url, token "
    "or token_file); default TIPDATA_CONFIG or ~/.config/tipdata/config.toml.", dir_okay=False)]
CodebookOpt = Annotated[Path, typer.Option("--codebook", help="Codebook folder.",
                                           show_default=False, file_okay=False)]
RegistryOpt = Annotated[Path, typer.Option(
    "--registry", metavar="FILE", help="Which Kobo asset holds which form (kept by deploy).",
    dir_okay=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
FormsArg = Annotated[list[str] | None, typer.Argument(
    metavar="[FORM]...", help="Codebook form ids; default: every form.", show_default=False)]

DEFAULT_CODEBOOK = DEFAULT_CODEBOOK_DIR
DEFAULT_REGISTRY = DEFAULT_REGISTRY_PATH


def usage_error(message: str) -> NoReturn:
    err_console.print(f"[red]Error:[/] {message}", soft_wrap=True)
    raise typer.Exit(2)


def connect(server: str | None, config_file: Path | None) -> KoboClient:
    """A client from the options, or exit 2 saying which setting is missing (never the token)."""
    try:
        return KoboClient(resolve_kobo_config(server, None, config_file=config_file))
    except ValueError as exc:
        usage_error(str(exc))


def load_forms_codebook(codebook_dir: Path | None) -> Codebook:
    try:
        return load_codebook(codebook_dir)
    except CodebookInvalid as exc:
        errors = sum(1 for p in exc.problems if p.severity == "error")
        err_console.print(f"[red]The codebook has {errors} error(s); run `tipdata codebook "
                          "validate`.[/]")
        raise typer.Exit(1) from None


def check_form_ids(codebook: Codebook, form_ids: list[str] | None) -> list[str]:
    """The forms asked for (default all), or exit 2 naming every unknown one."""
    if not form_ids:
        return sorted(codebook.forms)
    unknown = [f for f in form_ids if f not in codebook.forms]
    if unknown:
        usage_error(f"not codebook forms: {', '.join(unknown)} (known: "
                    f"{', '.join(sorted(codebook.forms))})")
    return list(dict.fromkeys(form_ids))


@contextmanager
def reporting_failures() -> Iterator[None]:
    """Turn a failed request into one explanatory line and exit 1 (no traceback)."""
    try:
        yield
    except (PlatformError, AmbiguousFormAsset) as exc:
        err_console.print(f"[red]Failed:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
