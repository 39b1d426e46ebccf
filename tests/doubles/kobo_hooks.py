"""REST Services (outgoing webhooks) in the Kobo double: validating hook bodies and delivering.

Followed (`kobo-api.md` §7; kpi files read, not copied):
- `kobo/apps/hook/serializers/v2/hook.py`: fields, defaults and validation messages;
- `kobo/apps/hook/models/hook.py`: choices, max lengths, ordering by name;
- `kobo/apps/hook/models/service_definition_interface.py`, `services/service_json.py`,
  `services/service_xml.py`: headers, Basic auth, `subset_fields`, `payload_template`, success
  when status < 400, and which failures are retried;
- `kobo/apps/hook/constants.py`: only 502/503/504 (a read timeout counts as 504) are retried.

Retries are not timed: the double records that a retry is due and performs it when the test calls
`KoboDouble.run_hook_retries()` (Kobo waits ~60 s, 120 s, 240 s… capped at 1200 s; `retry_delay`
gives that schedule). At most `MAX_ATTEMPTS` = 4 attempts, as the doc states.

The SSRF guard (endpoints on private or loopback addresses refused) is treated as configured
with `SSRF_ALLOWED_IP_ADDRESS` for 127.0.0.1, so test receivers on localhost get deliveries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from tests.doubles.kobo_submissions import field_selected, prune_xml

SUBMISSION_PLACEHOLDER = "%SUBMISSION%"
RETRIABLE_STATUS_CODES = frozenset({502, 503, 504})
MAX_ATTEMPTS = 4
"""`HOOK_MAX_RETRIES` (3) + the first attempt."""

EXPORT_TYPES = ("xml", "json")
AUTH_LEVELS = ("no_auth", "basic_auth")

_BOOL_TRUE = (True, "true", "True", "TRUE", "1", 1, "on", "yes", "y")
_BOOL_FALSE = (False, "false", "False", "FALSE", "0", 0, "off", "no", "n")


def retry_delay(tries: int) -> int:
    """Seconds Kobo would wait before attempt `tries + 1` (celery retry_backoff=60, max 1200)."""
    return min(60 * 2 ** max(tries - 1, 0), 1200)


def validate_hook(body: Any, *, partial: bool, existing: Mapping[str, Any] | None,
                  allow_unsecured: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate a hook create/update body like `HookSerializer`; returns (clean fields, errors).

    Errors use DRF's shape: `{"field": ["message"]}`. Unknown and read-only keys are ignored.

    Example: `validate_hook({"name": "x", "endpoint": "ftp://a"}, partial=False, existing=None)`
    → `({...}, {"endpoint": ["Invalid scheme"]})`
    """
    if not isinstance(body, Mapping):
        kind = type(body).__name__
        return {}, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, max_length in (("name", 255), ("endpoint", 500)):
        if name not in body:
            if not partial:
                fail(name, "This field is required.")
            continue
        value = body[name]
        if value is None:
            fail(name, "This field may not be null.")
        elif not isinstance(value, str | int | float) or isinstance(value, bool):
            fail(name, "Not a valid string.")
        elif str(value).strip() == "":
            fail(name, "This field may not be blank.")
        elif len(str(value)) > max_length:
            fail(name, f"Ensure this field has no more than {max_length} characters.")
        else:
            clean[name] = str(value).strip()
    if "endpoint" in clean:
        if not clean["endpoint"].startswith("http"):
            fail("endpoint", "Invalid scheme")
            clean.pop("endpoint")
        elif not allow_unsecured and clean["endpoint"].startswith("http:"):
            fail("endpoint", "Unsecured endpoint is not allowed")
            clean.pop("endpoint")
    for name in ("active", "email_notification"):
        if name in body:
            value = body[name]
            if value in _BOOL_TRUE and not isinstance(value, float):
                clean[name] = True
            elif value in _BOOL_FALSE and not isinstance(value, float):
                clean[name] = False
            else:
                fail(name, "Must be a valid boolean.")
    for name, choices in (("export_type", EXPORT_TYPES), ("auth_level", AUTH_LEVELS)):
        if name in body:
            if body[name] in choices:
                clean[name] = body[name]
            else:
                fail(name, f'"{body[name]}" is not a valid choice.')
    if "settings" in body:
        clean["settings"] = body["settings"]
    if "subset_fields" in body:
        value = body["subset_fields"]
        if not isinstance(value, list):
            fail("subset_fields", f'Expected a list of items but got type "{type(value).__name__}".')
        elif not all(isinstance(item, str) for item in value):
            fail("subset_fields", "Not a valid string.")
        else:
            clean["subset_fields"] = list(value)
    if "payload_template" in body:
        value = body["payload_template"]
        if value is not None and not isinstance(value, str):
            fail("payload_template", "Not a valid string.")
        else:
            if value:
                try:
                    json.loads(value.replace(SUBMISSION_PLACEHOLDER, "{}"))
                except ValueError:
                    fail("payload_template", "Invalid JSON")
            if "payload_template" not in errors:
                clean["payload_template"] = value
    if errors:
        return clean, errors
    # `HookSerializer.validate`: only when both keys are in the same request.
    if clean.get("payload_template") and "export_type" in clean and clean["export_type"] != "json":
        return clean, {"payload_template": ["Can be used only with JSON submission format"]}
    return clean, {}


def json_payload(submission: Mapping[str, Any], subset_fields: list[str],
                 payload_template: str | None) -> Any:
    """The JSON body Kobo POSTs: the submission (or its subset), wrapped by the template."""
    data: Any = dict(submission)
    if subset_fields:
        data = {key: value for key, value in submission.items()
                if field_selected(key, subset_fields)}
    if payload_template:
        return json.loads(payload_template.replace(SUBMISSION_PLACEHOLDER, json.dumps(data)))
    return data


def xml_payload(instance_xml: str, subset_fields: list[str]) -> str:
    text = prune_xml(instance_xml, subset_fields) if subset_fields else instance_xml
    return '<?xml version="1.0" encoding="utf-8"?>' + text


@dataclass(frozen=True)
class DeliveryRequest:
    """One POST to make; built under the state lock, sent without it."""

    endpoint: str
    headers: Mapping[str, str]
    auth: tuple[str, str] | None
    json_body: Any = None
    xml_body: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int | None
    message: str
    success: bool
    retriable: bool


def delivery_request(hook_uid: str, endpoint: str, export_type: str, auth_level: str,
                     settings: Mapping[str, Any], body: Any) -> DeliveryRequest:
    headers = {"Content-Type": "application/json" if export_type == "json" else "application/xml"}
    custom = settings.get("custom_headers") if isinstance(settings, Mapping) else None
    if isinstance(custom, Mapping):
        headers.update({str(k): str(v) for k, v in custom.items()})
    headers["User-Agent"] = f"KoboToolbox external service #{hook_uid}"
    auth = None
    if auth_level == "basic_auth" and isinstance(settings, Mapping):
        auth = (str(settings.get("username", "")), str(settings.get("password", "")))
    if export_type == "json":
        return DeliveryRequest(endpoint, headers, auth, json_body=body)
    return DeliveryRequest(endpoint, headers, auth, xml_body=body)


def send(request: DeliveryRequest, timeout: float) -> DeliveryResult:
    """POST once and classify the outcome as Kobo does."""
    kwargs: dict[str, Any] = {"headers": dict(request.headers), "timeout": timeout}
    if request.auth:
        kwargs["auth"] = request.auth
    if request.xml_body is not None:
        kwargs["data"] = request.xml_body.encode("utf-8")
    else:
        kwargs["json"] = request.json_body
    try:
        response = requests.post(request.endpoint, **kwargs)
    except requests.exceptions.ReadTimeout as error:
        return DeliveryResult(504, _clean_message(str(error)), False, True)
    except requests.exceptions.RequestException as error:
        return DeliveryResult(None, _clean_message(str(error)), False, False)
    message = _clean_message(response.text)
    if response.status_code < 400:
        return DeliveryResult(response.status_code, message, True, False)
    return DeliveryResult(response.status_code, message, False,
                          response.status_code in RETRIABLE_STATUS_CODES)


def _clean_message(text: str) -> str:
    """`save_log`: JSON messages are kept, anything else loses its HTML tags."""
    try:
        json.loads(text)
        return text
    except ValueError:
        return re.sub(r"<[^>]*>", " ", text).strip()
