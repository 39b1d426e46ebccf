"""Hand-made canonical records for indicator tests: a case intake and the records citing it.

Each helper builds one `CanonicalRecord` with only the values a test states, so every expected
count in a test can be checked by reading the test.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from tipdata.codebook import load_codebook
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord, Envelope, record_id_for

SOURCE = "kobo:statsTestAsset"
T0 = dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC)
ALL_PURPOSES = frozenset({"service_referral", "law_enforcement", "statistics", "follow_up_contact"})
_serial = itertools.count(1)

FORMS = {
    "case": "tip_case_intake", "referral": "tip_referral", "service": "tip_service_followup",
    "outcome": "tip_outcome_assessment", "investigation": "tip_investigation",
    "prosecution": "tip_prosecution",
}


@pytest.fixture(scope="session")
def codebook() -> Codebook:
    return load_codebook()


def record(kind: str, values: dict[str, Any], *, consent: frozenset[str] = ALL_PURPOSES,
           location: str | None = None, source_id: str | None = None,
           form: bool = True) -> CanonicalRecord:
    """One record of a kind (its form id set unless `form=False`), with the given values only."""
    source_id = source_id or f"uuid:{kind}-{next(_serial)}"
    envelope = Envelope(
        record_id=record_id_for(SOURCE, source_id), source_system=SOURCE, source_id=source_id,
        form_id=FORMS[kind] if form else None, collected_at=T0, updated_at=T0,
        consent_purposes=consent, location=location)
    return CanonicalRecord(envelope=envelope, values={k: v for k, v in values.items() if v is not None})


def case(ref: str, ident: str, *, status: str | None = "presumed", sex: str | None = None,
         age: int | None = None, country: str = "NG", citizenship: tuple[str, ...] | None = None,
         purpose: tuple[str, ...] | None = None, org: str | None = None, **more: Any) -> CanonicalRecord:
    """A case intake record identified on `ident` (ISO date) in `country`."""
    values = {
        "case_reference": ref, "ident_date": dt.date.fromisoformat(ident), "ident_country": country,
        "ident_trafficking_status": status, "person_sex": sex, "person_age": age,
        "person_citizenship": citizenship, "expl_palermo_purpose": purpose, "ident_org_type": org,
    }
    options = {k: more.pop(k) for k in ("consent", "location", "source_id", "form") if k in more}
    return record("case", {**values, **more}, **options)


def date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)
