frappe.query_reports["TIP Referrals by Status"] = {
	filters: [
		{ fieldname: "from_date", label: __("Referred from"), fieldtype: "Date" },
		{ fieldname: "to_date", label: __("Referred to"), fieldtype: "Date" },
	],
};
