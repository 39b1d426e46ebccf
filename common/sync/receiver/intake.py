"""Reading one Kobo REST Service delivery: a submission to store, or why it cannot be. Pure.

Kobo POSTs the submission JSON exactly as `/api/v2/assets/{uid}/data/` shows it (kobo-api.md
§5.4, §7.3): `_id` is the server's row number, `_xform_id_string` the asset uid. That is all the
receiver needs to place a delivery: the asset names the form (through `[kobo.forms]` in
tipdata.toml), the asset and `_id` name the record (`record_id_for("kobo:<asset uid>", _id)`),
exactly as `tipdata kobo pull` names it, so a submission delivered by the hook and later pulled
is one record.

Anything else is a rejection with a catalogue code and the raw bytes as delivered, so the
quarantine keeps what arrived even when it is not JSON:

- SY720 unreadable-delivery: not UTF-8 JSON, not a JSON object, or larger than the limit;
- SY721 unknown-delivery-form: the asset is not one of the configured forms;
- KB302 malformed-submission: no integer `_id` (e.g. a hook whose `subset_fields` leave it out).

A rejection is kept under `kobo:<asset uid>` when the asset uid is readable (so a `_id` can be
retried once the form is configured) and under `serve:kobo` otherwise; its source id is the
`_id`, or a digest of the body when there is none, so the same bad body delivered twice is one
quarantine entry.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tipdata.kobo_forms.mapping import (
    is_encrypted_submission,
    source_system_for,
    submission_id_of,
)
from tipdata.records import record_id_for

#: where rejected deliveries whose asset cannot be named are quarantined
RECEIVER_SOURCE = "serve:kobo"
#: a delivery larger than this is rejected (Kobo submission JSON is a few kB; 1 MiB is generous)
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
UNREADABLE = "SY720"
UNKNOWN_FORM = "SY721"
NO_SUBMISSION_ID = "KB302"
AWAITING_DECRYPTION = "SY722"
#: a quarantine entry with this reason does not make its `_id` a known one: a later delivery
#: of it (Kobo's "retry" of a failed hook log) is placed again, the form may be configured since
PLACED_AGAIN = frozenset({UNKNOWN_FORM})
_ASSET_UID = re.compile(r"[A-Za-z0-9]{8,64}")
#: `_id` is below 10**18 (the receiver's bound): at most this many digits as text
_MAX_ID_DIGITS = 18


@dataclass(frozen=True)
class Rejection:
    """A delivery the receiver cannot store as a submission: quarantined and answered 400."""

    reason: str
    source: str
    source_id: str
    message: str = field(repr=False)
    raw: bytes = field(repr=False)
    #: the record id when the delivery names its asset and `_id` (for the audit log)
    record_id: str | None = None


@dataclass(frozen=True)
class Delivery:
    """A submission of a configured form, with its identity. `repr` shows no answers."""

    asset_uid: str
    form_id: str
    submission_id: int
    row: Mapping[str, Any] = field(repr=False)
    raw: bytes = field(repr=False)
    encrypted: bool = False

    @property
    def source(self) -> str:
        """The stream and quarantine source of the form: `kobo:<asset uid>`."""
        return source_system_for(self.asset_uid)

    @property
    def source_id(self) -> str:
        return str(self.submission_id)


def body_digest(body: bytes) -> str:
    """A stable source id for a body that has no `_id`: `body:<24 hex digits of SHA-256>`."""
    return "body:" + hashlib.sha256(body).hexdigest()[:24]


def read_delivery(body: bytes, forms: Mapping[str, str], *,
                  max_bytes: int = DEFAULT_MAX_BODY_BYTES,
                  truncated: bool = False) -> Delivery | Rejection:
    """Place one delivery: which form, which submission, encrypted or not — or why not.

    `forms` maps asset uid → codebook form id. `truncated` says the body was cut at `max_bytes`
    while it was read (the rest was never buffered).

    >>> read_delivery(b'{"_id": 16, "_xform_id_string": "aJ7sd2kqWcH5YbVfXe8mLp"}',
    ...               {"aJ7sd2kqWcH5YbVfXe8mLp": "tip_screening_adult"})
    Delivery(asset_uid='aJ7sd2kqWcH5YbVfXe8mLp', form_id='tip_screening_adult', submission_id=16, encrypted=False)
    """
    if truncated or len(body) > max_bytes:
        return Rejection(UNREADABLE, RECEIVER_SOURCE, body_digest(body),
                         f"the delivery is larger than {max_bytes} bytes; only its first "
                         f"{max_bytes} bytes are kept", body[:max_bytes])
    row = _json_object(body)
    if isinstance(row, str):
        return Rejection(UNREADABLE, RECEIVER_SOURCE, body_digest(body), row, body)
    asset = row.get("_xform_id_string")
    asset_uid = asset if isinstance(asset, str) and _ASSET_UID.fullmatch(asset) else None
    source = source_system_for(asset_uid) if asset_uid else RECEIVER_SOURCE
    submission_id = _submission_id(row.get("_id"))
    if submission_id is None:
        return Rejection(NO_SUBMISSION_ID, source, body_digest(body),
                         "the delivery has no integer `_id` (a REST Service whose subset_fields "
                         "leave out `_id` cannot be stored; `tipdata kobo hook` sends every "
                         "field)", body)
    if asset_uid is None or asset_uid not in forms:
        where = f"asset {asset_uid}" if asset_uid else "a delivery without a readable " \
            "`_xform_id_string` (the asset uid)"
        return Rejection(UNKNOWN_FORM, source, str(submission_id),
                         f"{where} is not one of the forms under [kobo.forms] in tipdata.toml",
                         body, record_id_for(source, str(submission_id)) if asset_uid else None)
    return Delivery(asset_uid, forms[asset_uid], submission_id, row, body,
                    encrypted=is_encrypted_submission(row))


def _json_object(body: bytes) -> dict[str, Any] | str:
    """The body as a JSON object, or a sentence saying why it is not one."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the delivery is not UTF-8 text (Kobo sends JSON; is the hook's export type xml?)"
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        return "the delivery is not JSON (the REST Service must use export type json)"
    if not isinstance(data, dict):
        return f"the delivery is JSON but not an object (a {type(data).__name__}); a Kobo " \
            "submission is one JSON object (no payload_template wrapping it in a list)"
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number too large for JSON")
    return value


def _submission_id(value: Any) -> int | None:
    """Kobo's `_id` by the pull's rule (`submission_id_of`: a JSON number or ASCII digits),
    positive and below 10**18, as text of at most 18 digits (so `int` never reads a huge one)."""
    if isinstance(value, str) and len(value) > _MAX_ID_DIGITS:
        return None
    found = submission_id_of({"_id": value})
    return found if found is not None and 0 < found < 10 ** _MAX_ID_DIGITS else None
