"""Routing policy fixtures: the real codebook and records built from its elements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pytest

from tipdata.codebook import load_codebook
from tipdata.model import Codebook
from tipdata.policy import RoutingPolicy, load_policy
from tipdata.records import CanonicalRecord, Envelope, record_id_for

T0 = dt.datetime(2026, 1, 31, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def codebook() -> Codebook:
    return load_codebook()


@pytest.fixture(scope="session")
def default_policy(codebook: Codebook) -> RoutingPolicy:
    return load_policy(codebook=codebook)


def record(values: dict[str, Any], consent: Iterable[str]) -> CanonicalRecord:
    """A record with the given values and consent purposes."""
    envelope = Envelope(record_id=record_id_for("kobo:test", "uuid:1"), source_system="kobo:test",
                        source_id="uuid:1", form_id="tip_case_intake", collected_at=T0, updated_at=T0,
                        consent_purposes=frozenset(consent))
    return CanonicalRecord(envelope=envelope, values=values)


#: one value per sensitivity class, plus free text and a never-shared element
INTAKE = {
    "person_given_names": "Amara",             # direct_identifier, consent SR/LE/FU
    "person_phone": "+234 803 555 0199",       # direct_identifier
    "person_immigration_status": "irregular",  # restricted, consent SR
    "person_date_of_birth": dt.date(2008, 5, 1),  # quasi_identifier, consent SR/LE
    "person_age": 17,                          # quasi_identifier, consent SR/LE/ST
    "person_sex": "female",                    # quasi_identifier
    "scr_means_force": "yes",                  # sensitive, consent SR/LE/ST
    "person_contact_safe": "no",               # sensitive, consent SR/FU
    "ident_notes": "met at the bus station",   # sensitive free text, consent SR
    "case_status": "active",                   # operational
    "case_worker": "Dana",                     # operational free text, consent SR/LE/FU
    "case_reference": "TIP-2026-0001",         # operational coded reference
    "case_ticket": "T-77",                     # operational, empty consent list
}
