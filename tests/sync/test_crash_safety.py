"""Crash safety: a sync killed with SIGKILL at random moments loses nothing and duplicates nothing.

A subprocess runs `tipdata sync` against the three doubles (served by this test process) and is
killed at a seeded random moment, again and again, while new submissions and edits keep
arriving. After every kill the invariants that must hold at *any* moment are checked: nothing is
on a target that is not in the ledger, every id-map link points at a document that exists, and
the Kobo watermark never passes a submission the ledger does not hold. Then a run to completion
must leave every submission in the ledger once and on each target it may reach once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.sync.conftest import FRAPPE_KEY, FRAPPE_SECRET, INTAKE, ORG_UNIT, Platforms, codebook
from tipdata.crypto.at_rest import DataKey, Keyring
from tipdata.dhis2_app.uids import uid_for
from tipdata.ledger import open_ledger
from tipdata.sync.ledger_reads import count_pending, links_of

RUNNER = Path(__file__).with_name("crash_runner.py")
ITERATIONS = 20
SEED = 20260301
CASE, IDENTITY = "TIP Case", "TIP Identity"


def write_config(path: Path, platforms: Platforms, database: dict[str, Any]) -> None:
    schema = f'schema = "{database["schema"]}"\n' if database["schema"] else ""
    path.write_text(f"""
[ledger]
url = "{database['url']}"
{schema}
[sync]
batch_size = 4
page_size = 4
[kobo]
url = "{platforms.kobo.base_url}"
state = "kobo-state.json"
reconcile = "always"
page_size = 4
retries = 1
[kobo.forms]
{INTAKE} = "{platforms.asset_uid}"
[frappe]
url = "{platforms.frappe.base_url}"
batch_size = 4
retries = 1
[dhis2]
url = "{platforms.dhis2.base_url}"
org_unit = "{ORG_UNIT}"
batch_size = 4
retries = 1
""", encoding="utf-8")


def environment(platforms: Platforms, key: DataKey) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPDATA_")}
    env.update({"TIPDATA_KOBO_TOKEN": platforms.kobo.token, "TIPDATA_FRAPPE_API_KEY": FRAPPE_KEY,
                "TIPDATA_FRAPPE_API_SECRET": FRAPPE_SECRET, "TIPDATA_DHIS2_TOKEN": platforms.dhis2.token,
                "TIPDATA_LEDGER_KEY": key.to_base64()})
    return env


def run_sync(config: Path, env: dict[str, str], cwd: Path,
             kill_after: float | None) -> tuple[int, float]:
    """Run one sync and SIGKILL it `kill_after` seconds after its engine started, unless it ends
    first (None: let it finish). Returns its exit code and how long its engine ran."""
    process = subprocess.Popen([sys.executable, str(RUNNER), "--config", str(config)], cwd=cwd,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    assert process.stdout.readline().strip() == "syncing"
    started = time.monotonic()
    try:
        code = process.wait(timeout=300 if kill_after is None else kill_after)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        code = process.wait(timeout=60)
    process.stdout.close()
    return code, time.monotonic() - started


def check_invariants(platforms: Platforms, database: dict[str, Any], key: DataKey) -> dict[str, int]:
    """What must hold at any moment, crash or not; returns progress numbers."""
    ledger = open_ledger(database["url"], codebook=codebook(), keys=Keyring(key),
                         schema=database["schema"], environ={})
    try:
        stream = f"kobo:{platforms.asset_uid}"
        mark = ledger.watermark(stream)
        with ledger.reading() as tx:
            stored = {r.record_id for r in ledger.iter_records()}
            expected = {platforms.record_id(n) for n in platforms.submissions}
            covered = {platforms.record_id(n) for n, sid in platforms.submissions.items()
                       if mark is not None and mark.number is not None and sid <= mark.number}
            assert covered <= stored, "the watermark passed submissions the ledger does not hold"
            assert stored <= expected
            on_frappe = {doc["external_id"] for doc in platforms.frappe.docs(CASE)}
            assert on_frappe <= stored, "a document reached Frappe before its record was stored"
            links = links_of(tx, stored)
            for record_id, linked in links.items():
                frappe = linked.get("frappe")
                if frappe is not None and not frappe.platform_id.startswith("withheld/"):
                    assert record_id in on_frappe, "a link points at no Frappe document"
                dhis2 = linked.get("dhis2")
                if dhis2 is not None and not dhis2.platform_id.startswith("withheld/"):
                    person = ledger.get_record(record_id).values["person_pseudo_id"]
                    assert uid_for("trackedEntity", person) in platforms.dhis2.store.tracked_entities
            pending = count_pending(tx, "frappe") + count_pending(tx, "dhis2")
        return {"submitted": len(expected), "stored": len(stored), "on_frappe": len(on_frappe),
                "pending": pending}
    finally:
        ledger.close()


def test_sync__sigkill_at_random_moments_loses_and_duplicates_nothing(platforms: Platforms, database, tmp_path: Path):
    """should hold every submission exactly once in the ledger and on each target after 20 random kills"""
    rng = random.Random(SEED)
    key = DataKey.generate()
    config = tmp_path / "tipdata.toml"
    write_config(config, platforms, database)
    env = environment(platforms, key)
    consents = ["full", "full", "no_statistics", "no_law_enforcement", "none"]
    chosen: dict[int, str] = {}
    killed: list[dict[str, int]] = []
    full_run = 1.0  # seconds an uninterrupted run took last (kill moments are spread over it)
    for iteration in range(ITERATIONS):
        for _ in range(rng.randint(2, 6)):
            n = len(chosen) + 1
            chosen[n] = rng.choice(consents)
            platforms.add_intake(n, chosen[n])
        if iteration % 5 == 4:  # an edit on Kobo: a value the ledger did not hold yet
            n = rng.choice(sorted(chosen))
            platforms.kobo.edit_submission(platforms.asset_uid, platforms.submissions[n],
                                           {"grp_case/case_worker": f"worker-{iteration}"})
        code, seconds = run_sync(config, env, tmp_path, kill_after=rng.uniform(0.0, 1.2 * full_run))
        state = check_invariants(platforms, database, key)
        if code == -signal.SIGKILL:
            killed.append(state)
        else:
            assert code == 0
            full_run = seconds
    assert len(killed) >= ITERATIONS // 2, "most runs should be killed before they finish"
    behind = [s for s in killed if s["stored"] < s["submitted"] or s["pending"]]
    assert len(behind) >= len(killed) // 4, "kills should land while work is under way"

    assert run_sync(config, env, tmp_path, kill_after=None)[0] == 0
    final = check_invariants(platforms, database, key)
    shared = {n for n, consent in chosen.items() if consent != "none"}
    assert final == {"submitted": len(chosen), "stored": len(chosen), "on_frappe": len(shared),
                     "pending": 0}
    cases = [doc["external_id"] for doc in platforms.frappe.docs(CASE)]
    assert sorted(cases) == sorted(platforms.record_id(n) for n in shared)  # each exactly once
    assert platforms.frappe.count(IDENTITY) == len(shared)
    assert platforms.dhis2.counts()["trackedEntities"] == len(shared)
    assert platforms.dhis2.counts()["enrollments"] == len(shared)
    writes_before = len(frappe_writes(platforms))
    assert run_sync(config, env, tmp_path, kill_after=None)[0] == 0
    assert len(frappe_writes(platforms)) == writes_before


def frappe_writes(platforms: Any) -> list[Any]:
    """Requests that change the Frappe site (list reads are POSTs too, and are left out)."""
    return [r for r in platforms.frappe.requests if r.method in ("POST", "PUT") and r.listed is None]
