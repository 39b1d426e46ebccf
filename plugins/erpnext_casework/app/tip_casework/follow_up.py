"""The daily follow-up check: flag open cases nobody has contacted for too long.

A case is due when it is open, the person's consent covers follow-up contact, no service or
follow-up was recorded for `TIP Settings.follow_up_days` days (counting from the case opening
when there was none), and no follow-up is planned for today or later. A newly due case gets
`follow_up_due_since` and one ToDo for the TIP Case Worker role; a case that is no longer due
is cleared. Only case names and counts are written to the ToDo and the log.
"""

from __future__ import annotations

import datetime as dt

import frappe
from frappe.utils import add_days, getdate

CASE = "TIP Case"
SERVICE = "TIP Service"


def is_due(last_contact: dt.date | None, next_planned: dt.date | None, today: dt.date, days: int) -> bool:
    """Pure rule: due when the last contact is `days` or more ago and nothing is planned ahead."""
    if next_planned is not None and next_planned >= today:
        return False
    return last_contact is not None and last_contact <= add_days(today, -days)


def _contact_dates(case_names: list[str]) -> dict[str, tuple[dt.date | None, dt.date | None]]:
    """Per case: the latest service/follow-up date and the latest planned next follow-up."""
    if not case_names:
        return {}
    rows = frappe.get_all(
        SERVICE,
        filters={"tip_case": ["in", case_names]},
        fields=["tip_case", "max(svc_date) as last_date", "max(fu_next_date) as next_date"],
        group_by="tip_case",
        ignore_permissions=True,
    )
    return {row.tip_case: (row.last_date and getdate(row.last_date), row.next_date and getdate(row.next_date))
            for row in rows}


def flag_due_follow_ups(today: dt.date | None = None) -> dict[str, int]:
    """Scheduler entry point (daily). Returns counts: checked, flagged, cleared."""
    settings = frappe.get_single("TIP Settings")
    counts = {"checked": 0, "flagged": 0, "cleared": 0}
    if not settings.follow_up_enabled:
        return counts
    today = getdate(today)
    days = settings.follow_up_days or 30
    cases = frappe.get_all(
        CASE,
        filters={"tip_status": ["!=", "closed"], "consent_covers_follow_up_contact": 1},
        fields=["name", "case_opened_date", "follow_up_due_since"],
        ignore_permissions=True,
        limit_page_length=0,
    )
    contacts = _contact_dates([case.name for case in cases])
    for case in cases:
        counts["checked"] += 1
        last, planned = contacts.get(case.name, (None, None))
        last = last or (case.case_opened_date and getdate(case.case_opened_date))
        due = is_due(last, planned, today, days)
        if due and not case.follow_up_due_since:
            frappe.db.set_value(CASE, case.name, "follow_up_due_since", today, update_modified=False)
            frappe.get_doc({
                "doctype": "ToDo",
                "description": f"Follow-up due for case {case.name}: no contact for {days} days or more.",
                "reference_type": CASE,
                "reference_name": case.name,
                "role": "TIP Case Worker",
                "date": today,
            }).insert(ignore_permissions=True)
            counts["flagged"] += 1
        elif not due and case.follow_up_due_since:
            frappe.db.set_value(CASE, case.name, "follow_up_due_since", None, update_modified=False)
            counts["cleared"] += 1
    frappe.logger("tip_casework").info(f"follow-up check: {counts}")
    return counts


@frappe.whitelist(methods=["POST"])
def run_now(today: str | None = None) -> dict[str, int]:
    """Run the check at once (supervisors), e.g. after changing the follow-up period."""
    frappe.only_for(("TIP Supervisor", "System Manager"))
    return flag_due_follow_ups(getdate(today) if today else None)
