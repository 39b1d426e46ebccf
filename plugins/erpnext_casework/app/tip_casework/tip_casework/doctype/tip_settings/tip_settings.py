# Copyright (c) 2026, tipdata. License: MIT
"""Settings of the casework app (follow-up period, status page)."""

from frappe.model.document import Document


class TIPSettings(Document):
    pass
