"""Install steps that are not DocTypes or fixtures."""

import frappe


def after_install() -> None:
    """Store the TIP Settings defaults, so the scheduler and the status page read real values."""
    settings = frappe.get_single("TIP Settings")
    settings.save(ignore_permissions=True)
