# Copyright (c) 2026, tipdata. License: MIT
"""TIP Identity: direct identifiers, never for analysts; rules read the linked case."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.tests.factories import make_case, role_user

test_ignore = ["User"]


class TestTIPIdentity(FrappeTestCase):
    def test_permissions__analyst_cannot_read_identity(self):
        """should deny the Data Analyst any read of TIP Identity."""
        make_case("ti-case")
        doc = frappe.get_doc({"doctype": "TIP Identity", "external_id": "ti-case", "tip_case": "ti-case",
                              "person_given_names": "Test"}).insert()
        self.assertFalse(frappe.has_permission("TIP Identity", "read", doc, user=role_user("TIP Data Analyst")))
        self.assertTrue(frappe.has_permission("TIP Identity", "read", doc, user=role_user("TIP Law Enforcement Liaison")))

    def test_insert__document_number_needs_a_document_type_on_the_case(self):
        """should clear the document number while the case records no document type."""
        make_case("ti-nodoc")
        doc = frappe.get_doc({"doctype": "TIP Identity", "external_id": "ti-nodoc", "tip_case": "ti-nodoc",
                              "person_id_document_number": "X123"}).insert()
        self.assertFalse(doc.person_id_document_number)
        make_case("ti-doc", person_id_document_type="passport")
        doc = frappe.get_doc({"doctype": "TIP Identity", "external_id": "ti-doc", "tip_case": "ti-doc",
                              "person_id_document_number": "X123"}).insert()
        self.assertEqual(doc.person_id_document_number, "X123")
