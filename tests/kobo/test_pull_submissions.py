"""Pulling submissions from the Kobo double: paging, watermark, edits, deletions, quarantine."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.kobo.kobo_connector_fixtures import (
    SCREENING,
    add_screenings,
    open_state,
    screening_answers,
)
from tipdata.kobo_forms.pull import PullOptions, pull_form
from tipdata.kobo_forms.pull_state import SeenSubmission
from tipdata.records import record_id_for

pytest_plugins = ("tests.kobo.kobo_connector_fixtures",)

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def run(client, codebook, asset_uid, state, **options):
    """Pull to the end; returns the pages."""
    return list(
        pull_form(
            client, codebook, SCREENING, asset_uid, state, PullOptions(**options), now=lambda: NOW
        )
    )


def ids_of(pages, kind="records"):
    return [
        int(item.envelope.source_id if kind == "records" else item.source_id)
        for page in pages
        for item in getattr(page, kind)
    ]


def test_pull__first_run_every_submission_once(kobo, client, codebook, screening_asset, new_state):
    """should map every submission to one canonical record, across capped pages"""
    ids = add_screenings(kobo, screening_asset, 1100)
    pages = run(client, codebook, screening_asset, new_state(), page_size=5000)
    assert ids_of(pages) == ids
    assert [p.phase for p in pages] == ["new", "new"]
    assert [p.received for p in pages] == [1000, 100]
    assert [p.server_count for p in pages] == [1100, None]
    record = pages[0].records[0]
    assert record.record_id == record_id_for(f"kobo:{screening_asset}", str(ids[0]))
    assert record.values["age_at_screening"] == 20
    assert record.envelope.form_id == SCREENING
    assert record.envelope.form_version == kobo.asset_json(screening_asset)["deployed_version_id"]


def test_pull__incremental_only_new(kobo, client, codebook, screening_asset, new_state):
    """should pull only submissions added since the last run"""
    first = add_screenings(kobo, screening_asset, 5)
    assert ids_of(run(client, codebook, screening_asset, new_state())) == first
    later = add_screenings(kobo, screening_asset, 3)
    kobo.clear_requests()
    pages = run(client, codebook, screening_asset, new_state(), reconcile=False)
    assert ids_of(pages) == later
    [data_request] = [r for r in kobo.requests if r.path.endswith("/data/")]
    assert f'"$gt":{first[-1]}' in data_request.params["query"]
    assert run(client, codebook, screening_asset, new_state(), reconcile=False)[0].records == ()


def test_pull__state_survives_in_the_file(kobo, client, codebook, screening_asset, state_path):
    """should persist the watermark and revisions so a new process resumes from them"""
    ids = add_screenings(kobo, screening_asset, 4)
    first = open_state(state_path)
    run(client, codebook, screening_asset, first)
    first.close()
    reopened = open_state(state_path)
    assert reopened.watermark(screening_asset) == ids[-1]
    seen = reopened.seen(screening_asset, ids[0])
    assert seen.revision == kobo.submission(screening_asset, ids[0])["_uuid"]
    assert oct(state_path.stat().st_mode & 0o777) == "0o600"


def test_pull__edit_detected_by_reconciliation(kobo, client, codebook, screening_asset, new_state):
    """should re-emit an edited submission under the same record id with the new values"""
    ids = add_screenings(kobo, screening_asset, 6)
    run(client, codebook, screening_asset, new_state())
    kobo.edit_submission(screening_asset, ids[2], {"grp_safety": {"age_at_screening": 77}})
    quiet = run(client, codebook, screening_asset, new_state(), reconcile=False)
    assert ids_of(quiet) == []  # the watermark alone cannot see edits (kobo-api.md §5.5)
    pages = run(client, codebook, screening_asset, new_state(), reconcile=True)
    changed = [r for p in pages if p.phase == "changed" for r in p.records]
    assert [(r.envelope.source_id, r.values["age_at_screening"]) for r in changed] == [
        (str(ids[2]), 77)
    ]
    assert changed[0].record_id == record_id_for(f"kobo:{screening_asset}", str(ids[2]))
    assert changed[0].envelope.updated_at == NOW
    again = run(client, codebook, screening_asset, new_state(), reconcile=True)
    assert ids_of(again) == []  # the edit is now the seen revision


def test_pull__reconciliation_uses_a_minimal_projection(
    kobo, client, codebook, screening_asset, new_state
):
    """should list ids with fields=[_id,_uuid] and fetch in full only what changed"""
    ids = add_screenings(kobo, screening_asset, 30)
    run(client, codebook, screening_asset, new_state())
    kobo.edit_submission(screening_asset, ids[7], {"grp_safety": {"age_at_screening": 50}})
    kobo.clear_requests()
    run(client, codebook, screening_asset, new_state(), reconcile=True)
    data = [r.params for r in kobo.requests if r.path.endswith("/data/")]
    assert any(p.get("fields") == '["_id","_uuid"]' for p in data)
    fetches = [p for p in data if "$in" in p.get("query", "")]
    assert [p["query"] for p in fetches] == [f'{{"_id":{{"$in":[{ids[7]}]}}}}']


def test_pull__no_op_edit_not_re_emitted(kobo, client, codebook, screening_asset, new_state):
    """should not re-emit an edit that changes nothing the codebook holds"""
    ids = add_screenings(kobo, screening_asset, 3)
    run(client, codebook, screening_asset, new_state())
    kobo.edit_submission(screening_asset, ids[1], {"grp_safety": {"age_at_screening": 21}})
    pages = run(client, codebook, screening_asset, new_state(), reconcile=True)
    assert ids_of(pages) == []
    assert sum(p.unchanged for p in pages) == 1


def test_pull__validation_status_is_not_an_edit(kobo, client, codebook, screening_asset, new_state):
    """should not fetch or emit anything when only the validation status changed"""
    ids = add_screenings(kobo, screening_asset, 3)
    run(client, codebook, screening_asset, new_state())
    kobo.set_validation_status(screening_asset, ids[0], "validation_status_approved")
    assert ids_of(run(client, codebook, screening_asset, new_state(), reconcile=True)) == []


def test_pull__deletion_reported(kobo, client, codebook, screening_asset, new_state):
    """should report the record ids of submissions deleted on Kobo, once"""
    ids = add_screenings(kobo, screening_asset, 5)
    run(client, codebook, screening_asset, new_state())
    kobo.delete_submission(screening_asset, ids[1])
    kobo.delete_submission(screening_asset, ids[4])
    pages = run(client, codebook, screening_asset, new_state(), reconcile=True)
    deleted = [rid for p in pages for rid in p.deleted]
    assert deleted == [record_id_for(f"kobo:{screening_asset}", str(i)) for i in (ids[1], ids[4])]
    assert [
        rid
        for p in run(client, codebook, screening_asset, new_state(), reconcile=True)
        for rid in p.deleted
    ] == []


def test_pull__late_commit_below_watermark_is_found(
    kobo, client, codebook, screening_asset, state_path
):
    """should fetch an _id below the watermark that was never seen (committed late)"""
    ids = add_screenings(kobo, screening_asset, 4)
    state = open_state(state_path)
    run(client, codebook, screening_asset, state)
    state.forget(screening_asset, [ids[1]])  # as if ids[1] had committed after the pull passed it
    pages = run(client, codebook, screening_asset, state, reconcile=True)
    assert ids_of(pages) == [ids[1]]
    assert pages[-1].phase == "changed"


def test_pull__reconcile_when_due(kobo, client, codebook, screening_asset, state_path):
    """should reconcile on its own once the last reconciliation is older than the interval"""
    ids = add_screenings(kobo, screening_asset, 2)
    state = open_state(state_path)
    run(client, codebook, screening_asset, state)
    assert state.reconciled_at(screening_asset) == NOW
    kobo.edit_submission(screening_asset, ids[0], {"grp_safety": {"age_at_screening": 60}})
    assert ids_of(run(client, codebook, screening_asset, state)) == []  # not due yet
    later = NOW + dt.timedelta(hours=25)
    pages = list(
        pull_form(
            client, codebook, SCREENING, screening_asset, state, PullOptions(), now=lambda: later
        )
    )
    assert ids_of(pages) == [ids[0]]


def test_pull__quarantine_keeps_the_rest(kobo, client, codebook, screening_asset, new_state):
    """should quarantine unfit submissions with their reason and still map the others"""
    good = add_screenings(kobo, screening_asset, 2)
    bad_option = kobo.add_submission(screening_asset, screening_answers(scr_safe_now="maybe"))
    no_consent = kobo.add_submission(screening_asset, screening_answers(consent_screening=None))
    bad_age = kobo.add_submission(screening_asset, screening_answers(age_at_screening="200"))
    unknown = kobo.add_submission(screening_asset, {**screening_answers(), "grp_extra/colour": "x"})
    pages = run(client, codebook, screening_asset, new_state())
    assert ids_of(pages) == good
    reasons = {int(q.source_id): q.reason for p in pages for q in p.quarantined}
    assert reasons == {bad_option: "RC202", no_consent: "RC203", bad_age: "RC204", unknown: "RC200"}
    quarantined = next(q for p in pages for q in p.quarantined if int(q.source_id) == bad_age)
    assert quarantined.payload["_id"] == bad_age
    assert quarantined.payload["grp_safety/age_at_screening"] == "200"


def test_pull__quarantined_not_repeated_but_retryable(
    kobo, client, codebook, screening_asset, new_state
):
    """should quarantine once, and map again when asked to, after the codebook was fixed"""
    bad = kobo.add_submission(screening_asset, screening_answers(scr_safe_now="maybe"))
    assert len(run(client, codebook, screening_asset, new_state())[0].quarantined) == 1
    assert [
        q
        for p in run(client, codebook, screening_asset, new_state(), reconcile=True)
        for q in p.quarantined
    ] == []
    still_bad = run(client, codebook, screening_asset, new_state(), retry_quarantined=True)
    assert ids_of(still_bad, "quarantined") == [] and sum(p.unchanged for p in still_bad) == 1
    options = codebook.option_lists["yes_no_unsure"]
    maybe = options.options[0].model_copy(update={"code": "maybe", "label": "Maybe"})
    fixed = codebook.model_copy(
        update={
            "option_lists": {
                **codebook.option_lists,
                "yes_no_unsure": options.model_copy(update={"options": (*options.options, maybe)}),
            }
        }
    )
    retried = run(client, fixed, screening_asset, new_state(), retry_quarantined=True)
    assert ids_of(retried) == [bad]
    assert ids_of(run(client, fixed, screening_asset, new_state(), retry_quarantined=True)) == []


def test_pull__duplicate_submission_quarantined(kobo, client, codebook, screening_asset, new_state):
    """should quarantine (KB303) a second _id carrying an already-pulled instanceID"""
    first = kobo.add_submission(
        screening_asset,
        screening_answers(),
        instance_id="uuid:11111111-2222-4333-8444-555555555555",
    )
    twin = kobo.add_submission(
        screening_asset,
        screening_answers(),
        instance_id="uuid:11111111-2222-4333-8444-555555555555",
    )
    later_twin_run = run(client, codebook, screening_asset, new_state())
    assert ids_of(later_twin_run) == [first]
    [quarantined] = [q for p in later_twin_run for q in p.quarantined]
    assert (int(quarantined.source_id), quarantined.reason) == (twin, "KB303")
    assert str(first) in quarantined.message
    third = kobo.add_submission(
        screening_asset,
        screening_answers(),
        instance_id="uuid:11111111-2222-4333-8444-555555555555",
    )
    pages = run(client, codebook, screening_asset, new_state(), reconcile=False)
    assert ids_of(pages) == [] and ids_of(pages, "quarantined") == [third]


def test_pull__stopping_early_redelivers_the_page(
    kobo, client, codebook, screening_asset, new_state
):
    """should not record a page the caller did not finish, so the next run delivers it again"""
    ids = add_screenings(kobo, screening_asset, 25)
    pages = pull_form(
        client,
        codebook,
        SCREENING,
        screening_asset,
        new_state(),
        PullOptions(page_size=10),
        now=lambda: NOW,
    )
    first = next(pages)
    second = next(pages)
    pages.close()  # the consumer crashed while writing the second page
    assert ids_of([first, second]) == ids[:20]
    rest = run(client, codebook, screening_asset, new_state(), page_size=10)
    assert ids_of(rest) == ids[10:]


def test_pull__memory_flat_pages(kobo, client, codebook, screening_asset, new_state):
    """should hand out one page at a time (a generator), reading at most one page ahead"""
    add_screenings(kobo, screening_asset, 40)
    pages = pull_form(
        client, codebook, SCREENING, screening_asset, new_state(), PullOptions(page_size=10)
    )
    assert len(next(pages).records) == 10
    time.sleep(0.5)  # let a prefetch, if any, complete: it must still stop one page ahead
    assert 1 <= len([r for r in kobo.requests if r.path.endswith("/data/")]) <= 2
    pages.close()


def test_pull_page__repr_shows_no_answers(kobo, client, codebook, screening_asset, new_state):
    """should keep answers out of a page's repr (it may end up in a log)"""
    kobo.add_submission(screening_asset, screening_answers(scr_safe_now="SECRET-MARKER"))
    add_screenings(kobo, screening_asset, 1)
    [page] = run(client, codebook, screening_asset, new_state())
    assert len(page.records) == 1 and len(page.quarantined) == 1
    assert "SECRET-MARKER" not in repr(page) and "age_at_screening" not in repr(page)


def test_pull__attachments_downloaded_on_request(
    kobo, client, codebook, screening_asset, new_state, tmp_path
):
    """should save each attachment under DIR/<asset>/<_id>/ with owner-only permissions"""
    answers = {**screening_answers(), "photo": "face.jpg"}
    sid = kobo.add_submission(screening_asset, answers, attachments={"face.jpg": b"\xff\xd8JPEG"})
    folder = tmp_path / "attachments"
    pages = run(client, codebook, screening_asset, new_state(), attachments_dir=folder)
    saved = [path for p in pages for path in p.attachments]
    assert saved == [folder / screening_asset / str(sid) / "face.jpg"]
    assert saved[0].read_bytes() == b"\xff\xd8JPEG"
    assert oct(saved[0].stat().st_mode & 0o777) == "0o600"
    # `photo` is not a codebook element of the form: the record is quarantined, files still saved
    assert [q.reason for p in pages for q in p.quarantined] == ["RC200"]


@pytest.mark.parametrize("suffix", [".json", ".sqlite"])
def test_pull_state__protocol_round_trip(tmp_path, suffix):
    """should remember revisions and watermark, find ids by revision, and forget"""
    path = tmp_path / f"s{suffix}"
    state = open_state(path)
    state.remember(
        "aX", [SeenSubmission(3, "r3", "d3"), SeenSubmission(1, "r1", "d1")], watermark=3
    )
    state.remember("aX", [], watermark=2)  # never lowered
    assert state.watermark("aX") == 3 and state.watermark("aOther") is None
    assert list(state.seen_ids("aX")) == [1, 3] and list(state.seen_ids("aOther")) == []
    assert state.id_with_revision("aX", "r3") == 3
    assert state.seen_many("aX", [1, 2, 3]) == {
        1: SeenSubmission(1, "r1", "d1"),
        3: SeenSubmission(3, "r3", "d3"),
    }
    assert state.seen_many("aOther", [1]) == {} and state.seen("aX", 2) is None
    state.remember("aX", [SeenSubmission(3, "r3b", "d3b")])
    assert state.id_with_revision("aX", "r3") is None and state.id_with_revision("aX", "r3b") == 3
    assert state.ids_with_revisions("aX", ["r1", "r3b", "nope"]) == {"r1": 1, "r3b": 3}
    state.forget("aX", [1])
    assert state.ids_with_revisions("aX", ["r1"]) == {}
    state.mark_reconciled("aX", NOW)
    state.close()
    again = open_state(path)
    assert list(again.seen_ids("aX")) == [3] and again.seen("aX", 3).content_digest == "d3b"
    assert again.watermark("aX") == 3 and again.reconciled_at("aX") == NOW
    assert again.reconciled_at("aOther") is None


@pytest.mark.parametrize(
    ("suffix", "damage"), [(".json", b"{not json"), (".sqlite", b"SQLite format 3\0" + b"x" * 200)]
)
def test_pull_state__damaged_file_says_how_to_recover(tmp_path, suffix, damage):
    """should refuse a damaged state file and say how to recover"""
    path = tmp_path / f"s{suffix}"
    path.write_bytes(damage)
    with pytest.raises(ValueError, match="delete it to pull everything again"):
        open_state(path)
