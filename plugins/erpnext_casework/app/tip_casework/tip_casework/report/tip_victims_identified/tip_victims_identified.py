# Copyright (c) 2026, tipdata. License: MIT
"""Victims identified, by sex, age band or form of exploitation.

Counts cases whose trafficking status is presumed or confirmed (potential too when asked),
identified between the dates given (identification date). A case with several forms of
exploitation counts once under each.
"""

from __future__ import annotations

import frappe
from frappe import _

from tip_casework.report_queries import date_filters, option_label, readable

CASE = "TIP Case"
FORMS = "TIP Exploitation Form Option"
DIMENSIONS = {
    "Sex": "person_sex",
    "Age band": "person_age_band",
    "Form of exploitation": "expl_palermo_purpose",
}


def execute(filters: dict | None = None):
    filters = frappe._dict(filters or {})
    dimension = filters.get("group_by") or "Sex"
    fieldname = DIMENSIONS.get(dimension)
    if fieldname is None:
        frappe.throw(_("Group by one of: {0}").format(", ".join(DIMENSIONS)))
    if not readable(CASE, fieldname):
        frappe.throw(_("You may not read {0}.").format(_(dimension)), frappe.PermissionError)
    statuses = ["presumed", "confirmed"] + (["potential"] if filters.get("include_potential") else [])
    conditions = [["ident_trafficking_status", "in", statuses], *date_filters(filters, "ident_date")]
    counts: dict[str, int] = {}
    if fieldname == "expl_palermo_purpose":
        names = frappe.get_list(CASE, filters=conditions, pluck="name", limit_page_length=0)
        rows = frappe.get_all(
            FORMS,
            filters={"parent": ["in", names or [""]], "parenttype": CASE, "parentfield": fieldname},
            fields=["option", "count(distinct parent) as cases"],
            group_by="option",
        )
        counts = {row.option: row.cases for row in rows}
        label_doctype = FORMS
    else:
        rows = frappe.get_list(CASE, filters=conditions, fields=[fieldname, "count(name) as cases"],
                               group_by=fieldname, limit_page_length=0)
        counts = {row.get(fieldname) or "": row.cases for row in rows}
        label_doctype = CASE
    columns = [
        {"fieldname": "group", "label": _(dimension), "fieldtype": "Data", "width": 260},
        {"fieldname": "code", "label": _("Code"), "fieldtype": "Data", "width": 140},
        {"fieldname": "cases", "label": _("Victims"), "fieldtype": "Int", "width": 100},
    ]
    data = [{"group": option_label(label_doctype, code), "code": code, "cases": count}
            for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    return columns, data
