"""`/api/maintenance/categoryOptionComboUpdate` in the double: the server generates the combos.

Contract (dhis2-api.md §3.4, §6): `/api/metadata` does not generate category option combos;
`POST|PUT /api/maintenance/categoryOptionComboUpdate[/categoryCombo/{uid}]` does, one per element
of the product of the combo's categories' options (in category order). As on a server the UIDs
are random: a client must look them up (`GET /api/categoryOptionCombos`), never compute them.
Combos that no longer match an option product are pruned ("add and prune"). From dhis2-core
`MaintenanceController`: the whole update answers 204 without a body; the per-combo update
answers a WebMessage, a conflict when the combo does not exist.
"""

from __future__ import annotations

import itertools
from typing import Any

from .store import DEFAULT_CATEGORY_COMBO, Store


def update_option_combos(store: Store, combo_uid: str | None = None) -> dict[str, int]:
    """Add the missing combos and prune stale ones, for one category combo or all; counts."""
    combos = [store.get("categoryCombos", combo_uid)] if combo_uid else list(store.objects("categoryCombos"))
    created = deleted = 0
    for combo in combos:
        if combo is None or combo["id"] == DEFAULT_CATEGORY_COMBO:
            continue
        categories = [store.get("categories", ref.get("id")) or {} for ref in combo.get("categories", [])]
        product = itertools.product(*[[ref.get("id") for ref in c.get("categoryOptions", [])]
                                      for c in categories])
        wanted = {frozenset(options): options for options in product}
        existing = {frozenset(ref.get("id") for ref in coc.get("categoryOptions", [])): coc["id"]
                    for coc in list(store.objects("categoryOptionCombos"))
                    if (coc.get("categoryCombo") or {}).get("id") == combo["id"]}
        for key, uid in existing.items():
            if key not in wanted:
                store.metadata["categoryOptionCombos"].pop(uid, None)
                deleted += 1
        refs = []
        for key, options in wanted.items():
            uid = existing.get(key)
            if uid is None:
                uid = store.generate_uid()
                names = [(store.get("categoryOptions", o) or {}).get("name", o) for o in options]
                store.put("categoryOptionCombos", {
                    "id": uid, "name": ", ".join(names), "categoryCombo": {"id": combo["id"]},
                    "categoryOptions": [{"id": o} for o in options], "ignoreApproval": False})
                created += 1
            refs.append({"id": uid})
        combo["categoryOptionCombos"] = refs
    store.forget_derived()
    return {"created": created, "deleted": deleted}


def maintenance_route(store: Store, segments: list[str]) -> tuple[int, Any] | None:
    """`maintenance/categoryOptionComboUpdate[/categoryCombo/{uid}]` → (status, body); None if not it."""
    if segments[:2] != ["maintenance", "categoryOptionComboUpdate"]:
        return None
    if len(segments) == 2:
        update_option_combos(store)
        return 204, None
    if len(segments) == 4 and segments[2] == "categoryCombo":
        if store.get("categoryCombos", segments[3]) is None:
            return 409, {"httpStatus": "Conflict", "httpStatusCode": 409, "status": "ERROR",
                         "message": f"CategoryCombo does not exist: {segments[3]}"}
        counts = update_option_combos(store, segments[3])
        return 200, {"httpStatus": "OK", "httpStatusCode": 200, "status": "OK",
                     "message": f"{counts['created']} created, {counts['deleted']} deleted"}
    return None
