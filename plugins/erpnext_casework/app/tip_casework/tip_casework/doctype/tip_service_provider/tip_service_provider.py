# Copyright (c) 2026, tipdata. License: MIT
"""A provider in the referral directory; vetting is stamped with who and when."""

import frappe
from frappe.model.document import Document
from frappe.utils import getdate


class TIPServiceProvider(Document):
    def validate(self) -> None:
        self.stamp_vetting()

    def stamp_vetting(self) -> None:
        before = self.get_doc_before_save()
        was_vetted = bool(before and before.vetted)
        if self.vetted and not was_vetted:
            self.vetted_on = getdate()
            self.vetted_by = frappe.session.user
        elif not self.vetted:
            self.vetted_on = None
            self.vetted_by = None
