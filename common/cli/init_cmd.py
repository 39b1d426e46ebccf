"""`tipdata init [PATH]`: write a commented example tipdata.toml to start from.

The example (`tipdata/tipdata.example.toml`) names every setting, its default, and the
environment variables that hold the secrets, which never go in the file. An existing file is
kept unless `--force`.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer

from tipdata.cli.sync_options import console, fail

EXAMPLE_RESOURCE = "tipdata.example.toml"


def example_config() -> str:
    """The shipped example configuration text."""
    return files("tipdata").joinpath(EXAMPLE_RESOURCE).read_text(encoding="utf-8")


def init_command(
    path: Annotated[Path, typer.Argument(help="Where to write it.")] = Path("tipdata.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example tipdata.toml (secrets go in environment variables, not here)."""
    if path.exists() and not force:
        fail(f"{path} exists; edit it, or pass --force to replace it with the example")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(example_config())
    console.print(f"wrote {path}: set the platforms' URLs and form uids, then export the secrets "
                  "it names and run `tipdata sync --dry-run`")
