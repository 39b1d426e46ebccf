"""Key rotation: re-seal every ledger ciphertext under a new key, in batches, resumably.

A rotation is safe to interrupt: each batch is one transaction, and what is left to do is simply
"rows whose key id is not the new key's", so running it again continues where it stopped. Until
it finishes the old keys must stay available (new key first, old keys after, in
`TIPDATA_LEDGER_KEY` or the key file); afterwards only the new key is needed.

Procedure for a deployment:
  1. give every process the keyring "NEW,OLD" (new writes are sealed with NEW at once);
  2. run the rotation (`ledger.rotate_key([old], new)`), again if it was interrupted;
  3. remove OLD from the keyring and destroy it.

Content hashes are keyed, so they are recomputed too, and id-map `synced_hash` values that
matched the old hash are carried over: a rotation does not make every record look changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from tipdata.crypto.at_rest import DataKey, Keyring
from tipdata.ledger import schema as t
from tipdata.ledger.entries import AuditEntry
from tipdata.ledger.record_rows import quarantine_aad, reseal_row

if TYPE_CHECKING:
    from tipdata.ledger.ledger import Ledger


@dataclass(frozen=True)
class RotationProgress:
    """Reported after each committed batch."""

    table: str
    batch: int
    rows_done: int


@dataclass(frozen=True)
class RotationResult:
    new_key_id: str
    records: int
    quarantined: int
    batches: int


def rotate_key(ledger: Ledger, old_keys: Iterable[DataKey], new_key: DataKey, *,
               batch_size: int = 500,
               on_batch: Callable[[RotationProgress], None] | None = None) -> RotationResult:
    """Re-seal every record and quarantine entry of `ledger` under `new_key`.

    Example: `ledger.rotate_key([DataKey.from_base64(old_text)], DataKey.from_base64(new_text))`
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    ledger.require_keyring()
    ring = Keyring(new_key, [*old_keys, *(ledger.keyring.key(k) for k in ledger.keyring.key_ids)],  # type: ignore[union-attr]
                   origin="the keys given to rotate_key")
    for key_id in sorted(ledger.key_ids_in_use()):
        ring.key(key_id)  # fail before touching anything if an old key is missing
    ledger.keyring = ring  # from now on this ledger seals new writes with the new key
    new_id = new_key.key_id
    batches = 0
    records_done = 0
    quarantined_done = 0

    r = t.records.c
    while True:
        with ledger.transaction() as tx:
            rows = list(tx.conn.execute(
                select(t.records).where(r.key_id.is_not(None), r.key_id != new_id)
                .order_by(r.record_id).limit(batch_size).with_for_update(skip_locked=True)).mappings())
            if not rows:
                break
            for row in rows:
                fresh = reseal_row(row, ring)
                tx.conn.execute(update(t.records)
                                .where(r.record_id == row["record_id"], r.key_id == row["key_id"])
                                .values(**fresh))
                m = t.id_map.c
                tx.conn.execute(update(t.id_map)
                                .where(m.record_id == row["record_id"], m.synced_hash == row["content_hash"])
                                .values(synced_hash=fresh["content_hash"]))
            tx.audit(AuditEntry(action="rotate_key", source=None, target=None, record_count=len(rows)))
        batches += 1
        records_done += len(rows)
        if on_batch:
            on_batch(RotationProgress("records", batches, records_done))

    q = t.quarantine.c
    while True:
        with ledger.transaction() as tx:
            rows = list(tx.conn.execute(
                select(t.quarantine).where(q.key_id.is_not(None), q.key_id != new_id)
                .order_by(q.id).limit(batch_size).with_for_update(skip_locked=True)).mappings())
            if not rows:
                break
            for row in rows:
                sealed = {}
                for part in ("message", "payload"):
                    aad = quarantine_aad(row["source"], row["source_id"], part)
                    sealed[f"{part}_blob"] = ring.seal(ring.open(bytes(row[f"{part}_blob"]), aad), aad)
                tx.conn.execute(update(t.quarantine)
                                .where(q.id == row["id"], q.key_id == row["key_id"])
                                .values(key_id=new_id, **sealed))
            tx.audit(AuditEntry(action="rotate_key", source=None, target=None, record_count=len(rows)))
        batches += 1
        quarantined_done += len(rows)
        if on_batch:
            on_batch(RotationProgress("quarantine", batches, quarantined_done))

    return RotationResult(new_id, records_done, quarantined_done, batches)
