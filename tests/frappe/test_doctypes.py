"""The generated DocTypes: fieldtypes, permissions, placement of sensitive data, stable bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tipdata.build import Artifact
from tipdata.codebook import load_codebook
from tipdata.erpnext_casework import doctypes as dt
from tipdata.erpnext_casework.artifacts import APP_ROOT, DOCTYPE_ROOT, frappe_artifacts

REPO = Path(__file__).resolve().parents[2]

#: Select options of `fieldtype` in frappe/core/doctype/docfield/docfield.json, Frappe 15.50.0
#: (written out here independently of the generator's own constant).
V15 = frozenset((
    "Autocomplete", "Attach", "Attach Image", "Barcode", "Button", "Check", "Code", "Color",
    "Column Break", "Currency", "Data", "Date", "Datetime", "Duration", "Dynamic Link", "Float",
    "Fold", "Geolocation", "Heading", "HTML", "HTML Editor", "Icon", "Image", "Int", "JSON", "Link",
    "Long Text", "Markdown Editor", "Password", "Percent", "Phone", "Read Only", "Rating",
    "Section Break", "Select", "Signature", "Small Text", "Tab Break", "Table", "Table MultiSelect",
    "Text", "Text Editor", "Time",
))


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(scope="module")
def built(codebook) -> dt.DocTypeSet:
    return dt.build_doctypes(codebook)


def _fields(doctype: dict) -> list[dict]:
    return doctype["fields"]


def test_fieldtypes__v15_list_has_43_values():
    """should hold exactly the 43 fieldtypes of Frappe 15.50.0's DocField, in the generator too."""
    assert len(V15) == 43
    assert dt.FRAPPE_V15_FIELDTYPES == V15


def test_build_doctypes__every_fieldtype_is_a_v15_fieldtype(built):
    """should use only fieldtypes that exist in v15 (no 'Multi Select', no 'UUID' naming)."""
    used = {(name, f["fieldname"], f["fieldtype"]) for name, d in built.doctypes.items() for f in _fields(d)}
    assert used
    assert {t for _, _, t in used} <= V15, sorted(x for x in used if x[2] not in V15)
    assert all(d.get("autoname", "hash") in ("hash", "field:external_id") for d in built.doctypes.values())


def test_fieldtype_for__maps_each_element_type(codebook):
    """should map every element type of the codebook to the documented v15 fieldtype."""
    by_code = codebook.elements
    assert dt.fieldtype_for(by_code["case_opened_date"])[0] == "Date"
    assert dt.fieldtype_for(by_code["case_status"])[0] == "Select"
    assert dt.fieldtype_for(by_code["expl_palermo_purpose"]) == ("Table", {"options": "TIP Exploitation Form Option"})
    assert dt.fieldtype_for(by_code["recr_abducted"])[0] == "Check"
    assert dt.fieldtype_for(by_code["inv_suspect_count"])[0] == "Int"  # required, no condition
    assert dt.fieldtype_for(by_code["age_at_screening"]) == ("Data", {"length": 32})  # may be unanswered
    assert dt.fieldtype_for(by_code["ref_outcome_notes"])[0] == "Text"  # max_length 2000
    assert dt.fieldtype_for(by_code["case_incoming_referral_details"])[0] == "Small Text"  # 1000
    assert dt.fieldtype_for(by_code["case_worker"]) == ("Data", {"length": 100})


def test_build_doctypes__every_permission_row_writes_every_flag(built):
    """should write role, permlevel and all 15 flags on every row, zeros included, in the file bytes."""
    expected_keys = {"role", "permlevel", *dt.PERM_FLAGS}
    rows = 0
    for name, doctype in built.doctypes.items():
        text = json.loads(dt.dump_doctype_json(doctype))
        for row in text.get("permissions", []):
            rows += 1
            assert set(row) == expected_keys, (name, row)
            assert all(row[flag] in (0, 1) for flag in dt.PERM_FLAGS), (name, row)
    assert rows > 40


def test_build_doctypes__permission_rows_pass_frappe_checks(built):
    """should have a level-0 row for every role with higher levels and no create/submit/import above it."""
    for name, doctype in built.doctypes.items():
        perms = doctype.get("permissions", [])
        for row in perms:
            assert not (row["import"] and not row["create"]), (name, row)
            assert not ((row["submit"] or row["cancel"] or row["amend"]) and not row["write"]), (name, row)
            if row["permlevel"] > 0:
                assert not (row["create"] or row["delete"] or row["submit"]), (name, row)
                assert any(r["role"] == row["role"] and r["permlevel"] == 0 for r in perms), (name, row)
            assert row["share"] == 0, (name, row)  # sharing would bypass the consent hooks


def test_build_doctypes__roles_are_the_four_tip_roles(built):
    """should grant only the four TIP roles."""
    roles = {row["role"] for d in built.doctypes.values() for row in d.get("permissions", [])}
    assert roles == set(dt.ROLES)


def test_placement__direct_identifiers_only_in_identity(codebook, built):
    """should put every direct identifier in TIP Identity and nowhere else (no mirror either)."""
    identifiers = {c for c, e in codebook.elements.items() if e.sensitivity == "direct_identifier"}
    assert {"person_given_names", "person_phone", "person_id_document_number"} <= identifiers
    for name, doctype in built.doctypes.items():
        fieldnames = {f["fieldname"] for f in _fields(doctype)}
        mirrored = {f["fieldname"].removeprefix("linked_") for f in _fields(doctype) if f.get("fetch_from")}
        if name == dt.IDENTITY:
            assert identifiers <= fieldnames
        else:
            assert not (identifiers & (fieldnames | mirrored)), name
    assert all(built.placement[c] == dt.IDENTITY for c in identifiers)


def test_permissions__analyst_has_no_access_to_identity(built):
    """should give the Data Analyst no row at all on TIP Identity."""
    roles = {row["role"] for row in built.doctypes[dt.IDENTITY]["permissions"]}
    assert dt.DATA_ANALYST not in roles
    assert {dt.CASE_WORKER, dt.SUPERVISOR} <= roles


def test_permissions__immigration_status_never_readable_by_analyst_or_law_enforcement(codebook, built):
    """should keep every restricted element (immigration status) in a DocType those roles cannot read."""
    restricted = [c for c, e in codebook.elements.items() if e.sensitivity == "restricted"]
    assert "person_immigration_status" in restricted
    for code in restricted:
        holders = [n for n, d in built.doctypes.items() if any(f["fieldname"] in (code, f"linked_{code}") for f in _fields(d))]
        assert holders == [dt.RESTRICTED], code
        for holder in holders:
            readers = {r["role"] for r in built.doctypes[holder]["permissions"] if r["read"]}
            assert readers.isdisjoint({dt.DATA_ANALYST, dt.LAW_ENFORCEMENT}), (code, readers)


def test_permlevel__follows_each_elements_consent(codebook, built):
    """should set permlevel bits from consent: 1 = not for statistics, 2 = not for law enforcement."""
    def level(code: str) -> int:
        doctype = built.doctypes[built.placement[code]]
        return next(f.get("permlevel", 0) for f in _fields(doctype) if f["fieldname"] == code)

    assert level("person_sex") == 0  # service_referral, law_enforcement, statistics
    assert level("person_date_of_birth") == 1  # no statistics
    assert level("ref_status") == 2  # no law enforcement
    assert level("ident_notes") == 3  # service referral only
    case_rows = built.doctypes[dt.CASE]["permissions"]
    levels = {role: {r["permlevel"] for r in case_rows if r["role"] == role and r["read"]} for role in dt.ROLES}
    assert levels[dt.DATA_ANALYST] == {0, 2}
    assert levels[dt.LAW_ENFORCEMENT] == {0, 1}
    assert levels[dt.CASE_WORKER] == levels[dt.SUPERVISOR] == {0, 1, 2, 3}


def test_permissions__law_enforcement_writes_only_justice_doctypes(built):
    """should let the liaison write investigations and prosecutions and only read elsewhere."""
    writable = {n for n, d in built.doctypes.items() for r in d.get("permissions", [])
                if r["role"] == dt.LAW_ENFORCEMENT and r["write"]}
    assert writable == {dt.INVESTIGATION, dt.PROSECUTION}


def test_naming__records_named_by_unique_external_id(built):
    """should name every record DocType by its unique external_id, so duplicates get 409."""
    for name in (*dt.RECORD_DOCTYPES, dt.PROVIDER):
        doctype = built.doctypes[name]
        assert doctype["autoname"] == "field:external_id"
        assert doctype["naming_rule"] == "By fieldname"
        external = next(f for f in _fields(doctype) if f["fieldname"] == "external_id")
        assert external["unique"] == 1 and external["reqd"] == 1


def test_select_multiple__table_of_option_child(codebook, built):
    """should store a select_multiple as a Table whose child holds the list's codes in a Select."""
    field = next(f for f in _fields(built.doctypes[dt.CASE]) if f["fieldname"] == "expl_palermo_purpose")
    child = built.doctypes[field["options"]]
    assert field["fieldtype"] == "Table" and child["istable"] == 1 and child["permissions"] == []
    (option,) = child["fields"]
    assert option["fieldtype"] == "Select"
    assert option["options"].split("\n")[1:] == list(codebook.option_lists["exploitation_form"].codes())


def test_select_one__blank_first_option_then_codes(codebook, built):
    """should list option codes after a blank line, so a new record does not default to one."""
    field = next(f for f in _fields(built.doctypes[dt.CASE]) if f["fieldname"] == "ident_trafficking_status")
    assert field["options"] == "\npotential\npresumed\nconfirmed\nnot_victim"


def test_depends_on__across_doctypes_reads_a_fetched_mirror(built):
    """should mirror a TIP Case field read by another DocType's relevance via fetch_from."""
    fields = {f["fieldname"]: f for f in _fields(built.doctypes[dt.SCREENING])}
    mirror = fields["linked_consent_screening"]
    assert mirror["fetch_from"] == "tip_case.consent_screening" and mirror["hidden"] == 1
    assert "doc.linked_consent_screening" in fields["palermo_act_indicated"]["depends_on"]


def test_field_label__fits_docfield_label(codebook, built):
    """should cut labels over 140 characters at a word and keep the whole wording in the description."""
    assert dt.field_label("x" * 10) == "x" * 10
    long = "word " * 40
    assert len(dt.field_label(long)) <= 140 and dt.field_label(long).endswith("…")
    for doctype in built.doctypes.values():
        assert all(len(f.get("label", "")) <= 140 for f in _fields(doctype))


def test_placement__refuses_identifier_at_repeatable_level(mini_codebook):
    """should refuse a direct identifier at a repeatable level, naming the element."""
    from tipdata.codebook import load_codebook as load

    folder = mini_codebook(edit={"elements/person.yaml": (
        "label: Name\n    level: person", "label: Name\n    level: screening")})
    with pytest.raises(dt.FrappeBuildError, match="person_name"):
        dt.placement(load(folder))


def test_dump_doctype_json__formatted_as_bench_writes(built):
    """should format like frappe.as_json: indent 1, sorted keys, ASCII, final newline."""
    content = dt.dump_doctype_json(built.doctypes[dt.CASE])
    text = content.decode("ascii")
    assert text.endswith("}\n") and text.startswith('{\n "actions": [],\n')
    data = json.loads(text)
    assert text == json.dumps(data, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=True) + "\n"


def test_frappe_artifacts__byte_stable_across_two_builds():
    """should give identical bytes from two independent loads and builds."""
    first = frappe_artifacts(load_codebook())
    second = frappe_artifacts(load_codebook())
    assert [a.path for a in first] == [a.path for a in second]
    assert all(a.content == b.content for a, b in zip(first, second, strict=True))


def test_frappe_artifacts__committed_files_are_current():
    """should match the generated files in the repository (run `tipdata build` after a codebook change)."""
    stale = [a.path for a in frappe_artifacts(load_codebook()) if _on_disk(a) != a.content]
    assert stale == []


def _on_disk(artifact: Artifact) -> bytes | None:
    path = REPO / artifact.path
    return path.read_bytes() if path.is_file() else None


def test_app__modules_and_hand_written_controllers_present(built):
    """should ship modules.txt naming the module and a controller for every non-child DocType."""
    assert (REPO / APP_ROOT / "tip_casework/modules.txt").read_text().split("\n")[0] == dt.MODULE
    for name, doctype in built.doctypes.items():
        assert doctype["module"] == dt.MODULE
        controller = REPO / DOCTYPE_ROOT / dt.scrub(name) / f"{dt.scrub(name)}.py"
        assert controller.is_file(), controller
        assert f"class {name.replace(' ', '')}(" in controller.read_text()
