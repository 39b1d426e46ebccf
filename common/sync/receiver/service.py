"""Wiring the receiver from tipdata.toml: ledger and targets, receiver, sync trigger, app.

`tipdata serve` needs the ledger, the targets (to push after deliveries) and `[kobo.forms]` (to
know which asset is which form). It does not need a Kobo token or the forms' private key: it
never pulls and never decrypts. So the session is opened without the Kobo source, and a private
key configured for `tipdata sync` is not loaded into the internet-facing process.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from starlette.types import ASGIApp

from tipdata.ledger import Ledger
from tipdata.ledger.run_lock import RunLockBusy
from tipdata.model import Codebook
from tipdata.sync.config import SyncConfig
from tipdata.sync.receiver.app import build_app
from tipdata.sync.receiver.intake import DEFAULT_MAX_BODY_BYTES
from tipdata.sync.receiver.secret import SharedSecret
from tipdata.sync.receiver.store import KoboReceiver
from tipdata.sync.receiver.trigger import SyncTrigger
from tipdata.sync.session import SyncSession, open_session

#: seconds a burst of deliveries may take before the push starts
DEFAULT_DEBOUNCE = 2.0
#: seconds a triggered push waits for the run lock before it is re-scheduled (`SyncTrigger`):
#: short, so a long `tipdata sync` elsewhere defers the push instead of blocking it
SERVE_LOCK_WAIT = 2.0


class ReceiverConfigError(ValueError):
    """tipdata.toml does not say which Kobo forms the receiver accepts."""


@dataclass
class ReceiverService:
    """The app and what it runs on; `close()` after the server stops."""

    app: ASGIApp
    receiver: KoboReceiver
    session: SyncSession
    trigger: SyncTrigger | None = None

    def close(self) -> None:
        if self.trigger is not None:
            self.trigger.close()
        self.session.close()

    def __enter__(self) -> ReceiverService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_receiver(config: SyncConfig, secret: SharedSecret, *, codebook: Codebook | None = None,
                  ledger: Ledger | None = None, platforms: Mapping[str, Any] | None = None,
                  sync: bool = True, debounce: float = DEFAULT_DEBOUNCE,
                  max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                  lock_wait: float = SERVE_LOCK_WAIT, lock_retry: float = 5.0) -> ReceiverService:
    """Everything `tipdata serve` runs, from the configuration.

    `sync=False` stores deliveries without pushing (a later `tipdata sync` sends them).
    `lock_wait`: seconds a push waits for another run's lock before it is re-scheduled, first
    `lock_retry` seconds later (doubling while the lock stays busy).
    `platforms` overrides how targets are reached, as for `open_session` (tests pass doubles).

    >>> with open_receiver(load_config(), load_receiver_secret()) as service:
    ...     uvicorn.run(service.app, host="127.0.0.1", port=8765)
    """
    if config.kobo is None or not config.kobo.forms:
        raise ReceiverConfigError(
            f"{config.source} has no [kobo.forms]: the receiver only accepts submissions of the "
            "forms listed there (`<codebook form id> = \"<asset uid>\"`)")
    forms = dict(config.kobo.forms)
    session = open_session(replace(config, kobo=None, files=()), codebook=codebook,
                           ledger=ledger, platforms=platforms)
    trigger = None
    try:
        if sync and session.targets:
            trigger = SyncTrigger(functools.partial(session.engine.push, lock_timeout=lock_wait),
                                  debounce=debounce, busy=(RunLockBusy,), busy_retry=lock_retry)
        receiver = KoboReceiver(session.engine, forms, max_body_bytes=max_body_bytes,
                                on_stored=trigger.request if trigger else None)
        return ReceiverService(build_app(receiver, secret), receiver, session, trigger)
    except BaseException:
        if trigger is not None:
            trigger.close()
        session.close()
        raise
