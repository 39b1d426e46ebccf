"""`/api/maintenance/categoryOptionComboUpdate` in the double: the server generates the combos.

Contract (dhis2-api.md §3.4, §6): `/api/metadata` does not generate category option combos;
`POST|PUT /api/maintenance/categoryOptionComboUpdate[/categoryCombo/{uid}]` does, one per element
of the product of the combo's categories' options (in category order). As on a server the UIDs
are random: a client must look them up (`GET /api/categoryOptionCombos`), never compute them.

From dhis2-core (`MaintenanceController`, `DefaultCategoryService#addAndPruneOptionCombo`,
`WebMessageUtils#importSummaries`): the controller needs F_PERFORM_MAINTENANCE (or ALL), else 403
"Access is denied, requires one Authority from [F_PERFORM_MAINTENANCE]". Combos are added and
pruned: an existing combo keeps its UID (renamed when its options' names changed), a combo whose
options are no longer a product element is deleted, unless data values use it (then it is kept and
counted as ignored, status WARNING). The whole update answers 204 without a body; the per-combo
update answers a WebMessage wrapping ImportSummaries (one summary per change): 200 "Import was
successful.", 409 WARNING when something was ignored, and a 409 conflict when the combo does not
exist.
"""

from __future__ import annotations

import itertools
from typing import Any

from .store import DEFAULT_CATEGORY_COMBO, Store

MAINTENANCE_AUTHORITIES = frozenset({"ALL", "F_PERFORM_MAINTENANCE"})


def _summary(description: str, key: str, status: str = "SUCCESS") -> dict[str, Any]:
    counts = {"imported": 0, "updated": 0, "ignored": 0, "deleted": 0}
    counts[key] = 1
    return {"responseType": "ImportSummary", "status": status, "description": description,
            "importCount": counts}


def update_option_combos(store: Store, combo_uid: str | None = None) -> list[dict[str, Any]]:
    """Add the missing combos and prune stale ones, for one category combo or all; the summaries."""
    combos = [store.get("categoryCombos", combo_uid)] if combo_uid else list(store.objects("categoryCombos"))
    summaries: list[dict[str, Any]] = []
    used = {key[3] for key in store.data_values}
    for combo in combos:
        if combo is None or combo["id"] == DEFAULT_CATEGORY_COMBO:
            continue
        categories = [store.get("categories", ref.get("id")) or {} for ref in combo.get("categories", [])]
        product = itertools.product(*[[ref.get("id") for ref in c.get("categoryOptions", [])]
                                      for c in categories])
        wanted = {frozenset(options): options for options in product if options}
        existing = {frozenset(ref.get("id") for ref in coc.get("categoryOptions", [])): coc
                    for coc in list(store.objects("categoryOptionCombos"))
                    if (coc.get("categoryCombo") or {}).get("id") == combo["id"]}
        name = combo.get("name", combo["id"])
        for key, coc in existing.items():
            if key in wanted:
                continue
            if coc["id"] in used:
                summaries.append(_summary(f"Could not delete category option combo: `{coc.get('name')}` due "
                                          "to `data values exist`", "ignored", "WARNING"))
                continue
            store.metadata["categoryOptionCombos"].pop(coc["id"], None)
            summaries.append(_summary(f"Deleted obsolete category option combo: `{coc.get('name')}` for "
                                      f"category combo: `{name}`", "deleted"))
        refs = [{"id": coc["id"]} for key, coc in existing.items() if key not in wanted
                and coc["id"] in used]
        for key, options in wanted.items():
            label = ", ".join((store.get("categoryOptions", o) or {}).get("name", o) for o in options)
            coc = existing.get(key)
            if coc is None:
                coc = {"id": store.generate_uid(), "name": label, "categoryCombo": {"id": combo["id"]},
                       "categoryOptions": [{"id": o} for o in options], "ignoreApproval": False}
                store.put("categoryOptionCombos", coc)
                summaries.append(_summary(f"Added missing category option combo: `{label}` for category "
                                          f"combo: `{name}`", "imported"))
            elif coc.get("name") != label:
                coc["name"] = label
                summaries.append(_summary(f"Update category option combo `{coc['id']}` name to `{label}`",
                                          "updated"))
            refs.append({"id": coc["id"]})
        combo["categoryOptionCombos"] = refs
    store.forget_derived()
    return summaries


def _import_summaries(summaries: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    totals = {k: sum(s["importCount"][k] for s in summaries) for k in ("imported", "updated", "deleted",
                                                                       "ignored")}
    status = "WARNING" if totals["ignored"] else "SUCCESS"
    response = {"responseType": "ImportSummaries", "status": status, **totals,
                "total": sum(totals.values()), "importSummaries": summaries}
    if status == "WARNING":
        return 409, {"httpStatus": "Conflict", "httpStatusCode": 409, "status": "WARNING",
                     "message": "One or more conflicts encountered, please check import summary.",
                     "response": response}
    return 200, {"httpStatus": "OK", "httpStatusCode": 200, "status": "OK",
                 "message": "Import was successful.", "response": response}


def maintenance_route(store: Store, segments: list[str],
                      authorities: frozenset[str] = frozenset({"ALL"})) -> tuple[int, Any] | None:
    """`maintenance/categoryOptionComboUpdate[/categoryCombo/{uid}]` → (status, body); None if not it."""
    if segments[:2] != ["maintenance", "categoryOptionComboUpdate"]:
        return None
    if not authorities & MAINTENANCE_AUTHORITIES:
        return 403, {"httpStatus": "Forbidden", "httpStatusCode": 403, "status": "ERROR",
                     "message": "Access is denied, requires one Authority from [F_PERFORM_MAINTENANCE]"}
    if len(segments) == 2:
        update_option_combos(store)
        return 204, None
    if len(segments) == 4 and segments[2] == "categoryCombo":
        if store.get("categoryCombos", segments[3]) is None:
            return 409, {"httpStatus": "Conflict", "httpStatusCode": 409, "status": "ERROR",
                         "message": f"CategoryCombo does not exist: {segments[3]}"}
        return _import_summaries(update_option_combos(store, segments[3]))
    return None
