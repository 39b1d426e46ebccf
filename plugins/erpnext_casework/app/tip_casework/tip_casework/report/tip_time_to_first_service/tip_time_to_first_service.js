frappe.query_reports["TIP Time to First Service"] = {
	filters: [
		{ fieldname: "from_date", label: __("Identified from"), fieldtype: "Date" },
		{ fieldname: "to_date", label: __("Identified to"), fieldtype: "Date" },
	],
};
