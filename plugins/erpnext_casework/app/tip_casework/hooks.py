"""Wiring only: every behaviour lives in a named module of the app."""

app_name = "tip_casework"
app_title = "TIP Casework"
app_publisher = "tipdata"
app_description = "Trafficking-in-persons casework generated from the tipdata codebook"
app_email = "tipdata@example.org"
app_license = "mit"

# Roles with desk access; DocType permissions name them (all flags written in the JSON).
fixtures = [
    {"dt": "Role", "filters": [["role_name", "like", "TIP %"]]},
]

_RECORD_DOCTYPES = (
    "TIP Case",
    "TIP Identity",
    "TIP Restricted Detail",
    "TIP Screening",
    "TIP Referral",
    "TIP Service",
    "TIP Outcome Assessment",
    "TIP Investigation",
    "TIP Prosecution",
)

# Desk forms re-run their depends_on rules when an option child table row changes (Frappe 15
# only does so for the parent's own fields), and Selects whose option codes clash inside their
# DocType get a per-field translation context. Served inside each DocType's meta: no asset build.
doctype_js = {
    doctype: ["public/js/option_tables.js", "public/js/select_labels.js"]
    for doctype in (*_RECORD_DOCTYPES, "TIP Service Provider")
}

# Consent gating per record for the Law Enforcement Liaison and Data Analyst roles.
permission_query_conditions = {
    doctype: "tip_casework.record_access.query_conditions" for doctype in _RECORD_DOCTYPES
}
has_permission = {
    doctype: "tip_casework.record_access.has_record_permission" for doctype in _RECORD_DOCTYPES
}

# Closes Frappe 15's permlevel leaks (filters on hidden fields; the PUT response body).
after_request = ["tip_casework.response_guard.guard_response"]

scheduler_events = {
    "daily": [
        "tip_casework.follow_up.flag_due_follow_ups",
        "tip_casework.referral_follow_up.flag_quiet_referrals",
    ],
}

after_install = "tip_casework.install.after_install"
