"""`tipdata kobo ...`: the KoboToolbox commands (deploy, pull and hooks join with the connector)."""

from __future__ import annotations

import typer

from tipdata.kobo_forms.decrypt_cmd import decrypt_command

kobo_app = typer.Typer(help="KoboToolbox and ODK: decrypt encrypted submissions.",
                       no_args_is_help=True)
kobo_app.command("decrypt")(decrypt_command)
