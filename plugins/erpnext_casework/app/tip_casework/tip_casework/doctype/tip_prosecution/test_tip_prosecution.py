# Copyright (c) 2026, tipdata. License: MIT
"""TIP Prosecution: a concluded prosecution cannot still be ongoing."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.tests.factories import make_case

test_ignore = ["User"]


class TestTIPProsecution(FrappeTestCase):
    def test_insert__outcome_must_fit_the_stage(self):
        """should refuse the outcome 'ongoing' at the verdict stage, naming the rule."""
        make_case("pr-case")
        doc = {"doctype": "TIP Prosecution", "external_id": "pr-1", "tip_case": "pr-case",
               "pros_filed_date": "2026-01-15", "pros_defendant_reference": "D-1",
               "pros_charges": [{"option": "tip_forced_labour"}], "pros_stage": "verdict", "pros_outcome": "ongoing"}
        with self.assertRaises(frappe.ValidationError) as raised:
            frappe.get_doc(doc).insert()
        self.assertIn("pros_outcome", str(raised.exception))
