"""`POST /api/tracker` in the double: validation with the tracker E-codes and the bare ImportReport.

Contract (dhis2-api.md §4): nested or flat payloads; client UIDs make CREATE_AND_UPDATE idempotent
(missing UIDs are generated, so re-sending such a payload duplicates); `atomicMode` ALL commits
nothing on any error, OBJECT commits the valid objects and still reports ERROR (HTTP 409 in sync
mode); `importMode=VALIDATE` commits nothing; malformed UIDs are E1048 up to 2.41 and a whole-request
HTTP 400 from 2.42; `timingsStats` and objectReport `index` only on 2.40, error `args` from 2.41.
The tracker namespace of codes is separate from the metadata one (E1xxx/E5000 here).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .store import Enrollment, Event, Store, TrackedEntity
from .values import (
    MAX_ATTRIBUTE_VALUE_LENGTH,
    TEXT_TYPES,
    invalid_option_codes,
    is_uid,
    value_type_error,
)

MESSAGES = {
    "E1002": "TrackedEntity: `{0}`, already exists.",
    "E1005": "Could not find TrackedEntityType: `{0}`.",
    "E1006": "Attribute: `{0}` does not exist.",
    "E1007": "Error validating attribute value type: `{0}`; Error: `{1}`.",
    "E1010": "Could not find Program: `{0}`, linked to Event.",
    "E1011": "Could not find OrganisationUnit: `{0}`, linked to Event.",
    "E1013": "Could not find ProgramStage: `{0}`, linked to Event.",
    "E1014": "Provided Program: `{0}` is a Program without registration. An Enrollment cannot be "
             "created into Program without registration.",
    "E1015": "TrackedEntity: `{0}` already has an active Enrollment in Program `{1}`.",
    "E1016": "TrackedEntity: `{0}` already has an enrollment in Program: `{1}`, and this program "
             "only allows enrolling once.",
    "E1018": "Attribute: `{0}` is mandatory in program `{1}` but not declared in Enrollment `{2}`.",
    "E1019": "Only ProgramAttributes are allowed for enrollment, invalid Attribute: `{0}`.",
    "E1020": "Enrollment date: `{0}` cannot be a future date.",
    "E1021": "Incident date: `{0}` cannot be a future date.",
    "E1022": "TrackedEntity: `{0}` must have same TrackedEntityType as Program `{1}`.",
    "E1023": "DisplayIncidentDate is true but occurredAt is null.",
    "E1025": "Property enrolledAt is null.",
    "E1029": "Event OrganisationUnit: `{0}` and Program: `{1}`, do not match.",
    "E1030": "Event: `{0}` already exists.",
    "E1031": "Event occurredAt date is missing.",
    "E1032": "Event: `{0}` do not exist.",
    "E1033": "Event: `{0}` Enrollment value is null.",
    "E1039": "ProgramStage: `{0}` is not repeatable and an event already exists.",
    "E1041": "Enrollment OrganisationUnit: `{0}` and Program: `{1}` do not match.",
    "E1048": "Object: `{0}`, uid: `{1}`, has an invalid uid format.",
    "E1049": "Could not find OrganisationUnit: `{0}` linked to TrackedEntity.",
    "E1050": "Event ScheduledAt date is missing.",
    "E1063": "TrackedEntity: `{0}`, does not exist.",
    "E1064": "Non-unique attribute value `{0}` for attribute `{1}`.",
    "E1068": "Could not find TrackedEntity: `{0}` linked to Enrollment.",
    "E1069": "Could not find Program: `{0}` linked to Enrollment.",
    "E1070": "Could not find OrganisationUnit: `{0}` linked to Enrollment.",
    "E1075": "Attribute: `{0}` UID is missing.",
    "E1077": "Attribute: `{0}` text value exceed the maximum length: `{1}`.",
    "E1079": "Event: `{0}` program: `{1}` is different from Program defined in Enrollment `{2}`.",
    "E1080": "Enrollment: `{0}` already exists.",
    "E1081": "Enrollment: `{0}` do not exist.",
    "E1082": "Event: `{0}` is already deleted and cannot be modified.",
    "E1089": "Event: `{0}` references ProgramStage `{1}` which do not belong to Program `{2}`.",
    "E1090": "Attribute: `{0}` is mandatory in TrackedEntityType `{1}` but not found in TrackedEntity `{2}`.",
    "E1113": "Enrollment: `{0}` is already deleted and cannot be modified.",
    "E1114": "TrackedEntity: `{0}` is already deleted and cannot be modified.",
    "E1121": "Missing required trackedEntity property: `{0}`.",
    "E1122": "Missing required enrollment property: `{0}`.",
    "E1123": "Missing required event property: `{0}`.",
    "E1125": "Value `{0}` is not a valid option code in OptionSet `{1}`.",
    "E1302": "DataElement `{0}` is not valid: `{1}`.",
    "E1303": "Mandatory DataElement `{0}` is not present.",
    "E1304": "DataElement `{0}` is not a valid data element.",
    "E1305": "DataElement `{0}` is not part of ProgramStage `{1}`.",
    "E5000": "{0} `{1}` cannot be created because {2} `{3}` referenced by it could not be created.",
}
TYPES = ("TRACKED_ENTITY", "ENROLLMENT", "EVENT", "RELATIONSHIP")
ENROLLMENT_STATUSES = ("ACTIVE", "COMPLETED", "CANCELLED")
EVENT_STATUSES = ("ACTIVE", "COMPLETED", "VISITED", "SCHEDULE", "OVERDUE", "SKIPPED")


class BadRequest(Exception):
    """The whole request is rejected before validation (HTTP 400)."""


@dataclass
class _Item:
    tracker_type: str
    uid: str
    data: dict[str, Any]
    parent: str | None = None  # TE uid of a nested enrollment / enrollment uid of a nested event
    errors: list[dict[str, Any]] = field(default_factory=list)


def _params(query: Mapping[str, str]) -> dict[str, str]:
    def upper(name: str, default: str) -> str:
        return (query.get(name) or default).upper()

    return {"importMode": upper("importMode", "COMMIT"),
            "importStrategy": upper("importStrategy", "CREATE_AND_UPDATE"),
            "atomicMode": upper("atomicMode", "ALL"),
            "reportMode": upper("reportMode", "ERRORS")}


class TrackerImporter:
    def __init__(self, store: Store, minor: int, query: Mapping[str, str]) -> None:
        self.store = store
        self.minor = minor
        self.params = _params(query)
        self.strategy = self.params["importStrategy"]
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    # --- flattening -------------------------------------------------------------------------
    def _uid(self, obj: dict[str, Any], key: str) -> str:
        """The object's UID, generated server-side when the client sent none (not idempotent)."""
        if not obj.get(key):
            obj[key] = self.store.generate_uid()
        return obj[key]

    def flatten(self, payload: Mapping[str, Any]) -> list[_Item]:
        items: list[_Item] = []
        for te in payload.get("trackedEntities") or []:
            te = dict(te)
            te_uid = self._uid(te, "trackedEntity")
            items.append(_Item("TRACKED_ENTITY", te_uid, te))
            for enrollment in te.get("enrollments") or []:
                enrollment = dict(enrollment)
                enrollment.setdefault("trackedEntity", te_uid)
                items.extend(self._enrollment(enrollment, te_uid))
        for enrollment in payload.get("enrollments") or []:
            enrollment = dict(enrollment)
            items.extend(self._enrollment(enrollment, None))
        for event in payload.get("events") or []:
            event = dict(event)
            items.append(_Item("EVENT", self._uid(event, "event"), event))
        return items

    def _enrollment(self, enrollment: dict[str, Any], te_uid: str | None) -> list[_Item]:
        uid = self._uid(enrollment, "enrollment")
        items = [_Item("ENROLLMENT", uid, enrollment, te_uid)]
        for event in enrollment.get("events") or []:
            event = dict(event)
            event.setdefault("enrollment", uid)
            if enrollment.get("program"):
                event.setdefault("program", enrollment["program"])
            items.append(_Item("EVENT", self._uid(event, "event"), event, uid))
        return items

    def check_uid_syntax(self, items: list[_Item]) -> None:
        """2.42+: payload UID fields are typed; a malformed one fails JSON binding (HTTP 400)."""
        fields = ("trackedEntity", "enrollment", "event", "trackedEntityType", "program",
                  "programStage", "orgUnit")
        for item in items:
            for key in fields:
                value = item.data.get(key)
                if value and not is_uid(value):
                    if self.minor >= 42:
                        raise BadRequest(f"Invalid UID `{value}` for property `{key}`.")
                    if key in ("trackedEntity", "enrollment", "event") and value == item.uid:
                        self._add(item, "E1048", [item.tracker_type, value])

    # --- reporting helpers ------------------------------------------------------------------
    def _add(self, item: _Item, code: str, args: list[Any]) -> None:
        message = MESSAGES[code]
        for i, arg in enumerate(args):
            message = message.replace("{" + str(i) + "}", str(arg))
        report: dict[str, Any] = {"message": message, "errorCode": code,
                                  "trackerType": item.tracker_type, "uid": item.uid}
        if self.minor >= 41:
            report["args"] = [str(a) for a in args]
        item.errors.append(report)

    # --- validation -------------------------------------------------------------------------
    def validate(self, items: list[_Item]) -> None:
        by_uid = {(i.tracker_type, i.uid): i for i in items}
        unique_seen: dict[tuple[str, str], str] = {}
        active_in_payload: dict[tuple[str, str], str] = {}
        events_in_payload: dict[tuple[str, str], str] = {}
        for item in items:
            if item.tracker_type == "TRACKED_ENTITY":
                self._validate_te(item, unique_seen)
            elif item.tracker_type == "ENROLLMENT":
                self._validate_enrollment(item, by_uid, active_in_payload)
            else:
                self._validate_event(item, by_uid, events_in_payload)

    def _strategy_checks(self, item: _Item, existing: Any, exists_code: str, missing_code: str,
                         deleted_code: str) -> bool:
        """Return False when the object must not be validated further."""
        if existing is not None and existing.deleted:
            self._add(item, deleted_code, [item.uid])
            return False
        if self.strategy == "CREATE" and existing is not None:
            self._add(item, exists_code, [item.uid])
            return False
        if self.strategy in ("UPDATE", "DELETE") and existing is None:
            self._add(item, missing_code, [item.uid])
            return False
        return self.strategy != "DELETE"

    def _check_value(self, item: _Item, attribute: dict[str, Any], value: str, *, is_attribute: bool,
                     element_uid: str) -> None:
        value_type = attribute.get("valueType", "TEXT")
        reason = value_type_error(value_type, value)
        if reason:
            if is_attribute:
                self._add(item, "E1007", [value_type, reason])
            else:
                self._add(item, "E1302", [element_uid, reason])
            return
        if is_attribute and value_type in TEXT_TYPES and len(value) > MAX_ATTRIBUTE_VALUE_LENGTH:
            self._add(item, "E1077", [element_uid, MAX_ATTRIBUTE_VALUE_LENGTH])
            return
        option_set = (attribute.get("optionSet") or {}).get("id")
        if option_set:
            codes = self.store.option_codes(option_set)
            for bad in invalid_option_codes(value, value_type, codes):
                self._add(item, "E1125", [bad, option_set])

    def _attributes(self, item: _Item, allowed: Mapping[str, Any] | None, te_uid: str,
                    unique_seen: dict[tuple[str, str], str]) -> None:
        for entry in item.data.get("attributes") or []:
            attr_uid = entry.get("attribute")
            if not attr_uid:
                self._add(item, "E1075", [entry])
                continue
            attribute = self.store.get("trackedEntityAttributes", attr_uid)
            if attribute is None:
                self._add(item, "E1006", [attr_uid])
                continue
            if allowed is not None and attr_uid not in allowed:
                self._add(item, "E1019", [f"{attr_uid}=" + str(entry.get("value"))])
                continue
            value = entry.get("value")
            if value is None:
                continue
            value = str(value)
            self._check_value(item, attribute, value, is_attribute=True, element_uid=attr_uid)
            if attribute.get("unique"):
                key = (attr_uid, value)
                owner = unique_seen.setdefault(key, te_uid)
                holder = self.store.unique_values.get(key)
                clash = owner != te_uid or (holder is not None and holder != te_uid)
                if clash:
                    self._add(item, "E1064", [value, attr_uid])

    def _validate_te(self, item: _Item, unique_seen: dict[tuple[str, str], str]) -> None:
        existing = self.store.tracked_entities.get(item.uid)
        if not self._strategy_checks(item, existing, "E1002", "E1063", "E1114"):
            return
        data = item.data
        tet_uid = data.get("trackedEntityType")
        if not tet_uid:
            self._add(item, "E1121", ["trackedEntityType"])
        elif self.store.get("trackedEntityTypes", tet_uid) is None:
            self._add(item, "E1005", [tet_uid])
        org_unit = data.get("orgUnit")
        if not org_unit:
            self._add(item, "E1121", ["orgUnit"])
        elif self.store.get("organisationUnits", org_unit) is None:
            self._add(item, "E1049", [org_unit])
        self._attributes(item, None, item.uid, unique_seen)
        if tet_uid:
            given = {a.get("attribute") for a in data.get("attributes") or [] if a.get("value") is not None}
            stored = set(existing.attributes) if existing else set()
            for attr_uid, entry in self.store.type_attributes(tet_uid).items():
                if entry.get("mandatory") and attr_uid not in given | stored:
                    self._add(item, "E1090", [attr_uid, tet_uid, item.uid])

    def _validate_enrollment(self, item: _Item, by_uid: dict, active: dict) -> None:
        existing = self.store.enrollments.get(item.uid)
        if not self._strategy_checks(item, existing, "E1080", "E1081", "E1113"):
            return
        data = item.data
        program_uid = data.get("program")
        program = self.store.get("programs", program_uid)
        if not program_uid:
            self._add(item, "E1122", ["program"])
        elif program is None:
            self._add(item, "E1069", [program_uid])
        elif program.get("programType") == "WITHOUT_REGISTRATION":
            self._add(item, "E1014", [program_uid])
            program = None
        te_uid = data.get("trackedEntity")
        te_item = by_uid.get(("TRACKED_ENTITY", te_uid))
        te_stored = self.store.tracked_entities.get(te_uid or "")
        if not te_uid:
            self._add(item, "E1122", ["trackedEntity"])
        elif te_item is None and (te_stored is None or te_stored.deleted):
            self._add(item, "E1068", [te_uid])
        org_unit = data.get("orgUnit")
        if not org_unit:
            self._add(item, "E1122", ["orgUnit"])
        elif self.store.get("organisationUnits", org_unit) is None:
            self._add(item, "E1070", [org_unit])
        elif program is not None and org_unit not in self.store.program_org_units(program["id"]):
            self._add(item, "E1041", [org_unit, program["id"]])
        if not data.get("enrolledAt"):
            self._add(item, "E1025", [])
        elif self._future(data["enrolledAt"]) and not (program or {}).get("selectEnrollmentDatesInFuture"):
            self._add(item, "E1020", [data["enrolledAt"]])
        if program is not None and program.get("displayIncidentDate") and not data.get("occurredAt"):
            self._add(item, "E1023", [])
        elif data.get("occurredAt") and self._future(data["occurredAt"]) \
                and not (program or {}).get("selectIncidentDatesInFuture"):
            self._add(item, "E1021", [data["occurredAt"]])
        status = (data.get("status") or "ACTIVE").upper()
        if program is None:
            return
        te_type = (te_item.data.get("trackedEntityType") if te_item
                   else te_stored.tracked_entity_type if te_stored else None)
        wanted = (program.get("trackedEntityType") or {}).get("id")
        if te_type and wanted and te_type != wanted:
            self._add(item, "E1022", [te_uid, program["id"]])
        program_attrs = self.store.program_attributes(program["id"])
        self._attributes(item, program_attrs, te_uid or "", {})
        given = {a.get("attribute") for a in data.get("attributes") or [] if a.get("value") is not None}
        if te_item:
            given |= {a.get("attribute") for a in te_item.data.get("attributes") or []
                      if a.get("value") is not None}
        if te_stored:
            given |= set(te_stored.attributes)
        for attr_uid, entry in program_attrs.items():
            if entry.get("mandatory") and attr_uid not in given:
                self._add(item, "E1018", [attr_uid, program["id"], item.uid])
        if existing is None and te_uid:
            others = [self.store.enrollments[u] for u in self.store.enrollments_by_te.get(te_uid, ())]
            others = [e for e in others if e.program == program["id"] and not e.deleted]
            if program.get("onlyEnrollOnce") and (others or (te_uid, program["id"]) in active):
                self._add(item, "E1016", [te_uid, program["id"]])
            elif status == "ACTIVE" and (any(e.status == "ACTIVE" for e in others)
                                         or (te_uid, program["id"]) in active):
                self._add(item, "E1015", [te_uid, program["id"]])
            if status == "ACTIVE" and not item.errors:
                active[(te_uid, program["id"])] = item.uid

    def _future(self, text: str) -> bool:
        try:
            moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            return False
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment.date() > self.now.date()

    def _validate_event(self, item: _Item, by_uid: dict, events_in_payload: dict) -> None:
        existing = self.store.events.get(item.uid)
        if not self._strategy_checks(item, existing, "E1030", "E1032", "E1082"):
            return
        data = item.data
        stage_uid = data.get("programStage")
        stage = self.store.get("programStages", stage_uid)
        if not stage_uid:
            self._add(item, "E1123", ["programStage"])
        elif stage is None:
            self._add(item, "E1013", [stage_uid])
        program_uid = data.get("program") or (self.store.stage_program(stage_uid) if stage else None)
        program = self.store.get("programs", program_uid)
        if data.get("program") and program is None:
            self._add(item, "E1010", [data["program"]])
        if stage is not None and program is not None and self.store.stage_program(stage_uid) != program["id"]:
            self._add(item, "E1089", [item.uid, stage_uid, program["id"]])
        org_unit = data.get("orgUnit")
        if not org_unit:
            self._add(item, "E1123", ["orgUnit"])
        elif self.store.get("organisationUnits", org_unit) is None:
            self._add(item, "E1011", [org_unit])
        elif program is not None and org_unit not in self.store.program_org_units(program["id"]):
            self._add(item, "E1029", [org_unit, program["id"]])
        status = (data.get("status") or "ACTIVE").upper()
        if status == "SCHEDULE":
            if not data.get("scheduledAt"):
                self._add(item, "E1050", [])
        elif not data.get("occurredAt"):
            self._add(item, "E1031", [])
        enrollment_uid = data.get("enrollment")
        if program is not None and program.get("programType", "WITH_REGISTRATION") == "WITH_REGISTRATION":
            enrollment_item = by_uid.get(("ENROLLMENT", enrollment_uid))
            stored = self.store.enrollments.get(enrollment_uid or "")
            if enrollment_item is None and (stored is None or stored.deleted):
                self._add(item, "E1033", [item.uid])
            else:
                enrollment_program = (enrollment_item.data.get("program") if enrollment_item
                                      else stored.program if stored else None)
                if enrollment_program and enrollment_program != program["id"]:
                    self._add(item, "E1079", [item.uid, program["id"], enrollment_uid])
            if stage is not None and not stage.get("repeatable") and enrollment_uid:
                key = (enrollment_uid, stage_uid)
                clash = events_in_payload.get(key, item.uid) != item.uid or any(
                    e.enrollment == enrollment_uid and e.program_stage == stage_uid
                    and e.uid != item.uid and not e.deleted for e in self._events_of(enrollment_uid))
                if clash:
                    self._add(item, "E1039", [stage_uid])
                events_in_payload.setdefault(key, item.uid)
        if stage is None:
            return
        stage_elements = self.store.stage_data_elements(stage_uid)
        given = set()
        for entry in data.get("dataValues") or []:
            de_uid = entry.get("dataElement")
            element = self.store.get("dataElements", de_uid)
            if element is None:
                self._add(item, "E1304", [de_uid])
                continue
            if de_uid not in stage_elements:
                self._add(item, "E1305", [de_uid, stage_uid])
                continue
            value = entry.get("value")
            if value is None:
                continue
            given.add(de_uid)
            self._check_value(item, element, str(value), is_attribute=False, element_uid=de_uid)
        strategy = stage.get("validationStrategy", "ON_COMPLETE")
        if status == "COMPLETED" or strategy == "ON_UPDATE_AND_INSERT":
            stored_values = set(existing.data_values) if existing else set()
            for de_uid, entry in stage_elements.items():
                if entry.get("compulsory") and de_uid not in given | stored_values:
                    self._add(item, "E1303", [de_uid])

    def _events_of(self, enrollment_uid: str) -> list[Event]:
        return [self.store.events[u] for u in self.store.events_by_enrollment.get(enrollment_uid, ())]

    # --- dependencies (atomicMode=OBJECT) ----------------------------------------------------
    def cascade(self, items: list[_Item]) -> None:
        failed = {(i.tracker_type, i.uid) for i in items if i.errors}
        for item in items:
            if item.errors:
                continue
            if item.tracker_type == "ENROLLMENT":
                te_uid = item.data.get("trackedEntity")
                if ("TRACKED_ENTITY", te_uid) in failed and te_uid not in self.store.tracked_entities:
                    self._add(item, "E5000", ["ENROLLMENT", item.uid, "TRACKED_ENTITY", te_uid])
                    failed.add(("ENROLLMENT", item.uid))
            elif item.tracker_type == "EVENT":
                enrollment_uid = item.data.get("enrollment")
                if ("ENROLLMENT", enrollment_uid) in failed and enrollment_uid not in self.store.enrollments:
                    self._add(item, "E5000", ["EVENT", item.uid, "ENROLLMENT", enrollment_uid])

    # --- commit -------------------------------------------------------------------------------
    def commit(self, items: list[_Item]) -> dict[str, dict[str, Any]]:
        """Persist the valid items; return per-type stats and object reports."""
        reports = {t: {"trackerType": t, "stats": _stats(), "objectReports": []} for t in TYPES}
        commit = self.params["importMode"] == "COMMIT"
        any_error = any(i.errors for i in items)
        if self.params["atomicMode"] == "ALL" and any_error:
            commit = False
        for index, item in enumerate(items):
            stats = reports[item.tracker_type]["stats"]
            stats["total"] += 1
            if item.errors or not commit:
                stats["ignored"] += 1
                continue
            kind = self._persist(item)
            stats[kind] += 1
            object_report: dict[str, Any] = {"trackerType": item.tracker_type, "uid": item.uid,
                                             "errorReports": []}
            if self.minor <= 40:
                object_report["index"] = index
            reports[item.tracker_type]["objectReports"].append(object_report)
        return reports

    def _persist(self, item: _Item) -> str:
        store = self.store
        now = store.tick()
        data = item.data
        if item.tracker_type == "TRACKED_ENTITY":
            te = store.tracked_entities.get(item.uid)
            if self.strategy == "DELETE":
                self._delete_te(item.uid, now)
                return "deleted"
            kind = "updated" if te else "created"
            if te is None:
                te = TrackedEntity(item.uid, data["trackedEntityType"], data["orgUnit"], now, now)
                store.tracked_entities[item.uid] = te
            te.org_unit = data.get("orgUnit") or te.org_unit
            te.updated_at = now
            before = dict(te.attributes)
            _merge_values(te.attributes, data.get("attributes"), "attribute")
            store.reindex_unique(te, before)
            return kind
        if item.tracker_type == "ENROLLMENT":
            enrollment = store.enrollments.get(item.uid)
            if self.strategy == "DELETE":
                self._delete_enrollment(item.uid, now)
                return "deleted"
            kind = "updated" if enrollment else "created"
            if enrollment is None:
                enrollment = Enrollment(item.uid, data["trackedEntity"], data["program"], data["orgUnit"],
                                        "ACTIVE", data["enrolledAt"], data.get("occurredAt"), now, now)
                store.enrollments[item.uid] = enrollment
                store.enrollments_by_te.setdefault(enrollment.tracked_entity, []).append(item.uid)
            enrollment.status = (data.get("status") or enrollment.status).upper()
            enrollment.org_unit = data.get("orgUnit") or enrollment.org_unit
            enrollment.enrolled_at = data.get("enrolledAt") or enrollment.enrolled_at
            enrollment.occurred_at = data.get("occurredAt") or enrollment.occurred_at
            enrollment.updated_at = now
            te = store.tracked_entities[enrollment.tracked_entity]
            before = dict(te.attributes)
            _merge_values(te.attributes, data.get("attributes"), "attribute")
            store.reindex_unique(te, before)
            te.updated_at = now
            return kind
        event = store.events.get(item.uid)
        if self.strategy == "DELETE":
            event.deleted = True
            event.updated_at = now
            self._touch_parents(event, now)
            return "deleted"
        kind = "updated" if event else "created"
        if event is None:
            program = data.get("program") or store.stage_program(data["programStage"])
            event = Event(item.uid, program, data["programStage"], data.get("enrollment"),
                          data["orgUnit"], "ACTIVE", None, None, now, now)
            store.events[item.uid] = event
            if event.enrollment:
                store.events_by_enrollment.setdefault(event.enrollment, []).append(item.uid)
        event.status = (data.get("status") or event.status).upper()
        event.org_unit = data.get("orgUnit") or event.org_unit
        event.occurred_at = data.get("occurredAt") or event.occurred_at
        event.scheduled_at = data.get("scheduledAt") or event.scheduled_at
        event.updated_at = now
        _merge_values(event.data_values, data.get("dataValues"), "dataElement")
        self._touch_parents(event, now)
        return kind

    def _touch_parents(self, event: Event, now: dt.datetime) -> None:
        """A change to an event also bumps its enrollment's and tracked entity's `updatedAt`."""
        enrollment = self.store.enrollments.get(event.enrollment or "")
        if enrollment is not None:
            enrollment.updated_at = now
            te = self.store.tracked_entities.get(enrollment.tracked_entity)
            if te is not None:
                te.updated_at = now

    def _delete_enrollment(self, uid: str, now: dt.datetime) -> None:
        enrollment = self.store.enrollments[uid]
        enrollment.deleted = True
        enrollment.updated_at = now
        for event in self._events_of(uid):
            event.deleted = True
            event.updated_at = now

    def _delete_te(self, uid: str, now: dt.datetime) -> None:
        te = self.store.tracked_entities[uid]
        te.deleted = True
        te.updated_at = now
        for enrollment_uid in self.store.enrollments_by_te.get(uid, ()):
            self._delete_enrollment(enrollment_uid, now)


def _stats() -> dict[str, int]:
    return {"created": 0, "updated": 0, "deleted": 0, "ignored": 0, "total": 0}


def _merge_values(target: dict[str, str], entries: Any, key: str) -> None:
    """Values in the payload are set, `null` deletes, values not mentioned stay (tracker update)."""
    for entry in entries or []:
        uid = entry.get(key)
        if not uid:
            continue
        if entry.get("value") is None:
            target.pop(uid, None)
        else:
            target[uid] = str(entry["value"])


def run_import(store: Store, payload: Any, query: Mapping[str, str], minor: int) -> dict[str, Any]:
    """Validate and (maybe) commit one tracker payload; return the bare ImportReport.

    Raises BadRequest for what a real server rejects with HTTP 400 before validating.
    """
    if not isinstance(payload, dict):
        raise BadRequest("Tracker payload must be a JSON object")
    importer = TrackerImporter(store, minor, query)
    items = importer.flatten(payload)
    for item in items:
        status = item.data.get("status")
        allowed = ENROLLMENT_STATUSES if item.tracker_type == "ENROLLMENT" else EVENT_STATUSES
        if item.tracker_type != "TRACKED_ENTITY" and status is not None and str(status).upper() not in allowed:
            raise BadRequest(f"Cannot deserialize value `{status}` of type Status")
    importer.check_uid_syntax(items)
    importer.validate(items)
    if importer.params["atomicMode"] == "OBJECT":
        importer.cascade(items)
    type_reports = importer.commit(items)
    errors = [e for i in items for e in i.errors]
    totals = _stats()
    for report in type_reports.values():
        for key in totals:
            totals[key] += report["stats"][key]
    status = "ERROR" if errors else "OK"
    report: dict[str, Any] = {
        "status": status,
        "validationReport": {"errorReports": errors, "warningReports": []},
        "stats": totals,
        "bundleReport": {"status": status, "typeReportMap": type_reports, "stats": dict(totals)},
        "message": "Import was successful." if not errors else "Import was not successful.",
    }
    if minor <= 40:
        report["timingsStats"] = {"timers": {"validation": "0.001 sec.", "commit": "0.001 sec."}}
    return report
