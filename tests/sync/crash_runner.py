"""One `tipdata sync` in a subprocess, for the crash-safety test.

Prints `ready` after the imports and `syncing` when the engine starts its run (after loading the
codebook and opening the ledger), so the test's random kill moments fall on the sync itself:
pulls, merges, commits, pushes, id-map records.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from tipdata.cli.sync_cmd import sync_command
from tipdata.sync.apply import SyncEngine

_run = SyncEngine.run


def _announced_run(self: SyncEngine, **options: Any) -> Any:
    print("syncing", flush=True)
    return _run(self, **options)


if __name__ == "__main__":
    SyncEngine.run = _announced_run  # type: ignore[method-assign]
    app = typer.Typer()
    app.command()(sync_command)
    print("ready", flush=True)
    app(sys.argv[1:])
