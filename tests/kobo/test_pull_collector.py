"""The pull pauses Python's cyclic collector while it builds a page, and only then."""

from __future__ import annotations

import datetime as dt
import gc

import pytest

from tests.kobo.kobo_connector_fixtures import SCREENING, add_screenings
from tipdata.kobo_forms import pull as pull_module
from tipdata.kobo_forms.pull import PullOptions, collector_paused, pull_form

pytest_plugins = ("tests.kobo.kobo_connector_fixtures",)

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_collector_paused__resumes_after_the_block_and_after_an_error(collector_on):
    """should switch the collector off inside the block and on again, also when it raises"""
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("mapping failed")
    assert gc.isenabled()


def test_collector_paused__leaves_a_disabled_collector_off(collector_on):
    """should not switch on a collector that someone else had switched off"""
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_pull__collector_off_while_mapping_and_on_for_the_caller(
    kobo, client, codebook, screening_asset, new_state, monkeypatch, collector_on
):
    """should map with the collector paused, and hand each page over with it running again"""
    add_screenings(kobo, screening_asset, 25)
    seen_while_mapping: list[bool] = []
    map_submission = pull_module.map_submission

    def spying_map_submission(*args, **kwargs):
        seen_while_mapping.append(gc.isenabled())
        return map_submission(*args, **kwargs)

    monkeypatch.setattr(pull_module, "map_submission", spying_map_submission)
    seen_by_caller = []
    for page in pull_form(
        client,
        codebook,
        SCREENING,
        screening_asset,
        new_state(),
        PullOptions(page_size=10),
        now=lambda: NOW,
    ):
        seen_by_caller.append(gc.isenabled())
        assert len(page.records) == page.received
    assert seen_while_mapping == [False] * 25
    assert seen_by_caller == [True, True, True]
    assert gc.isenabled()
