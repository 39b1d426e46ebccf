# Copyright (c) 2026, tipdata. License: MIT
"""The pseudonymous case: intake stage, status workflow, the codebook's rules, consent coverage."""

import frappe
from frappe import _
from frappe.model.document import Document

from tip_casework.case_status import apply_status_rules
from tip_casework.consent_rules import coverage
from tip_casework.rules_enforcement import enforce_rules, load_rules


class TIPCase(Document):
    def validate(self) -> None:
        self.check_intake_stage()
        apply_status_rules(self)
        enforce_rules(self)
        self.update_consent_coverage()

    def update_consent_coverage(self) -> None:
        """Keep `consent_covers_<purpose>` current: lists and permission hooks filter on them."""
        values = {
            "consent_data_recording": self.get("consent_data_recording"),
            "consent_withdrawn": self.get("consent_withdrawn"),
            "consent_withdrawn_purposes": [row.option for row in self.get("consent_withdrawn_purposes") or []],
        }
        purposes = load_rules()["consent_purposes"]
        values.update({f"consent_{purpose}": self.get(f"consent_{purpose}") for purpose in purposes})
        for purpose, covered in coverage(values, purposes).items():
            self.set(f"consent_covers_{purpose}", 1 if covered else 0)

    def check_intake_stage(self) -> None:
        """A case may await its intake only from its creation (a case opened from a screening):
        ticking the box again on a recorded intake would lift the intake's required fields."""
        if self.is_new() or not self.get("intake_pending"):
            return
        before = self.get_doc_before_save()
        if before is not None and not before.get("intake_pending"):
            frappe.throw(
                _("A case whose intake is recorded cannot return to awaiting intake (intake_pending)."),
                frappe.ValidationError,
                title=_("Intake stage"),
            )
