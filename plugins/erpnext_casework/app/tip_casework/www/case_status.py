"""The survivor status page (`/case-status`): a form for ticket + PIN; no case data on the page.

Frappe pairs `www/case-status.html` with this module: it turns hyphens in a page name into
underscores to find the Python file (`TemplatePage.set_pymodule`).

The page itself never holds case data: the browser posts ticket and PIN to
`tip_casework.status_page.lookup` (rate limited) and shows the answer. Being a full HTML
document, it needs none of the desk's built assets.
"""

import frappe

no_cache = 1


def get_context(context):
    context.no_cache = 1
    context.title = frappe._("Case status")
    context.status_page_enabled = bool(frappe.db.get_single_value("TIP Settings", "status_page_enabled"))
    return context
