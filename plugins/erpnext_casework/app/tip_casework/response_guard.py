"""Close Frappe 15.50.0's two permlevel leaks for the casework DocTypes.

Field permlevels hide a field from GET and from list columns, but over REST
(`frappe/api/v1.py`, `v2.py`, `frappe/client.py`):

- a filter on a hidden field still filters (`filters=[["field","like","%x%"]]` answers yes/no
  about its value: an oracle), and so do `or_filters`, `order_by` and `group_by`;
- the response to a PUT/PATCH returns the saved document without stripping hidden fields;
- `frappe.client.get_count` runs `frappe.db.count` with no permission check at all: any user
  counts any DocType, with any filter (found by this app's integration tests).

This `after_request` hook runs once the user is known (Frappe runs `before_request` before
authentication, too early). For requests naming a casework DocType, it replaces the response by
a 403 when any parameter names a field the user cannot read, or when a consent-gated user (or
one without read access) calls `frappe.client.get_count`, and strips hidden fields from a
document in a write response. Nothing is logged but the DocType and the field names.
"""

from __future__ import annotations

import json
import re
from typing import Any

import frappe

RECORD_DOCTYPES = frozenset({
    "TIP Case", "TIP Identity", "TIP Restricted Detail", "TIP Screening", "TIP Referral",
    "TIP Service", "TIP Outcome Assessment", "TIP Investigation", "TIP Prosecution",
})
_RESOURCE = re.compile(r"^/api/(?:v1/)?resource/([^/]+)(?:/([^/]+))?/?$")
_DOCUMENT_V2 = re.compile(r"^/api/v2/document/([^/]+)(?:/([^/]+))?/?$")
_METHOD = re.compile(r"^/api/(?:v1/|v2/)?method/")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: request parameters that can name fields
#: whitelisted methods that skip Frappe's permission checks altogether (frappe/client.py:
#: get_count runs frappe.db.count: any user counts any DocType with any filter)
_UNCHECKED_METHODS = ("frappe.client.get_count",)


def _request_doctype(path: str, parameters: dict[str, Any]) -> str | None:
    from urllib.parse import unquote

    for pattern in (_RESOURCE, _DOCUMENT_V2):
        match = pattern.match(path)
        if match:
            return unquote(match.group(1))
    if _METHOD.match(path):
        doctype = parameters.get("doctype") or parameters.get("ref_doctype")
        return doctype if isinstance(doctype, str) else None
    return None


def hidden_fields(doctype: str, user: str) -> dict[str, int]:
    """Fields of `doctype` (and of its child tables, by table field) the user cannot read."""
    meta = frappe.get_meta(doctype)
    readable = set(meta.get_permlevel_access("read", user=user))
    return {df.fieldname: df.permlevel for df in meta.fields if (df.permlevel or 0) not in readable}


def hidden_child_doctypes(doctype: str, hidden: dict[str, int]) -> set[str]:
    meta = frappe.get_meta(doctype)
    return {df.options for df in meta.get_table_fields() if df.fieldname in hidden}


def _words(value: Any) -> set[str]:
    """Every identifier in a parameter (JSON text, list, dict or SQL-ish text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return set(_IDENTIFIER.findall(value))
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= _words(str(key)) | _words(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= _words(item)
    elif value is not None:
        found |= set(_IDENTIFIER.findall(str(value)))
    return found


def request_parameters(request) -> dict[str, Any]:
    """The parameters as the client sent them. Not form_dict: Frappe's list query removes
    unpermitted names from the `fields` list it was given, in place, before this hook runs."""
    parameters: dict[str, Any] = dict(request.args.items())
    parameters.update(request.form.items())
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        parameters.update(body)
    return parameters


def referenced_hidden(parameters: dict[str, Any], hidden: dict[str, int], hidden_children: set[str]) -> list[str]:
    """Hidden fields (and hidden child DocTypes) that any request parameter names."""
    mentioned: set[str] = set()
    for key, value in parameters.items():
        if key in ("doctype", "cmd"):
            continue
        mentioned |= _words(value)
        mentioned |= {child for child in hidden_children if child in str(value)}
    return sorted((mentioned & set(hidden)) | (mentioned & hidden_children))


def _strip(data: Any, hidden: dict[str, int]) -> Any:
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k not in hidden}
    if isinstance(data, list):
        return [_strip(item, hidden) for item in data]
    return data


def _refuse(response, path: str, message: str) -> None:
    if path.startswith("/api/v2/"):
        body: dict[str, Any] = {"errors": [{"type": "PermissionError", "message": message}]}
    else:
        body = {
            "exc_type": "PermissionError",
            "_server_messages": json.dumps([json.dumps({"message": message, "title": "Not permitted", "indicator": "red"})]),
            "_exc_source": "tip_casework (app)",
        }
    response.status_code = 403
    response.set_data(json.dumps(body))
    response.headers["Content-Type"] = "application/json"


def _is_gated(user: str) -> bool:
    from tip_casework.record_access import gating_purposes

    return gating_purposes(user) is not None


def guard_response(response=None, request=None) -> None:
    """after_request hook: refuse hidden-field filters, strip hidden fields from write answers."""
    if response is None or request is None or not request.path.startswith("/api/"):
        return
    user = frappe.session.user
    if user == "Administrator":
        return
    parameters = request_parameters(request)
    doctype = _request_doctype(request.path, parameters)
    if doctype not in RECORD_DOCTYPES:
        return
    if request.path.rstrip("/").endswith(_UNCHECKED_METHODS) and (
        _is_gated(user) or not frappe.has_permission(doctype, "read", user=user)
    ):
        _refuse(response, request.path, "frappe.client.get_count does not check permissions; "
                "count with frappe.desk.reportview.get_count instead.")
        return
    hidden = hidden_fields(doctype, user)
    if not hidden:
        return
    mentioned = referenced_hidden(parameters, hidden, hidden_child_doctypes(doctype, hidden))
    if mentioned:
        _refuse(response, request.path,
                f"You cannot filter, sort, group or select on fields you are not allowed to read: {', '.join(mentioned)}. "
                "Remove them from the request.")
        return
    if request.method in ("POST", "PUT", "PATCH") and response.status_code == 200:
        try:
            body = json.loads(response.get_data())
        except ValueError:
            return
        changed = False
        for key in ("data", "message"):
            if isinstance(body, dict) and key in body:
                body[key] = _strip(body[key], hidden)
                changed = True
        if changed:
            response.set_data(json.dumps(body, default=str))
