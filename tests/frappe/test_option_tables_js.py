"""The desk script that re-runs a form's depends_on rules when an option child table row changes.

Frappe 15 re-evaluates `depends_on` / `mandatory_depends_on` when a parent field changes, not
when a row of a child table is added, removed or edited; a parent field shown by a ticked option
(`case_risk_factors_other` once a risk factor is "other") then never appears. The app wires
`public/js/option_tables.js` through `doctype_js`; these tests check the wiring from the generated
DocTypes and run the script in Node against them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tipdata.codebook import load_codebook
from tipdata.erpnext_casework.doctypes import build_doctypes

from .test_rule_runtime import APP, load_app_module

hooks = load_app_module("hooks")
SCRIPT = "public/js/option_tables.js"
RULE_KEYS = ("depends_on", "mandatory_depends_on", "read_only_depends_on")

# Frappe's side, reduced to what the script touches: `frappe.ui.form.on` keeps handlers per
# DocType and event; `frm.script_manager.trigger(event, cdt, cdn)` calls them with the parent
# form; the ScriptManager evaluates a DocType's `__js` with `new Function(js)()` when the first
# form of that DocType is set up, after the DocType and its child tables are in `locals.DocType`.
# The layout keeps what `refresh_dependency()` last computed, as the desk shows it.
NODE_HARNESS = r"""
const fs = require("fs");
const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const handlers = {};
global.frappe = {
  datetime: { get_today: () => "2026-01-15" },
  ui: { form: { on(doctype, events) {
    for (const [event, fn] of Object.entries(events)) {
      ((handlers[doctype] ||= {})[event] ||= []).push(fn);
    }
  } } },
};
global.locals = { DocType: {} };
const registrations = () => Object.values(handlers)
  .reduce((n, events) => n + Object.values(events).reduce((m, list) => m + list.length, 0), 0);

const evaluate = (expression, doc) => {
  if (!expression) return null;
  if (expression.startsWith("eval:")) {
    return Boolean(new Function("doc", "frappe", "return (" + expression.slice(5) + ");")(doc, frappe));
  }
  return Boolean(doc[expression]);
};

const report = { registrations_per_open: [], mismatches: [], flips: {}, checked: 0 };
for (const parent of input.opening_order) {
  // the form of `parent` opens: its meta and its child tables' metas arrive, then its __js runs
  const meta = input.doctypes[parent];
  locals.DocType[parent] = meta;
  for (const df of meta.fields) if (df.fieldtype === "Table") locals.DocType[df.options] = input.doctypes[df.options];
  const before = registrations();
  new Function(input.script)();
  new Function(input.script)();  // a second evaluation must not add handlers twice
  report.registrations_per_open.push([parent, registrations() - before]);
}

for (const [parent, tables] of Object.entries(input.dependent)) {
  const meta = input.doctypes[parent];
  const watched = meta.fields.filter((df) => tables.some((t) => input.reads[parent][df.fieldname]?.includes(t)));
  const frm = {
    doc: {},
    layout: {
      state: {},
      refresh_dependency() {
        for (const df of watched) this.state[df.fieldname] = current(df);
      },
    },
  };
  const current = (df) => JSON.stringify([evaluate(df.depends_on, frm.doc), evaluate(df.mandatory_depends_on, frm.doc)]);
  const trigger = (event, cdt, cdn) => (handlers[cdt]?.[event] || []).forEach((fn) => fn(frm, cdt, cdn));
  const stale = (step) => {
    report.checked += 1;
    for (const df of watched) {
      if (frm.layout.state[df.fieldname] !== current(df)) report.mismatches.push([parent, df.fieldname, step]);
    }
  };
  for (const table of tables) {
    const child = meta.fields.find((df) => df.fieldname === table).options;
    const codes = input.doctypes[child].fields[0].options.split("\n").filter(Boolean);
    for (const code of codes) {
      frm.doc = { [table]: [] };
      frm.layout.refresh_dependency();
      const shown_before = Object.fromEntries(watched.map((df) => [df.fieldname, frm.layout.state[df.fieldname]]));
      const row = { doctype: child, name: "row-1", option: "" };
      frm.doc[table].push(row);
      trigger(`${table}_add`, child, row.name);
      stale(`${table}: add row`);
      row.option = code;
      trigger("option", child, row.name);
      stale(`${table}: option=${code}`);
      for (const df of watched) {
        if (frm.layout.state[df.fieldname] !== shown_before[df.fieldname]) {
          (report.flips[`${parent}.${df.fieldname}`] ||= []).push(code);
        }
      }
      row.option = codes.find((c) => c !== code) || "";
      trigger("option", child, row.name);
      stale(`${table}: option ${code} -> ${row.option}`);
      row.option = code;
      trigger("option", child, row.name);
      frm.doc[table] = [];
      trigger(`${table}_remove`, child, row.name);
      stale(`${table}: remove row ${code}`);
      frm.doc[table].push(row);
      trigger("option", child, row.name);
      frm.doc[table] = [];
      trigger(`${table}_delete`, child);
      stale(`${table}: delete all rows (${code})`);
    }
  }
}
process.stdout.write(JSON.stringify(report));
"""


@pytest.fixture(scope="module")
def doctypes() -> dict[str, dict]:
    return build_doctypes(load_codebook()).doctypes


def is_option_table(doctype: dict | None) -> bool:
    """The shape `doctypes.option_child` writes: a child DocType with one `option` Select."""
    return bool(
        doctype
        and doctype.get("istable")
        and [(f["fieldname"], f["fieldtype"]) for f in doctype["fields"]] == [("option", "Select")]
    )


def option_tables(doctypes: dict[str, dict], parent: str) -> list[str]:
    """Table fields of `parent` whose child DocType is an option table."""
    return [
        f["fieldname"]
        for f in doctypes[parent]["fields"]
        if f["fieldtype"] == "Table" and is_option_table(doctypes.get(f["options"]))
    ]


def forms_with_option_tables(doctypes: dict[str, dict]) -> list[str]:
    """Every non-child DocType holding at least one option table."""
    return sorted(
        n for n, d in doctypes.items() if not d.get("istable") and option_tables(doctypes, n)
    )


def rule_reads(doctype: dict) -> dict[str, list[str]]:
    """fieldname -> the `doc.<field>` names its depends_on rules read."""
    reads = {}
    for field in doctype["fields"]:
        text = " ".join(field.get(key) or "" for key in RULE_KEYS)
        names = sorted(set(re.findall(r"\bdoc\.([a-z_][a-z0-9_]*)", text)))
        if names:
            reads[field["fieldname"]] = names
    return reads


def dependent_tables(doctypes: dict[str, dict]) -> dict[str, list[str]]:
    """parent DocType -> its option tables that a rule of the parent reads."""
    found = {}
    for name, doctype in doctypes.items():
        if doctype.get("istable"):
            continue
        read = {n for names in rule_reads(doctype).values() for n in names}
        tables = [t for t in option_tables(doctypes, name) if t in read]
        if tables:
            found[name] = tables
    return found


def test_dependent_tables__finds_the_risk_factor_rule(doctypes):
    """should see that TIP Case's case_risk_factors_other reads the risk-factor option table."""
    assert "case_risk_factors" in dependent_tables(doctypes)["TIP Case"]
    assert rule_reads(doctypes["TIP Case"])["case_risk_factors_other"] == ["case_risk_factors"]


def test_doctype_js__wires_every_form_with_an_option_table(doctypes):
    """should load option_tables.js on every DocType that holds an option child table."""
    with_tables = forms_with_option_tables(doctypes)
    assert with_tables, "the codebook should give some DocType an option table"
    missing = [name for name in with_tables if SCRIPT not in _as_list(hooks.doctype_js.get(name))]
    assert missing == []


def test_doctype_js__every_wired_script_exists_and_forms_are_app_doctypes(doctypes):
    """should name existing files of the app, for DocTypes the app generates."""
    for doctype, scripts in hooks.doctype_js.items():
        assert doctype in doctypes, doctype
        for script in _as_list(scripts):
            assert (APP / script).is_file(), script


def test_option_tables_js__never_calls_a_doctype_by_name():
    """should read the option tables from the metas, so a new option list needs no edit here."""
    text = (APP / SCRIPT).read_text()
    assert re.search(r"['\"`]TIP [A-Z]", text) is None


@pytest.mark.skipif(shutil.which("node") is None, reason="Node is needed to run the desk script")
def test_option_tables_js__rules_are_never_stale_after_a_row_changes(doctypes, tmp_path):
    """should leave every rule reading an option table as a fresh evaluation would, after each
    row added, edited, removed or deleted, on every generated DocType and every option code."""
    dependent = dependent_tables(doctypes)
    parents = forms_with_option_tables(doctypes)
    payload = {
        "script": (APP / SCRIPT).read_text(),
        "doctypes": doctypes,
        "opening_order": parents,
        "dependent": dependent,
        "reads": {name: rule_reads(doctypes[name]) for name in dependent},
    }
    path = tmp_path / "input.json"
    path.write_text(json.dumps(payload))
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS)
    result = subprocess.run(
        ["node", str(harness), str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(result.stdout)

    assert report["mismatches"] == []
    assert report["checked"] > 100
    # each option table is registered once (option + add/remove/delete), however often forms open
    children = {
        f["options"]
        for p in parents
        for f in doctypes[p]["fields"]
        if f["fieldname"] in option_tables(doctypes, p)
    }
    tables = sum(len(option_tables(doctypes, p)) for p in parents)
    assert sum(n for _, n in report["registrations_per_open"]) == len(children) + 3 * tables
    # the run is not vacuous: ticking "other" shows (and requires) the risk factor description
    assert "other" in report["flips"]["TIP Case.case_risk_factors_other"]
    # and every rule reading only option tables changes for some code (else the check saw nothing)
    never_flipped = [
        f"{p}.{f}"
        for p in dependent
        for f, names in rule_reads(doctypes[p]).items()
        if set(names) <= set(dependent[p]) and not report["flips"].get(f"{p}.{f}")
    ]
    assert never_flipped == []


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
