"""Sync engine fixtures: the three doubles on 127.0.0.1 and a ledger on SQLite or PostgreSQL.

- `kobo` serves the case intake form as a deployed asset; `add_intake(n, consent=...)` submits a
  complete intake (names, phone, immigration status included) as Collect would.
- `frappe` is a casework site with the DocTypes `tipdata build` generates.
- `dhis2` has the shipped metadata package installed and its program assigned to an org unit.
- `database` is a fresh SQLite file or a fresh PostgreSQL schema (127.0.0.1:5432, user postgres,
  database `test`, or TIPDATA_TEST_POSTGRES_URL); PostgreSQL cases are skipped when the server is
  unreachable, and fail instead when `CI` is set.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.dhis2 import Dhis2Double
from tests.doubles.frappe import DocTypeDef, FrappeDouble
from tests.doubles.kobo import KoboDouble

# one definition of where a test's ledger lives (SQLite and PostgreSQL), shared with the ledger tests
from tests.ledger.conftest import database, key, postgres_available  # noqa: F401
from tipdata.codebook import load_codebook
from tipdata.crypto.at_rest import DataKey, Keyring
from tipdata.dhis2_app.connector import (
    Dhis2Client,
    Dhis2Connector,
    load_package,
    resolve_dhis2_config,
)
from tipdata.erpnext_casework.connector import FrappeClient
from tipdata.erpnext_casework.doctypes import build_doctypes
from tipdata.http import ServiceConfig
from tipdata.kobo_forms.connector import KoboClient
from tipdata.kobo_forms.mapping import FormLayout, canonical_to_kobo_json, is_metadata_key
from tipdata.kobo_forms.xlsform import build_xlsform
from tipdata.ledger import Ledger, open_ledger
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.spreadsheet import write_xlsx
from tipdata.sync.config import Dhis2Settings, FrappeSettings, KoboSettings, SyncConfig
from tipdata.sync.session import SyncSession, open_session

POSTGRES_URL = os.environ.get("TIPDATA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ORG_UNIT = "ImspTQPwCqd"
INTAKE = "tip_case_intake"
FRAPPE_KEY, FRAPPE_SECRET = "sync-key", "sync-secret-value"
#: contents that must never reach DHIS2 (and immigration status never Frappe, by default)
NAME, PHONE, IMMIGRATION = "Amina Testname", "+33 6 12 34 56 78", "irregular"
WHEN = dt.datetime(2026, 2, 10, 9, 30, tzinfo=dt.UTC)
CONSENT_VARIANTS: dict[str, dict[str, str]] = {
    "full": {"service_referral": "yes", "law_enforcement": "yes", "statistics": "yes",
             "follow_up_contact": "yes"},
    "no_law_enforcement": {"service_referral": "yes", "law_enforcement": "no", "statistics": "yes",
                           "follow_up_contact": "yes"},
    "no_statistics": {"service_referral": "yes", "law_enforcement": "yes", "statistics": "no",
                      "follow_up_contact": "yes"},
    "none": {"service_referral": "no", "law_enforcement": "no", "statistics": "no",
             "follow_up_contact": "no"},
}


@functools.cache
def codebook() -> Codebook:
    return load_codebook()


@functools.cache
def intake_xlsx() -> bytes:
    return write_xlsx(build_xlsform(codebook(), INTAKE).sheets(),
                      column_widths={"A": 28, "B": 30, "C": 60}, escape_formulas=False)


@functools.cache
def casework_defs() -> tuple[DocTypeDef, ...]:
    return tuple(DocTypeDef.from_json(d) for d in build_doctypes(codebook()).doctypes.values()
                 if not d.get("issingle"))


def intake_values(n: int, consent: str = "full", **overrides: Any) -> dict[str, Any]:
    """A complete, valid case intake (names, phone and immigration status included)."""
    values: dict[str, Any] = {
        "case_reference": f"TIP-2026-{n:04d}", "case_opened_date": dt.date(2026, 2, 1),
        "case_status": "active", "case_risk_level": "medium", "consent_screening": "yes",
        "consent_information_given": "yes", "consent_data_recording": "yes",
        **{f"consent_{p}": answer for p, answer in CONSENT_VARIANTS[consent].items()},
        "consent_date": dt.date(2026, 2, 1), "consent_given_by": "person",
        "expl_palermo_act": ("recruitment", "transportation"), "expl_palermo_means": ("deception",),
        "expl_palermo_purpose": ("forced_labour",), "ident_date": dt.date(2026, 1, 30),
        "ident_country": "FR", "ident_data_source": "case_management", "ident_stage": "preliminary",
        "ident_trafficking_status": "presumed", "person_pseudo_id": f"P-{n:05d}",
        "person_given_names": NAME, "person_phone": PHONE, "person_sex": "female",
        "person_immigration_status": IMMIGRATION, "person_number_of_children": 0,
        "person_age_reported": 34,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def kobo_answers(asset_uid: str, values: dict[str, Any]) -> dict[str, Any]:
    """Flat Kobo answers (as Collect submits them) for canonical intake values."""
    envelope = Envelope(record_id=record_id_for("kobo:x", "1"), source_system=f"kobo:{asset_uid}",
                        source_id="1", form_id=INTAKE, collected_at=WHEN, updated_at=WHEN)
    row = canonical_to_kobo_json(codebook(), FormLayout.of(codebook(), INTAKE),
                                 CanonicalRecord(envelope=envelope, values=values), asset_uid=asset_uid)
    answers = {k: v for k, v in row.items() if not is_metadata_key(k)}
    answers["start"] = row["start"]
    return answers


def kobo_path(code: str) -> str:
    return FormLayout.of(codebook(), INTAKE).paths[code]


@dataclass
class Platforms:
    """The three doubles, started, with the intake form deployed and the DHIS2 program installed."""

    kobo: KoboDouble
    frappe: FrappeDouble
    dhis2: Dhis2Double
    asset_uid: str
    submissions: dict[int, int] = field(default_factory=dict)

    def add_intake(self, n: int, consent: str = "full", **overrides: Any) -> int:
        """Submit intake `n`; returns its Kobo `_id` (its record's source id)."""
        submission_id = self.kobo.add_submission(
            self.asset_uid, kobo_answers(self.asset_uid, intake_values(n, consent, **overrides)),
            deliver_hooks=False)
        self.submissions[n] = submission_id
        return submission_id

    def record_id(self, n: int) -> str:
        return record_id_for(f"kobo:{self.asset_uid}", str(self.submissions[n]))

    def clients(self) -> dict[str, Any]:
        return {
            "kobo": KoboClient(ServiceConfig(self.kobo.base_url, self.kobo.token, timeout=10,
                                             retries=2, backoff=0.0), sleep=lambda s: None),
            "frappe": FrappeClient(ServiceConfig(self.frappe.base_url, f"{FRAPPE_KEY}:{FRAPPE_SECRET}",
                                                 timeout=10, retries=2, backoff=0.001),
                                   sleep=lambda s: None),
            "dhis2": Dhis2Client(resolve_dhis2_config(self.dhis2.base_url, self.dhis2.token,
                                                      timeout=10, retries=2), sleep=lambda s: None),
        }

    def config(self, folder: Path, **changes: Any) -> SyncConfig:
        config = SyncConfig(
            kobo=KoboSettings(self.kobo.base_url, {INTAKE: self.asset_uid},
                              folder / "kobo-state.json", reconcile="always", page_size=50),
            frappe=FrappeSettings(self.frappe.base_url, batch_size=50),
            dhis2=Dhis2Settings(self.dhis2.base_url, ORG_UNIT, batch_size=50), page_size=50)
        return replace(config, **changes)


def start_platforms() -> Platforms:
    kobo = KoboDouble()
    kobo.start()
    frappe = FrappeDouble(casework_defs(), api_key=FRAPPE_KEY, api_secret=FRAPPE_SECRET,
                          time_zone="Europe/Paris").start()
    dhis2 = Dhis2Double("2.42").start()
    asset_uid = kobo.create_form(intake_xlsx(), name="intake.xlsx")
    client = Dhis2Client(resolve_dhis2_config(dhis2.base_url, dhis2.token), sleep=lambda s: None)
    installed = Dhis2Connector(client, codebook(), load_package(), org_unit=ORG_UNIT).install(
        assign_to=[ORG_UNIT])
    assert installed.ok, installed.problems
    return Platforms(kobo, frappe, dhis2, asset_uid)


@pytest.fixture
def platforms() -> Iterator[Platforms]:
    started = start_platforms()
    yield started
    started.kobo.stop()
    started.frappe.stop()
    started.dhis2.stop()


@pytest.fixture
def ledger(database: dict[str, Any], key: DataKey) -> Iterator[Ledger]:  # noqa: F811 - pytest fixtures from tests.ledger.conftest
    opened = open_ledger(database["url"], codebook=codebook(), keys=Keyring(key),
                         schema=database["schema"], environ={})
    yield opened
    opened.close()


SessionFactory = Callable[..., SyncSession]


@pytest.fixture
def session_for(platforms: Platforms, ledger: Ledger, tmp_path: Path) -> Iterator[SessionFactory]:
    """A session over the doubles and the test's ledger (closing leaves the ledger open)."""
    sessions: list[SyncSession] = []

    def make(**changes: Any) -> SyncSession:
        session = open_session(platforms.config(tmp_path, **changes), codebook=codebook(),
                               ledger=ledger, platforms=platforms.clients())
        sessions.append(session)
        return session

    yield make
