"""Support for the receiver tests (no tests here): the real app under uvicorn on 127.0.0.1.

Imported by the other `tests/sync/test_receiver*.py` modules. The server listens on an
ephemeral port and is talked to over HTTP with `requests` (and by the Kobo double's hook
deliveries), exactly as Kobo would reach it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from tests.sync.conftest import INTAKE
from tipdata.sync.config import KoboSettings, SyncConfig

#: a test secret (never a real one): long enough for the receiver's minimum
SECRET = "test-receiver-secret-0123456789abcdef"
ASSET = "aTestAsset0123456789"


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run `app` under uvicorn on 127.0.0.1 (ephemeral port); yields the base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                            access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="receiver-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def local_config(tmp_path: Path) -> SyncConfig:
    """A configuration with one form and no target: for tests that need no platform."""
    return SyncConfig(kobo=KoboSettings("http://127.0.0.1:9", {INTAKE: ASSET},
                                        tmp_path / "kobo-state.json"))


def headers(secret: str | None = SECRET) -> dict[str, str]:
    found = {"Content-Type": "application/json"}
    if secret is not None:
        found["X-Tipdata-Hook-Secret"] = secret
    return found
