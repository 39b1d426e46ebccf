"""Where a screening record lives in the DHIS2 tracker when it quotes no person and no case.

A Kobo screening (forms of level `screening`) carries the screening answers and the consent to the
interview, but no person id and no case reference: nobody knows yet whether there is a case. The
sync engine derives a case from a screening whose result opens one (`tipdata.sync.screening_cases`:
case reference `SCR-…` and pseudonymous person id `SCRP-…`, both from the screening's record id)
and makes the screening quote it; a screening whose result opens none stays unquoted.

DHIS2 files every screening the policy lets through under the keys that derivation gives (the
same functions, same record id, same result): tracked entity `uid_for("trackedEntity", "SCRP-…")`
with `person_pseudo_id = SCRP-…`, enrollment `uid_for("enrollment", "SCR-…")` in the TIP program,
the answers as the event of the screening stage. So the screening and the case derived from it
(pushed in the same batch, or any later one, or never) share one tracked entity and one
enrollment, and re-pushing either updates them. A screening that quotes any other case is an
event of that case's enrollment, like every record that quotes a case.

Enrollment status: a screening that quotes its derived case (the engine opened one: its result
is in the policy's `[screening_cases] open_for`, likely or possible by default) is filed in an
ACTIVE enrollment, the open case. A screening that quotes no case (its result is negative, or no
engine derived cases) is still filed, so DHIS2 counts the screening, but its enrollment is sent
COMPLETED: the person is not a potential victim, and an ACTIVE enrollment would put them on the
program's working lists and in every count of open cases. The answers stay the screening stage's
event (ACTIVE, as every non-repeatable stage's event; a COMPLETED event would also demand the
stage's compulsory values). DHIS2 has no "event only" for a program with registration (every
event belongs to an enrollment), and not sending it would lose the screening from DHIS2's counts.
The UIDs are the same either way, so a screening edited to a positive result and quoted by its
derived case re-opens that same enrollment (ACTIVE) instead of adding a second one; a case
record in the same batch as an unquoted screening decides the enrollment's status.
"""

from __future__ import annotations

import base64
import hashlib

#: must equal `tipdata.sync.screening_cases` (tests/dhis2/test_screening.py checks it)
_SEED = "tipdata-screening-case:"


def _token(record_id: str) -> str:
    digest = hashlib.sha256(f"{_SEED}{record_id}".encode()).digest()
    return base64.b32encode(digest[:10]).decode("ascii")


def screening_case_reference(record_id: str) -> str:
    """`SCR-…`: the case reference of the case a screening opens (or would open).

    >>> screening_case_reference("1b4e28ba-2fa1-11d2-883f-0016d3cca427").startswith("SCR-")
    True
    """
    return f"SCR-{_token(record_id)}"


def screening_person_id(record_id: str) -> str:
    """`SCRP-…`: the pseudonymous person id of the screened person."""
    return f"SCRP-{_token(record_id)}"
