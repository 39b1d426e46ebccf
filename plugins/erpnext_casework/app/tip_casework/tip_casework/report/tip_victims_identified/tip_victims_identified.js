frappe.query_reports["TIP Victims Identified"] = {
	filters: [
		{ fieldname: "group_by", label: __("Group by"), fieldtype: "Select", options: "Sex\nAge band\nForm of exploitation", default: "Sex" },
		{ fieldname: "from_date", label: __("Identified from"), fieldtype: "Date" },
		{ fieldname: "to_date", label: __("Identified to"), fieldtype: "Date" },
		{ fieldname: "include_potential", label: __("Include potential victims"), fieldtype: "Check" },
	],
};
