"""Status page credentials: hashed PIN, same answer for a wrong ticket or PIN, no personal data."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.status_page import issue_status_credentials, lookup, public_status
from tip_casework.tests.factories import make_case

test_ignore = ["User"]


class TestStatusPage(FrappeTestCase):
    def test_credentials__pin_stored_only_as_a_hash(self):
        """should keep the PIN out of the case and store a passlib hash in __Auth."""
        make_case("sp-case")
        credentials = issue_status_credentials("sp-case")
        stored = frappe.db.sql(
            "select password from `__Auth` where doctype='TIP Case' and name='sp-case' and fieldname='status_pin'")
        self.assertEqual(len(stored), 1)
        self.assertNotIn(credentials["pin"], stored[0][0])
        self.assertTrue(stored[0][0].startswith("$"))
        case = frappe.get_doc("TIP Case", "sp-case").as_dict()
        self.assertNotIn(credentials["pin"], frappe.as_json(case))

    def test_lookup__wrong_pin_and_wrong_ticket_answer_alike(self):
        """should refuse a wrong PIN and an unknown ticket with the same error."""
        make_case("sp-wrong")
        credentials = issue_status_credentials("sp-wrong")
        messages = []
        for ticket, pin in ((credentials["ticket"], "00000000x"), ("NOPE-NOPE-NOPE", credentials["pin"])):
            with self.assertRaises(frappe.AuthenticationError):
                lookup(ticket, pin)
            last = frappe.message_log[-1] if frappe.message_log else {}
            messages.append(frappe.parse_json(last).get("message") if last else None)
        self.assertEqual(messages[0], messages[1])

    def test_public_status__holds_no_personal_data(self):
        """should answer with the stage, referral progress and next contact only."""
        make_case("sp-public")
        status = public_status("sp-public")
        self.assertEqual(set(status), {"stage", "referrals", "next_contact"})
        self.assertNotIn("sp-public", frappe.as_json(status))
