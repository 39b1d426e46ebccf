"""Canonical records ↔ DHIS2 tracker payloads: pure functions driven by the metadata package.

The metadata package (the builder's JSON) is the only authority on what DHIS2 holds: every object
carries `code` = the codebook code, so an element code maps to a tracked-entity attribute (person
level: on the tracked entity when the tracked-entity type lists it, else on the enrollment as a
program attribute) or to a data element of one or more program stages. A value whose element is
not in the package is never sent; restricted elements (immigration status) are never sent even
if a package lists them.

How a record is filed (deterministic UIDs, so a re-push is an update and never a duplicate):
  - tracked entity = `uid_for("trackedEntity", person_pseudo_id)`;
  - enrollment     = `uid_for("enrollment", case_reference or svc_case_reference)`, else one
                     enrollment per person and program;
  - event          = `uid_for("event", "<record id>:<stage uid>")` in a repeatable stage,
                     `uid_for("event", "<enrollment uid>:<stage uid>")` in a non-repeatable one
                     (one event per case, updated by every record of the case); a record's
                     data elements go to the fewest stages that hold them (an intake fills
                     several), link keys never open a stage on their own;
  - a record with a case reference but no person id (a referral, a follow-up) becomes events
    of that case's enrollment; a screening without either is filed under the case the sync engine
    derives from it (keys from its record id, `screening.py`), in an enrollment sent COMPLETED
    when the screening does not quote that case (its result opened none); any other record with
    neither is returned as unplaced (DH401), one whose keys the routing policy withholds (no
    consent) is skipped: nothing of it travels, not even a hash.
Events of repeatable stages are sent COMPLETED (one record, one finished event); the shared
event of a non-repeatable stage is sent ACTIVE, since no single record completes it.
Values are rendered per DHIS2 value type: option codes as codes, MULTI_TEXT comma-separated,
BOOLEAN `true|false`, TRUE_ONLY only `true`, DATE `yyyy-MM-dd`, COORDINATE `[lon,lat]`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from tipdata.dhis2_app import uids as _uids
from tipdata.model import Codebook, Element
from tipdata.records import CanonicalRecord, Envelope, coerce_value, record_id_for

from .screening import screening_case_reference, screening_person_id

UidFor = Callable[[str, str], str]
PERSON_KEY = "person_pseudo_id"
CASE_KEYS = ("case_reference", "svc_case_reference")
LINK_KEYS = frozenset({PERSON_KEY, *CASE_KEYS})
CASE_OPENED = "case_opened_date"
SCREENING_DATE = "screening_date"
SCREENING_LEVEL = "screening"
CASE_CLOSED = "case_closed_date"
RESTRICTED = "restricted"


def _precomputed_uid_for() -> UidFor:
    """`tipdata.dhis2_app.uids.uid_for` with the HMAC pads computed once: the same UIDs, ~3x faster.

    A push derives a UID for every tracked entity, enrollment and event, and `hmac.new` re-derives
    the key pads on each call. The shortcut is used only if it reproduces `uid_for` exactly on
    sample inputs; otherwise (the builder changed its scheme) `uid_for` itself is used.
    """
    try:
        key, letters, alphanumeric = _uids._KEY, _uids._LETTERS, _uids._ALPHANUMERIC
    except AttributeError:
        return _uids.uid_for
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    first = [letters[b % len(letters)] for b in range(256)]
    rest = bytes(ord(alphanumeric[b % len(alphanumeric)]) for b in range(256))

    def uid_for(kind: str, code: str) -> str:
        if not kind or not code:
            raise ValueError("a UID needs both an object type and a code")
        digest_in = inner.copy()
        digest_in.update(f"{kind}:{code}".encode())
        digest_out = outer.copy()
        digest_out.update(digest_in.digest())
        digest = digest_out.digest()
        return first[digest[0]] + digest[1:11].translate(rest).decode("ascii")

    samples = (("trackedEntity", "P-0001"), ("event", "a:b"), ("enrollment", "TIP-ü/1"))
    if all(uid_for(k, c) == _uids.uid_for(k, c) for k, c in samples):
        return uid_for
    return _uids.uid_for  # pragma: no cover - only if the builder's scheme changes


#: Tracker object UIDs from the same keyed hash as the metadata (`tipdata.dhis2_app.uids`).
default_uid_for: UidFor = _precomputed_uid_for()


# --- the mapping read from the package ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldTarget:
    """Where one codebook element lives in DHIS2 and how its values are written there."""

    code: str
    kind: Literal["te_attribute", "enrollment_attribute", "data_element"]
    uid: str
    value_type: str
    option_set: str | None
    #: stage uids holding the data element, in stage order (empty for attributes)
    stages: tuple[str, ...] = ()
    element_type: str = "text"


@dataclass(frozen=True)
class Stage:
    uid: str
    code: str | None
    repeatable: bool
    order: int


@dataclass(frozen=True)
class TrackerMapping:
    """Everything the payload builder needs, derived once from a metadata package."""

    program: str
    program_code: str | None
    tracked_entity_type: str
    org_unit: str
    targets: Mapping[str, FieldTarget]
    stages: Mapping[str, Stage]
    #: codebook codes the package lists but that are never sent (restricted)
    refused: frozenset[str] = frozenset()
    by_uid: Mapping[str, str] = field(default_factory=dict)
    #: form ids of the screening forms (their records are filed by `screening.py`'s keys)
    screening_forms: frozenset[str] = frozenset()

    @property
    def source_system(self) -> str:
        """`source_system` of records pulled from this program (`record_id_for` namespace)."""
        return f"dhis2:{self.program}"


class PackageError(ValueError):
    """The metadata package cannot drive the connector (no program, ambiguous program, ...)."""


def _option_sets(package: Mapping[str, Any]) -> dict[str, str]:
    return {
        s["id"]: s.get("valueType", "TEXT") for s in package.get("optionSets", []) if s.get("id")
    }


def mapping_from_package(
    package: Mapping[str, Any],
    codebook: Codebook,
    *,
    org_unit: str | None = None,
    program: str | None = None,
) -> TrackerMapping:
    """Read the program, its attributes and stages from the package, indexed by codebook code.

    `program` picks a program by code or uid when the package has several tracker programs;
    `org_unit` (where pushed records are filed) defaults to the program's first assigned org unit.

    >>> mapping = mapping_from_package(json.loads(path.read_text()), load_codebook())  # doctest: +SKIP
    >>> mapping.targets["person_sex"].kind  # doctest: +SKIP
    'te_attribute'
    """
    programs = [
        p
        for p in package.get("programs", [])
        if p.get("programType", "WITH_REGISTRATION") == "WITH_REGISTRATION"
    ]
    if program:
        programs = [p for p in programs if program in (p.get("code"), p.get("id"))]
    if len(programs) != 1:
        names = ", ".join(str(p.get("code") or p.get("id")) for p in package.get("programs", []))
        raise PackageError(
            f"the metadata package must name exactly one tracker program"
            f"{f' {program!r}' if program else ''}; it has: {names or 'none'}"
            " (pick one with --program CODE)"
        )
    chosen = programs[0]
    tet = (chosen.get("trackedEntityType") or {}).get("id")
    if not tet:
        raise PackageError(
            f"program {chosen.get('code') or chosen.get('id')} has no trackedEntityType"
        )
    units = [ref.get("id") for ref in chosen.get("organisationUnits", []) if ref.get("id")]
    unit = org_unit or (units[0] if units else "")  # needed to push (PayloadBuilder), not to pull
    tet_obj = next((t for t in package.get("trackedEntityTypes", []) if t.get("id") == tet), {})
    tet_attrs = {
        (e.get("trackedEntityAttribute") or {}).get("id")
        for e in tet_obj.get("trackedEntityTypeAttributes", [])
    }
    program_attrs = {
        (e.get("trackedEntityAttribute") or {}).get("id")
        for e in chosen.get("programTrackedEntityAttributes", [])
    }
    stage_refs = {ref.get("id") for ref in chosen.get("programStages", [])}
    stage_objs = [
        s
        for s in package.get("programStages", [])
        if s.get("id") in stage_refs or (s.get("program") or {}).get("id") == chosen["id"]
    ]
    stage_objs.sort(key=lambda s: (s.get("sortOrder") or 0, s.get("code") or "", s["id"]))
    stages = {
        s["id"]: Stage(s["id"], s.get("code"), bool(s.get("repeatable")), i)
        for i, s in enumerate(stage_objs)
    }
    de_stages: dict[str, list[str]] = {}
    for stage in stage_objs:
        for entry in stage.get("programStageDataElements", []):
            de = (entry.get("dataElement") or {}).get("id")
            if de:
                de_stages.setdefault(de, []).append(stage["id"])
    set_types = _option_sets(package)
    targets: dict[str, FieldTarget] = {}
    refused: set[str] = set()

    def add(obj: Mapping[str, Any], kind: str, stages_of: tuple[str, ...] = ()) -> None:
        code = obj.get("code")
        element = codebook.elements.get(code or "")
        if element is None:
            return
        if element.sensitivity == RESTRICTED:
            refused.add(element.code)
            return
        option_set = (obj.get("optionSet") or {}).get("id")
        value_type = obj.get("valueType") or set_types.get(option_set or "", "TEXT")
        targets[element.code] = FieldTarget(
            element.code, kind, obj["id"], value_type, option_set, stages_of, element.type
        )  # type: ignore[arg-type]

    for attribute in package.get("trackedEntityAttributes", []):
        if attribute.get("id") in tet_attrs:
            add(attribute, "te_attribute")
        elif attribute.get("id") in program_attrs:
            add(attribute, "enrollment_attribute")
    for element in package.get("dataElements", []):
        if element.get("id") in de_stages:
            add(element, "data_element", tuple(de_stages[element["id"]]))
    return TrackerMapping(
        program=chosen["id"],
        program_code=chosen.get("code"),
        tracked_entity_type=tet,
        org_unit=unit,
        targets=targets,
        stages=stages,
        refused=frozenset(refused),
        by_uid={t.uid: t.code for t in targets.values()},
        screening_forms=frozenset(
            f for f, form in codebook.forms.items() if form.level == SCREENING_LEVEL
        ),
    )


# --- values ------------------------------------------------------------------------------------


def render_value(target: FieldTarget, value: Any) -> str | None:
    """A canonical value as DHIS2 stores it for the target's value type (None: send nothing)."""
    if value is None:
        return None
    value_type = target.value_type
    if isinstance(value, bool):
        if value_type == "TRUE_ONLY":
            return "true" if value else None
        return "true" if value else "false"
    if isinstance(value, tuple | list | frozenset | set):
        if target.element_type == "geopoint" or value_type == "COORDINATE":
            return f"[{value[1]},{value[0]}]"
        return ",".join(str(v) for v in value)
    if isinstance(value, dt.datetime):
        if value_type in ("DATE", "AGE"):
            return value.date().isoformat()
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def parse_value(element: Element, target: FieldTarget, raw: str) -> Any:
    """A DHIS2 value back into the canonical Python value (`coerce_value` does the typing)."""
    if element.type == "select_multiple":
        return coerce_value(element, [c for c in raw.split(",") if c])
    if element.type == "geopoint" and raw.startswith("["):
        lon, lat = raw.strip("[]").split(",")[:2]
        return coerce_value(element, f"{lat.strip()} {lon.strip()}")
    return coerce_value(element, raw)


# --- the payload -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unplaced:
    """A record the builder could not file in DHIS2 (no person or case key)."""

    record: CanonicalRecord
    reason: str
    message: str


@dataclass
class TrackerPayload:
    """One `POST /api/tracker` body plus which records each object came from.

    `owners` maps (trackerType, uid) to the ids of the records that contributed to the object, so
    the server's per-object errors can be turned into quarantined records.
    """

    body: dict[str, list[dict[str, Any]]]
    owners: dict[tuple[str, str], list[str]]
    records: dict[str, CanonicalRecord]
    unplaced: list[Unplaced] = field(default_factory=list)
    #: element code -> how many values were left out (not in the package, restricted, policy)
    withheld: Counter[str] = field(default_factory=Counter)
    #: ids of records the policy lets nothing linkable of travel (not an error: nothing to fix)
    skipped: list[str] = field(default_factory=list)

    @property
    def object_count(self) -> int:
        return len(self.owners)

    def values_of(self, tracker_type: str, uid: str, mapping: TrackerMapping) -> dict[str, str]:
        """Element code → value sent for one object (to name the element an error is about)."""
        found: dict[str, str] = {}
        for te in self.body.get("trackedEntities", []):
            objects = [("TRACKED_ENTITY", te, "attributes")]
            for enrollment in te.get("enrollments", []):
                objects.append(("ENROLLMENT", enrollment, "attributes"))
                objects += [
                    ("EVENT", event, "dataValues") for event in enrollment.get("events", [])
                ]
            for kind, obj, key in objects:
                if kind == tracker_type and obj.get(_ID_KEYS[kind]) == uid:
                    found.update(_codes_of(obj.get(key, []), mapping))
        for event in self.body.get("events", []):
            if tracker_type == "EVENT" and event.get("event") == uid:
                found.update(_codes_of(event.get("dataValues", []), mapping))
        return found


_ID_KEYS = {"TRACKED_ENTITY": "trackedEntity", "ENROLLMENT": "enrollment", "EVENT": "event"}


def _codes_of(entries: Iterable[Mapping[str, str]], mapping: TrackerMapping) -> dict[str, str]:
    return {
        mapping.by_uid[uid]: entry["value"]
        for entry in entries
        if (uid := entry.get("attribute") or entry.get("dataElement")) in mapping.by_uid
    }


_NO_OFFSET = dt.timedelta(0)


def _timestamp(value: Any, fallback: dt.datetime) -> str:
    """A date or aware date-time as DHIS2 takes it: UTC, no zone, milliseconds."""
    if type(value) is dt.date:
        return value.isoformat() + "T00:00:00.000"
    moment = value if isinstance(value, dt.datetime) else fallback
    if moment.utcoffset() != _NO_OFFSET:
        moment = moment.astimezone(dt.UTC)
    return moment.replace(tzinfo=None, microsecond=0).isoformat() + ".000"


@dataclass(frozen=True)
class _StagePlan:
    """Where one set of data element codes goes: the stages to fill and each code's slot."""

    stages: tuple[str, ...]
    slot: Mapping[str, int]


Item = tuple[str, str, Callable[[Any], "str | None"]]  # (element code, DHIS2 uid, renderer)


@dataclass(frozen=True)
class _Layout:
    """Where the values of one set of element codes go (records of a form share a few sets).

    `stages` is the stage plan with each stage's data elements; `unknown` are the codes DHIS2
    does not hold (not in the package, restricted).
    """

    te: tuple[Item, ...]
    enrollment: tuple[Item, ...]
    stages: tuple[tuple[str, tuple[Item, ...]], ...]
    unknown: tuple[str, ...]
    may_skip: bool


_TE, _ENROLLMENT, _DATA = 0, 1, 2


class PayloadBuilder:
    """Builds tracker payloads batch by batch; caches stage plans and UIDs across batches.

    Hot path (bench/dhis2_push.py): one pass over each record's values with a precomputed
    (place, uid, renderer) per element code; text values pass through without rendering.
    """

    def __init__(self, mapping: TrackerMapping, uid_for: UidFor | None = None) -> None:
        if not mapping.org_unit:
            raise PackageError(
                "no org unit to file records under: the package assigns none to the "
                "program; pass one (--org-unit UID or TIPDATA_DHIS2_ORG_UNIT)"
            )
        self.mapping = mapping
        self.uid_for = uid_for or default_uid_for
        self._layouts: dict[tuple[str, ...], _Layout] = {}
        self._uids: dict[tuple[str, str], str] = {}
        place = {"te_attribute": _TE, "enrollment_attribute": _ENROLLMENT, "data_element": _DATA}
        self._specs: dict[str, tuple[int, str, Callable[[Any], str | None]]] = {
            code: (place[t.kind], t.uid, _renderer(t)) for code, t in mapping.targets.items()
        }
        self._repeatable = {uid: stage.repeatable for uid, stage in mapping.stages.items()}

    def _uid(self, kind: str, key: str) -> str:
        """Tracked entity and enrollment UIDs recur across records (a case's follow-ups): cached."""
        cache_key = (kind, key)
        uid = self._uids.get(cache_key)
        if uid is None:
            if len(self._uids) >= 20_000:
                self._uids.clear()  # memory stays flat on long pushes
            uid = self._uids[cache_key] = self.uid_for(kind, key)
        return uid

    def _layout(self, codes: tuple[str, ...]) -> _Layout:
        """Where each code of a record goes, computed once per distinct set of codes."""
        layout = self._layouts.get(codes)
        if layout is not None:
            return layout
        specs = self._specs
        known = [c for c in codes if c in specs]

        def items(place: int) -> tuple[Item, ...]:
            return tuple((c, specs[c][1], specs[c][2]) for c in known if specs[c][0] == place)

        data = items(_DATA)
        plan = self._stage_plan(frozenset(code for code, _, _ in data))
        stages = tuple(
            (stage, tuple(item for item in data if plan.slot.get(item[0]) == index))
            for index, stage in enumerate(plan.stages)
        )
        layout = _Layout(
            te=items(_TE),
            enrollment=items(_ENROLLMENT),
            stages=stages,
            unknown=tuple(c for c in codes if c not in specs),
            may_skip=any(self.mapping.targets[c].value_type == "TRUE_ONLY" for c in known),
        )
        if len(self._layouts) < 10_000:
            self._layouts[codes] = layout
        return layout

    def _stage_plan(self, codes: frozenset[str]) -> _StagePlan:
        """Fewest stages covering the data elements (greedy, ties to the earlier stage).

        Link keys (person id, case references) ride along in a stage the record fills anyway but
        never open an event on their own: a referral's `svc_case_reference` must not create an
        empty service event just because the package keeps that element in the service stage.
        """
        targets = self.mapping.targets
        left = set(codes - LINK_KEYS)
        chosen: list[tuple[str, set[str]]] = []
        while left:
            counts = Counter(stage for code in left for stage in targets[code].stages)
            best = min(counts, key=lambda s: (-counts[s], self.mapping.stages[s].order))
            covered = {c for c in left if best in targets[c].stages}
            chosen.append((best, covered))
            left -= covered
        for code in codes & LINK_KEYS:
            home = next((group for stage, group in chosen if stage in targets[code].stages), None)
            if home is not None:
                home.add(code)
        return _StagePlan(
            tuple(stage for stage, _ in chosen),
            {code: i for i, (_, group) in enumerate(chosen) for code in group},
        )

    def build(
        self,
        records: Iterable[tuple[CanonicalRecord, Mapping[str, Any]]],
        *,
        deletions: Mapping[str, Collection[str]] | None = None,
    ) -> TrackerPayload:
        """Payload for records paired with the values the policy lets travel to DHIS2.

        `deletions`: record id → element codes whose values DHIS2 must drop (consent withdrawn
        after they were sent). They are sent as `value: null` (which deletes) in the objects the
        record's values go to, laid out with the record's other values as when they were sent.
        """
        mapping = self.mapping
        program, org_unit = mapping.program, mapping.org_unit
        tes: dict[str, dict[str, Any]] = {}
        enrollments: dict[str, dict[str, Any]] = {}
        events_by_uid: dict[str, dict[str, Any]] = {}
        loose_events: list[dict[str, Any]] = []
        owners: dict[tuple[str, str], list[str]] = {}
        by_id: dict[str, CanonicalRecord] = {}
        unplaced: list[Unplaced] = []
        skipped: list[str] = []
        withheld: Counter[str] = Counter()
        #: enrollments only a screening that opened no case has filed so far (COMPLETED)
        closed_by_screening: set[str] = set()

        def own(key: tuple[str, str], record_id: str) -> None:
            ids = owners.get(key)
            if ids is None:
                owners[key] = [record_id]
            elif ids[-1] != record_id:
                ids.append(record_id)

        for record, allowed in records:
            envelope = record.envelope
            record_id = envelope.record_id
            by_id[record_id] = record
            values = record.values
            if allowed is not values:  # the policy withheld some values
                withheld.update(c for c, v in values.items() if v is not None and c not in allowed)
            if None in allowed.values():  # unanswered: nothing to send (null would delete)
                allowed = {c: v for c, v in allowed.items() if v is not None}
            drop = deletions.get(record_id) if deletions else None
            if drop:  # laid out with the others; None is skipped below, then sent as a delete
                allowed = {**allowed, **{c: None for c in sorted(drop) if c not in allowed}}
            layout = self._layout(tuple(allowed))
            if layout.unknown:
                withheld.update(layout.unknown)
            te_values = [
                {"attribute": uid, "value": v if type(v) is str else render(v)}
                for code, uid, render in layout.te
                if (v := allowed[code]) is not None
            ]
            enrollment_values = [
                {"attribute": uid, "value": v if type(v) is str else render(v)}
                for code, uid, render in layout.enrollment
                if (v := allowed[code]) is not None
            ]
            if layout.may_skip:  # a TRUE_ONLY false is sent as nothing, not as null (null deletes)
                te_values = [a for a in te_values if a["value"] is not None]
                enrollment_values = [a for a in enrollment_values if a["value"] is not None]
            if drop:
                te_values += _deletes(layout.te, drop, "attribute")
                enrollment_values += _deletes(layout.enrollment, drop, "attribute")
            person = allowed.get(PERSON_KEY)
            case = allowed.get(CASE_KEYS[0]) or allowed.get(CASE_KEYS[1])
            opens_no_case = False
            if not person and envelope.form_id in mapping.screening_forms:
                if not (te_values or enrollment_values or layout.stages) or any(
                    values.get(k) and k not in allowed for k in LINK_KEYS
                ):
                    skipped.append(
                        record_id
                    )  # the policy lets nothing (or nothing linking it) travel
                    continue
                own_case = screening_case_reference(record_id)
                if (
                    not case or case == own_case
                ):  # the case derived from this screening (screening.py)
                    # unquoted: no case was opened from it (its result is negative), so its
                    # enrollment is filed COMPLETED, never as an open case (screening.py)
                    opens_no_case = not case
                    person, case = screening_person_id(record_id), own_case
                    self._add_person_key(person, te_values, enrollment_values)
            if not person and not case:
                if any(values.get(k) for k in LINK_KEYS):
                    skipped.append(record_id)  # the policy lets nothing that links it travel
                else:
                    unplaced.append(
                        Unplaced(
                            record,
                            "DH401",
                            "the record has no person_pseudo_id "
                            "and no case reference, so DHIS2 cannot file it",
                        )
                    )
                continue
            enrollment_uid = self._uid("enrollment", str(case) if case else f"{program}:{person}")
            events: list[dict[str, Any]] = []
            occurred = (
                _timestamp(envelope.collected_at, envelope.collected_at) if layout.stages else ""
            )
            for stage_uid, items in layout.stages:
                data_values = [
                    {"dataElement": uid, "value": v if type(v) is str else render(v)}
                    for code, uid, render in items
                    if (v := allowed[code]) is not None
                ]
                if layout.may_skip:
                    data_values = [d for d in data_values if d["value"] is not None]
                if drop:
                    data_values += _deletes(items, drop, "dataElement")
                if layout.may_skip and not data_values:
                    continue
                # a non-repeatable stage holds one event per enrollment, updated by every record
                # of the case, and stays ACTIVE (no single record completes it); a repeatable
                # stage gets one COMPLETED event per record
                repeatable = self._repeatable[stage_uid]
                event_uid = self.uid_for(
                    "event", f"{record_id if repeatable else enrollment_uid}:{stage_uid}"
                )
                own(("EVENT", event_uid), record_id)
                earlier = events_by_uid.get(event_uid)
                if earlier is not None:  # the same case event from two records of this batch
                    _merge_values(earlier["dataValues"], data_values, "dataElement")
                    continue
                event = events_by_uid[event_uid] = {
                    "event": event_uid,
                    "programStage": stage_uid,
                    "program": program,
                    "orgUnit": org_unit,
                    "occurredAt": occurred,
                    "status": "COMPLETED" if repeatable else "ACTIVE",
                    "dataValues": data_values,
                }
                events.append(event)
            if not person:
                # a later record of a known case: its events join the case's enrollment
                enrollment = enrollments.get(enrollment_uid)
                if enrollment is not None:
                    enrollment["events"].extend(events)
                    own(("ENROLLMENT", enrollment_uid), record_id)
                else:
                    for event in events:
                        event["enrollment"] = enrollment_uid
                    loose_events.extend(events)
                # case attributes need the enrollment itself; only its intake record carries them
                withheld.update(mapping.by_uid[v["attribute"]] for v in enrollment_values)
                continue
            te_uid = self._uid("trackedEntity", str(person))
            te = tes.get(te_uid)
            if te is None:
                te = tes[te_uid] = {
                    "trackedEntity": te_uid,
                    "trackedEntityType": mapping.tracked_entity_type,
                    "orgUnit": org_unit,
                    "attributes": [],
                    "enrollments": [],
                }
            _merge_values(te["attributes"], te_values, "attribute")
            own(("TRACKED_ENTITY", te_uid), record_id)
            enrollment = enrollments.get(enrollment_uid)
            status = "COMPLETED" if opens_no_case or values.get(CASE_CLOSED) else "ACTIVE"
            if enrollment is None:
                enrolled_at = _timestamp(
                    values.get(CASE_OPENED) or values.get(SCREENING_DATE), envelope.collected_at
                )
                enrollment = enrollments[enrollment_uid] = {
                    "enrollment": enrollment_uid,
                    "program": program,
                    "orgUnit": org_unit,
                    "enrolledAt": enrolled_at,
                    "occurredAt": enrolled_at,
                    "status": status,
                    "attributes": [],
                    "events": [],
                }
                te["enrollments"].append(enrollment)
                if opens_no_case:
                    closed_by_screening.add(enrollment_uid)
            elif enrollment_uid in closed_by_screening and not opens_no_case:
                # a case record of the same enrollment in this batch: the case decides
                enrollment["status"] = status
                closed_by_screening.discard(enrollment_uid)
            _merge_values(enrollment["attributes"], enrollment_values, "attribute")
            enrollment["events"].extend(events)
            own(("ENROLLMENT", enrollment_uid), record_id)
        body: dict[str, list[dict[str, Any]]] = {"trackedEntities": list(tes.values())}
        if loose_events:
            body["events"] = loose_events
        return TrackerPayload(body, owners, by_id, unplaced, withheld, skipped)

    def _add_person_key(
        self, person: str, te_values: list[dict[str, Any]], enrollment_values: list[dict[str, Any]]
    ) -> None:
        """`person_pseudo_id` (a derived, pseudonymous key) where the package keeps it."""
        target = self.mapping.targets.get(PERSON_KEY)
        if target is None or target.kind == "data_element":
            return
        values = te_values if target.kind == "te_attribute" else enrollment_values
        values.append({"attribute": target.uid, "value": person})


def _deletes(items: Iterable[Item], codes: Collection[str], key: str) -> list[dict[str, Any]]:
    """`{key: uid, "value": None}` for each item of `codes`: DHIS2 deletes the stored value."""
    return [{key: uid, "value": None} for code, uid, _render in items if code in codes]


def _renderer(target: FieldTarget) -> Callable[[Any], str | None]:
    """`render_value` specialised for the element's canonical type (the push hot path).

    Each fast path checks the exact canonical type and hands anything else to `render_value`.
    """

    def general(value: Any) -> str | None:
        return render_value(target, value)

    kind, value_type = target.element_type, target.value_type
    if kind == "select_multiple" and value_type != "COORDINATE":
        return lambda v: ",".join(v) if type(v) is tuple else general(v)
    if kind == "integer":
        return lambda v: str(v) if type(v) is int else general(v)
    if kind == "date" and value_type in ("DATE", "AGE"):
        return lambda v: v.isoformat() if type(v) is dt.date else general(v)
    if kind == "boolean" and value_type == "BOOLEAN":
        return lambda v: ("true" if v else "false") if type(v) is bool else general(v)
    return general


def _merge_values(target: list[dict[str, str]], values: list[dict[str, str]], key: str) -> None:
    """Later records win for the same attribute or data element; order stays stable."""
    if not values:
        return
    if not target:
        target.extend(values)
        return
    index = {v[key]: i for i, v in enumerate(target)}
    for value in values:
        position = index.get(value[key])
        if position is None:
            index[value[key]] = len(target)
            target.append(value)
        else:
            target[position] = value


# --- back from DHIS2 --------------------------------------------------------------------------


def aware_time(text: str | None) -> dt.datetime | None:
    """DHIS2 renders timestamps without a zone (server time); tipdata reads them as UTC."""
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def consent_from_values(values: Mapping[str, Any], codebook: Codebook) -> frozenset[str]:
    """Consent purposes recorded as `consent_<purpose> = yes` (and not withdrawn)."""
    withdrawn = set(values.get("consent_withdrawn_purposes") or ())
    return frozenset(
        p
        for p in codebook.consent_purposes
        if values.get(f"consent_{p}") == "yes" and p not in withdrawn
    )


def records_from_tracked_entity(
    entity: Mapping[str, Any], mapping: TrackerMapping, codebook: Codebook
) -> tuple[list[CanonicalRecord], Counter[str]]:
    """One canonical record per event of the program (with the person's and case's attributes).

    Returns the records and, per element code, how many values could not be read back (they are
    left out, never guessed).
    """
    problems: Counter[str] = Counter()

    def read(entries: Iterable[Mapping[str, Any]], key: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for entry in entries or ():
            code = mapping.by_uid.get(entry.get(key) or "")
            raw = entry.get("value")
            if code is None or raw in (None, ""):
                continue
            try:
                values[code] = parse_value(codebook.elements[code], mapping.targets[code], str(raw))
            except (ValueError, KeyError):
                problems[code] += 1
        return values

    person = read(entity.get("attributes") or [], "attribute")
    records: list[CanonicalRecord] = []
    source = mapping.source_system
    for enrollment in entity.get("enrollments") or []:
        if enrollment.get("program") != mapping.program or enrollment.get("deleted"):
            continue
        case = {**person, **read(enrollment.get("attributes") or [], "attribute")}
        events = [e for e in enrollment.get("events") or [] if not e.get("deleted")]
        event_values = [read(e.get("dataValues") or [], "dataElement") for e in events]
        # every record of the case carries the case's reference, wherever the package keeps it,
        # so that pulled referrals and follow-ups link to their case as the source records did
        reference = case.get(CASE_KEYS[0]) or next(
            (v[CASE_KEYS[0]] for v in event_values if v.get(CASE_KEYS[0])), None
        )
        if reference:
            case[CASE_KEYS[0]] = reference
        for event, own_values in zip(events, event_values, strict=True):
            values = {**case, **own_values}
            collected = aware_time(event.get("occurredAt")) or aware_time(event.get("createdAt"))
            updated = aware_time(event.get("updatedAt")) or collected
            stage = mapping.stages.get(event.get("programStage") or "")
            form_id = stage.code if stage and stage.code in codebook.forms else None
            envelope = Envelope(
                record_id=record_id_for(source, event["event"]),
                source_system=source,
                source_id=event["event"],
                form_id=form_id,
                collected_at=collected,
                updated_at=updated,
                consent_purposes=consent_from_values(values, codebook),
                location=event.get("orgUnit"),
            )
            records.append(CanonicalRecord(envelope=envelope, values=values))
    if not records and person:
        updated = aware_time(entity.get("updatedAt")) or aware_time(entity.get("createdAt"))
        envelope = Envelope(
            record_id=record_id_for(source, entity["trackedEntity"]),
            source_system=source,
            source_id=entity["trackedEntity"],
            collected_at=aware_time(entity.get("createdAt")) or updated,
            updated_at=updated,
            consent_purposes=consent_from_values(person, codebook),
            location=entity.get("orgUnit"),
        )
        records.append(CanonicalRecord(envelope=envelope, values=person))
    return records, problems
