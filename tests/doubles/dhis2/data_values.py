"""`POST /api/dataValueSets` in the double: the ImportSummary and its per-version HTTP status.

Contract (dhis2-api.md §6): `dryRun` is honoured here; the summary is wrapped in a WebMessage;
SUCCESS → 200, ERROR → 409, WARNING → 409 up to 2.42 and 200 from 2.43. Value conflicts carry
`E2029` (not an option code) and `E2030` (value type mismatch); unknown data element, org unit,
period and category option combo conflicts use the generic `E1100`–`E1103` texts (the double's
choice: the contract names no codes for them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .store import DEFAULT_CATEGORY_OPTION_COMBO, Store
from .values import invalid_option_codes, value_type_error

PERIOD_RE = re.compile(r"^(\d{4}|\d{6}|\d{4}Q[1-4]|\d{4}W\d{1,2}|\d{4}S[12]|\d{8}|\d{4}BiW\d{1,2}|"
                       r"\d{6}B|\d{4}(April|July|Oct|Nov)(S[12])?)$")


def import_data_values(store: Store, payload: Any, query: Mapping[str, str], minor: int) -> tuple[int, dict[str, Any]]:
    dry_run = (query.get("dryRun") or "").lower() == "true"
    strategy = (query.get("importStrategy") or "CREATE_AND_UPDATE").upper()
    if not isinstance(payload, dict):
        return 400, {"httpStatus": "Bad Request", "httpStatusCode": 400, "status": "ERROR",
                     "message": "Data value set must be a JSON object"}
    counts = {"imported": 0, "updated": 0, "ignored": 0, "deleted": 0}
    conflicts: list[dict[str, Any]] = []
    rejected: list[int] = []
    status = "SUCCESS"
    description = "Import process completed successfully"
    data_set = payload.get("dataSet")
    if data_set and store.get("dataSets", data_set) is None:
        status = "ERROR"
        description = f"Data set not found or not accessible: `{data_set}`"
        counts["ignored"] = len(payload.get("dataValues") or [])
    else:
        for index, value in enumerate(payload.get("dataValues") or []):
            problem = _conflict(store, payload, value)
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
                store.data_values[key] = {"value": str(value.get("value")), "comment": value.get("comment")}
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


def _conflict(store: Store, payload: Mapping[str, Any], value: Mapping[str, Any]) -> dict[str, Any] | None:
    de_uid = value.get("dataElement")
    element = store.get("dataElements", de_uid)
    if element is None:
        return {"object": de_uid, "objects": {"dataElement": de_uid}, "errorCode": "E1100",
                "property": "dataElement",
                "value": f"Data element not found or not accessible: `{de_uid}`"}
    period = value.get("period") or payload.get("period")
    if not period or not PERIOD_RE.match(str(period)):
        return {"object": period, "objects": {"period": period}, "errorCode": "E1101",
                "property": "period", "value": f"Period is invalid: `{period}`"}
    org_unit = value.get("orgUnit") or payload.get("orgUnit")
    if store.get("organisationUnits", org_unit) is None:
        return {"object": org_unit, "objects": {"organisationUnit": org_unit}, "errorCode": "E1102",
                "property": "orgUnit",
                "value": f"Organisation unit not found or not accessible: `{org_unit}`"}
    coc = value.get("categoryOptionCombo") or DEFAULT_CATEGORY_OPTION_COMBO
    if store.get("categoryOptionCombos", coc) is None:
        return {"object": coc, "objects": {"categoryOptionCombo": coc}, "errorCode": "E1103",
                "property": "categoryOptionCombo",
                "value": f"Category option combo not found or not accessible: `{coc}`"}
    raw = value.get("value")
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
