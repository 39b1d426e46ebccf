"""Kobo submission JSON ⇄ canonical records, through the codebook. Pure: no I/O, no clock.

What Kobo sends (kobo-api.md §5.4) and how each part is read:

- keys are XPaths relative to the instance root joined with `/` (`grp_start/screening_date`);
  the element is found by the form's layout, else by the last path segment (a question moved
  between groups in another form version is still the same element);
- every answer is a string (`"24"`, `"2026-01-31"`, `"debt threats"`) and is turned into the
  element's type by `tipdata.records.coerce_value`;
- empty answers are omitted entirely, so "absent" means "unanswered";
- repeats are lists of objects keyed by full path; a canonical record holds one value per
  element, so a repeat with one entry reads like a group and one with several entries for a
  codebook element is quarantined (KB301) instead of keeping an arbitrary one;
- `_`-prefixed keys, `meta/…`, `formhub/…`, `__version__`, `start` and `end` are metadata.

Identity. The record id is `record_id_for("kobo:<asset uid>", str(_id))`. `_id` (the server's
row id) and `meta/rootUuid` are the only identifiers that survive an edit; `_uuid` and
`meta/instanceID` change on every edit (kobo-api.md §5.5), so keying on them would turn each edit
into a new person-record. `_id` is preferred over `meta/rootUuid` because it is always an integer
the server assigns (never absent, never prefixed, also present in encrypted manifests), it is what
`/data/{id}/` and the pull watermark use, and it is unique per server — the asset uid in the
source system makes it unique across servers. A project migrated to another server gets new
`_id`s and therefore new record ids; `_uuid` is kept as the revision marker, not the identity.

Anything that does not fit the codebook becomes a `QuarantinedRecord` carrying every problem and
the raw submission; nothing is dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from defusedxml import ElementTree as SafeElementTree
from pydantic import ValidationError

from tipdata.model import Codebook, Form, FormElement, FormGroup, FormItem
from tipdata.problems import Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import (
    CanonicalRecord,
    Envelope,
    coerce_value,
    record_id_for,
    validate_record,
)

SOURCE_SYSTEM_PREFIX = "kobo:"
#: Kobo stores `_submission_time` as a UTC string without zone or fraction (kobo-api.md §5.2).
SUBMISSION_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
#: Metadata questions XLSForm/ODK can add at the root; none of them is a codebook element.
_METADATA_NAMES = frozenset(
    {
        "start",
        "end",
        "today",
        "deviceid",
        "phonenumber",
        "username",
        "email",
        "simserial",
        "subscriberid",
        "audit",
        "start-geopoint",
        "background-audio",
    }
)
_METADATA_ROOTS = frozenset({"meta", "formhub"})
#: Keys of a flattened encrypted-submission manifest (kobo-api.md §8.2).
_ENCRYPTION_KEYS = frozenset({"base64EncryptedKey", "encryptedXmlFile"})
_MAX_KNOWN_KEYS = 10_000
#: value types `content_digest` hands to `json.dumps` without `values_json()`
_DIGEST_DIRECT_TYPES = frozenset(
    {str, int, float, bool, type(None), tuple, dt.date, dt.datetime, Decimal}
)
_FORMHUB_NAMESPACE = uuid.UUID("1d4a7c1e-91c5-5f8e-9a43-6b0c8e2f7a15")


def source_system_for(asset_uid: str) -> str:
    """The source system of every record of one Kobo asset: `kobo:<asset uid>`."""
    return f"{SOURCE_SYSTEM_PREFIX}{asset_uid}"


@dataclass(frozen=True)
class FormLayout:
    """Where each element of a codebook form sits in Kobo's flattened submission.

    Built once per form (the codebook is large; mapping runs per submission).

    >>> FormLayout.of(codebook, "tip_screening_adult").paths["screening_date"]
    'grp_start/screening_date'
    """

    form_id: str
    #: element code -> Kobo path (`group/…/code`)
    paths: Mapping[str, str]
    #: Kobo path -> element code, the inverse of `paths`
    elements_by_path: Mapping[str, str]
    #: submission key -> is it metadata, learnt as keys are met (the same keys recur in every
    #: submission; at most `_MAX_KNOWN_KEYS`, so a server sending odd keys cannot fill memory)
    _known_keys: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, codebook: Codebook, form_id: str) -> FormLayout:
        form = codebook.forms.get(form_id)
        if form is None:
            raise KeyError(
                f"form {form_id!r} is not in the codebook; known forms: "
                f"{', '.join(sorted(codebook.forms))}"
            )
        paths = _element_paths(form)
        return cls(form_id, paths, {path: code for code, path in paths.items()})

    def element_at(self, path: str, codebook: Codebook) -> str | None:
        code = self.elements_by_path.get(path)
        if code is not None:
            return code
        last = path.rsplit("/", 1)[-1]
        return last if last in codebook.elements else None


def _element_paths(form: Form) -> dict[str, str]:
    paths: dict[str, str] = {}

    def visit(items: tuple[FormItem, ...], prefix: str) -> None:
        for item in items:
            if isinstance(item, FormGroup):
                visit(item.items, f"{prefix}{item.name}/")
            elif isinstance(item, FormElement):
                paths[item.element] = f"{prefix}{item.element}"

    visit(form.items, "")
    return paths


@dataclass(frozen=True)
class MappedSubmission:
    """One submission's outcome: a canonical record or its quarantine, plus warnings."""

    outcome: CanonicalRecord | QuarantinedRecord
    warnings: tuple[Problem, ...] = ()

    @property
    def quarantined(self) -> bool:
        return isinstance(self.outcome, QuarantinedRecord)


# --------------------------------------------------------------------------- Kobo -> canonical


def is_metadata_key(key: str) -> bool:
    """True for keys Kobo or ODK add around the answers (`_id`, `meta/instanceID`, `start`, …)."""
    if key.startswith("_"):
        return True
    first = key.split("/", 1)[0].rsplit(":", 1)[-1]
    return first in _METADATA_ROOTS or key in _METADATA_NAMES


def is_encrypted_submission(submission: Mapping[str, Any]) -> bool:
    """True for the flattened manifest of an encrypted submission (its answers are in `.enc`)."""
    try:
        keys = "\n".join(submission) + "\n"  # JSON keys are text: one C-level join
    except TypeError:
        keys = "\n".join(key for key in submission if isinstance(key, str)) + "\n"
    if "EncryptedKey\n" not in keys and "encryptedXmlFile\n" not in keys:
        return False  # the common case, answered by one search instead of a test per key
    return any(key.rsplit("/", 1)[-1].rsplit(":", 1)[-1] in _ENCRYPTION_KEYS for key in submission)


def submission_id_of(submission: Mapping[str, Any]) -> int | None:
    """Kobo's `_id` as an int, or None when absent or not a whole number.

    Text counts only as ASCII digits: `str.isdigit` also accepts '²' (which `int` refuses) and
    '١٢٣' (which `int` reads as 123), so another script's digits could alias a real `_id`.

    >>> submission_id_of({"_id": "16"}), submission_id_of({"_id": "١٦"})
    (16, None)
    """
    value = submission.get("_id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and is_ascii_digits(value):
        return int(value)
    return None


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty run of 0-9 only (no sign, space, or other scripts' digits)."""
    return text.isascii() and text.isdigit()


def revision_of(submission: Mapping[str, Any]) -> str | None:
    """The marker that changes on every edit: `_uuid` (= `meta/instanceID` without `uuid:`)."""
    value = submission.get("_uuid") or submission.get("meta/instanceID")
    return str(value).removeprefix("uuid:") if value else None


def map_submission(
    codebook: Codebook,
    layout: FormLayout,
    asset_uid: str,
    submission: Mapping[str, Any],
    *,
    updated_at: dt.datetime | None = None,
) -> MappedSubmission:
    """Map one Kobo submission (JSON of `/api/v2/assets/{uid}/data/`) to a canonical record.

    `updated_at` is when this revision was observed (an edit keeps `_submission_time`, so the
    caller passes the time it noticed the edit); it defaults to `_submission_time`.

    >>> mapped = map_submission(codebook, FormLayout.of(codebook, "tip_screening_adult"),
    ...                         "aJ7sd2", {"_id": 16, "_submission_time": "2026-03-01T10:20:00",
    ...                                    "grp_start/consent_screening": "no", ...})
    >>> mapped.outcome.values["consent_screening"]
    'no'
    """
    system = source_system_for(asset_uid)
    submission_id = submission_id_of(submission)
    if submission_id is None:
        source_id = revision_of(submission) or "unknown"
        problem = Problem(
            "KB302",
            "the submission has no integer _id",
            f"kobo asset {asset_uid} submission without _id",
        )
        return MappedSubmission(
            QuarantinedRecord.from_problems(
                system, source_id, [problem], payload=submission, form_id=layout.form_id
            )
        )
    source_id = str(submission_id)
    record_id = record_id_for(system, source_id)
    where = f"kobo asset {asset_uid} submission {submission_id}"
    problems: list[Problem] = []

    def add(code: str, message: str, element: str | None) -> None:
        problems.append(Problem(code, message, where, None, element))

    def quarantined(warnings: tuple[Problem, ...] = ()) -> MappedSubmission:
        outcome = QuarantinedRecord.from_problems(
            system,
            source_id,
            problems,
            payload=submission,
            record_id=record_id,
            form_id=layout.form_id,
        )
        return MappedSubmission(outcome, warnings)

    occurrences: dict[str, list[tuple[str, Any]]] = {}
    by_path = layout.elements_by_path
    for path, value in _answers(submission, layout):
        code = by_path.get(path) or layout.element_at(path, codebook)
        if code is None:
            add(
                "RC200",
                f"answer {path!r} is not an element of codebook {codebook.id} "
                f"{codebook.version} (form {layout.form_id})",
                path,
            )
            continue
        found = occurrences.get(code)
        if found is None:
            occurrences[code] = [(path, value)]
        else:
            found.append((path, value))

    values: dict[str, Any] = {}
    unreadable: set[str] = set()
    elements = codebook.elements
    for code, found in occurrences.items():
        element = elements[code]
        if len(found) > 1:
            add(
                "KB301",
                f"{len(found)} answers (in a repeat at {found[0][0]!r}) for an element "
                "that holds one value",
                code,
            )
            unreadable.add(code)
            continue
        _path, raw = found[0]
        if raw.__class__ is not str and not isinstance(raw, (int, float, bool)):
            add(
                "RC201",
                f"expected a {element.type} answer as text, got a {type(raw).__name__}",
                code,
            )
            unreadable.add(code)
            continue
        try:
            value = coerce_value(element, raw)
        except ValueError as exc:
            add("RC201", str(exc), code)
            unreadable.add(code)
            continue
        if value is not None:
            values[code] = value

    collected_at, submitted_at = _collected_and_submitted(submission)
    if collected_at is None:
        add("KB302", "the submission has neither a readable `start` nor `_submission_time`", None)
        return quarantined()
    version = submission.get("__version__")
    try:
        envelope = Envelope(
            record_id=record_id,
            source_system=system,
            source_id=source_id,
            form_id=layout.form_id,
            form_version=str(version) if version else None,
            collected_at=collected_at,
            updated_at=updated_at or submitted_at or collected_at,
            consent_purposes=consent_purposes_from_values(codebook, values),
        )
        # the envelope was just validated and every value coerced to its element's type:
        # validating the record again would only copy `values`
        record = CanonicalRecord.model_construct(envelope=envelope, values=values)
    except ValidationError as exc:
        add("RC206", f"envelope invalid: {exc.errors()[0]['msg']}", None)
        return quarantined()
    # An answer that could not be read is already reported; do not report it again as missing.
    problems += [
        p
        for p in validate_record(codebook, record, today=collected_at.date(), source=where)
        if p.element not in unreadable
    ]
    errors = [p for p in problems if p.severity == "error"]
    warnings = tuple(p for p in problems if p.severity != "error")
    if errors:
        return quarantined(warnings)
    return MappedSubmission(record, warnings)


def kobo_to_canonical(
    codebook: Codebook,
    layout: FormLayout,
    asset_uid: str,
    submission: Mapping[str, Any],
    *,
    updated_at: dt.datetime | None = None,
) -> CanonicalRecord | QuarantinedRecord:
    """`map_submission` without the warnings: the record, or why it is quarantined."""
    return map_submission(codebook, layout, asset_uid, submission, updated_at=updated_at).outcome


def _answers(node: Mapping[str, Any], layout: FormLayout) -> Iterator[tuple[str, Any]]:
    """(path, value) of every answer, descending into repeats (lists of objects)."""
    known = layout._known_keys
    for key, value in node.items():
        is_metadata = known.get(key)
        if is_metadata is None:
            is_metadata = is_metadata_key(key)
            if len(known) < _MAX_KNOWN_KEYS:
                known[key] = is_metadata
        if is_metadata:
            continue
        if value.__class__ is str:
            yield key, value
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for entry in value:
                yield from _answers(entry, layout)
        else:
            yield key, value


def consent_purposes_from_values(codebook: Codebook, values: Mapping[str, Any]) -> frozenset[str]:
    """Purposes the person agreed to: each purpose P whose element `consent_P` is `yes`.

    The codebook asks one question per purpose (`consent_service_referral`, …); a form without
    them records no consent to share, so nothing from it leaves the platform.
    """
    return frozenset(p for p in codebook.consent_purposes if values.get(f"consent_{p}") == "yes")


def _collected_and_submitted(
    submission: Mapping[str, Any],
) -> tuple[dt.datetime | None, dt.datetime | None]:
    submitted = _parse_submission_time(submission.get("_submission_time"))
    started = _parse_device_time(submission.get("start"))
    return (started or submitted), submitted


def _parse_device_time(value: Any) -> dt.datetime | None:
    """ODK `start`/`end`: ISO 8601 with milliseconds and offset; None if absent or zone-less."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _parse_submission_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def content_digest(outcome: CanonicalRecord | QuarantinedRecord) -> str:
    """A short digest of what a submission says, to tell a real edit from a no-op one.

    Records: their canonical values and form version. Quarantined: their answers (metadata
    left out, so a revision marker alone does not count as a change).
    """
    if isinstance(outcome, CanonicalRecord):
        # The text must stay what earlier runs stored: `[values_json(), form_version]`. For the
        # types `coerce_value` makes (text, numbers, booleans, dates, decimals, tuples of text
        # or numbers), dumping `values` itself with `_digest_default` writes the same text —
        # tuples are JSON arrays, dates go through `isoformat` — without the sorted copy.
        values: Mapping[str, Any] = outcome.values
        default: Callable[[Any], Any] = _digest_default
        if not _DIGEST_DIRECT_TYPES.issuperset(map(type, values.values())):
            values, default = outcome.values_json(), str
        text = json.dumps(
            [values, outcome.envelope.form_version],
            sort_keys=True,
            ensure_ascii=False,
            default=default,
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
    data = [
        sorted(p.code for p in outcome.problems),
        {k: v for k, v in outcome.payload.items() if not is_metadata_key(k)},
    ]
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _digest_default(value: Any) -> Any:
    """`json.dumps` fallback of `content_digest`: what `values_json()` makes of a value, else str."""
    if isinstance(value, dt.date):  # and datetime
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------- XML -> Kobo JSON


def flatten_instance_xml(xml: bytes) -> dict[str, Any]:
    """An instance XML (e.g. a decrypted submission) flattened the way Kobo's `/data/` does.

    Keys are `/`-joined paths below the root without namespace prefixes; empty leaves are left
    out; an element repeated under one parent becomes a list of objects keyed by full path.
    DTDs and entities are refused (defusedxml): the XML comes from a device.

    >>> flatten_instance_xml(b"<data><g><age>24</age></g><note/></data>")
    {'g/age': '24'}
    """
    root = SafeElementTree.fromstring(xml)
    flat: dict[str, Any] = {}
    _flatten_children(root, "", flat)
    return flat


def _flatten_children(element: Any, prefix: str, out: dict[str, Any]) -> None:
    children = list(element)
    counts: dict[str, int] = {}
    for child in children:
        name = _local_name(child.tag)
        counts[name] = counts.get(name, 0) + 1
    for child in children:
        name = _local_name(child.tag)
        path = f"{prefix}{name}"
        if counts[name] > 1:
            entry: dict[str, Any] = {}
            if len(child):
                _flatten_children(child, f"{path}/", entry)
            elif child.text:
                entry[path] = child.text
            out.setdefault(path, []).append(entry)
        elif len(child):
            _flatten_children(child, f"{path}/", out)
        elif child.text:
            out[path] = child.text


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# --------------------------------------------------------------------------- canonical -> Kobo


def kobo_text(value: Any) -> str | None:
    """A canonical value as Kobo stores it: always text (None or empty → omitted)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple | list | frozenset | set):
        parts = sorted(value) if isinstance(value, frozenset | set) else list(value)
        if all(isinstance(p, str) for p in parts):
            return " ".join(parts) or None
        return " ".join(kobo_text(p) or "" for p in parts) or None
    text = str(value)
    return text or None


def canonical_to_kobo_json(
    codebook: Codebook, layout: FormLayout, record: CanonicalRecord, *, asset_uid: str | None = None
) -> dict[str, Any]:
    """The Kobo `/data/` JSON a submission with this record's values would have.

    The inverse of `map_submission` for records that came from (or are bound for) Kobo:
    `_id` is the record's source id, `start` its collection time, `_submission_time` its update
    time in UTC, answers sit at their form paths as text, unanswered ones are left out. Used by
    the demo to seed a Kobo server (double) and by the round-trip property test.

    >>> canonical_to_kobo_json(codebook, layout, record)["grp_start/consent_screening"]
    'yes'
    """
    envelope = record.envelope
    uid = asset_uid or envelope.source_system.removeprefix(SOURCE_SYSTEM_PREFIX)
    if not is_ascii_digits(envelope.source_id):
        raise ValueError(
            f"record {record.record_id}: a Kobo submission needs an integer _id as "
            f"source id, got {envelope.source_id!r}"
        )
    instance = str(uuid.UUID(record.record_id))
    submission: dict[str, Any] = {
        "_id": int(envelope.source_id),
        "formhub/uuid": uuid.uuid5(_FORMHUB_NAMESPACE, uid).hex,
        "start": envelope.collected_at.isoformat(),
    }
    first_geopoint: list[float | None] = [None, None]
    for code in sorted(record.values, key=lambda c: layout.paths.get(c, c)):
        value = record.values[code]
        text = kobo_text(value)
        if text is None:
            continue
        submission[layout.paths.get(code, code)] = text
        element = codebook.elements.get(code)
        if element is not None and element.type == "geopoint" and first_geopoint[0] is None:
            first_geopoint = [float(value[0]), float(value[1])]
    if envelope.form_version:
        submission["__version__"] = envelope.form_version
    submission.update(
        {
            "meta/instanceID": f"uuid:{instance}",
            "meta/rootUuid": f"uuid:{instance}",
            "_xform_id_string": uid,
            "_uuid": instance,
            "_attachments": [],
            "_status": "submitted_via_web",
            "_geolocation": first_geopoint,
            "_submission_time": envelope.updated_at.astimezone(dt.UTC).strftime(
                SUBMISSION_TIME_FORMAT
            ),
            "_validation_status": {},
            "_submitted_by": None,
        }
    )
    return submission
