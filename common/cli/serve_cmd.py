"""`tipdata serve [--host 127.0.0.1] [--port 8765] [--config tipdata.toml] [--no-sync]`.

Runs the Kobo REST Service receiver (`tipdata.sync.receiver`, docs/receiver.md) under uvicorn:
`POST /kobo/hook` takes deliveries, `GET /healthz` answers whether the ledger does. Point Kobo at
it with `tipdata kobo hook --url https://<public host>/kobo/hook`. The shared secret comes from
TIPDATA_RECEIVER_SECRET (or TIPDATA_RECEIVER_SECRET_FILE, or TIPDATA_HOOK_SECRET): never an
option. Without one the server does not start. After each stored delivery a push to the
configured targets runs in the background (one at a time); `--no-sync` only stores.

Bind to 127.0.0.1 (the default) behind an HTTPS reverse proxy: the secret and the submissions
must not cross a network in clear text. Logs hold counts, codes and record ids, never contents.

Exit codes: 0 stopped normally; 1 no secret, invalid configuration, or the ledger cannot open.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from tipdata.cli.sync_options import (
    ConfigOpt,
    DebugOpt,
    console,
    err_console,
    read_config,
    reporting_errors,
    shipped_codebook,
)
from tipdata.sync.receiver import (
    HEALTH_PATH,
    RECEIVE_PATH,
    SECRET_HEADER,
    load_receiver_secret,
    open_receiver,
)

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8765,
    config: ConfigOpt = None,
    no_sync: Annotated[bool, typer.Option(
        "--no-sync", help="Store deliveries only; do not push to the targets after them.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Receive Kobo REST Service deliveries into the ledger and push them on."""
    import uvicorn

    with reporting_errors(debug):
        secret = load_receiver_secret()
        codebook = shipped_codebook()
        settings = read_config(config, codebook)
        service = open_receiver(settings, secret, codebook=codebook, sync=not no_sync)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        forms = len(service.receiver.forms_by_asset)
        pushing = "off (--no-sync)" if no_sync else \
            ", ".join(t.name for t in service.session.targets) or "off (no target configured)"
        console.print(f"tipdata serve: POST http://{host}:{port}{RECEIVE_PATH} ({forms} form(s), "
                      f"secret header {SECRET_HEADER}), GET {HEALTH_PATH}; push after "
                      f"deliveries: {pushing}")
        if host not in _LOOPBACK:
            err_console.print(f"[yellow]Warning:[/] listening on {host}: put an HTTPS reverse "
                              "proxy in front; the secret and submissions must not travel in "
                              "clear text.")
        uvicorn.run(service.app, host=host, port=port, log_level="info", server_header=False,
                    date_header=False)
    finally:
        service.close()
