"""Store the referral follow-up period on sites installed before the setting existed.

Migrate does not write a Single's new field, so TIP Settings would hold no period. The field is
new when this runs, so an empty value (`get_single_value` reads a missing Int as 0) is unset.
"""

import frappe

DEFAULT_DAYS = 14


def execute() -> None:
    if not frappe.db.get_single_value("TIP Settings", "referral_follow_up_days"):
        frappe.db.set_single_value("TIP Settings", "referral_follow_up_days", DEFAULT_DAYS)
