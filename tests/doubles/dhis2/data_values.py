"""`POST /api/dataValueSets` in the double: the ImportSummary and its per-version HTTP status.

Contract (dhis2-api.md §6): `dryRun` is honoured here; `importStrategy` CREATE_AND_UPDATE (default),
CREATE, UPDATE, DELETE; the summary is wrapped in a WebMessage; SUCCESS → 200, ERROR → 409,
WARNING → 409 up to 2.42 and 200 from 2.43. Value conflicts carry `E2029` (not an option code)
and `E2030` (value type mismatch), as the contract names them.

Beyond the contract document, from dhis2-core `feedback/ErrorCode.java` (data import validation,
E76xx) and the import validator: an unknown data set is an ERROR summary with `E7600`; unknown
data element, period, org unit, category option combo and attribute option combo are conflicts
`E7610`, `E7611`, `E7612`, `E7613`, `E7615`; a value with neither value nor comment is `E7618`.
The strict checks are off unless asked for with the import options of the same names (a server
may also switch them on in its system settings): `strictDataElements=true` → `E7633` (data
element not in the data set), `strictCategoryOptionCombos=true` → `E7634` (combo not of the data
element's category combo), `strictPeriods=true` → `E7632` (period type differs from the data
set's). A conflict's `value` is the message, its `object` the offending UID, `indexes` the
positions in `dataValues`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .store import DEFAULT_CATEGORY_COMBO, DEFAULT_CATEGORY_OPTION_COMBO, Store
from .values import invalid_option_codes, value_type_error

PERIOD_RE = re.compile(r"^(\d{4}|\d{6}|\d{4}Q[1-4]|\d{4}W\d{1,2}|\d{4}S[12]|\d{8}|\d{4}BiW\d{1,2}|"
                       r"\d{6}B|\d{4}(April|July|Oct|Nov)(S[12])?)$")
#: period id shape -> DHIS2 period type name (enough for E7632)
PERIOD_TYPES = ((re.compile(r"^\d{4}$"), "Yearly"), (re.compile(r"^\d{6}$"), "Monthly"),
                (re.compile(r"^\d{4}Q[1-4]$"), "Quarterly"), (re.compile(r"^\d{8}$"), "Daily"),
                (re.compile(r"^\d{4}W\d{1,2}$"), "Weekly"), (re.compile(r"^\d{4}S[12]$"), "SixMonthly"))


def _flag(query: Mapping[str, str], name: str) -> bool:
    return (query.get(name) or "").lower() == "true"


def period_type(period: str) -> str | None:
    return next((name for pattern, name in PERIOD_TYPES if pattern.match(period)), None)


def import_data_values(store: Store, payload: Any, query: Mapping[str, str], minor: int) -> tuple[int, dict[str, Any]]:
    dry_run = _flag(query, "dryRun")
    strategy = (query.get("importStrategy") or "CREATE_AND_UPDATE").upper()
    if not isinstance(payload, dict):
        return 400, {"httpStatus": "Bad Request", "httpStatusCode": 400, "status": "ERROR",
                     "message": "Data value set must be a JSON object"}
    counts = {"imported": 0, "updated": 0, "ignored": 0, "deleted": 0}
    conflicts: list[dict[str, Any]] = []
    rejected: list[int] = []
    status = "SUCCESS"
    description = "Import process completed successfully"
    data_set_uid = payload.get("dataSet")
    data_set = store.get("dataSets", data_set_uid) if data_set_uid else None
    if data_set_uid and data_set is None:
        status = "ERROR"
        description = f"Data set not found or not accessible: `{data_set_uid}`"
        conflicts.append({"object": data_set_uid, "objects": {"dataSet": data_set_uid},
                          "value": description, "errorCode": "E7600", "property": "dataSet"})
        counts["ignored"] = len(payload.get("dataValues") or [])
    else:
        for index, value in enumerate(payload.get("dataValues") or []):
            problem = _conflict(store, payload, value, query, data_set)
            if problem is not None:
                conflicts.append({**problem, "indexes": [index]})
                rejected.append(index)
                counts["ignored"] += 1
                continue
            key = (value["dataElement"], value.get("period") or payload.get("period"),
                   value.get("orgUnit") or payload.get("orgUnit"),
                   value.get("categoryOptionCombo") or DEFAULT_CATEGORY_OPTION_COMBO,
                   value.get("attributeOptionCombo") or payload.get("attributeOptionCombo")
                   or DEFAULT_CATEGORY_OPTION_COMBO)
            exists = key in store.data_values
            if strategy == "DELETE":
                if exists and not dry_run:
                    del store.data_values[key]
                counts["deleted" if exists else "ignored"] += 1
                continue
            if (strategy == "CREATE" and exists) or (strategy == "UPDATE" and not exists):
                counts["ignored"] += 1
                continue
            if not dry_run:
                store.data_values[key] = {"value": None if value.get("value") is None else str(value["value"]),
                                          "comment": value.get("comment")}
            counts["updated" if exists else "imported"] += 1
        if conflicts:
            status = "WARNING"
            description = "Import process completed with conflicts"
    summary = {"responseType": "ImportSummary", "status": status,
               "importOptions": {"dryRun": dry_run, "importStrategy": strategy},
               "description": description, "importCount": counts, "conflicts": conflicts,
               "rejectedIndexes": rejected, "dataSetComplete": "false"}
    if status == "SUCCESS":
        return 200, {"httpStatus": "OK", "httpStatusCode": 200, "status": "OK",
                     "message": "Import was successful.", "response": summary}
    if status == "ERROR":
        return 409, {"httpStatus": "Conflict", "httpStatusCode": 409, "status": "ERROR",
                     "message": "An error occurred, please check import summary.", "response": summary}
    if minor >= 43:
        return 200, {"httpStatus": "OK", "httpStatusCode": 200, "status": "WARNING",
                     "message": "Import completed with warnings, please check import summary.",
                     "response": summary}
    return 409, {"httpStatus": "Conflict", "httpStatusCode": 409, "status": "WARNING",
                 "message": "One more conflicts encountered, please check import summary.",
                 "response": summary}


def _found(code: str, prop: str, kind: str, uid: Any, text: str) -> dict[str, Any]:
    return {"object": uid, "objects": {kind: uid}, "errorCode": code, "property": prop,
            "value": f"{text}: `{uid}`"}


def _conflict(store: Store, payload: Mapping[str, Any], value: Mapping[str, Any],
              query: Mapping[str, str], data_set: Mapping[str, Any] | None) -> dict[str, Any] | None:
    de_uid = value.get("dataElement")
    element = store.get("dataElements", de_uid)
    if element is None:
        return _found("E7610", "dataElement", "dataElement", de_uid, "Data element not found or not accessible")
    period = value.get("period") or payload.get("period")
    if not period or not PERIOD_RE.match(str(period)):
        return _found("E7611", "period", "period", period, "Period not valid")
    org_unit = value.get("orgUnit") or payload.get("orgUnit")
    if store.get("organisationUnits", org_unit) is None:
        return _found("E7612", "orgUnit", "organisationUnit", org_unit,
                      "Organisation unit not found or not accessible")
    coc = value.get("categoryOptionCombo") or DEFAULT_CATEGORY_OPTION_COMBO
    coc_object = store.get("categoryOptionCombos", coc)
    if coc_object is None:
        return _found("E7613", "categoryOptionCombo", "categoryOptionCombo", coc,
                      "Category option combo not found or not accessible for writing data")
    aoc = value.get("attributeOptionCombo") or payload.get("attributeOptionCombo") or DEFAULT_CATEGORY_OPTION_COMBO
    if store.get("categoryOptionCombos", aoc) is None:
        return _found("E7615", "attributeOptionCombo", "attributeOptionCombo", aoc,
                      "Attribute option combo not found or not accessible for writing data")
    raw = value.get("value")
    if raw is None and not value.get("comment"):
        return _found("E7618", "value", "dataElement", de_uid, "Data value or comment not specified for data element")
    if _flag(query, "strictPeriods") and data_set is not None \
            and period_type(str(period)) != data_set.get("periodType"):
        return {"object": period, "objects": {"period": period, "dataElement": de_uid}, "errorCode": "E7632",
                "property": "period",
                "value": f"Period type of period: `{period}` not valid for data element: `{de_uid}`"}
    if _flag(query, "strictDataElements") and data_set is not None and de_uid not in {
            (e.get("dataElement") or {}).get("id") for e in data_set.get("dataSetElements", [])}:
        return {"object": de_uid, "objects": {"dataElement": de_uid, "dataSet": data_set["id"]},
                "errorCode": "E7633", "property": "dataElement",
                "value": f"Data element: `{de_uid}` is not part of dataset: `{data_set['id']}`"}
    combo = (element.get("categoryCombo") or {}).get("id") or DEFAULT_CATEGORY_COMBO
    if _flag(query, "strictCategoryOptionCombos") and (coc_object.get("categoryCombo") or {}).get("id") != combo:
        return {"object": coc, "objects": {"categoryOptionCombo": coc, "dataElement": de_uid},
                "errorCode": "E7634", "property": "categoryOptionCombo",
                "value": f"Category option combo: `{coc}` must be part of category combo of data element: `{de_uid}`"}
    if raw is None:
        return None
    text = str(raw)
    reason = value_type_error(element.get("valueType", "TEXT"), text)
    if reason:
        return {"object": de_uid, "objects": {"dataElement": de_uid}, "errorCode": "E2030",
                "property": "value", "value": f"Data value must match data element value type: `{reason}`"}
    option_set = (element.get("optionSet") or {}).get("id")
    if option_set and invalid_option_codes(text, element.get("valueType", "TEXT"), store.option_codes(option_set)):
        return {"object": de_uid, "objects": {"dataElement": de_uid}, "errorCode": "E2029",
                "property": "value",
                "value": f"Data value is not a valid option of the data element option set: `{de_uid}`"}
    return None
