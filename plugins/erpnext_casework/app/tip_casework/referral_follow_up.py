"""The daily referral check: flag referrals whose status has not changed for too long.

The issue's follow-up rule: a referral whose status is still open (`referral_states`) and has not
changed for `TIP Settings.referral_follow_up_days` days gets `follow_up_due_since`, and the case's
worker is told with a ToDo on the referral and an assignment notification (the desk's bell). Who
is told follows the case check (`follow_up.recipients`): the case's `case_worker` when they are a
team member, else whoever opened the case, else every supervisor; and only users who may read
the referral (`frappe.has_permission`, which runs the app's consent hooks). The ToDo is written
directly, never through `assign_to.add`, which would share the referral with its assignee.

"When the status last changed" is `status_changed_on`, stamped by the referral's controller on
insert and on every change of `ref_status` (the stamp cannot be set by hand). A referral saved
before that field existed counts from its `ref_status_date`, else its creation.

A flagged referral is told once: the next runs skip it while `follow_up_due_since` is set. A
change of status clears the flag at once and closes its open follow-up ToDos (controller); a run
clears a flag that is no longer due (e.g. after the period was lengthened). Only referral names
and counts are written to the ToDo, the notification and the log.
"""

from __future__ import annotations

import datetime as dt

import frappe
from frappe.utils import getdate, now_datetime

from tip_casework.follow_up import notify, recipients, team
from tip_casework.referral_states import FINAL_REFERRAL_STATUSES, is_open

REFERRAL = "TIP Referral"
CASE = "TIP Case"
STATUS = "ref_status"
#: the period when TIP Settings holds none (a site migrated before the setting existed)
DEFAULT_DAYS = 14
TODO_PREFIX = "Follow-up due for referral"


def last_status_change(
    changed_on: dt.datetime | str | None,
    status_date: dt.date | str | None,
    created: dt.datetime | str | None,
) -> dt.date | None:
    """The day the status last changed: the controller's stamp, else the recorded status date,
    else the day the referral was created."""
    for value in (changed_on, status_date, created):
        if value:
            return getdate(value)
    return None


def is_quiet(status: str | None, last_change: dt.date | None, today: dt.date, days: int) -> bool:
    """Pure rule: due when the status is open and last changed `days` or more days before today."""
    return is_open(status) and last_change is not None and last_change <= today - dt.timedelta(days)


def stamp_status_change(doc) -> None:
    """Controller step (validate): a new referral or a new status gets the time of the change and
    no follow-up flag; otherwise the stored stamp and flag stay, whatever a client sent."""
    before = None if doc.is_new() else doc.get_doc_before_save()
    if before is None or doc.has_value_changed(STATUS):
        doc.status_changed_on = now_datetime()
        doc.flags.follow_up_settled = bool(before and before.follow_up_due_since)
        doc.follow_up_due_since = None
    else:
        doc.status_changed_on = before.status_changed_on
        doc.follow_up_due_since = before.follow_up_due_since


def settle_follow_up(doc) -> None:
    """Controller step (on_update): close the follow-up ToDos of a flag the new status cleared."""
    if doc.flags.follow_up_settled:
        close_follow_up_todos(doc.name)


def close_follow_up_todos(referral_name: str) -> int:
    """Close the referral's open follow-up ToDos (saved, so the referral's assignment list follows).
    Returns how many were closed."""
    names = frappe.get_all(
        "ToDo",
        filters={
            "reference_type": REFERRAL,
            "reference_name": referral_name,
            "status": "Open",
            "description": ["like", f"{TODO_PREFIX}%"],
        },
        pluck="name",
        ignore_permissions=True,
    )
    for name in names:
        todo = frappe.get_doc("ToDo", name)
        todo.status = "Closed"
        todo.save(ignore_permissions=True)
    return len(names)


def _readers(users: list[str], referral_name: str) -> list[str]:
    """The users who may read the referral (the consent hooks included)."""
    return [
        user
        for user in users
        if frappe.has_permission(REFERRAL, "read", doc=referral_name, user=user)
    ]


def flag_quiet_referrals(today: dt.date | None = None) -> dict[str, int]:
    """Scheduler entry point (daily). Returns counts: checked, flagged, cleared."""
    settings = frappe.get_single("TIP Settings")
    counts = {"checked": 0, "flagged": 0, "cleared": 0}
    if not settings.follow_up_enabled:
        return counts
    today = getdate(today)
    days = settings.referral_follow_up_days
    days = DEFAULT_DAYS if days is None else int(days)
    referrals = frappe.get_all(
        REFERRAL,
        fields=[
            "name",
            "tip_case",
            STATUS,
            "status_changed_on",
            "ref_status_date",
            "creation",
            "follow_up_due_since",
        ],
        or_filters={
            STATUS: ["not in", sorted(FINAL_REFERRAL_STATUSES)],
            "follow_up_due_since": ["is", "set"],
        },
        ignore_permissions=True,
        limit_page_length=0,
    )
    case_names = sorted({row.tip_case for row in referrals if row.tip_case})
    cases = {
        case.name: case
        for case in frappe.get_all(
            CASE,
            filters={"name": ["in", case_names or [""]]},
            fields=["name", "case_worker", "owner"],
            ignore_permissions=True,
            limit_page_length=0,
        )
    }
    members, supervisors = team()
    for row in referrals:
        counts["checked"] += 1
        last = last_status_change(row.status_changed_on, row.ref_status_date, row.creation)
        due = is_quiet(row.get(STATUS), last, today, days)
        if due and not row.follow_up_due_since:
            frappe.db.set_value(
                REFERRAL, row.name, "follow_up_due_since", today, update_modified=False
            )
            case = cases.get(row.tip_case) or frappe._dict()
            told = recipients(case.case_worker, case.owner, members, supervisors)
            notify(
                REFERRAL,
                row.name,
                f"{TODO_PREFIX} {row.name}: its status has not changed for {days} days or more.",
                _readers(told, row.name),
                today,
            )
            counts["flagged"] += 1
        elif not due and row.follow_up_due_since:
            frappe.db.set_value(
                REFERRAL, row.name, "follow_up_due_since", None, update_modified=False
            )
            close_follow_up_todos(row.name)
            counts["cleared"] += 1
    frappe.logger("tip_casework").info(f"referral follow-up check: {counts}")
    return counts


@frappe.whitelist(methods=["POST"])
def run_now(today: str | None = None) -> dict[str, int]:
    """Run the check at once (supervisors), e.g. after changing the referral follow-up period."""
    frappe.only_for(("TIP Supervisor", "System Manager"))
    return flag_quiet_referrals(getdate(today) if today else None)
