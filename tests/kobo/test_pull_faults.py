"""Pulls through server faults: nothing lost, nothing duplicated."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.kobo.kobo_connector_fixtures import SCREENING, add_screenings, make_client
from tipdata.http import PlatformError
from tipdata.kobo_forms.pull import PullOptions, pull_form

pytest_plugins = ("tests.kobo.kobo_connector_fixtures",)

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
SMALL_PAGES = [{"max_page_size": 10}]


def pulled_ids(client, codebook, asset_uid, state, **options) -> list[int]:
    pages = pull_form(client, codebook, SCREENING, asset_uid, state, PullOptions(**options),
                      now=lambda: NOW)
    return [int(r.envelope.source_id) for page in pages for r in page.records]


@pytest.mark.parametrize("kobo", SMALL_PAGES, indirect=True)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_pull__server_errors_then_recovery(kobo, client, codebook, screening_asset, new_state,
                                           status):
    """should retry a failing page and deliver every submission exactly once"""
    ids = add_screenings(kobo, screening_asset, 35)
    kobo.faults.change_data_while_paging(
        screening_asset, lambda: kobo.faults.fail_next(2, status, path_contains="/data/"))
    assert pulled_ids(client, codebook, screening_asset, new_state()) == ids
    assert status in [r.status for r in kobo.requests]


@pytest.mark.parametrize("kobo", SMALL_PAGES, indirect=True)
def test_pull__retry_after_is_honoured(kobo, codebook, screening_asset, new_state):
    """should wait as long as Retry-After says on a 503 before asking again"""
    waits: list[float] = []
    client = make_client(kobo, sleep=waits.append)
    ids = add_screenings(kobo, screening_asset, 12)
    kobo.faults.fail_next(1, 503, retry_after=7, path_contains="/data/")
    assert pulled_ids(client, codebook, screening_asset, new_state()) == ids
    assert len(waits) == 1 and waits[0] >= 3.5  # 7 s with jitter (×0.5–1.0)


@pytest.mark.parametrize("kobo", SMALL_PAGES, indirect=True)
def test_pull__timeout_then_recovery(kobo, codebook, screening_asset, new_state):
    """should retry a page whose answer did not come in time"""
    client = make_client(kobo, timeout=0.3)
    ids = add_screenings(kobo, screening_asset, 25)
    kobo.faults.change_data_while_paging(
        screening_asset, lambda: kobo.faults.delay_next(1, 1.0, path_contains="/data/"))
    assert pulled_ids(client, codebook, screening_asset, new_state()) == ids


@pytest.mark.parametrize("kobo", SMALL_PAGES, indirect=True)
@pytest.mark.parametrize("mode", ["body", "connection"])
def test_pull__truncated_json_then_recovery(kobo, client, codebook, screening_asset, new_state,
                                            mode):
    """should re-read a page whose JSON was cut short, without losing or repeating a record"""
    ids = add_screenings(kobo, screening_asset, 25)
    kobo.faults.change_data_while_paging(
        screening_asset, lambda: kobo.faults.truncate_next(1, mode=mode, path_contains="/data/"))
    assert pulled_ids(client, codebook, screening_asset, new_state()) == ids


@pytest.mark.parametrize("kobo", SMALL_PAGES, indirect=True)
def test_pull__page_changes_between_requests(kobo, client, codebook, screening_asset, new_state):
    """should keep every submission when one is deleted and one added between two pages"""
    ids = add_screenings(kobo, screening_asset, 25)
    added: list[int] = []

    def change() -> None:
        kobo.delete_submission(screening_asset, ids[3])  # already delivered with page 1
        added.extend(add_screenings(kobo, screening_asset, 1))

    kobo.faults.change_data_while_paging(screening_asset, change)
    got = pulled_ids(client, codebook, screening_asset, new_state())
    assert got == ids + added  # an offset walk would have skipped ids[10]
    assert len(got) == len(set(got))


@pytest.mark.parametrize("kobo", SMALL_PAGES, indirect=True)
def test_pull__failure_mid_pull_then_rerun(kobo, client, codebook, screening_asset, new_state):
    """should stop on a lasting failure, keep what was handed over, and finish on the next run"""
    ids = add_screenings(kobo, screening_asset, 35)
    kobo.faults.change_data_while_paging(
        screening_asset, lambda: kobo.faults.fail_next(20, 500, path_contains="/data/"),
        after_pages=2)
    delivered: list[int] = []
    with pytest.raises(PlatformError) as caught:
        for page in pull_form(client, codebook, SCREENING, screening_asset, new_state(),
                              PullOptions(), now=lambda: NOW):
            delivered += [int(r.envelope.source_id) for r in page.records]
    assert caught.value.status == 500
    assert delivered == ids[:20]
    kobo.faults.clear()
    delivered += pulled_ids(client, codebook, screening_asset, new_state())
    assert delivered == ids


@pytest.mark.parametrize("kobo", SMALL_PAGES, indirect=True)
def test_pull__failure_during_reconciliation_then_rerun(kobo, client, codebook, screening_asset,
                                                       new_state):
    """should still find an edit on the next run when fetching it failed"""
    ids = add_screenings(kobo, screening_asset, 15)
    pulled_ids(client, codebook, screening_asset, new_state())
    kobo.edit_submission(screening_asset, ids[12], {"grp_safety": {"age_at_screening": 66}})
    kobo.faults.fail_next(20, 500, path_contains="/data/")
    with pytest.raises(PlatformError):
        pulled_ids(client, codebook, screening_asset, new_state(), reconcile=True)
    kobo.faults.clear()
    assert pulled_ids(client, codebook, screening_asset, new_state(), reconcile=True) == [ids[12]]


def test_pull__unreadable_page_is_not_skipped(kobo, codebook, screening_asset, new_state):
    """should fail rather than skip when a page stays cut short after every retry"""
    client = make_client(kobo, retries=1)
    ids = add_screenings(kobo, screening_asset, 3)
    kobo.faults.truncate_next(5, path_contains="/data/")
    with pytest.raises(PlatformError, match="not valid JSON"):
        pulled_ids(client, codebook, screening_asset, new_state())
    kobo.faults.clear()
    assert pulled_ids(client, codebook, screening_asset, new_state()) == ids
