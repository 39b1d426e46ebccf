"""`POST /api/metadata` in the double: validation with DHIS2's E-codes and the wrapped ImportReport.

Contract (dhis2-api.md §3): `importMode=VALIDATE` is the dry run (nothing committed), `dryRun` is
not a parameter (ignored, so it commits); `atomicMode` ALL commits nothing when any object fails
(status ERROR), NONE commits the valid objects (status WARNING); the report is wrapped in a
WebMessage, HTTP 200 only when `response.status == "OK"`, else 409 with top-level `WARNING`.
Checks made: UID format (E4014), required properties (E4000, E4053), lengths (E4001), sharing
access strings (E3015), references (E5002), uniqueness (E5003/E5004/E5005), option code clashes
(E4028), option-set value types (E1115), rule-variable names (E4052), strategy (E5000/E5001),
and from 2.41 the disaggregation limits of `DefaultCategoryService#validate` with the default
dhis.conf values (`metadata.categories.max_per_combo` 5 → E1126, `max_options` 50 → E1127,
`max_combinations` 500 → E1128; the double's wording, reported on the category or combo).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .store import Store
from .values import is_uid


@dataclass(frozen=True)
class MetaType:
    key: str
    klass: str
    required: tuple[str, ...] = ("name",)
    unique: tuple[str, ...] = ("code",)
    has_short_name: bool = False


TYPES: dict[str, MetaType] = {t.key: t for t in (
    MetaType("categoryOptions", "org.hisp.dhis.category.CategoryOption", ("name", "shortName"),
             ("code", "name", "shortName"), True),
    MetaType("categories", "org.hisp.dhis.category.Category", ("name", "dataDimensionType"),
             ("code", "name")),
    MetaType("categoryCombos", "org.hisp.dhis.category.CategoryCombo", ("name", "dataDimensionType"),
             ("code", "name")),
    MetaType("categoryOptionCombos", "org.hisp.dhis.category.CategoryOptionCombo", (), ("code",)),
    MetaType("organisationUnits", "org.hisp.dhis.organisationunit.OrganisationUnit",
             ("name", "shortName", "openingDate"), ("code",), True),
    MetaType("optionSets", "org.hisp.dhis.option.OptionSet", ("name", "valueType"), ("code", "name")),
    MetaType("options", "org.hisp.dhis.option.Option", ("name", "code"), ()),
    MetaType("trackedEntityAttributes", "org.hisp.dhis.trackedentity.TrackedEntityAttribute",
             ("name", "shortName", "valueType", "aggregationType"), ("code", "name", "shortName"), True),
    MetaType("trackedEntityTypes", "org.hisp.dhis.trackedentity.TrackedEntityType", ("name",),
             ("code", "name"), True),
    MetaType("dataElements", "org.hisp.dhis.dataelement.DataElement",
             ("name", "shortName", "valueType", "domainType", "aggregationType"),
             ("code", "name", "shortName"), True),
    MetaType("programs", "org.hisp.dhis.program.Program", ("name", "shortName", "programType"),
             ("code",), True),
    MetaType("programStages", "org.hisp.dhis.program.ProgramStage", ("name", "repeatable"), ("code",)),
    MetaType("programStageSections", "org.hisp.dhis.program.ProgramStageSection", ("name",), ("code",)),
    MetaType("programSections", "org.hisp.dhis.program.ProgramSection", ("name",), ("code",)),
    MetaType("programRuleVariables", "org.hisp.dhis.programrule.ProgramRuleVariable",
             ("name", "program", "programRuleVariableSourceType"), ("code",)),
    MetaType("programRules", "org.hisp.dhis.programrule.ProgramRule", ("name", "program"), ("code",)),
    MetaType("programRuleActions", "org.hisp.dhis.programrule.ProgramRuleAction",
             ("programRuleActionType",), ("code",)),
    MetaType("dataSets", "org.hisp.dhis.dataset.DataSet", ("name", "shortName", "periodType"),
             ("code",), True),
    MetaType("userGroups", "org.hisp.dhis.user.UserGroup", ("name",), ("code", "name")),
    MetaType("constants", "org.hisp.dhis.constant.Constant", ("name", "value"), ("code", "name")),
)}

#: reference property -> type it points to (single references `{"id": ...}`)
SINGLE_REFS = {
    "optionSet": "optionSets", "commentOptionSet": "optionSets",
    "trackedEntityType": "trackedEntityTypes", "program": "programs",
    "programStage": "programStages", "dataElement": "dataElements",
    "trackedEntityAttribute": "trackedEntityAttributes", "categoryCombo": "categoryCombos",
    "option": "options", "programRule": "programRules", "organisationUnit": "organisationUnits",
    "category": "categories", "categoryOption": "categoryOptions", "dataSet": "dataSets",
    "programStageSection": "programStageSections",
}
#: collection property -> type of its items (`[{"id": ...}]`)
LIST_REFS = {
    "options": "options", "programStages": "programStages", "organisationUnits": "organisationUnits",
    "programRuleActions": "programRuleActions", "categories": "categories",
    "categoryOptions": "categoryOptions", "programStageSections": "programStageSections",
    "programSections": "programSections", "dataElements": "dataElements",
    "trackedEntityAttributes": "trackedEntityAttributes",
}
#: embedded objects whose own references are checked
EMBEDDED = ("programTrackedEntityAttributes", "programStageDataElements",
            "trackedEntityTypeAttributes", "dataSetElements")

STRATEGY_ALIASES = {"NEW_AND_UPDATES": "CREATE_AND_UPDATE", "NEW": "CREATE", "UPDATES": "UPDATE",
                    "DELETES": "DELETE", "SYNC": "CREATE_AND_UPDATE"}
LENGTHS = {"code": 50, "name": 230, "shortName": 50}
#: dhis.conf defaults of metadata.categories.{max_per_combo, max_options, max_combinations} (2.41+)
MAX_CATEGORIES_PER_COMBO, MAX_OPTIONS_PER_CATEGORY, MAX_COMBINATIONS = 5, 50, 500
RESERVED_VARIABLE_WORDS = ("and", "or", "not")


def _simple(klass: str) -> str:
    return klass.rsplit(".", 1)[-1]


def _display(obj: Mapping[str, Any]) -> str:
    return str(obj.get("displayName") or obj.get("name") or obj.get("code") or obj.get("id") or "")


def _error(code: str, message: str, main_klass: str, prop: str | None, value: Any,
           args: list[Any], error_klass: str | None = None) -> dict[str, Any]:
    return {"message": message, "mainKlass": main_klass, "errorKlass": error_klass or main_klass,
            "errorProperty": prop, "errorProperties": [prop] if prop else [], "value": value,
            "errorCode": code, "args": args}


def valid_access_string(access: Any) -> bool:
    """`AccessStringHelper#validateAccessString`: 8 chars, [r-][w-][r-][w-] then `----`."""
    if not isinstance(access, str) or len(access) != 8 or not access.endswith("----"):
        return False
    return (access[0] in "r-" and access[1] in "w-" and access[2] in "r-" and access[3] in "w-")


def _params(query: Mapping[str, str]) -> dict[str, str]:
    def upper(name: str, default: str) -> str:
        return (query.get(name) or default).upper()

    strategy = upper("importStrategy", "CREATE_AND_UPDATE")
    return {
        "importMode": upper("importMode", "COMMIT"),
        "importStrategy": STRATEGY_ALIASES.get(strategy, strategy),
        "atomicMode": upper("atomicMode", "ALL"),
        "importReportMode": upper("importReportMode", "ERRORS"),
    }


class _Validator:
    def __init__(self, store: Store, payload: Mapping[str, Any], minor: int, strategy: str) -> None:
        self.store = store
        self.payload = payload
        self.minor = minor
        self.strategy = strategy
        self.payload_ids: dict[str, set[str]] = {
            key: {o["id"] for o in payload.get(key, []) if isinstance(o, dict) and o.get("id")}
            for key in TYPES
        }

    def exists(self, type_key: str, uid: Any) -> bool:
        if not isinstance(uid, str):
            return False
        if uid in self.payload_ids.get(type_key, ()):
            return True
        return self.store.get(type_key, uid) is not None

    def validate(self, meta: MetaType, obj: dict[str, Any], seen_unique: dict) -> list[dict[str, Any]]:
        klass = meta.klass
        errors: list[dict[str, Any]] = []
        uid = obj["id"]
        if not is_uid(uid):
            errors.append(_error("E4014", f"Invalid UID `{uid}` for property `id`", klass, "id", uid,
                                 [uid, "id"]))
        existing = self.store.get(meta.key, uid)
        if self.strategy == "CREATE" and existing is not None:
            errors.append(_error("E5000", "Found matching object for reference, but import mode is "
                                 f"CREATE. Identifier was {uid}, and object was {_display(obj)}.",
                                 klass, "id", uid, [uid, _display(obj)]))
        if self.strategy == "UPDATE" and existing is None:
            errors.append(_error("E5001", "No matching object for reference. Identifier was "
                                 f"{uid}, and object was {_display(obj)}.", klass, "id", uid,
                                 [uid, _display(obj)]))
        required = list(meta.required)
        if meta.key == "trackedEntityTypes" and self.minor >= 42:
            required.append("shortName")
        for prop in required:
            if obj.get(prop) in (None, "", []):
                errors.append(_error("E4000", f"Missing required property `{prop}`.", klass, prop,
                                     None, [prop]))
        if meta.key == "programStages" and not (obj.get("program") or {}).get("id"):
            errors.append(_error("E4053", f"Program stage `{uid}` must reference a program.", klass,
                                 "program", None, [uid]))
        for prop, limit in LENGTHS.items():
            value = obj.get(prop)
            if prop == "shortName" and not meta.has_short_name and meta.key != "trackedEntityTypes":
                continue
            if prop == "code" and meta.key == "options":
                limit = 230
            if isinstance(value, str) and len(value) > limit:
                errors.append(_error("E4001", f"Maximum length of property `{prop}`is {limit}, but "
                                     f"given length was {len(value)}.", klass, prop, value,
                                     [prop, limit, len(value)]))
        errors.extend(self._sharing(klass, obj))
        errors.extend(self._references(klass, obj, obj))
        errors.extend(self._unique(meta, obj, seen_unique))
        errors.extend(self._specific(meta, obj))
        return errors

    def _sharing(self, klass: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
        errors = []
        sharing = obj.get("sharing")
        candidates = []
        if isinstance(sharing, dict) and "public" in sharing:
            candidates.append(sharing["public"])
        if self.minor <= 40 and "publicAccess" in obj:
            candidates.append(obj["publicAccess"])
        for access in candidates:
            if not valid_access_string(access):
                errors.append(_error("E3015", f"Invalid public access string: `{access}`", klass,
                                     "publicAccess", access, [access]))
        return errors

    def _references(self, klass: str, obj: dict[str, Any], owner: dict[str, Any]) -> list[dict[str, Any]]:
        errors = []

        def check(prop: str, target: str, ref: Any) -> None:
            uid = ref.get("id") if isinstance(ref, dict) else None
            if uid is None:
                return
            if not self.exists(target, uid):
                target_klass = _simple(TYPES[target].klass)
                errors.append(_error(
                    "E5002", f"Invalid reference [{uid}] ({target_klass}) on object "
                    f"{_display(owner)} [{owner.get('id')}] ({_simple(klass)}) for association `{prop}`.",
                    klass, prop, uid, [uid, target_klass, _display(owner), prop],
                    TYPES[target].klass))

        for prop, target in SINGLE_REFS.items():
            if prop in obj and isinstance(obj[prop], dict):
                check(prop, target, obj[prop])
        for prop, target in LIST_REFS.items():
            if isinstance(obj.get(prop), list):
                for ref in obj[prop]:
                    check(prop, target, ref)
        for prop in EMBEDDED:
            for entry in obj.get(prop) or []:
                if isinstance(entry, dict):
                    errors.extend(self._references(klass, entry, owner))
        return errors

    def _unique(self, meta: MetaType, obj: dict[str, Any], seen: dict) -> list[dict[str, Any]]:
        errors = []
        for prop in meta.unique:
            value = obj.get(prop)
            if value in (None, ""):
                continue
            key = (meta.key, prop, value)
            if key in seen and seen[key] != obj["id"]:
                errors.append(_error("E5005", f"Properties `{prop}` in objects `{seen[key]}, "
                                     f"{obj['id']}` must be unique within the payload", meta.klass,
                                     prop, value, [prop, f"{seen[key]}, {obj['id']}"]))
                continue
            seen[key] = obj["id"]
            for other in self.store.objects(meta.key):
                if other.get(prop) == value and other["id"] != obj["id"]:
                    errors.append(_error(
                        "E5003", f"Property `{prop}` with value `{value}` on object "
                        f"{_display(obj)} [{obj['id']}] ({_simple(meta.klass)}) already exists on object "
                        f"{other['id']}.", meta.klass, prop, value,
                        [prop, value, f"{_display(obj)} [{obj['id']}]", other["id"]]))
                    break
        return errors

    def _specific(self, meta: MetaType, obj: dict[str, Any]) -> list[dict[str, Any]]:
        errors = []
        if meta.key in ("dataElements", "trackedEntityAttributes"):
            set_uid = (obj.get("optionSet") or {}).get("id")
            option_set = self._find("optionSets", set_uid)
            if option_set and obj.get("valueType") and option_set.get("valueType") \
                    and obj["valueType"] != option_set["valueType"]:
                errors.append(_error(
                    "E1115", f"Value type `{obj['valueType']}` of `{_display(obj)}` does not match "
                    f"option set `{set_uid}` value type `{option_set['valueType']}`", meta.klass,
                    "valueType", obj["valueType"], [obj["valueType"], set_uid, option_set["valueType"]]))
        if meta.key == "options":
            errors.extend(self._option_clash(obj))
        if meta.key in ("categories", "categoryCombos") and self.minor >= 41:
            errors.extend(self._category_limits(meta, obj))
        if meta.key == "programRuleVariables":
            words = str(obj.get("name") or "").lower().split()
            if any(w in RESERVED_VARIABLE_WORDS for w in words):
                errors.append(_error(
                    "E4052", f"For program rule variable with name `{obj.get('name')}` following "
                    "keywords are forbidden : and , or , not", meta.klass, "name", obj.get("name"),
                    [obj.get("name")]))
        return errors

    def _category_limits(self, meta: MetaType, obj: dict[str, Any]) -> list[dict[str, Any]]:
        uid = obj["id"]
        if meta.key == "categories":
            size = len(obj.get("categoryOptions") or [])
            if size > MAX_OPTIONS_PER_CATEGORY:
                return [_error("E1127", f"Category `{uid}` cannot have more than {MAX_OPTIONS_PER_CATEGORY} "
                               f"options, but had: {size}", meta.klass, "categoryOptions", size,
                               [uid, MAX_OPTIONS_PER_CATEGORY, size])]
            return []
        refs = [ref.get("id") for ref in obj.get("categories") or [] if isinstance(ref, dict)]
        if len(refs) > MAX_CATEGORIES_PER_COMBO:
            return [_error("E1126", f"Category combo `{uid}` cannot have more than {MAX_CATEGORIES_PER_COMBO} "
                           f"categories, but had: {len(refs)}", meta.klass, "categories", len(refs),
                           [uid, MAX_CATEGORIES_PER_COMBO, len(refs)])]
        combinations = 1
        for ref in refs:
            combinations *= len((self._find("categories", ref) or {}).get("categoryOptions") or []) or 1
        if combinations > MAX_COMBINATIONS:
            return [_error("E1128", f"Category combo `{uid}` cannot have more than {MAX_COMBINATIONS} "
                           f"combinations, but requires: {combinations}", meta.klass, "categories",
                           combinations, [uid, MAX_COMBINATIONS, combinations])]
        return []

    def _find(self, type_key: str, uid: str | None) -> dict[str, Any] | None:
        if not uid:
            return None
        for obj in self.payload.get(type_key, []):
            if isinstance(obj, dict) and obj.get("id") == uid:
                return obj
        return self.store.get(type_key, uid)

    def _option_set_of(self, option: dict[str, Any]) -> str | None:
        set_uid = (option.get("optionSet") or {}).get("id")
        if set_uid:
            return set_uid
        for option_set in list(self.payload.get("optionSets", [])) + list(self.store.objects("optionSets")):
            if any(ref.get("id") == option["id"] for ref in option_set.get("options", [])):
                return option_set.get("id")
        return None

    def _option_clash(self, option: dict[str, Any]) -> list[dict[str, Any]]:
        set_uid = self._option_set_of(option)
        code = option.get("code")
        if not set_uid or code is None:
            return []
        others = [o for o in self.payload.get("options", []) if isinstance(o, dict)]
        others += list(self.store.objects("options"))
        for other in others:
            if other.get("id") == option["id"] or other.get("code") != code:
                continue
            if self._option_set_of(other) == set_uid:
                return [_error("E4028", f"Option set `{set_uid}` already contains option `{code}`",
                               "org.hisp.dhis.option.Option", "code", code, [set_uid, code])]
        return []


def import_metadata(store: Store, payload: Any, query: Mapping[str, str], minor: int) -> tuple[int, dict[str, Any]]:
    """Validate (and with COMMIT store) a metadata payload; return (HTTP status, WebMessage body)."""
    params = _params(query)
    if not isinstance(payload, dict):
        return 400, {"httpStatus": "Bad Request", "httpStatusCode": 400, "status": "ERROR",
                     "message": "Metadata payload must be a JSON object"}
    strategy = params["importStrategy"]
    validator = _Validator(store, payload, minor, strategy)
    type_reports: list[dict[str, Any]] = []
    accepted: list[tuple[MetaType, dict[str, Any], bool]] = []  # (type, object, existed)
    error_count = 0
    seen_unique: dict = {}
    for key, meta in TYPES.items():
        objects = payload.get(key)
        if not isinstance(objects, list) or not objects:
            continue
        stats = {"created": 0, "updated": 0, "deleted": 0, "ignored": 0, "total": 0}
        reports = []
        seen_ids: set[str] = set()
        for index, raw in enumerate(objects):
            obj = copy.deepcopy(raw) if isinstance(raw, dict) else {}
            if not obj.get("id"):
                obj["id"] = store.generate_uid()
            if minor >= 41:
                for legacy in ("publicAccess", "userGroupAccesses", "userAccesses", "externalAccess"):
                    obj.pop(legacy, None)
            if obj["id"] in seen_ids:
                errors = [_error("E5004", f"Id `{obj['id']}` for type `{_simple(meta.klass)}` exists "
                                 "on more than 1 object in the payload, removing all but the first found.",
                                 meta.klass, "id", obj["id"], [obj["id"], _simple(meta.klass)])]
            elif strategy == "DELETE":
                errors = [] if store.get(key, obj["id"]) is not None else [
                    _error("E5001", f"No matching object for reference. Identifier was {obj['id']}, "
                           f"and object was {_display(obj)}.", meta.klass, "id", obj["id"],
                           [obj["id"], _display(obj)])]
            else:
                errors = validator.validate(meta, obj, seen_unique)
            seen_ids.add(obj["id"])
            stats["total"] += 1
            report = {"klass": meta.klass, "index": index, "uid": obj["id"],
                      "displayName": _display(obj), "errorReports": errors}
            if errors:
                error_count += 1
                stats["ignored"] += 1
                reports.append(report)
            else:
                existed = store.get(key, obj["id"]) is not None
                accepted.append((meta, obj, existed))
                if params["importReportMode"] == "FULL":
                    reports.append(report)
        type_reports.append({"klass": meta.klass, "stats": stats, "objectReports": reports})

    commit = params["importMode"] == "COMMIT" and (error_count == 0 or params["atomicMode"] == "NONE")
    if not commit:
        for report in type_reports:
            stats = report["stats"]
            if error_count and params["atomicMode"] == "ALL":
                stats["ignored"] = stats["total"]
    else:
        by_klass = {r["klass"]: r["stats"] for r in type_reports}
        now = store.tick().isoformat(timespec="milliseconds")
        for meta, obj, existed in accepted:
            stats = by_klass[meta.klass]
            if strategy == "DELETE":
                store.metadata[meta.key].pop(obj["id"], None)
                store.forget_derived()
                stats["deleted"] += 1
                continue
            previous = store.get(meta.key, obj["id"])
            obj["created"] = previous.get("created", now) if previous else now
            obj["lastUpdated"] = now
            store.put(meta.key, obj)
            stats["updated" if existed else "created"] += 1
    total = {k: sum(r["stats"][k] for r in type_reports) for k in
             ("created", "updated", "deleted", "ignored", "total")}
    if error_count == 0:
        status = "OK"
    elif params["atomicMode"] == "NONE" and params["importMode"] == "COMMIT":
        status = "WARNING"
    else:
        status = "ERROR"
    report = {"responseType": "ImportReport", "status": status, "stats": total,
              "typeReports": type_reports}
    if status == "OK":
        return 200, {"httpStatus": "OK", "httpStatusCode": 200, "status": "OK", "response": report}
    return 409, {"httpStatus": "Conflict", "httpStatusCode": 409, "status": "WARNING",
                 "message": "One or more errors occurred, please see full details in import report.",
                 "response": report}
