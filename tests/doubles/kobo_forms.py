"""Form content in the Kobo double: reading an uploaded XLSForm, and deploying it with pyxform.

Followed (`kobo-api.md` §3, §4; kpi files read, not copied):
- `kpi/models/import_export_task.py` (`ImportTask._run_task`, `_parse_b64_upload`,
  `_ensure_valid_node_names`, `_b64_xls_to_dict`): what an import checks and the error texts and
  exception class names that land in `messages.error` / `messages.error_type`;
- `kpi/utils/sluggify.py::is_valid_node_name`: a name is valid when `<name />` parses as XML;
- `kpi/mixins/formpack_xlsform_utils.py::_remove_version` (`FUZZY_VERSION_PATTERN`);
- `kpi/deployment_backends/openrosa_backend.py`, `kpi/mixins/xls_exportable.py`: deploy sets
  `id_string` = asset uid, `form_title` = asset name, `version` = "N (date)", and appends a
  `__version__` calculate whose value is the asset version uid;
- `kpi/serializers/v2/deployment.py`: pyxform errors at deploy become 400 `{"error": …}`.

An import only *reads* the workbook (pyxform's own reader) and checks names and sheets, exactly
like Kobo; the full pyxform conversion runs at deploy, so a form pyxform rejects imports fine and
fails to deploy with 400, as on a real server.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from pyxform.errors import PyXFormError
from pyxform.xls2json_backends import xls_to_dict, xlsx_to_dict
from pyxform.xls2xform import convert

VERSION_ROW = re.compile(r"^__?version__?(\d{3})?$")
"""kpi `FUZZY_VERSION_PATTERN`: such survey rows are stripped on every save."""

_HEADER_SUFFIX = "_header"


class ImportFailed(Exception):
    """An import task that ends in `status: error`; carries Kobo's message and exception name."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


class DeployFailed(Exception):
    """pyxform rejected the content at deploy time (→ 400 `{"error": message}`)."""


@dataclass(frozen=True)
class ImportedContent:
    """What an import produced: kpi-style content, the asset type, and the naming inputs."""

    content: dict[str, Any]
    asset_type: str
    filename: str


@dataclass(frozen=True)
class DeployedForm:
    """The XForm a deploy published and the facts the API reports about it."""

    xform_xml: str
    encrypted: bool
    repeat_paths: tuple[str, ...]


def read_workbook(data: bytes) -> dict[str, list[dict[str, Any]]]:
    """Read an .xlsx/.xls upload into sheet name → rows, with pyxform's reader.

    Raises ImportFailed("Unsupported format, or corrupt file", "XlsFormatException") for
    anything that is not a readable workbook, as kpi's `_get_xls_format` does.
    """
    if data.startswith(b"PK"):
        reader = xlsx_to_dict
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        reader = xls_to_dict
    else:
        raise ImportFailed("Unsupported format, or corrupt file", "XlsFormatException")
    try:
        workbook = reader(io.BytesIO(data))
    except (PyXFormError, ValueError, OSError, KeyError):
        raise ImportFailed("Unsupported format, or corrupt file", "XlsFormatException") from None
    # pyxform treats a lone sheet of any name as the survey; kpi's reader does not, so keep
    # only sheets whose real names are in the workbook.
    real_names = {str(name).lower() for name in workbook.get("sheet_names", [])}
    sheets: dict[str, list[dict[str, Any]]] = {}
    for name, rows in workbook.items():
        if name == "sheet_names" or name.endswith(_HEADER_SUFFIX) or not isinstance(rows, list):
            continue
        if real_names and name.lower() not in real_names:
            continue
        sheets[name.lower()] = [
            {k: v for k, v in row.items() if v not in (None, "")} for row in rows]
    return sheets


def import_content(sheets: dict[str, list[dict[str, Any]]], *, filename: str | None,
                   library: bool, desired_type: str | None,
                   into_existing: bool) -> ImportedContent:
    """Apply kpi's import rules to a read workbook.

    `library` is what kpi computes from the form field (`not in ['false', False]`, so an absent
    field means True). Raises ImportFailed with kpi's messages.
    """
    if "survey" in sheets and "library" in sheets:
        raise ImportFailed('An import cannot have both "survey" and "library" sheets.',
                           "ValueError")
    ensure_valid_node_names(sheets.get("survey", []))
    base_name = re.sub(r"\.[^.]*$", "", filename) if filename else ""
    if "library" in sheets:
        if not library:
            raise ImportFailed("a library cannot be imported into the form list", "ValueError")
        if into_existing:
            raise ImportFailed("libraries cannot be imported into assets", "SyntaxError")
        return ImportedContent(content=_content(sheets, "library"), asset_type="collection",
                               filename=base_name)
    if "survey" not in sheets:
        raise ImportFailed("xls upload must have one of these sheets: survey, library",
                           "SyntaxError")
    if into_existing:
        asset_type = "survey"
    elif desired_type:
        asset_type = desired_type
    elif library and len(sheets["survey"]) > 1:
        asset_type = "block"
    elif library:
        asset_type = "question"
    else:
        asset_type = "survey"
    return ImportedContent(content=_content(sheets, "survey"), asset_type=asset_type,
                           filename=base_name)


def ensure_valid_node_names(survey: list[dict[str, Any]]) -> None:
    """kpi `_ensure_valid_node_names`: invalid → ValueError, repeated → DuplicateNameException."""
    seen: set[str] = set()
    for row in survey:
        name = row.get("name")
        row_type = str(row.get("type", ""))
        if not name or row_type.startswith(("end ", "end_")):
            continue
        name = str(name)
        if not _is_valid_node_name(name):
            raise ImportFailed(f"Invalid node name: {name}", "ValueError")
        if name in seen:
            raise ImportFailed(f"Duplicate node name: {name}", "DuplicateNameException")
        seen.add(name)


def _is_valid_node_name(name: str) -> bool:
    try:
        ET.fromstring(f"<{name} />")
    except ET.ParseError:
        return False
    return True


def _content(sheets: dict[str, list[dict[str, Any]]], main: str) -> dict[str, Any]:
    content: dict[str, Any] = {}
    for name, rows in sheets.items():
        if name == "settings":
            content["settings"] = dict(rows[0]) if rows else {}
        elif name == main:
            content["survey"] = strip_version_rows(rows)
        else:
            content[name] = rows
    content.setdefault("settings", {})
    return content


def strip_version_rows(survey: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in survey if not VERSION_ROW.match(str(row.get("name", "")))]


def take_form_title(content: dict[str, Any]) -> str | None:
    """`Asset.adjust_content_on_save`: `settings.form_title` moves into the asset name."""
    title = content.get("settings", {}).pop("form_title", None)
    return str(title) if title not in (None, "") else None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "form"


def content_summary(content: dict[str, Any]) -> dict[str, Any]:
    """A small `summary` (kpi's asset_content_analyzer output is opaque to clients)."""
    survey = content.get("survey", [])
    languages: list[str] = []
    for row in survey:
        for key in row:
            if key.startswith("label::") and key[7:] not in languages:
                languages.append(key[7:])
    summary: dict[str, Any] = {"row_count": len(survey), "languages": languages}
    default = content.get("settings", {}).get("default_language")
    if default:
        summary["default_translation"] = default
    return summary


def is_encrypted(content: dict[str, Any]) -> bool:
    """`XForm._set_encrypted_field`: encrypted only when both settings are present."""
    settings = content.get("settings", {})
    return bool(settings.get("public_key")) and bool(settings.get("submission_url"))


def content_from_kpi_json(content: dict[str, Any]) -> dict[str, Any]:
    """Accept `content` sent as JSON (POST/PATCH assets): kpi label arrays become `label::lang`.

    kpi content keeps translated columns as lists aligned with `translations`; the double
    stores XLSForm-style columns. Rows already in XLSForm style pass through.
    """
    translations = content.get("translations") or [None]
    converted: dict[str, Any] = {}
    for sheet, rows in content.items():
        if sheet in ("translations", "translated", "schema"):
            continue
        if sheet == "settings":
            converted["settings"] = dict(rows) if isinstance(rows, dict) else (
                dict(rows[0]) if rows else {})
            continue
        if not isinstance(rows, list):
            continue
        new_rows = []
        for row in rows:
            new_row: dict[str, Any] = {}
            for key, value in row.items():
                if key.startswith("$"):
                    continue
                if isinstance(value, list) and key != "select_from_list_name":
                    for language, text in zip(translations, value, strict=False):
                        if text not in (None, ""):
                            new_row[f"{key}::{language}" if language else key] = text
                elif key == "select_from_list_name":
                    new_row["type"] = f"{row.get('type')} {value}"
                elif key != "type" or "select_from_list_name" not in row:
                    new_row[key] = value
            new_rows.append(new_row)
        converted["survey" if sheet == "survey" else sheet] = (
            strip_version_rows(new_rows) if sheet == "survey" else new_rows)
    converted.setdefault("settings", {})
    return converted


def build_xform(content: dict[str, Any], *, asset_uid: str, title: str, version_string: str,
                version_uid: str) -> DeployedForm:
    """Publish content as Kobo's deploy does, with pyxform; raises DeployFailed on pyxform errors.

    Example: `build_xform(content, asset_uid="aJ7…", title="TIP", version_string="1 (2026-…)",
    version_uid="vH…").xform_xml` starts with `<?xml`.
    """
    settings = dict(content.get("settings", {}))
    settings.pop("id_string", None)
    settings.update({"form_id": asset_uid, "form_title": title, "version": version_string})
    survey = strip_version_rows(list(content.get("survey", [])))
    survey.append({"type": "calculate", "name": "__version__",
                   "calculation": f"'{version_uid}'"})
    workbook: dict[str, Any] = {"survey": survey, "settings": [settings]}
    for sheet, rows in content.items():
        if sheet not in ("survey", "settings") and rows:
            workbook[sheet] = rows
    try:
        result = convert(workbook, form_name=asset_uid)
    except PyXFormError as error:
        raise DeployFailed(str(error)) from None
    return DeployedForm(xform_xml=result.xform, encrypted=is_encrypted(content),
                        repeat_paths=tuple(_repeat_paths(survey)))


def _repeat_paths(survey: list[dict[str, Any]]) -> list[str]:
    stack: list[tuple[str, str]] = []
    repeats: list[str] = []
    for row in survey:
        row_type = str(row.get("type", "")).strip().lower().replace(" ", "_")
        if row_type in ("begin_group", "begin_repeat"):
            stack.append((row_type, str(row.get("name", ""))))
            if row_type == "begin_repeat":
                repeats.append("/".join(name for _, name in stack))
        elif row_type in ("end_group", "end_repeat") and stack:
            stack.pop()
    return repeats
