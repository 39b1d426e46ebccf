// Re-run a form's depends_on rules when a row of an option child table changes.
//
// Why: select_multiple answers are child-table rows `{option: code}` (`TIP <List> Option`), and
// parent fields depend on them (e.g. `case_risk_factors_other` shows once a risk factor row is
// "other"). Frappe 15's form re-evaluates `depends_on` / `mandatory_depends_on` when a field of
// the parent document changes, not when a child row is added, removed or edited, so without this
// the "please specify" question never appears while a case worker ticks "other".
//
// Wired through `doctype_js` in hooks.py for every desk form of the app: Frappe serves it inside
// the DocType's meta (`__js`) and evaluates it when the first form of that DocType is set up, after
// the DocType and its child tables are in `locals.DocType`. The script reads the option tables
// from those metas (no DocType name is written here), so an option table added to the codebook is
// covered without touching this file. Handlers are registered once per child DocType and table.
(() => {
	const registered = (frappe._tip_option_table_handlers =
		frappe._tip_option_table_handlers || new Set());

	const refresh_rules = (frm) => {
		if (frm && frm.layout) frm.layout.refresh_dependency();
	};

	// An option child table holds exactly one field: the `option` Select.
	const is_option_table = (meta) =>
		!!meta &&
		meta.istable === 1 &&
		(meta.fields || []).length === 1 &&
		meta.fields[0].fieldname === "option" &&
		meta.fields[0].fieldtype === "Select";

	const register = (key, child_doctype, events) => {
		if (registered.has(key)) return;
		registered.add(key);
		frappe.ui.form.on(child_doctype, events);
	};

	for (const meta of Object.values(locals.DocType || {})) {
		if (meta.istable) continue;
		for (const df of meta.fields || []) {
			if (df.fieldtype !== "Table" || !is_option_table(locals.DocType[df.options])) continue;
			const child = df.options;
			// the row's value changed (grid cell or row form)
			register(`${child}:option`, child, { option: refresh_rules });
			// a row added or removed (one row, or "Delete" / "Delete All" on selected rows)
			register(`${child}:${df.fieldname}`, child, {
				[`${df.fieldname}_add`]: refresh_rules,
				[`${df.fieldname}_remove`]: refresh_rules,
				[`${df.fieldname}_delete`]: refresh_rules,
			});
		}
	}
})();
