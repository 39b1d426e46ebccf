"""Org unit assignments of the package's program and data set across re-installs.

A shipped package cannot name org units (they differ per server), and DHIS2 refuses enrollments
(E1041) and events (E1029) at an org unit the program is not assigned to; the data set needs the
assignment for data entry, completeness and the org units' analytics. So `tipdata dhis2 install
--assign-org-unit UID` adds assignments, and a re-install (say after a codebook change) must not
take them away: a metadata import with CREATE_AND_UPDATE replaces an object's `organisationUnits`
with the payload's. Before importing, install therefore reads the assignments the server holds
(`GET /api/programs/{uid}`, `/api/dataSets/{uid}`) and keeps them, so assignments only ever grow
through install; removing one is done in DHIS2's Maintenance app.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the connector calls this module before its import
    from .connector import Dhis2Client

#: package keys whose objects carry org unit assignments
ASSIGNED = ("programs", "dataSets")


def current_assignments(
    client: Dhis2Client, package: Mapping[str, Any]
) -> dict[tuple[str, str], list[str]]:
    """(package key, uid) -> org unit UIDs the server assigns the object to (absent objects: none)."""
    found: dict[tuple[str, str], list[str]] = {}
    for key in ASSIGNED:
        for obj in package.get(key) or []:
            uid = obj.get("id") if isinstance(obj, dict) else None
            if not uid:
                continue
            response = client.api.request(
                "GET",
                f"{key}/{uid}",
                expected=(200, 404),
                params={"fields": "id,organisationUnits[id]"},
            )
            if response.status_code == 404:
                continue
            body = response.json()
            refs = body.get("organisationUnits") if isinstance(body, dict) else None
            found[(key, uid)] = [r["id"] for r in refs or [] if isinstance(r, dict) and r.get("id")]
    return found


def assign(
    package: Mapping[str, Any],
    org_units: Sequence[str],
    kept: Mapping[tuple[str, str], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """A copy of the package whose programs and data sets are assigned to `org_units` as well.

    `kept`: the server's current assignments (`current_assignments`), kept first. Order: the
    package's own, then kept, then the new ones; no duplicates.

    >>> assign({"dataSets": [{"id": "Ds000000001"}]}, ["ImspTQPwCqd"])["dataSets"][0]["organisationUnits"]
    [{'id': 'ImspTQPwCqd'}]
    """
    kept = kept or {}
    copy = dict(package)
    for key in ASSIGNED:
        if key not in package:
            continue
        objects = []
        for obj in package.get(key) or []:
            own = [
                ref.get("id") for ref in obj.get("organisationUnits", []) if isinstance(ref, dict)
            ]
            units = dict.fromkeys([*own, *kept.get((key, obj.get("id")), ()), *org_units])
            objects.append({**obj, "organisationUnits": [{"id": uid} for uid in units if uid]})
        copy[key] = objects
    return copy


def unassigned(package: Mapping[str, Any]) -> list[str]:
    """Warnings for the tracker programs and data sets assigned to no org unit."""
    warnings = []
    for program in package.get("programs") or []:
        if program.get(
            "programType", "WITH_REGISTRATION"
        ) == "WITH_REGISTRATION" and not program.get("organisationUnits"):
            warnings.append(
                f"program {program.get('code') or program.get('id')} is assigned to no org "
                "unit: DHIS2 refuses enrollments until it is (--assign-org-unit UID)"
            )
    for data_set in package.get("dataSets") or []:
        if not data_set.get("organisationUnits"):
            warnings.append(
                f"data set {data_set.get('code') or data_set.get('id')} is assigned to no org "
                "unit: assign the org units that report (--assign-org-unit UID) before "
                "push-aggregates"
            )
    return warnings
