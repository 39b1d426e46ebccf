# Copyright (c) 2026, tipdata. License: MIT
"""A referral; the codebook's rules (dates, required details, days to service) run on every save."""

from frappe.model.document import Document

from tip_casework.rules_enforcement import enforce_rules


class TIPReferral(Document):
    def validate(self) -> None:
        enforce_rules(self)
