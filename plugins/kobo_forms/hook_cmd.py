"""`tipdata kobo hook --url URL [FORM]...`: point each form's REST Service at the receiver.

The shared secret comes from `TIPDATA_HOOK_SECRET` (never an option, never printed); Kobo sends
it in the `X-Tipdata-Hook-Secret` header of every delivery. Re-running updates the existing hook
instead of adding another. Kobo only calls hooks for new submissions: keep running
`tipdata kobo pull` for edits, deletions and missed deliveries.

Exit codes: 0 done; 1 a form is not deployed or a request failed; 2 unusable arguments.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from tipdata.kobo_forms.form_assets import FormAssetRegistry, find_form_asset
from tipdata.kobo_forms.hooks import HOOK_NAME, SECRET_ENV, SECRET_HEADER, HookSpec, ensure_hook
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


def hook_command(
    url: Annotated[str, typer.Option("--url", metavar="URL",
                                     help="Receiver endpoint Kobo will POST submissions to.")],
    forms: FormsArg = None,
    name: Annotated[str, typer.Option("--name", help="Hook name shown in Kobo.")] = HOOK_NAME,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change.")] = False,
    server: ServerOpt = None,
    config_file: ConfigOpt = None,
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK,
    registry_path: RegistryOpt = DEFAULT_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """Register (or update) the tipdata REST Service on each form's Kobo project."""
    try:
        spec = HookSpec(url, os.environ.get(SECRET_ENV, ""), name=name, header=SECRET_HEADER)
        registry = FormAssetRegistry(registry_path)
    except ValueError as exc:
        usage_error(str(exc))
    if url.startswith("http://"):
        err_console.print("[yellow]Warning:[/] the receiver URL is plain http; submissions and "
                          "the secret would cross the network unencrypted. Use https.")
    codebook = load_forms_codebook(codebook_dir)
    form_ids = check_form_ids(codebook, forms)
    client = connect(server, config_file)
    results, missing = [], []
    with reporting_failures():
        for form_id in form_ids:
            asset = find_form_asset(client, form_id, codebook.forms[form_id].title,
                                    known=registry.get(client.config.base_url, form_id))
            if asset is None:
                missing.append(form_id)
                continue
            results.append(ensure_hook(client, form_id, str(asset["uid"]), spec,
                                       dry_run=dry_run))
    if as_json:
        console.print_json(json.dumps({"hooks": [r.as_dict() for r in results],
                                       "not_deployed": missing, "dry_run": dry_run}))
    else:
        verb = "would " if dry_run else ""
        for r in results:
            console.print(f"{r.form_id} ({r.asset_uid}): {verb}{r.action} hook "
                          f"{r.hook_uid or ''}".rstrip())
            if r.duplicates:
                err_console.print(f"[yellow]{r.form_id}: other hooks also match "
                                  f"({', '.join(r.duplicates)}); Kobo sends each submission to "
                                  "every one of them — delete the extras on Kobo.[/]")
        for form_id in missing:
            err_console.print(f"[yellow]{form_id}: not deployed on this server (run `tipdata "
                              "kobo deploy`).[/]")
    if missing:
        raise typer.Exit(1)
