# Copyright (c) 2026, tipdata. License: MIT
"""A screening; indicators and the screening result are computed from the codebook's rules."""

from frappe.model.document import Document

from tip_casework.rules_enforcement import enforce_rules


class TIPScreening(Document):
    def validate(self) -> None:
        enforce_rules(self)
