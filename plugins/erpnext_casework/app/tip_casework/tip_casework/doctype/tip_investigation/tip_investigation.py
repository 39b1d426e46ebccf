# Copyright (c) 2026, tipdata. License: MIT
"""An investigation; the codebook's rules run on every save."""

from frappe.model.document import Document

from tip_casework.rules_enforcement import enforce_rules


class TIPInvestigation(Document):
    def validate(self) -> None:
        enforce_rules(self)
