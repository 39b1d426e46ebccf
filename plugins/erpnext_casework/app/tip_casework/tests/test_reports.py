"""The three script reports run and count what they should."""

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.tests.factories import make_case

test_ignore = ["User"]


def run(report: str, filters: dict):
    module = frappe.scrub(report)
    execute = frappe.get_attr(f"tip_casework.tip_casework.report.{module}.{module}.execute")
    return execute(filters)


class TestReports(FrappeTestCase):
    def test_victims_identified__by_sex_and_form(self):
        """should count presumed and confirmed victims by sex and by form of exploitation."""
        make_case("rp-1", ident_trafficking_status="presumed", person_sex="male")
        columns, data = run("TIP Victims Identified", {"group_by": "Sex", "from_date": "2000-01-01"})
        self.assertTrue(any(row["code"] == "male" and row["cases"] >= 1 for row in data))
        columns, data = run("TIP Victims Identified", {"group_by": "Form of exploitation"})
        self.assertTrue(any(row["code"] == "forced_labour" for row in data))

    def test_time_to_first_service__days_from_identification(self):
        """should give the days from identification to the first service record."""
        make_case("rp-2")
        frappe.get_doc({"doctype": "TIP Service", "external_id": "rp-2-s1", "tip_case": "rp-2",
                        "svc_case_reference": "REF-rp-2", "svc_date": "2026-01-19", "svc_record_kind": "service",
                        "svc_received": [{"option": "medical_care"}], "svc_plan_recorded": "no"}).insert()
        columns, data, _, _, summary = run("TIP Time to First Service", {})
        row = next(r for r in data if r["case"] == "rp-2")
        self.assertEqual(row["days"], 10)

    def test_referrals_by_status__runs(self):
        """should return a status column and counts."""
        columns, data = run("TIP Referrals by Status", {})
        self.assertEqual(columns[0]["fieldname"], "status")
