# Copyright (c) 2026, tipdata. License: MIT
"""TIP Outcome Assessment: domain count, total and average computed on save."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.tests.factories import make_case

test_ignore = ["User"]


class TestTIPOutcomeAssessment(FrappeTestCase):
    def test_insert__computes_scores(self):
        """should count rated domains and average their ratings."""
        make_case("oa-case")
        doc = frappe.get_doc({"doctype": "TIP Outcome Assessment", "external_id": "oa-1", "tip_case": "oa-case",
                              "out_assessment_date": "2026-02-01", "out_assessment_type": "baseline",
                              "out_assessment_number": 1, "out_completed_by": "worker_alone",
                              "out_safety": "2", "out_housing": "3", "out_documents": "declined"}).insert()
        self.assertEqual(doc.out_domains_rated, "2")
        self.assertEqual(doc.out_rating_total, "5")
        self.assertEqual(doc.out_average_score, "2.5")
