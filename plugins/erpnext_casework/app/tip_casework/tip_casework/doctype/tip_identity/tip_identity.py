# Copyright (c) 2026, tipdata. License: MIT
"""Direct identifiers of a case's person; the codebook's rules run on every save."""

from frappe.model.document import Document

from tip_casework.rules_enforcement import enforce_rules


class TIPIdentity(Document):
    def validate(self) -> None:
        enforce_rules(self)
