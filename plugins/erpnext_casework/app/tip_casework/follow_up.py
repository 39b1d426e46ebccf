"""The daily follow-up check: flag open cases nobody has contacted for too long.

A case is due when it is open, the person's consent covers follow-up contact, no service or
follow-up was recorded for `TIP Settings.follow_up_days` days (counting from the case opening
when there was none), and no follow-up is planned for today or later. A newly due case gets
`follow_up_due_since`, one ToDo per person told and an assignment notification (the desk's bell):
the case worker responsible (`case_worker` naming a team member by login or username), else the
team member who opened the case, else every supervisor. A ToDo must be allocated to someone: Frappe
shows a ToDo only to its allocated user, its assigner and System Managers, so a role-only ToDo
reaches no case worker. It is left role-only only when the team has nobody to tell. The ToDo is
written directly, not through `assign_to.add`, which shares the document with an assignee who
cannot read it and would bypass the consent gating. A case that is no longer due is cleared. Only
case names and counts are written to the ToDo, the notification and the log.

`team`, `recipients` and `notify` are shared with the referral check (`referral_follow_up.py`).
"""

from __future__ import annotations

import datetime as dt

import frappe
from frappe.desk.form.assign_to import notify_assignment
from frappe.utils import add_days, getdate

CASE = "TIP Case"
SERVICE = "TIP Service"
CASE_WORKER = "TIP Case Worker"
SUPERVISOR = "TIP Supervisor"
NOT_A_TEAM_MEMBER = ("Administrator", "Guest")


def is_due(
    last_contact: dt.date | None, next_planned: dt.date | None, today: dt.date, days: int
) -> bool:
    """Pure rule: due when the last contact is `days` or more ago and nothing is planned ahead."""
    if next_planned is not None and next_planned >= today:
        return False
    return last_contact is not None and last_contact <= add_days(today, -days)


def recipients(
    case_worker: str | None, owner: str | None, team: dict[str, str], supervisors: list[str]
) -> list[str]:
    """Pure rule: who is told a case is due. `team` maps a member's login and username (lower case)
    to the login; the case worker responsible first, then whoever opened the case, then the supervisors."""
    for who in (case_worker, owner):
        login = team.get((who or "").strip().lower())
        if login:
            return [login]
    return sorted(supervisors)


def team() -> tuple[dict[str, str], list[str]]:
    """Enabled desk users holding a case worker or supervisor role: logins by login and username,
    and the supervisors' logins."""
    holders = frappe.get_all(
        "Has Role",
        filters={"parenttype": "User", "role": ["in", (CASE_WORKER, SUPERVISOR)]},
        fields=["parent", "role"],
        ignore_permissions=True,
    )
    users = frappe.get_all(
        "User",
        filters={"name": ["in", sorted({row.parent for row in holders}) or [""]], "enabled": 1},
        fields=["name", "username"],
        ignore_permissions=True,
    )
    logins = {user.name for user in users} - set(NOT_A_TEAM_MEMBER)
    members = {user.name.lower(): user.name for user in users if user.name in logins}
    members.update(
        {
            user.username.lower(): user.name
            for user in users
            if user.name in logins and user.username
        }
    )
    supervisors = sorted(
        {row.parent for row in holders if row.role == SUPERVISOR and row.parent in logins}
    )
    return members, supervisors


def notify(doctype: str, name: str, description: str, users: list[str], today: dt.date) -> None:
    """One ToDo per user told (role-only when nobody can be), each with its assignment notification."""
    for user in users or [None]:
        todo = frappe.get_doc(
            {
                "doctype": "ToDo",
                "description": description,
                "reference_type": doctype,
                "reference_name": name,
                "allocated_to": user,
                "assigned_by": "Administrator",
                "role": None if user else CASE_WORKER,
                "date": today,
            }
        ).insert(ignore_permissions=True)
        if user:
            notify_assignment(
                todo.assigned_by, user, doctype, name, action="ASSIGN", description=description
            )


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
    return {
        row.tip_case: (
            row.last_date and getdate(row.last_date),
            row.next_date and getdate(row.next_date),
        )
        for row in rows
    }


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
        fields=["name", "case_opened_date", "follow_up_due_since", "case_worker", "owner"],
        ignore_permissions=True,
        limit_page_length=0,
    )
    contacts = _contact_dates([case.name for case in cases])
    members, supervisors = team()
    for case in cases:
        counts["checked"] += 1
        last, planned = contacts.get(case.name, (None, None))
        last = last or (case.case_opened_date and getdate(case.case_opened_date))
        due = is_due(last, planned, today, days)
        if due and not case.follow_up_due_since:
            frappe.db.set_value(
                CASE, case.name, "follow_up_due_since", today, update_modified=False
            )
            notify(
                CASE,
                case.name,
                f"Follow-up due for case {case.name}: no contact for {days} days or more.",
                recipients(case.case_worker, case.owner, members, supervisors),
                today,
            )
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
