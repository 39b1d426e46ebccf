"""`tipdata kobo deploy [FORM]... [--dry-run]`: publish the built XLSForms on KoboToolbox.

Each `xlsforms/<form>.xlsx` is imported (new project, or replacing the content of the project that
already holds the form), deployed or redeployed, and its web-form link printed. `--dry-run`
prints the plan (create / replace / unchanged) and sends nothing but reads.

Exit codes: 0 done; 1 a request or import failed (forms before it stay deployed; run again to
continue); 2 unusable arguments or settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tipdata.kobo_forms.deploy import (
    BuiltFormMissing,
    DeployResult,
    apply_deploy,
    plan_deploy,
    read_built_forms,
)
from tipdata.kobo_forms.form_assets import FormAssetRegistry
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
    load_forms_codebook,
    reporting_failures,
    usage_error,
)


def deploy_command(
    forms: FormsArg = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")] = False,
    forms_dir: Annotated[Path, typer.Option("--forms-dir", help="Where `tipdata build` wrote the "
                                            "XLSForms.", file_okay=False)] = Path("xlsforms"),
    server: ServerOpt = None,
    config_file: ConfigOpt = None,
    codebook_dir: CodebookOpt = DEFAULT_CODEBOOK,
    registry_path: RegistryOpt = DEFAULT_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """Create or update one Kobo project per form, deploy it, and print its web-form link."""
    codebook = load_forms_codebook(codebook_dir)
    form_ids = check_form_ids(codebook, forms)
    try:
        built = read_built_forms(forms_dir, form_ids, codebook.forms)
        registry = FormAssetRegistry(registry_path)
    except (BuiltFormMissing, ValueError) as exc:
        usage_error(str(exc))
    client = connect(server, config_file)
    with reporting_failures():
        steps = plan_deploy(client, built, registry)
        if dry_run:
            if as_json:
                console.print_json(json.dumps({"plan": [step.__dict__ for step in steps]}))
                return
            table = Table(title=f"Deploy plan for {client.config.base_url}")
            for column in ("form", "action", "asset", "why"):
                table.add_column(column)
            for step in steps:
                table.add_row(step.form_id, step.action, step.asset_uid or "-", step.reason)
            console.print(table)
            return

        def report(result: DeployResult) -> None:
            if not as_json:
                link = result.links.get("url") or result.links.get("offline_url") or \
                    "(no web-form link: the server gave none)"
                console.print(f"{result.action:<9} {result.form_id} → {result.asset_uid}  {link}")

        results = apply_deploy(client, built, steps, registry, on_result=report)
    if as_json:
        console.print_json(json.dumps({"deployed": [r.as_dict() for r in results]}))
        return
    counts = {action: sum(1 for r in results if r.action == action)
              for action in ("create", "replace", "unchanged")}
    console.print(f"{len(results)} form(s): {counts['create']} created, {counts['replace']} "
                  f"replaced, {counts['unchanged']} unchanged.")
