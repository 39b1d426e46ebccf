"""The referral follow-up's data: generated fields and setting, final statuses, the daily hook."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tipdata.codebook import load_codebook
from tipdata.erpnext_casework import doctypes as dt

APP = Path(__file__).resolve().parents[2] / "plugins/erpnext_casework/app/tip_casework"


def load_app_module(name: str) -> ModuleType:
    """Import a frappe-free module of the app by path (the app is not on sys.path here)."""
    spec = importlib.util.spec_from_file_location(f"tip_casework_{name}", APP / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(scope="module")
def built(codebook) -> dt.DocTypeSet:
    return dt.build_doctypes(codebook)


def _field(doctype: dict, fieldname: str) -> dict:
    return next(f for f in doctype["fields"] if f["fieldname"] == fieldname)


def test_referral_state_fields__read_only_at_the_status_permlevel(codebook, built):
    """should give TIP Referral a read-only status stamp and follow-up date at ref_status's level."""
    referral = built.doctypes[dt.REFERRAL]
    status = _field(referral, dt.REFERRAL_STATUS)
    stamp = _field(referral, "status_changed_on")
    due = _field(referral, "follow_up_due_since")
    assert (stamp["fieldtype"], due["fieldtype"]) == ("Datetime", "Date")
    assert stamp["read_only"] == due["read_only"] == 1
    assert stamp.get("permlevel", 0) == due.get("permlevel", 0) == status.get("permlevel", 0)
    assert status.get("permlevel", 0) == dt.permlevel_for(codebook.elements[dt.REFERRAL_STATUS])
    assert due["in_list_view"] == due["in_standard_filter"] == 1
    levels = {row["permlevel"] for row in referral["permissions"]}
    assert status.get("permlevel", 0) in levels  # someone may read the stamp


def test_settings__referral_period_required_with_a_default(built):
    """should hold the referral follow-up period (default 14 days) beside the case period."""
    settings = built.doctypes[dt.SETTINGS]
    days = _field(settings, "referral_follow_up_days")
    assert (days["fieldtype"], days["default"], days["reqd"], days["non_negative"]) == (
        "Int",
        "14",
        1,
        1,
    )
    assert _field(settings, "follow_up_days")["label"] != days["label"]


def test_build_doctypes__refuses_a_codebook_without_the_referral_status(mini_codebook):
    """should name ref_status among the problems when no referral status can be watched."""
    from tipdata.codebook import load_codebook as load

    with pytest.raises(
        dt.FrappeBuildError, match="the referral follow-up needs the element 'ref_status'"
    ):
        dt.build_doctypes(load(mini_codebook()))


def test_final_statuses__are_codes_of_the_referral_status_list(codebook):
    """should name only codes of ref_status's option list, and leave some open to chase."""
    states = load_app_module("referral_states")
    codes = set(codebook.options_for(codebook.elements[dt.REFERRAL_STATUS]).codes())
    assert states.FINAL_REFERRAL_STATUSES <= codes
    open_codes = {code for code in codes if states.is_open(code)}
    assert open_codes == codes - states.FINAL_REFERRAL_STATUSES
    assert {"made", "accepted", "in_progress"} <= open_codes
    assert not states.is_open(None) and not states.is_open("")


def test_hooks__referral_check_runs_daily_beside_the_case_check():
    """should schedule both follow-up checks on the daily event."""
    hooks = load_app_module("hooks")
    assert hooks.scheduler_events["daily"] == [
        "tip_casework.follow_up.flag_due_follow_ups",
        "tip_casework.referral_follow_up.flag_quiet_referrals",
    ]
    patches = (APP / "patches.txt").read_text().split("[post_model_sync]")[1]
    assert "tip_casework.patches.referral_follow_up_days" in patches.split()
