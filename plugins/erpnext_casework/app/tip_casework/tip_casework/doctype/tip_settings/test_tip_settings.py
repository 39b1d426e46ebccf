# Copyright (c) 2026, tipdata. License: MIT
"""TIP Settings: defaults stored at install."""

import frappe
from frappe.tests.utils import FrappeTestCase


class TestTIPSettings(FrappeTestCase):
    def test_defaults__follow_up_period_and_status_page(self):
        """should hold a follow-up period and the status page switch."""
        settings = frappe.get_single("TIP Settings")
        self.assertGreater(settings.follow_up_days, 0)
        self.assertGreater(settings.referral_follow_up_days, 0)
        self.assertIn(settings.status_page_enabled, (0, 1))
