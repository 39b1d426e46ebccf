"""Per-record access: a consent-gated role sees only cases whose consent covers its purpose.

The DocType JSON already keeps each role out of the fields its purpose may not see (permlevels)
and out of the DocTypes it must never read (TIP Restricted Detail; TIP Identity for analysts).
These hooks add the rule that depends on the record: the Law Enforcement Liaison reads a case,
and everything linked to it, only while the person's consent covers law enforcement; the Data
Analyst only while it covers statistics. Coverage is kept on TIP Case by its controller
(`consent_covers_<purpose>`), so lists filter in SQL instead of loading every case.

Frappe calls `query_conditions` for lists, reports and counts (`permission_query_conditions`)
and `has_record_permission` for a single document (`has_permission`).
"""

from __future__ import annotations

import frappe

CASE = "TIP Case"
CASE_LINK = "tip_case"
#: gated role -> the consent purpose that must be covered
GATED_ROLES = {
    "TIP Law Enforcement Liaison": "law_enforcement",
    "TIP Data Analyst": "statistics",
}
#: roles that work with whole cases, whatever the consent for sharing
CASEWORK_ROLES = frozenset({"TIP Case Worker", "TIP Supervisor", "System Manager"})


def gating_purposes(user: str | None = None) -> frozenset[str] | None:
    """None when the user is not gated; else the purposes one of which a case must cover.

    A user holding a casework role is not gated. Give a person either a casework role or gated
    roles, not both kinds: the fields a role reads follow its own purpose.
    """
    user = user or frappe.session.user
    if user == "Administrator":
        return None
    roles = set(frappe.get_roles(user))
    if roles & CASEWORK_ROLES:
        return None
    return frozenset(GATED_ROLES[role] for role in roles if role in GATED_ROLES)


def _coverage_condition(purposes: frozenset[str], table: str) -> str:
    if not purposes:
        return "1=0"
    checks = " or ".join(f"{table}.`consent_covers_{purpose}` = 1" for purpose in sorted(purposes))
    return f"({checks})"


def query_conditions(user: str | None = None, doctype: str | None = None) -> str:
    """SQL WHERE fragment for lists of `doctype`; empty for users who are not gated."""
    purposes = gating_purposes(user)
    if purposes is None or not doctype:
        return ""
    if doctype == CASE:
        return _coverage_condition(purposes, "`tabTIP Case`")
    covered = _coverage_condition(purposes, "`tabTIP Case`")
    return f"`tab{doctype}`.`{CASE_LINK}` in (select `tabTIP Case`.`name` from `tabTIP Case` where {covered})"


def has_record_permission(doc, ptype: str | None = None, user: str | None = None) -> bool | None:
    """False when a gated user's purpose is not covered by the case's consent; None otherwise
    (no opinion: the DocType permissions decide)."""
    purposes = gating_purposes(user)
    if purposes is None:
        return None
    case_name = doc.name if doc.doctype == CASE else doc.get(CASE_LINK)
    if not case_name or not purposes:
        return False
    fields = [f"consent_covers_{purpose}" for purpose in sorted(purposes)]
    values = frappe.db.get_value(CASE, case_name, fields, as_dict=True)
    return bool(values) and any(values.get(field) for field in fields)
