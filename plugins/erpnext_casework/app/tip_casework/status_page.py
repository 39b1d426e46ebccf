"""The survivor status page: a ticket and a PIN show how the case is progressing, nothing more.

- A case worker issues the credentials (`issue_status_credentials`): a random ticket (stored in
  the codebook's `case_ticket`) and an 8-digit PIN. The PIN is shown once and stored only as a
  salted hash in Frappe's `__Auth` table (`frappe.utils.password.update_password`), where no
  REST call reads it; issuing again replaces it.
- Anyone may look up a status (`lookup`, allow_guest) with ticket + PIN, at most
  `TIP Settings.status_page_attempts_per_hour` times per hour and IP address
  (`frappe.rate_limiter.rate_limit`). A wrong ticket and a wrong PIN give the same answer.
- The answer holds no personal data: the case's stage in plain words, how many referrals are at
  which stage, and the date of the next planned contact. No names, no exploitation facts, no
  trafficking status decision (someone else may be looking at the screen).
"""

from __future__ import annotations

import secrets

import frappe
from frappe import _
from frappe.rate_limiter import rate_limit
from frappe.utils import getdate
from frappe.utils.password import check_password, update_password

CASE = "TIP Case"
REFERRAL = "TIP Referral"
SERVICE = "TIP Service"
PIN_FIELD = "status_pin"  # the __Auth fieldname; no such DocField exists on purpose
_TICKET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread

CASE_STAGES = {
    "active": "Your case is open and being worked on.",
    "follow_up": "Your case is open; your case worker is following up with you.",
    "closed": "Your case is closed.",
    "closed_referred": "Your case is closed here and continues with another organisation.",
}
REFERRAL_STAGES = {
    "made": "sent, waiting for an answer",
    "accepted": "accepted",
    "in_progress": "service in progress",
    "completed": "service completed",
    "declined_by_provider": "not accepted by the provider",
    "declined_by_person": "declined",
    "closed_no_service": "closed without a service",
}


def new_ticket() -> str:
    """A random ticket such as `K7QF-3MZP-9XHD` (60 bits; never derived from the person)."""
    groups = ("".join(secrets.choice(_TICKET_ALPHABET) for _ in range(4)) for _ in range(3))
    return "-".join(groups)


def new_pin() -> str:
    return f"{secrets.randbelow(10**8):08d}"


@frappe.whitelist(methods=["POST"])
def issue_status_credentials(case: str) -> dict[str, str]:
    """New ticket (if the case has none) and new PIN for a case; needs write access to it."""
    doc = frappe.get_doc(CASE, case)
    doc.check_permission("write")
    ticket = doc.case_ticket or new_ticket()
    pin = new_pin()
    update_password(doc.name, pin, doctype=CASE, fieldname=PIN_FIELD)
    doc.db_set({"case_ticket": ticket, "status_pin_set": 1})
    return {"ticket": ticket, "pin": pin}


def _attempts_per_hour() -> int:
    return frappe.db.get_single_value("TIP Settings", "status_page_attempts_per_hour") or 5


@frappe.whitelist(allow_guest=True, methods=["POST"])
@rate_limit(limit=_attempts_per_hour, seconds=60 * 60)
def lookup(ticket: str, pin: str) -> dict[str, object]:
    """The public status of the case with this ticket, if the PIN matches."""
    if not frappe.db.get_single_value("TIP Settings", "status_page_enabled"):
        frappe.throw(_("The status page is switched off."), frappe.PermissionError)
    ticket = (ticket or "").strip().upper()
    name = frappe.db.get_value(CASE, {"case_ticket": ticket}, "name") if ticket else None
    try:
        if not name:
            raise frappe.AuthenticationError
        check_password(name, str(pin or ""), doctype=CASE, fieldname=PIN_FIELD, delete_tracker_cache=False)
    except frappe.AuthenticationError:
        frappe.throw(_("This ticket and PIN do not match a case."), frappe.AuthenticationError)
    return public_status(name)


def public_status(case_name: str) -> dict[str, object]:
    """What the status page may show: stage, referral progress, next contact date."""
    case_status = frappe.db.get_value(CASE, case_name, "case_status") or "active"
    referrals = frappe.get_all(REFERRAL, filters={"tip_case": case_name}, fields=["ref_status"],
                               ignore_permissions=True, limit_page_length=0)
    counts: dict[str, int] = {}
    for row in referrals:
        stage = REFERRAL_STAGES.get(row.ref_status or "made", REFERRAL_STAGES["made"])
        counts[stage] = counts.get(stage, 0) + 1
    planned = frappe.get_all(SERVICE, filters={"tip_case": case_name, "fu_next_date": [">=", getdate()]},
                             fields=["fu_next_date"], order_by="fu_next_date asc", limit_page_length=1,
                             ignore_permissions=True)
    return {
        "stage": _(CASE_STAGES.get(case_status, CASE_STAGES["active"])),
        "referrals": [{"stage": _(stage), "count": count} for stage, count in sorted(counts.items())],
        "next_contact": str(planned[0].fu_next_date) if planned else None,
    }
