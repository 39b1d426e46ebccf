"""`GET /api/tracker/{trackedEntities,enrollments,events}` in the double, with each version's envelope.

Contract (dhis2-api.md §5): 2.40 pages as `{"page","pageSize"[,"total","pageCount"],"instances"}`;
2.41 adds `pager{...}` and the plural key and keeps the flat fields (deprecated); 2.42+ `pager`
only. `total`/`pageCount` only with `totalPages=true`. `paging=false` (2.41+) / `skipPaging=true`
(≤2.41) returns the bare collection. Parameter renames per version (`orgUnit` → `orgUnits`,
`trackedEntity` → `trackedEntities`, `event` → `events`, `programStatus` → `enrollmentStatus`);
`program` is required on events and enrollments from 2.43; page sizes over the maximum are HTTP 400
from 2.42. `updatedAfter` is inclusive (`>=`, inferred from the store queries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from .fields import FieldSpec, apply_fields, parse_fields, wants
from .store import Enrollment, Event, Store, TrackedEntity
from .values import parse_time, server_time

DEFAULT_FIELDS = {
    "trackedEntities": "*,!relationships,!enrollments,!events,!programOwners",
    "enrollments": "*,!relationships,!events,!attributes",
    "events": "*,!relationships",
}


class ExportError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _attribute_view(store: Store, uid: str, value: str, moment: str) -> dict[str, Any]:
    attribute = store.get("trackedEntityAttributes", uid) or {}
    return {"attribute": uid, "code": attribute.get("code"), "displayName": attribute.get("name"),
            "createdAt": moment, "updatedAt": moment, "valueType": attribute.get("valueType"),
            "value": value}


def event_view(store: Store, event: Event, spec: FieldSpec) -> dict[str, Any]:
    enrollment = store.enrollments.get(event.enrollment or "")
    moment = server_time(event.updated_at)
    view: dict[str, Any] = {
        "event": event.uid, "status": event.status, "program": event.program,
        "programStage": event.program_stage, "enrollment": event.enrollment,
        "trackedEntity": enrollment.tracked_entity if enrollment else None,
        "orgUnit": event.org_unit, "occurredAt": event.occurred_at,
        "scheduledAt": event.scheduled_at, "createdAt": server_time(event.created_at),
        "updatedAt": moment, "deleted": event.deleted, "followUp": False,
        "attributeOptionCombo": "HllvX50cXC0", "attributeCategoryOptions": "xYerKDKCefk",
        "notes": [], "relationships": [],
    }
    if wants(spec, "dataValues"):
        view["dataValues"] = [{"dataElement": de, "value": value, "createdAt": moment,
                               "updatedAt": moment, "providedElsewhere": False}
                              for de, value in sorted(event.data_values.items())]
    return apply_fields(view, spec)


def enrollment_view(store: Store, enrollment: Enrollment, spec: FieldSpec,
                    include_deleted: bool) -> dict[str, Any]:
    te = store.tracked_entities.get(enrollment.tracked_entity)
    view: dict[str, Any] = {
        "enrollment": enrollment.uid, "createdAt": server_time(enrollment.created_at),
        "updatedAt": server_time(enrollment.updated_at), "trackedEntity": enrollment.tracked_entity,
        "program": enrollment.program, "status": enrollment.status, "orgUnit": enrollment.org_unit,
        "enrolledAt": enrollment.enrolled_at, "occurredAt": enrollment.occurred_at,
        "followUp": False, "deleted": enrollment.deleted, "notes": [], "relationships": [],
    }
    if wants(spec, "attributes") and te is not None:
        program_attrs = store.program_attributes(enrollment.program)
        moment = server_time(te.updated_at)
        view["attributes"] = [_attribute_view(store, uid, value, moment)
                              for uid, value in sorted(te.attributes.items()) if uid in program_attrs]
    if wants(spec, "events"):
        sub = spec.get("events") if isinstance(spec.get("events"), dict) else {"*": True}
        view["events"] = [event_view(store, store.events[u], sub)
                          for u in store.events_by_enrollment.get(enrollment.uid, ())
                          if include_deleted or not store.events[u].deleted]
    return apply_fields(view, spec)


def tracked_entity_view(store: Store, te: TrackedEntity, spec: FieldSpec, program: str | None,
                        include_deleted: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "trackedEntity": te.uid, "trackedEntityType": te.tracked_entity_type,
        "createdAt": server_time(te.created_at), "updatedAt": server_time(te.updated_at),
        "orgUnit": te.org_unit, "inactive": False, "deleted": te.deleted,
        "potentialDuplicate": False, "relationships": [], "programOwners": [],
    }
    if wants(spec, "attributes"):
        allowed = set(store.type_attributes(te.tracked_entity_type))
        if program:
            allowed |= set(store.program_attributes(program))
        moment = server_time(te.updated_at)
        view["attributes"] = [_attribute_view(store, uid, value, moment)
                              for uid, value in sorted(te.attributes.items()) if uid in allowed]
    if wants(spec, "enrollments"):
        sub = spec.get("enrollments") if isinstance(spec.get("enrollments"), dict) else {"*": True}
        enrollments = [store.enrollments[u] for u in store.enrollments_by_te.get(te.uid, ())]
        view["enrollments"] = [enrollment_view(store, e, sub, include_deleted) for e in enrollments
                               if (include_deleted or not e.deleted) and (not program or e.program == program)]
    return apply_fields(view, spec)


class ExportQuery:
    """The request's parameters, read the way the server version reads them."""

    def __init__(self, query: Mapping[str, str], minor: int, max_page_size: int) -> None:
        self.query = query
        self.minor = minor
        get = query.get
        self.program = get("program")
        self.include_deleted = (get("includeDeleted") or "").lower() == "true"
        self.updated_after = self._time("updatedAfter")
        self.updated_before = self._time("updatedBefore")
        org_units: list[str] = []
        if minor <= 41 and get("orgUnit"):
            org_units += get("orgUnit").split(";")
        if minor >= 41 and get("orgUnits"):
            org_units += get("orgUnits").split(",")
        self.org_units = [u for u in org_units if u]
        mode = get("orgUnitMode") if minor >= 41 else None
        if not mode and minor <= 41:
            mode = get("ouMode")
        self.org_unit_mode = (mode or ("SELECTED" if self.org_units else "ACCESSIBLE")).upper()
        if minor >= 42 and self.org_units and self.org_unit_mode in ("ALL", "ACCESSIBLE", "CAPTURE"):
            raise ExportError(400, f"orgUnitMode {self.org_unit_mode} cannot be used with orgUnits. "
                              "Please remove the orgUnits parameter and try again.")
        if minor >= 41 and (get("paging") or "").lower() == "false":
            self.paging = False
        elif minor <= 41 and (get("skipPaging") or "").lower() == "true":
            self.paging = False
        else:
            self.paging = True
        try:
            self.page = max(1, int(get("page") or 1))
            self.page_size = int(get("pageSize") or 50)
        except ValueError:
            raise ExportError(400, "page and pageSize must be whole numbers") from None
        if self.page_size < 1:
            raise ExportError(400, "pageSize must be greater than or equal to 1")
        if minor >= 42 and self.page_size > max_page_size:
            raise ExportError(400, f"pageSize must be less than or equal to {max_page_size}")
        self.total_pages = (get("totalPages") or "").lower() == "true"
        self.order = get("order") or ""

    def _time(self, name: str) -> Any:
        text = self.query.get(name)
        if not text:
            return None
        moment = parse_time(text)
        if moment is None:
            raise ExportError(400, f"Value {text} is not a valid date for query parameter {name}")
        return moment

    def uids(self, old: str, new: str) -> set[str] | None:
        found: list[str] = []
        if self.minor <= 41 and self.query.get(old):
            found += self.query[old].split(";")
        if self.minor >= 41 and self.query.get(new):
            found += self.query[new].split(",")
        return {u for u in found if u} or None

    def keep_updated(self, moment: Any) -> bool:
        if self.updated_after is not None and moment < self.updated_after:
            return False
        return not (self.updated_before is not None and moment > self.updated_before)

    def sort(self, items: list[Any]) -> list[Any]:
        for part in reversed([p for p in self.order.split(",") if p]):
            name, _, direction = part.partition(":")
            key: Callable[[Any], Any] | None = {
                "updatedAt": lambda o: o.updated_at, "createdAt": lambda o: o.created_at,
            }.get(name)
            if key is None:
                raise ExportError(400, f"Cannot order by '{name}'.")
            items.sort(key=key, reverse=direction.lower() == "desc")
        return items


def envelope(key: str, views: list[dict[str, Any]], query: ExportQuery, total: int,
             page_url: Callable[[int], str]) -> dict[str, Any]:
    """Wrap one page of views the way this server version does."""
    collection = "instances" if query.minor <= 40 else key
    if not query.paging:
        return {collection: views}
    pager: dict[str, Any] = {"page": query.page, "pageSize": query.page_size}
    if query.total_pages:
        pager["total"] = total
        pager["pageCount"] = max(1, -(-total // query.page_size))
    if query.minor <= 40:
        return {**pager, collection: views}
    full_pager = dict(pager)
    if query.page > 1:
        full_pager["prevPage"] = page_url(query.page - 1)
    if query.page * query.page_size < total:
        full_pager["nextPage"] = page_url(query.page + 1)
    if query.minor == 41:
        return {"pager": full_pager, **pager, collection: views}
    return {"pager": full_pager, collection: views}


def _page(items: list[Any], query: ExportQuery) -> list[Any]:
    if not query.paging:
        return items
    start = (query.page - 1) * query.page_size
    return items[start:start + query.page_size]


def export(store: Store, resource: str, query_params: Mapping[str, str], minor: int,
           max_page_size: int, page_url: Callable[[int], str]) -> dict[str, Any]:
    """Run one export request; raises ExportError for what the server answers with 4xx."""
    query = ExportQuery(query_params, minor, max_page_size)
    spec = parse_fields(query_params.get("fields") or DEFAULT_FIELDS[resource])
    if query.program and store.get("programs", query.program) is None:
        raise ExportError(400, f"Program is specified but does not exist: {query.program}")
    if resource in ("events", "enrollments") and minor >= 43 and not query.program:
        raise ExportError(400, "Program is mandatory")
    items: list[Any]
    if resource == "trackedEntities":
        wanted = query.uids("trackedEntity", "trackedEntities")
        tet = query_params.get("trackedEntityType")
        if not query.program and not tet and not wanted:
            raise ExportError(400, "Either a program or a tracked entity type must be specified")
        items = []
        for te in store.tracked_entities.values():
            if (te.deleted and not query.include_deleted) or (wanted and te.uid not in wanted):
                continue
            if tet and te.tracked_entity_type != tet:
                continue
            if query.org_units and te.org_unit not in query.org_units:
                continue
            if query.program and not _enrolled(store, te.uid, query.program, query.include_deleted):
                continue
            if query.keep_updated(te.updated_at):
                items.append(te)
        query.sort(items)
        views = [tracked_entity_view(store, te, spec, query.program, query.include_deleted)
                 for te in _page(items, query)]
    elif resource == "enrollments":
        wanted = query.uids("enrollment", "enrollments")
        items = [e for e in store.enrollments.values()
                 if (query.include_deleted or not e.deleted) and (not wanted or e.uid in wanted)
                 and (not query.program or e.program == query.program)
                 and (not query.org_units or e.org_unit in query.org_units)
                 and query.keep_updated(e.updated_at)]
        query.sort(items)
        views = [enrollment_view(store, e, spec, query.include_deleted) for e in _page(items, query)]
    else:
        wanted = query.uids("event", "events")
        stage = query_params.get("programStage")
        items = [e for e in store.events.values()
                 if (query.include_deleted or not e.deleted) and (not wanted or e.uid in wanted)
                 and (not query.program or e.program == query.program)
                 and (not stage or e.program_stage == stage)
                 and (not query.org_units or e.org_unit in query.org_units)
                 and query.keep_updated(e.updated_at)]
        query.sort(items)
        views = [event_view(store, e, spec) for e in _page(items, query)]
    return envelope(resource, views, query, len(items), page_url)


def _enrolled(store: Store, te_uid: str, program: str, include_deleted: bool) -> bool:
    return any(store.enrollments[u].program == program and (include_deleted or not store.enrollments[u].deleted)
               for u in store.enrollments_by_te.get(te_uid, ()))


def page_url_for(base: str, path: str, query: Iterable[tuple[str, str]]) -> Callable[[int], str]:
    """A function giving the absolute URL of another page of the same request."""
    pairs = [(k, v) for k, v in query if k != "page"]

    def make(page: int) -> str:
        return f"{base}{path}?{urlencode(pairs + [('page', str(page))])}"

    return make
