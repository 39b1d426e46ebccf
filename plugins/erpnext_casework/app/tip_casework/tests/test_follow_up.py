"""The daily follow-up check."""

import datetime as dt

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.follow_up import flag_due_follow_ups, is_due
from tip_casework.tests.factories import make_case

test_ignore = ["User"]


class TestFollowUp(FrappeTestCase):
    def test_is_due__after_the_period_unless_planned(self):
        """should be due once the last contact is the period old, unless a contact is planned."""
        today = dt.date(2026, 3, 31)
        self.assertTrue(is_due(dt.date(2026, 3, 1), None, today, 30))
        self.assertFalse(is_due(dt.date(2026, 3, 2), None, today, 30))
        self.assertFalse(is_due(dt.date(2026, 1, 1), dt.date(2026, 4, 2), today, 30))

    def test_flag_due_follow_ups__flags_and_creates_one_todo(self):
        """should flag an old case with follow-up consent once, with one ToDo, and skip others."""
        make_case("fu-due")
        make_case("fu-noconsent", consent_follow_up_contact="no")
        today = dt.date(2026, 6, 1)
        flag_due_follow_ups(today)
        self.assertEqual(str(frappe.db.get_value("TIP Case", "fu-due", "follow_up_due_since")), "2026-06-01")
        self.assertIsNone(frappe.db.get_value("TIP Case", "fu-noconsent", "follow_up_due_since"))
        flag_due_follow_ups(today)
        todos = frappe.get_all("ToDo", filters={"reference_type": "TIP Case", "reference_name": "fu-due"})
        self.assertEqual(len(todos), 1)
