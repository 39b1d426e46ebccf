"""Storing one Kobo delivery in the ledger: new, duplicate, quarantined, held or rejected.

The steps for one delivery, in order:

1. **place** it (`intake.read_delivery`): which form and `_id`, or a rejection (SY720, SY721,
   KB302) that is quarantined with the raw bytes and answered 400;
2. **deduplicate** on `_id`: Kobo fires a hook only when a submission is created (never on
   edit), retries, and may deliver twice (kobo-api.md §7.3–7.4), so an `_id` the ledger already
   knows — as a record, or as a quarantine entry other than the receiver's own rejections — is
   a redelivery: nothing is stored and the answer is 200 `duplicate`. Edits reach the ledger
   through the pull's reconciliation, never through a hook. Deliveries are handled one at a
   time in the process so that two copies arriving together are told apart too; across
   processes the deterministic record id makes the second store an unchanged upsert;
3. **hold** an encrypted submission as it came (quarantine `SY722 awaiting-decryption`, raw JSON
   sealed by the ledger): only `tipdata quarantine retry` with the private key decrypts it;
4. **map** a plain one with the same code as `tipdata kobo pull` (`map_submission`) and hand it
   to the engine's `ingest`: the same merge, quarantine and audit as a pulled page, in one
   transaction. No watermark moves: a hook delivery says nothing about the submissions before
   it, so the pull still reads them.

Logs name the stream, the outcome and the record id; never answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from tipdata.kobo_forms.mapping import FormLayout, map_submission
from tipdata.ledger import AuditEntry, QuarantineItem, Watermark
from tipdata.ledger import schema as ledger_tables
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord, record_id_for
from tipdata.sync.apply import SyncEngine
from tipdata.sync.ports import SourcePage
from tipdata.sync.receiver.intake import (
    AWAITING_DECRYPTION,
    DEFAULT_MAX_BODY_BYTES,
    PLACED_AGAIN,
    Delivery,
    Rejection,
    read_delivery,
)

log = logging.getLogger("tipdata.serve")

ReceiptStatus = Literal["stored", "duplicate", "quarantined", "held", "rejected"]
HELD_MESSAGE = ("encrypted submission held as delivered (ciphertext only) until it is decrypted "
                "with the form's private key: set [kobo] private_key in tipdata.toml (and "
                "TIPDATA_KEY_PASSPHRASE), then `tipdata quarantine retry --reason SY722`")


@dataclass(frozen=True)
class Receipt:
    """What the receiver did with one delivery; its JSON is the HTTP answer (ids and codes only)."""

    status: ReceiptStatus
    record_id: str | None = None
    reason: str | None = None
    quarantine_id: int | None = None

    @property
    def http_status(self) -> int:
        """400 for a delivery that cannot be stored as a submission; 200 for everything kept."""
        return 400 if self.status == "rejected" else 200

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "record_id": self.record_id, "reason": self.reason,
                "quarantine_id": self.quarantine_id}


class HookDeliveries:
    """The `Source` the engine's `ingest` is told a delivered page came from.

    Kobo's platform name (ownership, policy) and empty values, but no streams of its own:
    `tipdata serve` never pulls, and quarantined deliveries are mapped again by the configured
    Kobo source (`tipdata quarantine retry`), which has the client and the key.
    """

    platform = "kobo"
    empty_values: Mapping[str, Any] = {}

    def streams(self) -> Sequence[str]:
        return []

    def pages(self, stream: str, since: Watermark | None, *,
              dry_run: bool = False) -> Iterator[SourcePage]:
        return iter(())

    def remap(self, quarantine_source: str, source_id: str,
              payload: bytes) -> CanonicalRecord | QuarantinedRecord | None:
        return None


class KoboReceiver:
    """Kobo REST Service deliveries into the ledger, through the sync engine.

    >>> receiver = KoboReceiver(session.engine, {"tip_case_intake": "aBcD1234EfGh"})
    >>> receiver.receive(body).to_json()
    {'status': 'stored', 'record_id': '0b6f…', 'reason': None, 'quarantine_id': None}
    """

    def __init__(self, engine: SyncEngine, forms: Mapping[str, str], *,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 on_stored: Callable[[], None] | None = None) -> None:
        """`forms` is `[kobo.forms]`: codebook form id → asset uid. `on_stored` is called after
        a delivery added something for the targets (the sync trigger)."""
        self.engine = engine
        self.ledger = engine.ledger
        self.codebook = engine.codebook
        self.max_body_bytes = max_body_bytes
        self.on_stored = on_stored
        self.forms_by_asset = {uid: form_id for form_id, uid in forms.items()}
        self.layouts = {form_id: FormLayout.of(self.codebook, form_id) for form_id in forms}
        self.source = HookDeliveries()
        self._one_at_a_time = threading.Lock()

    # --- one delivery -----------------------------------------------------------------------

    def receive(self, body: bytes, *, truncated: bool = False) -> Receipt:
        """Place, deduplicate, then hold, store or quarantine one delivery (see the module doc)."""
        placed = read_delivery(body, self.forms_by_asset, max_bytes=self.max_body_bytes,
                               truncated=truncated)
        with self._one_at_a_time:
            if isinstance(placed, Rejection):
                receipt = self._reject(placed)
            elif self._known(placed):
                receipt = Receipt("duplicate", record_id_for(placed.source, placed.source_id))
            elif placed.encrypted:
                receipt = self._hold(placed)
            else:
                receipt = self._store(placed)
        log.info("kobo delivery (%s): %s%s%s", placed.source, receipt.status,
                 f" {receipt.reason}" if receipt.reason else "",
                 f", record {receipt.record_id}" if receipt.record_id else "")
        if receipt.status == "stored" and self.on_stored is not None:
            self.on_stored()
        return receipt

    def healthy(self) -> bool:
        """The ledger answers a trivial query (for GET /healthz)."""
        with self.ledger.reading() as tx:
            return tx.conn.scalar(select(1)) == 1

    # --- steps ------------------------------------------------------------------------------

    def _known(self, delivery: Delivery) -> bool:
        """True when the ledger already holds this `_id`: as a record, or kept in quarantine
        (mapped with problems, or held encrypted) — not when its form was unknown then."""
        record_id = record_id_for(delivery.source, delivery.source_id)
        q = ledger_tables.quarantine.c
        with self.ledger.reading() as tx:
            if tx.content_hash(record_id) is not None:
                return True
            reasons = tx.conn.scalars(select(q.reason_code).where(
                q.source == delivery.source, q.source_id == delivery.source_id))
            return any(reason not in PLACED_AGAIN for reason in reasons)

    def _reject(self, rejection: Rejection) -> Receipt:
        quarantine_id = self._quarantine(QuarantineItem(
            rejection.source, rejection.source_id, rejection.reason, rejection.message,
            rejection.raw), rejection.record_id)
        return Receipt("rejected", rejection.record_id, rejection.reason, quarantine_id)

    def _hold(self, delivery: Delivery) -> Receipt:
        record_id = record_id_for(delivery.source, delivery.source_id)
        quarantine_id = self._quarantine(QuarantineItem(
            delivery.source, delivery.source_id, AWAITING_DECRYPTION, HELD_MESSAGE,
            delivery.raw), record_id)
        return Receipt("held", record_id, AWAITING_DECRYPTION, quarantine_id)

    def _store(self, delivery: Delivery) -> Receipt:
        mapped = map_submission(self.codebook, self.layouts[delivery.form_id], delivery.asset_uid,
                                delivery.row)
        outcome = mapped.outcome
        if isinstance(outcome, QuarantinedRecord):
            self.engine.ingest(self.source, delivery.source, SourcePage(quarantined=(outcome,)))
            return Receipt("quarantined", outcome.record_id, outcome.reason)
        self.engine.ingest(self.source, delivery.source, SourcePage(records=(outcome,)))
        return Receipt("stored", outcome.record_id)

    def _quarantine(self, item: QuarantineItem, record_id: str | None) -> int:
        """Keep a delivery aside (sealed by the ledger) and audit it, in one transaction."""
        with self.ledger.transaction() as tx:
            quarantine_id = tx.quarantine(item)
            tx.audit(AuditEntry(action="quarantine", source=item.source, target=None,
                                record_ids=(record_id,) if record_id else (), record_count=1,
                                policy_version=self.engine.policy.audit_version))
        return quarantine_id
