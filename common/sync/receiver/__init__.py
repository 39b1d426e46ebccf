"""`tipdata serve`: receive KoboToolbox REST Service deliveries into the ledger, then sync.

Kobo POSTs each new submission's JSON to the receiver with the shared secret in the
`X-Tipdata-Hook-Secret` header (`tipdata kobo hook` registers it so). The receiver checks the
secret, deduplicates on Kobo's `_id`, stores the submission through the sync engine's `ingest`
(mapped by the same code as `tipdata kobo pull`), holds encrypted ones unopened until
`tipdata quarantine retry` decrypts them with the key, and triggers a push to the targets.
Bad secret → 401; a body that is not a submission of a configured form → 400 and quarantine;
internal failures → 503 so Kobo retries; never 500. See docs/receiver.md.

Modules: `intake` (placing a delivery, pure), `store` (ledger steps), `trigger` (single-flight
background push), `secret`, `app` (Starlette routes), `service` (wiring from tipdata.toml),
`held` (decrypting held submissions on retry).

    with open_receiver(load_config(), load_receiver_secret()) as service:
        uvicorn.run(service.app, host="127.0.0.1", port=8765)
"""

from __future__ import annotations

from tipdata.sync.receiver.app import HEALTH_PATH, RECEIVE_PATH, build_app
from tipdata.sync.receiver.intake import AWAITING_DECRYPTION, Delivery, Rejection, read_delivery
from tipdata.sync.receiver.secret import (
    SECRET_ENV,
    SECRET_FILE_ENV,
    SECRET_HEADER,
    ReceiverSecretError,
    SharedSecret,
    load_receiver_secret,
)
from tipdata.sync.receiver.service import (
    ReceiverConfigError,
    ReceiverService,
    open_receiver,
)
from tipdata.sync.receiver.store import KoboReceiver, Receipt
from tipdata.sync.receiver.trigger import SyncTrigger

__all__ = [
    "AWAITING_DECRYPTION", "HEALTH_PATH", "RECEIVE_PATH", "SECRET_ENV", "SECRET_FILE_ENV",
    "SECRET_HEADER", "Delivery", "KoboReceiver", "Receipt", "ReceiverConfigError",
    "ReceiverSecretError", "ReceiverService", "Rejection", "SharedSecret", "SyncTrigger",
    "build_app", "load_receiver_secret", "open_receiver", "read_delivery",
]
