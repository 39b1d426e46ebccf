# Copyright (c) 2026, tipdata. License: MIT
"""Time from identification to first service, per case, with the median and the average.

The first service is the earliest of: a referral's first service date, and a service record
(kind service or both). Cases without a service yet are listed with no days.
"""

from __future__ import annotations

import statistics

import frappe
from frappe import _
from frappe.utils import date_diff, getdate

from tip_casework.report_queries import date_filters, readable

CASE = "TIP Case"
REFERRAL = "TIP Referral"
SERVICE = "TIP Service"


def first_service_dates(case_names: list[str]) -> dict[str, object]:
    """Per case, the earliest first-service date the user may read."""
    first: dict[str, object] = {}
    if not case_names:
        return first
    sources = []
    if readable(REFERRAL, "ref_first_service_date"):
        sources.append((REFERRAL, "ref_first_service_date", []))
    if readable(SERVICE, "svc_date") and readable(SERVICE, "svc_record_kind"):
        sources.append((SERVICE, "svc_date", [["svc_record_kind", "in", ["service", "both"]]]))
    for doctype, fieldname, extra in sources:
        rows = frappe.get_list(
            doctype,
            filters=[["tip_case", "in", case_names], [fieldname, "is", "set"], *extra],
            fields=["tip_case", f"min({fieldname}) as first_date"],
            group_by="tip_case",
            limit_page_length=0,
        )
        for row in rows:
            date = getdate(row.first_date)
            if row.tip_case not in first or date < first[row.tip_case]:
                first[row.tip_case] = date
    return first


def execute(filters: dict | None = None):
    filters = frappe._dict(filters or {})
    if not readable(CASE, "ident_date"):
        frappe.throw(_("You may not read the identification date."), frappe.PermissionError)
    cases = frappe.get_list(CASE, filters=[["ident_date", "is", "set"], *date_filters(filters, "ident_date")],
                            fields=["name", "ident_date"], order_by="ident_date asc", limit_page_length=0)
    first = first_service_dates([case.name for case in cases])
    data = []
    for case in cases:
        served = first.get(case.name)
        days = date_diff(served, case.ident_date) if served else None
        data.append({"case": case.name, "ident_date": case.ident_date, "first_service": served, "days": days})
    columns = [
        {"fieldname": "case", "label": _("Case"), "fieldtype": "Link", "options": CASE, "width": 180},
        {"fieldname": "ident_date", "label": _("Identified on"), "fieldtype": "Date", "width": 120},
        {"fieldname": "first_service", "label": _("First service on"), "fieldtype": "Date", "width": 130},
        {"fieldname": "days", "label": _("Days"), "fieldtype": "Int", "width": 80},
    ]
    days = [row["days"] for row in data if row["days"] is not None]
    summary = [
        {"label": _("Cases"), "value": len(data), "datatype": "Int"},
        {"label": _("Served"), "value": len(days), "datatype": "Int"},
        {"label": _("Median days"), "value": statistics.median(days) if days else None, "datatype": "Float"},
        {"label": _("Average days"), "value": round(statistics.mean(days), 1) if days else None, "datatype": "Float"},
    ]
    return columns, data, None, None, summary
