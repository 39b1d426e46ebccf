"""The case status workflow: potential → presumed → confirmed / not a victim → closed.

`tip_status` is derived on every save: `closed` while the case status is closed, otherwise the
trafficking status decision (`ident_trafficking_status`). Who may move a case where:

- a case worker records a potential or presumed victim;
- deciding (confirmed, not a victim), closing and reopening are supervisor decisions;
- on insert any status is accepted, because cases decided elsewhere arrive by sync, but the
  decision is stamped like any other.

Every change of status stamps `status_decided_by_user` and `status_decided_on`, and fills the
codebook's decision date when it is empty; the deciding organisation is the codebook's
`ident_status_decided_by`.

Why not a Frappe Workflow document: in v15 `validate_workflow` refuses to insert a document in
any state but the first ("transitioning directly to a state other than the first, e.g. from data
import"), which would make every synced decision fail. The transitions below are the workflow.
"""

from __future__ import annotations

import frappe
from frappe import _

SUPERVISOR = "TIP Supervisor"
CASE_WORKER = "TIP Case Worker"
CLOSED_CASE_STATUSES = frozenset({"closed", "closed_referred"})
#: statuses only a supervisor may move a case into (or, for closed, out of)
SUPERVISOR_DECISIONS = frozenset({"confirmed", "not_victim", "closed"})


def derived_status(case_status: str | None, trafficking_status: str | None) -> str:
    """The status shown in lists: closed, or the trafficking status decision ('' when none)."""
    if case_status in CLOSED_CASE_STATUSES:
        return "closed"
    return trafficking_status or ""


def may_change(old: str, new: str, roles: set[str]) -> bool:
    """Whether a user with `roles` may move a case from `old` to `new` (both derived statuses)."""
    if old == new:
        return True
    if SUPERVISOR in roles or "System Manager" in roles:
        return True
    if new in SUPERVISOR_DECISIONS or old == "closed":
        return False
    return CASE_WORKER in roles


def apply_status_rules(doc) -> None:
    """Derive `tip_status`, refuse a move the user may not make, stamp a decision."""
    new = derived_status(doc.get("case_status"), doc.get("ident_trafficking_status"))
    before = doc.get_doc_before_save() if not doc.is_new() else None
    old = before.get("tip_status") or "" if before is not None else None
    if old is not None and old != new:
        user = frappe.session.user
        roles = set(frappe.get_roles(user)) if user != "Administrator" else {SUPERVISOR}
        if not may_change(old, new, roles):
            frappe.throw(
                _("Only a supervisor may move a case from '{0}' to '{1}'.").format(old or _("no status"), new),
                frappe.PermissionError,
                title=_("Status decision"),
            )
    doc.tip_status = new
    if new and (old is None or old != new):
        doc.status_decided_by_user = frappe.session.user
        doc.status_decided_on = frappe.utils.now_datetime()
        if doc.get("ident_trafficking_status") and not doc.get("ident_status_decision_date"):
            doc.ident_status_decision_date = frappe.utils.getdate()


@frappe.whitelist(methods=["POST"])
def apply_status(case: str, status: str, decided_by: str | None = None) -> dict:
    """Move a case to `status` (a trafficking status code, or 'closed' with case status
    'closed'), recording the deciding organisation; the usual permission and rule checks run.
    """
    doc = frappe.get_doc("TIP Case", case)
    if status == "closed":
        doc.case_status = "closed"
    else:
        if doc.case_status in CLOSED_CASE_STATUSES:
            doc.case_status = "active"
        doc.ident_trafficking_status = status
        if decided_by:
            doc.ident_status_decided_by = decided_by
    doc.save()
    return {"name": doc.name, "tip_status": doc.tip_status}
