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
(() => {
	const messages = frappe._messages || {};
	for (const meta of Object.values(locals.DocType || {})) {
		for (const df of meta.fields || []) {
			if (df.fieldtype !== "Select" || df.context || !df.options) continue;
			const context = `${meta.name}.${df.fieldname}`;
			const codes = df.options.split("\n").filter(Boolean);
			if (codes.some((code) => `${code}:${context}` in messages)) df.context = context;
		}
	}
})();
