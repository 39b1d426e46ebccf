# Copyright (c) 2026, tipdata. License: MIT
"""Referrals by status, between the referral dates given."""

from __future__ import annotations

import frappe
from frappe import _

from tip_casework.report_queries import date_filters, option_label, readable

REFERRAL = "TIP Referral"


def execute(filters: dict | None = None):
    filters = frappe._dict(filters or {})
    if not readable(REFERRAL, "ref_status"):
        frappe.throw(_("You may not read the referral status."), frappe.PermissionError)
    rows = frappe.get_list(REFERRAL, filters=date_filters(filters, "ref_date"),
                           fields=["ref_status", "count(name) as referrals"], group_by="ref_status",
                           limit_page_length=0)
    columns = [
        {"fieldname": "status", "label": _("Status"), "fieldtype": "Data", "width": 260},
        {"fieldname": "code", "label": _("Code"), "fieldtype": "Data", "width": 160},
        {"fieldname": "referrals", "label": _("Referrals"), "fieldtype": "Int", "width": 110},
    ]
    data = [{"status": option_label(REFERRAL, row.ref_status), "code": row.ref_status or "", "referrals": row.referrals}
            for row in sorted(rows, key=lambda r: (-r.referrals, r.ref_status or ""))]
    return columns, data
