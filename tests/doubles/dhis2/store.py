"""What the DHIS2 double remembers: metadata by type and uid, tracker objects, aggregate values.

One lock guards it all (the double serves requests on several threads); the clock is strictly
increasing so `updatedAfter` watermarks are exact in tests.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: DHIS2's hard-coded defaults (`DefaultCategoryService`), present on every server.
DEFAULT_CATEGORY_COMBO = "bjDvmb4bfuf"
DEFAULT_CATEGORY = "GLevLNI9wkl"
DEFAULT_CATEGORY_OPTION = "xYerKDKCefk"
DEFAULT_CATEGORY_OPTION_COMBO = "HllvX50cXC0"


@dataclass
class TrackedEntity:
    uid: str
    tracked_entity_type: str
    org_unit: str
    created_at: dt.datetime
    updated_at: dt.datetime
    attributes: dict[str, str] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class Enrollment:
    uid: str
    tracked_entity: str
    program: str
    org_unit: str
    status: str
    enrolled_at: str
    occurred_at: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted: bool = False


@dataclass
class Event:
    uid: str
    program: str
    program_stage: str
    enrollment: str | None
    org_unit: str
    status: str
    occurred_at: str | None
    scheduled_at: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    data_values: dict[str, str] = field(default_factory=dict)
    deleted: bool = False


class Store:
    """All state of one double; methods assume the caller holds `lock`."""

    def __init__(self, org_units: tuple[str, ...]) -> None:
        self.lock = threading.RLock()
        self.metadata: dict[str, dict[str, dict[str, Any]]] = {}
        self.tracked_entities: dict[str, TrackedEntity] = {}
        self.enrollments: dict[str, Enrollment] = {}
        self.events: dict[str, Event] = {}
        self.events_by_enrollment: dict[str, list[str]] = {}
        self.enrollments_by_te: dict[str, list[str]] = {}
        #: (unique attribute uid, value) -> tracked entity uid holding it
        self.unique_values: dict[tuple[str, str], str] = {}
        #: (dataElement, period, orgUnit, categoryOptionCombo, attributeOptionCombo) -> value
        self.data_values: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
        self._last_tick = dt.datetime(2000, 1, 1)
        #: option codes per option set, attributes per program, ... (cleared on metadata change)
        self._derived: dict[tuple[str, str], Any] = {}
        self._seed(org_units)

    def _seed(self, org_units: tuple[str, ...]) -> None:
        self.put("categoryOptions", {"id": DEFAULT_CATEGORY_OPTION, "name": "default", "shortName": "default"})
        self.put("categories", {"id": DEFAULT_CATEGORY, "name": "default",
                                "dataDimensionType": "DISAGGREGATION",
                                "categoryOptions": [{"id": DEFAULT_CATEGORY_OPTION}]})
        self.put("categoryCombos", {"id": DEFAULT_CATEGORY_COMBO, "name": "default",
                                    "dataDimensionType": "DISAGGREGATION",
                                    "categories": [{"id": DEFAULT_CATEGORY}]})
        self.put("categoryOptionCombos", {"id": DEFAULT_CATEGORY_OPTION_COMBO, "name": "default",
                                          "categoryCombo": {"id": DEFAULT_CATEGORY_COMBO},
                                          "categoryOptions": [{"id": DEFAULT_CATEGORY_OPTION}]})
        for index, uid in enumerate(org_units):
            self.put("organisationUnits", {"id": uid, "name": f"Double org unit {index + 1}",
                                           "shortName": f"Double OU {index + 1}", "level": 1,
                                           "openingDate": "2000-01-01"})

    def tick(self) -> dt.datetime:
        """Server time (UTC, naive as DHIS2 renders it), strictly after the previous tick."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        now = now.replace(microsecond=(now.microsecond // 1000) * 1000)
        if now <= self._last_tick:
            now = self._last_tick + dt.timedelta(milliseconds=1)
        self._last_tick = now
        return now

    def generate_uid(self) -> str:
        """A random UID, as a server makes for objects sent without one."""
        first = secrets.choice(string.ascii_letters)
        return first + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(10))

    # --- metadata ---------------------------------------------------------------------------
    def put(self, type_key: str, obj: dict[str, Any]) -> None:
        self.metadata.setdefault(type_key, {})[obj["id"]] = obj
        self._derived.clear()

    def forget_derived(self) -> None:
        """Drop lookups derived from metadata (after a test edits stored metadata in place)."""
        self._derived.clear()

    def _cached(self, name: str, uid: str, compute: Callable[[str], Any]) -> Any:
        key = (name, uid)
        if key not in self._derived:
            self._derived[key] = compute(uid)
        return self._derived[key]

    def get(self, type_key: str, uid: str | None) -> dict[str, Any] | None:
        if not uid:
            return None
        return self.metadata.get(type_key, {}).get(uid)

    def objects(self, type_key: str) -> Iterator[dict[str, Any]]:
        yield from self.metadata.get(type_key, {}).values()

    def reindex_unique(self, te: TrackedEntity, before: dict[str, str]) -> None:
        """Keep the unique-attribute index in step with a tracked entity's changed values."""
        for attr_uid, value in before.items():
            if self.unique_values.get((attr_uid, value)) == te.uid and te.attributes.get(attr_uid) != value:
                del self.unique_values[(attr_uid, value)]
        for attr_uid, value in te.attributes.items():
            if (self.get("trackedEntityAttributes", attr_uid) or {}).get("unique"):
                self.unique_values[(attr_uid, value)] = te.uid

    # --- derived metadata lookups used by the tracker importer --------------------------------
    def option_codes(self, option_set_uid: str) -> set[str]:
        return self._cached("option_codes", option_set_uid, self._compute_option_codes)

    def _compute_option_codes(self, option_set_uid: str) -> set[str]:
        option_set = self.get("optionSets", option_set_uid) or {}
        listed = {ref.get("id") for ref in option_set.get("options", []) if isinstance(ref, dict)}
        codes = set()
        for option in self.objects("options"):
            if option["id"] in listed or (option.get("optionSet") or {}).get("id") == option_set_uid:
                if option.get("code") is not None:
                    codes.add(option["code"])
        return codes

    def program_attributes(self, program_uid: str) -> dict[str, dict[str, Any]]:
        return self._cached("program_attributes", program_uid, self._compute_program_attributes)

    def _compute_program_attributes(self, program_uid: str) -> dict[str, dict[str, Any]]:
        """Program attribute uid -> the programTrackedEntityAttribute entry."""
        program = self.get("programs", program_uid) or {}
        result = {}
        for entry in program.get("programTrackedEntityAttributes", []):
            attr = (entry.get("trackedEntityAttribute") or {}).get("id")
            if attr:
                result[attr] = entry
        return result

    def type_attributes(self, tet_uid: str) -> dict[str, dict[str, Any]]:
        return self._cached("type_attributes", tet_uid, self._compute_type_attributes)

    def _compute_type_attributes(self, tet_uid: str) -> dict[str, dict[str, Any]]:
        tet = self.get("trackedEntityTypes", tet_uid) or {}
        result = {}
        for entry in tet.get("trackedEntityTypeAttributes", []):
            attr = (entry.get("trackedEntityAttribute") or {}).get("id")
            if attr:
                result[attr] = entry
        return result

    def stage_data_elements(self, stage_uid: str) -> dict[str, dict[str, Any]]:
        return self._cached("stage_data_elements", stage_uid, self._compute_stage_data_elements)

    def _compute_stage_data_elements(self, stage_uid: str) -> dict[str, dict[str, Any]]:
        stage = self.get("programStages", stage_uid) or {}
        result = {}
        for entry in stage.get("programStageDataElements", []):
            de = (entry.get("dataElement") or {}).get("id")
            if de:
                result[de] = entry
        return result

    def stage_program(self, stage_uid: str) -> str | None:
        return self._cached("stage_program", stage_uid, self._compute_stage_program)

    def _compute_stage_program(self, stage_uid: str) -> str | None:
        stage = self.get("programStages", stage_uid) or {}
        program = (stage.get("program") or {}).get("id")
        if program:
            return program
        for candidate in self.objects("programs"):
            if any(ref.get("id") == stage_uid for ref in candidate.get("programStages", [])):
                return candidate["id"]
        return None

    def program_org_units(self, program_uid: str) -> set[str]:
        return self._cached("program_org_units", program_uid, self._compute_program_org_units)

    def _compute_program_org_units(self, program_uid: str) -> set[str]:
        """Org units the program is assigned to (E1029/E1041 when a payload uses another)."""
        program = self.get("programs", program_uid) or {}
        return {ref.get("id") for ref in program.get("organisationUnits", []) if isinstance(ref, dict)}
