# Copyright (c) 2026, tipdata. License: MIT
"""A referral; the codebook's rules (dates, required details, days to service) run on every save,
and a change of status is stamped for the daily referral check (`referral_follow_up.py`)."""

from frappe.model.document import Document

from tip_casework.referral_follow_up import settle_follow_up, stamp_status_change
from tip_casework.rules_enforcement import enforce_rules


class TIPReferral(Document):
    def validate(self) -> None:
        enforce_rules(self)
        stamp_status_change(self)

    def on_update(self) -> None:
        settle_follow_up(self)
