# Copyright (c) 2026, tipdata. License: MIT
"""TIP Screening: indicators computed on save; relevance read from the linked case."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.tests.factories import make_case

test_ignore = ["User"]


def screening(name: str, case: str, **values):
    doc = {"doctype": "TIP Screening", "external_id": name, "tip_case": case, "screening_date": "2026-01-09"}
    doc.update(values)
    return frappe.get_doc(doc).insert()


class TestTIPScreening(FrappeTestCase):
    def test_insert__computes_the_palermo_indicators(self):
        """should compute act, purpose and the screening result from the answers."""
        make_case("ts-case")
        doc = screening("ts-1", "ts-case", scr_act_recruited="yes", scr_purpose_forced_work="yes",
                        scr_means_debt="yes", screening_referral_offered="yes")
        self.assertEqual(doc.palermo_act_indicated, 1)
        self.assertEqual(doc.palermo_elements_met, 1)
        self.assertEqual(doc.screening_result, "likely")
        self.assertEqual(doc.screening_elements_count, "3")

    def test_insert__results_do_not_apply_without_screening_consent(self):
        """should leave the results empty when the case records no consent to screening."""
        make_case("ts-noconsent", consent_screening="no")
        doc = screening("ts-2", "ts-noconsent", scr_act_recruited="yes", scr_purpose_forced_work="yes")
        self.assertFalse(doc.screening_result)
        self.assertEqual(doc.palermo_act_indicated, 0)
