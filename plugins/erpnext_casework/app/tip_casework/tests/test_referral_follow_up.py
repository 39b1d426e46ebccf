"""The daily referral check: open referrals whose status has not changed for N days."""

import datetime as dt

import frappe
from frappe.tests.utils import FrappeTestCase
from frappe.utils import getdate

from tip_casework.referral_follow_up import (
    flag_quiet_referrals,
    is_quiet,
    last_status_change,
)
from tip_casework.tests.factories import make_case, role_user

test_ignore = ["User"]
REFERRAL = "TIP Referral"


def make_referral(name: str, case: str, **values):
    doc = {
        "doctype": REFERRAL,
        "external_id": name,
        "tip_case": case,
        "ref_date": "2026-01-11",
        "ref_consent_share": "yes",
        "ref_service_type": [{"option": "medical_care"}],
        "ref_org_type": "ngo",
        "ref_org_name": "Clinic",
        "ref_reason": "additional_services",
        "ref_urgency": "routine",
        "ref_status": "made",
        "ref_status_date": "2026-01-11",
    }
    doc.update(values)
    return frappe.get_doc(doc).insert()


def referral_todos(name: str) -> list[frappe._dict]:
    return frappe.get_all(
        "ToDo",
        filters={"reference_type": REFERRAL, "reference_name": name},
        fields=["allocated_to", "role", "status"],
        order_by="creation asc",
    )


def due_since(name: str) -> str | None:
    value = frappe.db.get_value(REFERRAL, name, "follow_up_due_since")
    return value and str(value)


def days_from_now(days: int) -> dt.date:
    return getdate() + dt.timedelta(days=days)


class TestReferralFollowUp(FrappeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.worker = role_user("TIP Case Worker")
        make_case("rfu-case", case_worker=cls.worker)
        settings = frappe.get_single("TIP Settings")
        settings.referral_follow_up_days = 14
        settings.follow_up_enabled = 1
        settings.save(ignore_permissions=True)

    def test_is_quiet__open_status_unchanged_for_the_period(self):
        """should be due once an open status is the period old, never for a final status."""
        today = dt.date(2026, 3, 31)
        self.assertTrue(is_quiet("made", dt.date(2026, 3, 17), today, 14))
        self.assertFalse(is_quiet("made", dt.date(2026, 3, 18), today, 14))
        self.assertTrue(is_quiet("in_progress", dt.date(2026, 1, 1), today, 14))
        for final in (
            "completed",
            "declined_by_provider",
            "declined_by_person",
            "closed_no_service",
        ):
            self.assertFalse(is_quiet(final, dt.date(2026, 1, 1), today, 14), final)
        self.assertFalse(is_quiet("made", None, today, 14))

    def test_last_status_change__stamp_then_status_date_then_creation(self):
        """should count from the controller's stamp, else the recorded status date, else creation."""
        self.assertEqual(
            last_status_change("2026-03-02 10:00:00", "2026-01-01", "2025-12-01 08:00:00"),
            dt.date(2026, 3, 2),
        )
        self.assertEqual(last_status_change(None, "2026-01-01", "2025-12-01"), dt.date(2026, 1, 1))
        self.assertEqual(
            last_status_change(None, None, "2025-12-01 08:00:00"), dt.date(2025, 12, 1)
        )

    def test_insert__stamps_the_status_change_and_ignores_a_sent_stamp(self):
        """should stamp a new referral and a new status, and keep the stamp when a client sends one."""
        doc = make_referral(
            "rfu-stamp",
            "rfu-case",
            status_changed_on="2020-01-01 00:00:00",
            follow_up_due_since="2020-01-01",
        )
        self.assertEqual(getdate(doc.status_changed_on), getdate())
        self.assertIsNone(doc.follow_up_due_since)
        frappe.db.set_value(REFERRAL, doc.name, "status_changed_on", "2026-01-01 09:00:00")
        doc.reload()
        doc.status_changed_on = "2020-01-01 00:00:00"
        doc.ref_outcome_notes = "an unrelated edit"
        doc.save()
        self.assertEqual(str(doc.status_changed_on), "2026-01-01 09:00:00")
        doc.ref_status = "accepted"
        doc.save()
        self.assertEqual(getdate(doc.status_changed_on), getdate())

    def test_flag_quiet_referrals__quiet_referral_flagged_once_for_the_case_worker(self):
        """should flag an open referral whose status is the period old, with one ToDo and one
        notification for the case's worker, and not again on the next run."""
        make_referral("rfu-quiet", "rfu-case")
        today = days_from_now(14)
        first = flag_quiet_referrals(today)
        self.assertEqual(due_since("rfu-quiet"), str(today))
        self.assertGreaterEqual(first["flagged"], 1)
        flag_quiet_referrals(today)
        flag_quiet_referrals(today + dt.timedelta(days=1))
        self.assertEqual(
            referral_todos("rfu-quiet"),
            [{"allocated_to": self.worker, "role": None, "status": "Open"}],
        )
        self.assertEqual(due_since("rfu-quiet"), str(today))
        notified = frappe.get_all(
            "Notification Log",
            filters={
                "for_user": self.worker,
                "document_type": REFERRAL,
                "document_name": "rfu-quiet",
            },
            pluck="type",
        )
        self.assertEqual(notified, ["Assignment"])
        self.assertFalse(
            frappe.db.exists("DocShare", {"share_doctype": REFERRAL, "share_name": "rfu-quiet"})
        )

    def test_flag_quiet_referrals__recent_status_change_is_not_flagged(self):
        """should leave a referral whose status changed within the period."""
        make_referral("rfu-recent", "rfu-case")
        flag_quiet_referrals(days_from_now(13))
        self.assertIsNone(due_since("rfu-recent"))
        self.assertEqual(referral_todos("rfu-recent"), [])

    def test_flag_quiet_referrals__final_status_is_not_flagged(self):
        """should never flag a referral whose status is final, however old."""
        make_referral("rfu-done", "rfu-case", ref_status="declined_by_person")
        flag_quiet_referrals(days_from_now(400))
        self.assertIsNone(due_since("rfu-done"))
        self.assertEqual(referral_todos("rfu-done"), [])

    def test_status_change__clears_the_flag_and_closes_its_todo(self):
        """should clear the flag and close the follow-up ToDo once the status moves on, and count
        the period again from that change."""
        doc = make_referral("rfu-moves", "rfu-case")
        flag_quiet_referrals(days_from_now(20))
        self.assertIsNotNone(due_since("rfu-moves"))
        doc.reload()
        doc.ref_status = "accepted"
        doc.save()
        self.assertIsNone(due_since("rfu-moves"))
        self.assertEqual([todo.status for todo in referral_todos("rfu-moves")], ["Closed"])
        flag_quiet_referrals(days_from_now(10))
        self.assertIsNone(due_since("rfu-moves"))

    def test_flag_quiet_referrals__longer_period_clears_a_flag(self):
        """should clear a flag that is no longer due (the period was lengthened) and close its ToDo."""
        make_referral("rfu-period", "rfu-case")
        flag_quiet_referrals(days_from_now(15))
        self.assertIsNotNone(due_since("rfu-period"))
        frappe.db.set_single_value("TIP Settings", "referral_follow_up_days", 30)
        try:
            counts = flag_quiet_referrals(days_from_now(15))
        finally:
            frappe.db.set_single_value("TIP Settings", "referral_follow_up_days", 14)
        self.assertGreaterEqual(counts["cleared"], 1)
        self.assertIsNone(due_since("rfu-period"))
        self.assertEqual([todo.status for todo in referral_todos("rfu-period")], ["Closed"])

    def test_flag_quiet_referrals__gated_user_named_as_worker_is_not_told(self):
        """should not tell a law-enforcement liaison named as case worker on a case whose consent
        does not cover law enforcement (they cannot read the referral); the supervisors are told."""
        liaison = role_user("TIP Law Enforcement Liaison")
        supervisor = role_user("TIP Supervisor")
        make_case("rfu-gated", case_worker=liaison, consent_law_enforcement="no")
        make_referral("rfu-gated-r", "rfu-gated")
        self.assertFalse(frappe.has_permission(REFERRAL, "read", doc="rfu-gated-r", user=liaison))
        flag_quiet_referrals(days_from_now(14))
        told = {todo.allocated_to for todo in referral_todos("rfu-gated-r")}
        self.assertNotIn(liaison, told)
        self.assertIn(supervisor, told)
        self.assertFalse(
            frappe.get_all(
                "Notification Log", filters={"for_user": liaison, "document_name": "rfu-gated-r"}
            )
        )
