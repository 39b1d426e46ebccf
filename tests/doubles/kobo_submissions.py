"""Submissions as the Kobo double stores and serves them: compact rows, Kobo JSON, raw XML.

Shapes follow `kobo-api.md` §5.4/§5.5/§8.2, which cite `ParsedInstance.to_dict_for_mongo`,
`BaseDeploymentBackend._inject_properties` and `xform_instance_parser._flatten_dict_nest_repeats`
in kobotoolbox/kpi (read, not copied). In short:

- keys are paths relative to the instance root joined with `/`; a repeat is a list of objects
  whose keys are full paths (`grp_people/name`), nested repeats nest;
- every answer is a string, empty answers are left out;
- Kobo adds `_id`, `_uuid`, `meta/rootUuid`, `_attachments` (with download URLs), `_status`,
  `_geolocation`, `_submission_time` (UTC `%Y-%m-%dT%H:%M:%S`), `_validation_status`,
  `_submitted_by`, `_xform_id_string`, and keeps `formhub/uuid`, `__version__`, `meta/*`.

Rows are kept small so the double can hold 100,000 of them: answers may be produced lazily by a
factory (`answers_source(index)`) and are rendered to Kobo JSON only for the page being served.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.dom import minidom
from xml.sax.saxutils import escape, quoteattr

SUBMISSION_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
"""`MONGO_STRFTIME` (`kobo/apps/openrosa/libs/utils/common_tags.py`): UTC, no zone, no fraction."""

METADATA_KEYS = frozenset({
    "_id", "_uuid", "_submission_time", "__version__", "meta/instanceID", "meta/deprecatedID",
    "meta/rootUuid", "_validation_status", "_status", "_submitted_by", "_xform_id_string",
})
"""Keys the double can answer from a row without rendering its answers (fast query path)."""

VALIDATION_LABELS = {
    "validation_status_approved": "Approved",
    "validation_status_not_approved": "Not approved",
    "validation_status_on_hold": "On hold",
}

AnswersSource = Callable[[int], Mapping[str, Any]]


@dataclass(frozen=True)
class StoredAttachment:
    """One file stored with a submission; `content` is never shown in a repr."""

    uid: str
    basename: str
    mimetype: str
    question_xpath: str | None
    content: bytes = field(repr=False)


class SubmissionRow:
    """One submission, compact: metadata in slots, answers as a dict or a lazy factory index."""

    __slots__ = (
        "id", "instance_id", "root_uuid", "deprecated_id", "submission_time", "version",
        "answers", "source", "source_index", "attachments", "validation_status", "status",
        "submitted_by", "manifest_xml", "created_seq", "geolocation",
    )

    def __init__(self, *, id: int, instance_id: str, submission_time: str, version: str | None,
                 created_seq: int, answers: dict[str, Any] | None = None,
                 source: AnswersSource | None = None, source_index: int = 0,
                 attachments: tuple[StoredAttachment, ...] = (),
                 manifest_xml: bytes | None = None, status: str = "submitted_via_web",
                 submitted_by: str | None = None,
                 geolocation: tuple[float | None, float | None] = (None, None)) -> None:
        self.id = id
        self.instance_id = instance_id
        self.root_uuid = instance_id
        self.deprecated_id: str | None = None
        self.submission_time = submission_time
        self.version = version
        self.answers = answers
        self.source = source
        self.source_index = source_index
        self.attachments = attachments
        self.validation_status: dict[str, Any] = {}
        self.status = status
        self.submitted_by = submitted_by
        self.manifest_xml = manifest_xml
        self.created_seq = created_seq
        self.geolocation = geolocation

    def __repr__(self) -> str:  # never the answers
        return f"SubmissionRow(id={self.id}, version={self.version!r})"

    @property
    def uuid(self) -> str:
        return remove_uuid_prefix(self.instance_id)

    @property
    def encrypted(self) -> bool:
        return self.manifest_xml is not None

    def current_answers(self) -> dict[str, Any]:
        """The stored answers, or the factory's answers for this row normalised as Kobo stores them."""
        if self.answers is not None:
            return self.answers
        if self.source is None:
            return {}
        return normalize_answers(self.source(self.source_index))


@dataclass(frozen=True)
class RenderContext:
    """What rendering needs besides the row: the asset, its XForm uuid, and where URLs point."""

    asset_uid: str
    formhub_uuid: str
    owner_username: str
    base_url: str
    version_strings: Mapping[str, str] = field(default_factory=dict)
    """Asset version uid → the form `version` setting it was deployed with (for raw XML)."""


def remove_uuid_prefix(value: str) -> str:
    return re.sub(r"^uuid:", "", value)


def format_submission_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(SUBMISSION_TIME_FORMAT)


# --------------------------------------------------------------------------- answers


def normalize_answers(answers: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Turn test-friendly answers into what Kobo stores: full `/` paths, strings, no empties.

    Nested mappings are groups; lists of mappings are repeats (item keys may be relative or
    already full paths); lists of scalars are select_multiple answers (space-separated).
    `_`-prefixed keys are refused: metadata is the double's job.

    Example: `normalize_answers({"grp": {"age": 34}, "tags": ["a", "b"]})`
    → `{"grp/age": "34", "tags": "a b"}`
    """
    out: dict[str, Any] = {}
    for key, value in answers.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"answer keys must be non-empty strings, got {key!r}")
        if key.startswith("_") and key != "__version__" and not prefix:
            raise ValueError(f"answer key {key!r} looks like Kobo metadata; pass it as a parameter")
        if key == "__version__":
            raise ValueError("__version__ is set by the double from the deployed version")
        path = key if (prefix and key.startswith(prefix + "/")) else (
            f"{prefix}/{key}" if prefix else key)
        if value is None or value == "":
            continue
        if isinstance(value, Mapping):
            out.update(normalize_answers(value, path))
        elif isinstance(value, list | tuple) and value and all(
                isinstance(item, Mapping) for item in value):
            items = [normalize_answers(item, path) for item in value]
            items = [item for item in items if item]
            if items:
                out[path] = items
        elif isinstance(value, list | tuple):
            if value:
                out[path] = " ".join(_answer_text(item) for item in value)
        else:
            out[path] = _answer_text(value)
    return out


def _answer_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def merge_answers(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply an edit: `changes` (same forms as `normalize_answers`) replace keys; None removes."""
    merged = dict(current)
    removed = [key for key, value in changes.items() if value is None or value == ""]
    for key in removed:
        merged.pop(key, None)
        for existing in list(merged):
            if existing.startswith(key + "/"):
                merged.pop(existing)
    merged.update(normalize_answers({k: v for k, v in changes.items() if k not in removed}))
    return merged


def find_question_xpath(answers: Mapping[str, Any], basename: str) -> str | None:
    """The question whose answer names a file (Kobo links attachments to questions that way)."""
    for key, value in answers.items():
        if isinstance(value, str) and value == basename:
            return key
        if isinstance(value, list):
            for item in value:
                found = find_question_xpath(item, basename) if isinstance(item, Mapping) else None
                if found:
                    return found
    return None


def guess_mimetype(basename: str) -> str:
    if basename.endswith(".enc"):
        return "application/octet-stream"
    return mimetypes.guess_type(basename)[0] or "application/octet-stream"


# --------------------------------------------------------------------------- Kobo JSON


def metadata_view(row: SubmissionRow, asset_uid: str) -> dict[str, Any]:
    """The metadata keys of a row, enough to evaluate most incremental-pull filters."""
    view: dict[str, Any] = {
        "_id": row.id,
        "_uuid": row.uuid,
        "_submission_time": row.submission_time,
        "meta/rootUuid": row.root_uuid,
        "_validation_status": row.validation_status or {},
        "_status": row.status,
        "_submitted_by": row.submitted_by,
        "_xform_id_string": asset_uid,
    }
    if not row.encrypted:
        view["__version__"] = row.version
        view["meta/instanceID"] = row.instance_id
    if row.deprecated_id:
        view["meta/deprecatedID"] = row.deprecated_id
    return view


def render_submission(row: SubmissionRow, ctx: RenderContext) -> dict[str, Any]:
    """One submission exactly as `/data/` returns it (§5.4; encrypted manifests as §8.2)."""
    doc: dict[str, Any] = {"_id": row.id}
    if row.encrypted:
        doc.update(row.current_answers())
    else:
        doc["formhub/uuid"] = ctx.formhub_uuid
        doc.update(row.current_answers())
        doc["__version__"] = row.version
        doc["meta/instanceID"] = row.instance_id
        if row.deprecated_id:
            doc["meta/deprecatedID"] = row.deprecated_id
    doc["meta/rootUuid"] = row.root_uuid
    doc["_xform_id_string"] = ctx.asset_uid
    doc["_uuid"] = row.uuid
    doc["_attachments"] = [attachment_json(row, a, ctx) for a in row.attachments]
    doc["_status"] = row.status
    doc["_geolocation"] = list(row.geolocation)
    doc["_submission_time"] = row.submission_time
    doc["_validation_status"] = row.validation_status or {}
    doc["_submitted_by"] = row.submitted_by
    return doc


def attachment_url(ctx: RenderContext, submission_id: int, attachment_uid: str,
                   suffix: str | None = None) -> str:
    url = (f"{ctx.base_url}/api/v2/assets/{ctx.asset_uid}/data/{submission_id}"
           f"/attachments/{attachment_uid}/")
    return f"{url}{suffix}/" if suffix else url


def attachment_json(row: SubmissionRow, attachment: StoredAttachment,
                    ctx: RenderContext) -> dict[str, Any]:
    item: dict[str, Any] = {"download_url": attachment_url(ctx, row.id, attachment.uid)}
    if attachment.mimetype.startswith("image/"):
        for size in ("large", "medium", "small"):
            item[f"download_{size}_url"] = attachment_url(ctx, row.id, attachment.uid, size)
    item.update({
        "mimetype": attachment.mimetype,
        "filename": (f"{ctx.owner_username}/attachments/{ctx.formhub_uuid}/"
                     f"{remove_uuid_prefix(row.root_uuid)}/{attachment.basename}"),
        "media_file_basename": attachment.basename,
        "uid": attachment.uid,
        "question_xpath": attachment.question_xpath,
        "is_deleted": False,
    })
    return item


def project_fields(doc: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """`fields=[…]`: keep the named keys; the server always adds `_uuid` and `meta/rootUuid`."""
    wanted = list(fields) + [k for k in ("_uuid", "meta/rootUuid") if k not in fields]
    return {key: doc[key] for key in wanted if key in doc}


# --------------------------------------------------------------------------- XML


def flatten_instance_xml(xml_bytes: bytes) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Flatten an instance (or an encryption manifest) the way Kobo's parser does.

    Element names keep their prefix (`orx:meta`), siblings sharing a name become a list of
    objects with full-path keys, empty leaves are dropped. Returns (root name, root attributes,
    flat dict).

    Example: two `<media><file>…</file></media>` give `{"media": [{"media/file": …}, …]}`.
    """
    text = re.sub(rb">\s+<", b"><", xml_bytes.strip())
    document = minidom.parseString(text)
    root = document.documentElement
    attributes = {name: value for name, value in root.attributes.items()}
    nested = _element_value(root)
    flat: dict[str, Any] = {}
    if isinstance(nested, dict):
        _flatten_into(flat, nested, [])
    return root.nodeName, attributes, flat


def _element_value(node: minidom.Element) -> Any:
    children = [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE]
    if not children:
        text = "".join(c.data for c in node.childNodes
                       if c.nodeType in (c.TEXT_NODE, c.CDATA_SECTION_NODE))
        return text if text != "" else None
    value: dict[str, Any] = {}
    for child in children:
        child_value = _element_value(child)
        if child_value is None:
            continue
        name = child.nodeName
        if name not in value:
            value[name] = child_value
        elif isinstance(value[name], _Repeated):
            value[name].append(child_value)
        else:
            value[name] = _Repeated([value[name], child_value])
    return value


class _Repeated(list):
    """Siblings sharing a name (a repeat, or several `<media>` entries)."""


def _flatten_into(out: dict[str, Any], value: dict[str, Any], path: list[str]) -> None:
    for name, child in value.items():
        child_path = [*path, name]
        key = "/".join(child_path)
        if isinstance(child, _Repeated):
            items = []
            for item in child:
                flat_item: dict[str, Any] = {}
                if isinstance(item, dict):
                    _flatten_into(flat_item, item, child_path)
                else:
                    flat_item[key] = item
                items.append(flat_item)
            out[key] = items
        elif isinstance(child, dict):
            _flatten_into(out, child, child_path)
        else:
            out[key] = child


def instance_xml(row: SubmissionRow, ctx: RenderContext) -> str:
    """The raw instance XML Kobo keeps for a row (`/data/{id}.xml`); the manifest if encrypted.

    The root element is the asset uid (kpi's data dictionary names the survey after its
    `id_string`, which deploy sets to the asset uid; `kobo-api.md` §4.2).
    """
    if row.manifest_xml is not None:
        return row.manifest_xml.decode("utf-8")
    nested: dict[str, Any] = {"formhub": {"uuid": ctx.formhub_uuid}}
    _nest_into(nested, row.current_answers(), "")
    nested["__version__"] = row.version or ""
    meta: dict[str, Any] = {"instanceID": row.instance_id}
    if row.deprecated_id:
        meta["deprecatedID"] = row.deprecated_id
    meta["rootUuid"] = row.root_uuid
    nested["meta"] = meta
    version = ctx.version_strings.get(row.version or "", "")
    attrs = f" id={quoteattr(ctx.asset_uid)}" + (f" version={quoteattr(version)}" if version else "")
    return f"<{ctx.asset_uid}{attrs}>{_xml_children(nested)}</{ctx.asset_uid}>"


def _nest_into(target: dict[str, Any], flat: Mapping[str, Any], prefix: str) -> None:
    for key, value in flat.items():
        relative = key[len(prefix) + 1:] if prefix and key.startswith(prefix + "/") else key
        parts = relative.split("/")
        node = target
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if isinstance(value, list):
            items = []
            for item in value:
                item_node: dict[str, Any] = {}
                _nest_into(item_node, item, key)
                items.append(item_node)
            node[parts[-1]] = _Repeated(items)
        else:
            node[parts[-1]] = value


def _xml_children(nested: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for name, value in nested.items():
        if isinstance(value, _Repeated):
            parts.extend(f"<{name}>{_xml_children(item)}</{name}>" for item in value)
        elif isinstance(value, Mapping):
            parts.append(f"<{name}>{_xml_children(value)}</{name}>")
        else:
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
    return "".join(parts)


def prune_xml(xml_text: str, subset_fields: list[str]) -> str:
    """Keep only the subset fields (and their ancestors), as Kobo's XML REST Service does."""
    root = ET.fromstring(xml_text)

    def keep(element: ET.Element, path: str) -> bool:
        if field_selected(path, subset_fields):
            return True
        kept_any = False
        for child in list(element):
            if keep(child, f"{path}/{_local(child.tag)}" if path else _local(child.tag)):
                kept_any = True
            else:
                element.remove(child)
        return kept_any

    for child in list(root):
        if not keep(child, _local(child.tag)):
            root.remove(child)
    return ET.tostring(root, encoding="unicode")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def field_selected(key: str, subset_fields: list[str]) -> bool:
    """REST Service `subset_fields` rule: names with `/` match whole keys, others whole segments."""
    for name in subset_fields:
        if "/" in name:
            if re.search(f"^{name}$", key):
                return True
        elif re.search(f"(^|/){name}(/|$)", key):
            return True
    return False


def validation_status_json(uid: str, username: str, moment: dt.datetime) -> dict[str, Any]:
    return {"timestamp": int(moment.timestamp()), "uid": uid, "by_whom": username,
            "label": VALIDATION_LABELS[uid]}
