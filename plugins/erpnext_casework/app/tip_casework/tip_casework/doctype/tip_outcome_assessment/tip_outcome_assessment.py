# Copyright (c) 2026, tipdata. License: MIT
"""An outcome assessment; scores are computed from the codebook's rules."""

from frappe.model.document import Document

from tip_casework.rules_enforcement import enforce_rules


class TIPOutcomeAssessment(Document):
    def validate(self) -> None:
        enforce_rules(self)
