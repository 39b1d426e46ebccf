"""`tipdata kobo ...`: the KoboToolbox commands (decrypt, deploy, pull, hook)."""

from __future__ import annotations

import typer

from tipdata.kobo_forms.decrypt_cmd import decrypt_command
from tipdata.kobo_forms.deploy_cmd import deploy_command
from tipdata.kobo_forms.hook_cmd import hook_command
from tipdata.kobo_forms.pull_cmd import pull_command

kobo_app = typer.Typer(help="KoboToolbox and ODK: deploy forms, pull submissions, register "
                       "hooks, decrypt encrypted submissions.", no_args_is_help=True)
kobo_app.command("decrypt")(decrypt_command)
kobo_app.command("deploy")(deploy_command)
kobo_app.command("pull")(pull_command)
kobo_app.command("hook")(hook_command)
