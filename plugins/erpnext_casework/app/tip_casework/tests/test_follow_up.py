"""The daily follow-up check."""

import datetime as dt

import frappe
from frappe.tests.utils import FrappeTestCase

from tip_casework.follow_up import flag_due_follow_ups, is_due, recipients
from tip_casework.tests.factories import make_case, role_user

test_ignore = ["User"]


def follow_up_todos(case_name: str) -> list[frappe._dict]:
    return frappe.get_all(
        "ToDo",
        filters={"reference_type": "TIP Case", "reference_name": case_name},
        fields=["allocated_to", "role", "status"],
    )


class TestFollowUp(FrappeTestCase):
    def test_is_due__after_the_period_unless_planned(self):
        """should be due once the last contact is the period old, unless a contact is planned."""
        today = dt.date(2026, 3, 31)
        self.assertTrue(is_due(dt.date(2026, 3, 1), None, today, 30))
        self.assertFalse(is_due(dt.date(2026, 3, 2), None, today, 30))
        self.assertFalse(is_due(dt.date(2026, 1, 1), dt.date(2026, 4, 2), today, 30))

    def test_recipients__case_worker_then_opener_then_supervisors(self):
        """should tell the case worker responsible, else whoever opened the case, else the supervisors."""
        team = {"ana@x.test": "ana@x.test", "ana": "ana@x.test", "bo@x.test": "bo@x.test"}
        supervisors = ["sup2@x.test", "sup1@x.test"]
        self.assertEqual(recipients(" ANA ", "bo@x.test", team, supervisors), ["ana@x.test"])
        self.assertEqual(recipients("staff-17", "bo@x.test", team, supervisors), ["bo@x.test"])
        self.assertEqual(
            recipients(None, "Administrator", team, supervisors), ["sup1@x.test", "sup2@x.test"]
        )
        self.assertEqual(recipients(None, None, {}, []), [])

    def test_flag_due_follow_ups__flags_once_and_tells_the_case_worker(self):
        """should flag an old case with follow-up consent once, with one ToDo and a notification for
        its case worker, and skip a case without follow-up consent."""
        worker = role_user("TIP Case Worker")
        make_case("fu-due", case_worker=worker)
        make_case("fu-noconsent", consent_follow_up_contact="no")
        today = dt.date(2026, 6, 1)
        flag_due_follow_ups(today)
        self.assertEqual(
            str(frappe.db.get_value("TIP Case", "fu-due", "follow_up_due_since")), "2026-06-01"
        )
        self.assertIsNone(frappe.db.get_value("TIP Case", "fu-noconsent", "follow_up_due_since"))
        flag_due_follow_ups(today)
        self.assertEqual(
            follow_up_todos("fu-due"), [{"allocated_to": worker, "role": None, "status": "Open"}]
        )
        self.assertEqual(follow_up_todos("fu-noconsent"), [])
        notified = frappe.get_all(
            "Notification Log",
            filters={"for_user": worker, "document_type": "TIP Case", "document_name": "fu-due"},
            pluck="type",
        )
        self.assertEqual(notified, ["Assignment"])

    def test_flag_due_follow_ups__supervisors_told_when_no_case_worker_is_known(self):
        """should allocate the ToDo to supervisors (Frappe hides role-only ToDos from case workers)."""
        supervisor = role_user("TIP Supervisor")
        make_case("fu-nobody", case_worker="staff code nobody has")
        flag_due_follow_ups(dt.date(2026, 6, 1))
        todos = follow_up_todos("fu-nobody")
        told = {todo.allocated_to for todo in todos}
        self.assertIn(supervisor, told)
        for user in told:
            self.assertIn("TIP Supervisor", frappe.get_roles(user))
        self.assertEqual({todo.role for todo in todos}, {None})
