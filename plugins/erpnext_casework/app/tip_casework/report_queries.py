"""Shared reading for the script reports: permission-aware lists and option labels.

Reports read through `frappe.get_list`, so each user counts only the records and fields their
roles and the cases' consent allow (an analyst's report covers cases consenting to statistics).
"""

from __future__ import annotations

import frappe
from frappe import _


def readable(doctype: str, fieldname: str) -> bool:
    """Whether the session user may read a field (its permlevel), as Frappe decides it."""
    meta = frappe.get_meta(doctype)
    df = meta.get_field(fieldname)
    if df is None:
        return False
    return (df.permlevel or 0) in set(meta.get_permlevel_access("read"))


def option_label(doctype: str, code: str | None) -> str:
    """The translated label of an option code (its translation row has the DocType as context)."""
    if not code:
        return _("Not recorded")
    return _(code, context=doctype)


def date_filters(filters: dict, fieldname: str) -> list[list]:
    conditions = []
    if filters.get("from_date"):
        conditions.append([fieldname, ">=", filters["from_date"]])
    if filters.get("to_date"):
        conditions.append([fieldname, "<=", filters["to_date"]])
    return conditions
