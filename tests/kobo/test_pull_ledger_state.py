"""The Kobo pull state kept in the ledger (SQLite and PostgreSQL): written with the page it
belongs to, finding edits and deletions across runs, and taking over an old JSON state file."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.kobo.kobo_connector_fixtures import SCREENING, add_screenings
from tests.ledger.conftest import database, key, postgres_available  # noqa: F401 - fixtures
from tipdata.crypto.at_rest import DataKey, Keyring
from tipdata.kobo_forms.connector import KoboClient
from tipdata.kobo_forms.pull import PullOptions, pull_form
from tipdata.kobo_forms.pull_state import JsonFilePullState, SeenSubmission
from tipdata.ledger import Ledger, LedgerTransaction, Watermark, open_ledger
from tipdata.ledger import kobo_state as stored
from tipdata.ledger.schema import kobo_assets, kobo_submissions
from tipdata.model import Codebook
from tipdata.policy import load_policy
from tipdata.records import record_id_for
from tipdata.sync.adapters.kobo import KoboSource, LedgerPullState, import_json_state, keyed_digest
from tipdata.sync.apply import SyncEngine
from tipdata.sync.plan import SyncPlan

pytest_plugins = ("tests.kobo.kobo_connector_fixtures",)

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def ledger(database: dict[str, Any], key: DataKey, codebook: Codebook) -> Ledger:  # noqa: F811
    opened = open_ledger(database["url"], codebook=codebook, keys=Keyring(key),
                         schema=database["schema"], environ={})
    yield opened
    opened.close()


def sync(ledger: Ledger, codebook: Codebook, client: KoboClient, asset_uid: str, *,
         reconcile: bool | None = True, legacy: Path | None = None) -> SyncPlan:
    """One sync run that only pulls the form into the ledger (no targets)."""
    source = KoboSource(client, codebook, {SCREENING: asset_uid}, ledger,
                        PullOptions(reconcile=reconcile, page_size=10), legacy_state=legacy)
    engine = SyncEngine(ledger, codebook, load_policy(codebook=codebook), sources=[source])
    return engine.run()


def seen_count(ledger: Ledger, asset_uid: str) -> int:
    with ledger.reading() as tx:
        return int(tx.conn.scalar(select(func.count()).select_from(kobo_submissions)
                                  .where(kobo_submissions.c.asset_uid == asset_uid)))


def stream(asset_uid: str) -> str:
    return f"kobo:{asset_uid}"


@pytest.mark.parametrize("kobo", [{"max_page_size": 10}], indirect=True)
def test_ledger_pull_state__edits_and_deletions_found_across_runs(kobo, client, codebook,
                                                                  screening_asset, ledger):
    """should find an edit and a deletion in a later run from the state the ledger kept"""
    ids = add_screenings(kobo, screening_asset, 25)
    first = sync(ledger, codebook, client, screening_asset)
    assert first.sources[stream(screening_asset)].new == 25 and not first.errors
    assert seen_count(ledger, screening_asset) == 25
    assert ledger.watermark(stream(screening_asset)).number == ids[-1]

    kobo.edit_submission(screening_asset, ids[12], {"grp_safety": {"age_at_screening": 66}})
    kobo.delete_submission(screening_asset, ids[3])
    second = sync(ledger, codebook, client, screening_asset)
    tally = second.sources[stream(screening_asset)]
    assert (tally.new, tally.updated, tally.deleted) == (0, 1, 1)
    edited = ledger.get_record(record_id_for(stream(screening_asset), str(ids[12])))
    assert edited.values["age_at_screening"] == 66
    assert seen_count(ledger, screening_asset) == 24

    third = sync(ledger, codebook, client, screening_asset)
    tally = third.sources[stream(screening_asset)]
    assert (tally.new, tally.updated, tally.deleted) == (0, 0, 0)


@pytest.mark.parametrize("kobo", [{"max_page_size": 10}], indirect=True)
def test_ledger_pull_state__an_edit_changing_nothing_mapped_is_not_resent(kobo, client, codebook,
                                                                          screening_asset, ledger):
    """should compare the keyed digest of an edit with the stored one and skip a no-op edit"""
    ids = add_screenings(kobo, screening_asset, 5)
    sync(ledger, codebook, client, screening_asset)
    kobo.edit_submission(screening_asset, ids[1], {})  # a new revision, the same answers
    state = LedgerPullState(ledger, ledger.watermark(stream(screening_asset)).number)
    pages = list(pull_form(client, codebook, SCREENING, screening_asset, state,
                           PullOptions(reconcile=True), now=lambda: NOW))
    changed = [p for p in pages if p.phase == "changed"]
    assert [p.unchanged for p in changed] == [1] and changed[0].records == ()


@pytest.mark.parametrize("kobo", [{"max_page_size": 10}], indirect=True)
def test_ledger_pull_state__state_is_written_in_the_page_transaction(kobo, client, codebook,
                                                                     screening_asset, ledger,
                                                                     monkeypatch):
    """should roll back the page's state with its records when the page's transaction fails"""
    ids = add_screenings(kobo, screening_asset, 15)
    original = LedgerPullState.write_page

    def write_then_fail(self: LedgerPullState, page: Any, tx: LedgerTransaction) -> None:
        original(self, page, tx)
        assert seen_count_in(tx, screening_asset) >= len(page.seen) > 0  # written, not committed
        raise RuntimeError("killed after the state was written, before the commit")

    monkeypatch.setattr(LedgerPullState, "write_page", write_then_fail)
    failed = sync(ledger, codebook, client, screening_asset)
    assert [e.code for e in failed.errors] == ["RuntimeError"]
    assert (ledger.count_records(), seen_count(ledger, screening_asset)) == (0, 0)
    assert ledger.watermark(stream(screening_asset)) is None

    monkeypatch.setattr(LedgerPullState, "write_page", original)
    again = sync(ledger, codebook, client, screening_asset)
    assert again.sources[stream(screening_asset)].new == 15 and not again.errors
    assert (ledger.count_records(), seen_count(ledger, screening_asset)) == (15, 15)
    assert ledger.watermark(stream(screening_asset)).number == ids[-1]


def seen_count_in(tx: LedgerTransaction, asset_uid: str) -> int:
    return int(tx.conn.scalar(select(func.count()).select_from(kobo_submissions)
                              .where(kobo_submissions.c.asset_uid == asset_uid)))


@pytest.mark.parametrize("kobo", [{"max_page_size": 10}], indirect=True)
def test_ledger_pull_state__records_failing_to_store_leave_no_state(kobo, client, codebook,
                                                                    screening_asset, ledger,
                                                                    monkeypatch):
    """should write no state for a page whose records could not be stored"""
    add_screenings(kobo, screening_asset, 15)

    def refuse(self: LedgerTransaction, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database refused the page")

    monkeypatch.setattr(LedgerTransaction, "upsert_records", refuse)
    failed = sync(ledger, codebook, client, screening_asset)
    assert failed.errors and seen_count(ledger, screening_asset) == 0


@pytest.mark.parametrize("kobo", [{"max_page_size": 10}], indirect=True)
def test_ledger_pull_state__dry_run_remembers_nothing(kobo, client, codebook, screening_asset,
                                                      ledger):
    """should read but write no state, no asset row and no watermark in a dry run"""
    add_screenings(kobo, screening_asset, 12)
    source = KoboSource(client, codebook, {SCREENING: screening_asset}, ledger,
                        PullOptions(reconcile=True, page_size=10))
    engine = SyncEngine(ledger, codebook, load_policy(codebook=codebook), sources=[source])
    plan = engine.run(dry_run=True)
    assert plan.sources[stream(screening_asset)].new == 12
    assert seen_count(ledger, screening_asset) == 0
    with ledger.reading() as tx:
        assert not stored.has_asset(tx.conn, screening_asset)


def test_keyed_digest__is_keyed_and_stable(ledger):
    """should store a digest that depends on the ledger key and not equal the plain one"""
    assert keyed_digest(ledger, "abc") == keyed_digest(ledger, "abc")
    assert keyed_digest(ledger, "abc") != keyed_digest(ledger, "abd")
    other = Ledger(ledger.engine, ledger.codebook, Keyring(DataKey.generate()), where="x")
    assert keyed_digest(other, "abc") != keyed_digest(ledger, "abc")
    # a text with letters no hex digest holds: "abc" itself turns up in a random digest now and then
    assert "uuid:xyz" not in keyed_digest(ledger, "uuid:xyz")


# --- taking over a JSON state file ----------------------------------------------------------


def json_state_pull(client: KoboClient, codebook: Codebook, asset_uid: str, path: Path,
                    ledger: Ledger) -> list[int]:
    """What an older tipdata did: pull with the JSON file, store pages in the ledger."""
    stored_ids: list[int] = []
    state = JsonFilePullState(path, flush_seconds=0)
    for page in pull_form(client, codebook, SCREENING, asset_uid, state,
                          PullOptions(reconcile=False), now=lambda: NOW):
        if page.records:
            mark = Watermark(number=max(int(r.envelope.source_id) for r in page.records))
            ledger.ingest_page(stream(asset_uid), page.records, mark)
            stored_ids += [int(r.envelope.source_id) for r in page.records]
    return stored_ids


@pytest.mark.parametrize("kobo", [{"max_page_size": 10}], indirect=True)
def test_import_json_state__first_run_takes_over_the_file(kobo, client, codebook, screening_asset,
                                                          ledger, tmp_path, caplog):
    """should import the file once, up to the ledger's watermark, and leave the file unchanged"""
    ids = add_screenings(kobo, screening_asset, 20)
    path = tmp_path / "sync-kobo-state.json"
    assert json_state_pull(client, codebook, screening_asset, path, ledger) == ids
    before = path.read_bytes()
    kobo.edit_submission(screening_asset, ids[7], {"grp_safety": {"age_at_screening": 70}})

    with caplog.at_level(logging.WARNING, logger="tipdata.sync"):
        run = sync(ledger, codebook, client, screening_asset, legacy=path)
    tally = run.sources[stream(screening_asset)]
    assert (tally.new, tally.updated) == (0, 1)  # only the edit: the imported revisions were used
    assert "imported the Kobo pull state" in caplog.text and str(path) in caplog.text
    assert path.read_bytes() == before
    assert seen_count(ledger, screening_asset) == 20
    with ledger.reading() as tx:
        imported_from = tx.conn.scalar(select(kobo_assets.c.imported_from))
    assert imported_from == str(path)

    caplog.clear()
    path.write_text('{"assets": {}}', encoding="utf-8")  # no longer read
    again = sync(ledger, codebook, client, screening_asset, legacy=path)
    assert again.sources[stream(screening_asset)].updated == 0
    assert "imported" not in caplog.text


def test_import_json_state__only_what_the_ledger_stored(client, codebook, ledger, tmp_path):
    """should import entries up to the watermark, keyed, keeping the quarantine marker"""
    uid = "aTESTasset0000000000000"
    path = tmp_path / "state.json"
    state = JsonFilePullState(path, flush_seconds=0)
    state.remember(uid, [stored_seen(1, "r1", "d1"), stored_seen(2, "r2", "q:d2"),
                         stored_seen(3, "r3", "d3")], watermark=3)
    state.mark_reconciled(uid, NOW)
    state.flush()
    with ledger.transaction() as tx:
        tx.advance_watermark(stream(uid), Watermark(number=2))
    assert import_json_state(ledger, uid, path) == 2
    pulled = LedgerPullState(ledger, 2)
    seen = pulled.seen_many(uid, [1, 2, 3])
    assert sorted(seen) == [1, 2]
    assert seen[1].content_digest == keyed_digest(ledger, "d1")
    assert seen[2].content_digest == "q:" + keyed_digest(ledger, "d2")
    assert pulled.reconciled_at(uid) == NOW
    assert pulled.ids_with_revisions(uid, ["r1", "r3"]) == {"r1": 1}
    assert import_json_state(ledger, uid, path) is None  # once only


def stored_seen(submission_id: int, revision: str, digest: str) -> SeenSubmission:
    return SeenSubmission(submission_id, revision, digest)


def test_ledger_pull_state__seen_ids_page_through_the_table(ledger, monkeypatch):
    """should list every id in order across read batches, without holding them all"""
    import tipdata.sync.adapters.kobo as adapter

    monkeypatch.setattr(adapter, "_IDS_PER_READ", 7)
    uid = "aTESTasset0000000000000"
    with ledger.transaction() as tx:
        stored.write_seen(tx.conn, uid, [(i, f"r{i}", "d") for i in range(50, 0, -3)], NOW)
        stored.write_seen(tx.conn, "another", [(4, "x", "d")], NOW)
    assert list(LedgerPullState(ledger, 100).seen_ids(uid)) == list(range(2, 51, 3))


def test_ledger_pull_state__duplicate_in_a_later_run_is_quarantined(kobo, client, codebook,
                                                                    screening_asset, ledger):
    """should find an already-pulled instanceID through the ledger and quarantine (KB303)"""
    from tests.kobo.kobo_connector_fixtures import screening_answers

    instance = "uuid:11111111-2222-4333-8444-555555555555"
    first = kobo.add_submission(screening_asset, screening_answers(), instance_id=instance)
    sync(ledger, codebook, client, screening_asset, reconcile=False)
    twin = kobo.add_submission(screening_asset, screening_answers(), instance_id=instance)
    run = sync(ledger, codebook, client, screening_asset, reconcile=False)
    assert run.sources[stream(screening_asset)].quarantined == {"KB303": 1}
    [entry] = ledger.quarantined(source=stream(screening_asset))
    assert (entry.source_id, entry.reason_code) == (str(twin), "KB303")
    assert str(first) in ledger.quarantined_contents(entry.id).message
    assert seen_count(ledger, screening_asset) == 2
