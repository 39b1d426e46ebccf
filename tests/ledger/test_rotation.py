"""Key rotation: old keys open data until it is re-sealed; afterwards only the new key is needed."""

from __future__ import annotations

import pytest

from tipdata.crypto.at_rest import DataKey, Keyring, UnknownKeyId
from tipdata.ledger import IdLink, QuarantineItem, RotationProgress, Watermark
from tipdata.ledger import rotation as rotation_module

from .conftest import NAME, SOURCE, T0, LedgerFactory, make_record

PAYLOAD = f"<data><name>{NAME}</name></data>".encode()


class Interrupted(Exception):
    """Stands for a killed process or a lost connection during a rotation."""


def _fill(open_test_ledger: LedgerFactory, count: int = 5) -> list[str]:
    ledger = open_test_ledger()
    records = [make_record(n) for n in range(1, count + 1)]
    ledger.ingest_page(SOURCE, records, Watermark(T0))
    with ledger.transaction() as tx:
        tx.quarantine(QuarantineItem(SOURCE, "uuid:bad-1", "RC201", "bad value", PAYLOAD))
        tx.quarantine(QuarantineItem(SOURCE, "uuid:bad-2", "RC202", "bad option", PAYLOAD + b"2"))
    return [r.record_id for r in records]


def _assert_everything_readable(ledger, record_ids: list[str]) -> None:  # noqa: ANN001
    for record_id in record_ids:
        record = ledger.get_record(record_id)
        assert record is not None and record.values["person_given_names"] == NAME
    payloads = sorted(ledger.quarantined_contents(q.id).raw_payload for q in ledger.quarantined())
    assert payloads == [PAYLOAD, PAYLOAD + b"2"]


def test_rotate_key__old_key_works_until_rotated(open_test_ledger: LedgerFactory, key: DataKey) -> None:
    """should read old data with keyring (new, old) and seal new writes with the new key."""
    record_ids = _fill(open_test_ledger)
    new = DataKey.generate()
    both = open_test_ledger(keys=Keyring(new, [key]))
    _assert_everything_readable(both, record_ids)
    both.ingest_page(SOURCE, [make_record(99)], Watermark(T0))
    assert both.key_ids_in_use() == {key.key_id, new.key_id}
    with pytest.raises(UnknownKeyId, match=key.key_id):
        open_test_ledger(keys=Keyring(new))


def test_rotate_key__afterwards_only_the_new_key_is_needed(open_test_ledger: LedgerFactory, key: DataKey) -> None:
    """should re-seal every record and quarantine entry so the new key alone opens the ledger."""
    record_ids = _fill(open_test_ledger)
    new = DataKey.generate()
    result = open_test_ledger().rotate_key([key], new, batch_size=2)
    assert (result.records, result.quarantined, result.new_key_id) == (5, 2, new.key_id)
    only_new = open_test_ledger(keys=Keyring(new))
    assert only_new.key_ids_in_use() == {new.key_id}
    _assert_everything_readable(only_new, record_ids)
    with pytest.raises(UnknownKeyId):
        open_test_ledger(keys=Keyring(key))
    rotations = [e for e in only_new.audit_entries() if e.action == "rotate_key"]
    assert sum(e.record_count for e in rotations) == 7 and all(e.record_ids == () for e in rotations)


def test_rotate_key__interrupted_rotation_resumes(open_test_ledger: LedgerFactory, key: DataKey) -> None:
    """should keep committed batches after an interruption and finish the rest when run again."""
    record_ids = _fill(open_test_ledger)
    new = DataKey.generate()

    def stop_after_first(progress: RotationProgress) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        open_test_ledger().rotate_key([key], new, batch_size=2, on_batch=stop_after_first)
    halfway = open_test_ledger(keys=Keyring(new, [key]))
    assert halfway.key_ids_in_use() == {key.key_id, new.key_id}
    _assert_everything_readable(halfway, record_ids)
    with pytest.raises(UnknownKeyId):
        open_test_ledger(keys=Keyring(new))
    resumed = halfway.rotate_key([key], new, batch_size=2)
    assert resumed.records == 3 and resumed.quarantined == 2
    _assert_everything_readable(open_test_ledger(keys=Keyring(new)), record_ids)


def test_rotate_key__failure_inside_a_batch_keeps_the_batch_old(open_test_ledger: LedgerFactory, key: DataKey,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """should roll back a whole batch when one of its rows fails, leaving no half-rotated batch."""
    _fill(open_test_ledger)
    new = DataKey.generate()
    calls = {"n": 0}
    real = rotation_module.reseal_row

    def failing_second(row, keyring):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 2:
            raise Interrupted
        return real(row, keyring)

    monkeypatch.setattr(rotation_module, "reseal_row", failing_second)
    with pytest.raises(Interrupted):
        open_test_ledger().rotate_key([key], new, batch_size=3)
    assert open_test_ledger(keys=Keyring(new, [key])).key_ids_in_use() == {key.key_id}


def test_rotate_key__synced_hashes_follow_so_nothing_looks_changed(open_test_ledger: LedgerFactory, key: DataKey) -> None:
    """should carry id-map synced hashes over to the new hash and keep re-upserts unchanged."""
    ledger = open_test_ledger()
    record = make_record(1)
    ledger.ingest_page(SOURCE, [record], Watermark(T0))
    old_hash = ledger.content_hash(record.record_id)
    with ledger.transaction() as tx:
        tx.link(IdLink(record.record_id, "dhis2", "Tei0000001a", synced_hash=old_hash))
    new = DataKey.generate()
    ledger.rotate_key([key], new)
    new_hash = ledger.content_hash(record.record_id)
    assert new_hash != old_hash
    assert ledger.links(record.record_id)["dhis2"].synced_hash == new_hash
    with ledger.transaction() as tx:
        assert tx.upsert_records([record]).unchanged == (record.record_id,)


def test_rotate_key__missing_old_key_fails_before_writing(open_test_ledger: LedgerFactory, key: DataKey) -> None:
    """should refuse to start when a key that sealed stored data is not given, and change nothing."""
    _fill(open_test_ledger)
    stranger, new = DataKey.generate(), DataKey.generate()
    ledger = open_test_ledger()
    ledger.keyring = Keyring(stranger)  # as if opened with the wrong key file
    with pytest.raises(UnknownKeyId):
        ledger.rotate_key([stranger], new)
    assert open_test_ledger().key_ids_in_use() == {key.key_id}
