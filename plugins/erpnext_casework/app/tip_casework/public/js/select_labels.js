// Give each Select field whose option codes clash inside its DocType its own translation context.
//
// Why: the desk shows a Select option as `__(code, null, df.context || df.parent || doctype)`
// (Frappe 15, `controls/select.js`), so by default one DocType has one label per code. Two option
// lists on TIP Case word `unknown` differently ("Not known", "Age not known"); one row
// `unknown,<label>,TIP Case` in `translations/<lang>.csv` cannot serve both. The generator
// (`translations.py`) writes rows `code,label,<DocType>.<fieldname>` for every option of such
// fields; this script sets `df.context` to `<DocType>.<fieldname>` on exactly the Select fields that
// have a row under that context in the loaded messages, so every other field keeps the DocType
// context. Served through `doctype_js` inside the meta (evaluated before the form's fields are
// made), it reads the DocTypes in `locals.DocType`, child tables included; no name is written here.
// The form's controls read per-document copies of the fields (`frappe.meta.docfield_copy`), and a
// new document's copies exist before this script runs (a real desk showed the context missing),
// so the copies made so far get the context too; later copies are taken from the meta fields.
(() => {
	const messages = frappe._messages || {};
	const copies = frappe.meta.docfield_copy || {};
	for (const meta of Object.values(locals.DocType || {})) {
		for (const df of meta.fields || []) {
			if (df.fieldtype !== "Select" || df.context || !df.options) continue;
			const context = `${meta.name}.${df.fieldname}`;
			const codes = df.options.split("\n").filter(Boolean);
			if (!codes.some((code) => `${code}:${context}` in messages)) continue;
			df.context = context;
			for (const fields of Object.values(copies[meta.name] || {})) {
				if (fields[df.fieldname]) fields[df.fieldname].context = context;
			}
		}
	}
})();
