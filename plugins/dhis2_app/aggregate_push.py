"""`tipdata dhis2 push-aggregates`: protected indicator counts into the package's aggregate data set.

    result = push_aggregates(client, ledger.iter_records(), codebook, package,
                             period=ReportingPeriod.parse("2025"), org_unit="ImspTQPwCqd")

Steps (the pure ones live in `aggregates.py`): compute the data set's counts for the period and
protect each table (k = 11 by default); look the category option combos up on the server (DHIS2
generates their UIDs; `generate_combos=True` asks it to, with F_PERFORM_MAINTENANCE); build the
payload without the suppressed cells; then `POST /api/dataValueSets` with `dryRun=true` - the
contract says dataValueSets honours it, unlike `/api/metadata` - and, only when that dry run
reports no conflict and `dry_run` is false, once more to commit (`importStrategy=CREATE_AND_UPDATE`,
so a re-push updates the same cells). The ImportSummary is read from the body (`response.status`,
`importCount`, `conflicts`), never from the HTTP status: WARNING is 409 before 2.43 and 200 from
2.43. `strictDataElements` and `strictCategoryOptionCombos` are asked for, so DHIS2 refuses a
value filed under a data element or combo the data set does not have instead of storing it.

Before anything is computed the data set is read from the server (`GET /api/dataSets/{uid}`):
a period of another type than the data set's is refused (`PeriodTypeMismatch`: DHIS2 would store
it, and its analytics would add it to the data set's own periods), and an org unit the data set is
not assigned to is a warning (assign it: `tipdata dhis2 install --assign-org-unit UID`). A push of
the data set's own period type to an assigned org unit gives no warning.

Transport is the connector's `Dhis2Client` (timeouts, retries, personal access token). Nothing
here logs or prints values: counts, UIDs and DHIS2's error codes only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tipdata.http import PlatformError
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord
from tipdata.statistics.disclosure import DEFAULT_K
from tipdata.statistics.scope import Area

from .aggregate import DEFAULT_CATEGORY_COMBO
from .aggregates import (
    AggregateLayout,
    AggregateTables,
    ComboLookup,
    DataValueSetPlan,
    ReportingPeriod,
    build_data_value_set,
    combos_by_options,
    layout_from_package,
    protected_tables,
)
from .connector import Dhis2Client
from .option_combos import update_option_combos

log = logging.getLogger("tipdata.dhis2")

IMPORT_PARAMS = {
    "importStrategy": "CREATE_AND_UPDATE",
    "strictDataElements": "true",
    "strictCategoryOptionCombos": "true",
}


@dataclass(frozen=True)
class DataValueConflict:
    """One conflict of an ImportSummary: the object (a UID), DHIS2's code and message."""

    object: str | None
    property: str | None
    error_code: str | None
    message: str
    indexes: tuple[int, ...] = ()

    def render(self) -> str:
        where = f" property `{self.property}`" if self.property else ""
        return f"{self.object}{where}: {self.error_code or '-'} {self.message}"


@dataclass(frozen=True)
class ImportSummary:
    """DHIS2's answer to one dataValueSets import."""

    status: str
    dry_run: bool
    import_count: dict[str, int]
    conflicts: tuple[DataValueConflict, ...]
    description: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS" and not self.conflicts

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "dry_run": self.dry_run,
            "import_count": self.import_count,
            "description": self.description,
            "conflicts": [
                {
                    "object": c.object,
                    "property": c.property,
                    "error_code": c.error_code,
                    "message": c.message,
                    "indexes": list(c.indexes),
                }
                for c in self.conflicts
            ],
        }


def grouped_conflicts(conflicts: Iterable[DataValueConflict]) -> list[DataValueConflict]:
    """Identical conflicts (same object, property, code and message) as one, indexes merged.

    A wrong org unit makes every value conflict the same way; one line says it.
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for c in conflicts:
        groups.setdefault((c.object, c.property, c.error_code, c.message), []).extend(c.indexes)
    return [DataValueConflict(*key, indexes=tuple(indexes)) for key, indexes in groups.items()]


def read_import_summary(body: Any, *, dry_run: bool) -> ImportSummary | None:
    """The ImportSummary of a (wrapped or bare) dataValueSets answer, or None when there is none."""
    summary = (
        body.get("response")
        if isinstance(body, dict) and isinstance(body.get("response"), dict)
        else body
    )
    if not isinstance(summary, dict) or "status" not in summary or "importCount" not in summary:
        return None
    conflicts = tuple(
        DataValueConflict(
            object=None if c.get("object") is None else str(c.get("object")),
            property=c.get("property"),
            error_code=c.get("errorCode"),
            message=str(c.get("value", "")),
            indexes=tuple(int(i) for i in c.get("indexes") or ()),
        )
        for c in summary.get("conflicts") or []
        if isinstance(c, dict)
    )
    counts = {
        k: int(v)
        for k, v in (summary.get("importCount") or {}).items()
        if isinstance(v, int | float)
    }
    return ImportSummary(
        str(summary.get("status")),
        dry_run,
        counts,
        conflicts,
        str(summary.get("description") or ""),
    )


def import_data_value_set(
    client: Dhis2Client, payload: Mapping[str, Any], *, dry_run: bool
) -> ImportSummary:
    """`POST /api/dataValueSets` once; a body without an ImportSummary is a PlatformError."""
    params = {**IMPORT_PARAMS, "dryRun": "true" if dry_run else "false"}
    status, body = client.post_json("dataValueSets", payload, params)
    summary = read_import_summary(body, dry_run=dry_run)
    if summary is None:
        message = body.get("message") if isinstance(body, dict) else str(body)[:200]
        raise PlatformError(
            "POST",
            client.api.url("dataValueSets"),
            status,
            f"no import summary in the answer ({message})",
            "check the server is DHIS2 2.40 or later",
        )
    return summary


def fetch_category_option_combos(
    client: Dhis2Client, category_combos: Iterable[str]
) -> list[dict[str, Any]]:
    """The server's category option combos of the given category combos (one request, no paging)."""
    combos = sorted(set(category_combos))
    if not combos:
        return []
    body = client.api.get_json(
        "categoryOptionCombos",
        params={
            "filter": f"categoryCombo.id:in:[{','.join(combos)}]",
            "fields": "id,categoryCombo[id],categoryOptions[id]",
            "paging": "false",
        },
    )
    items = body.get("categoryOptionCombos") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise PlatformError(
            "GET",
            client.api.url("categoryOptionCombos"),
            200,
            "the answer has no categoryOptionCombos list",
            "check the server URL points at DHIS2 2.40 or later",
        )
    return items


def generate_category_option_combos(
    client: Dhis2Client, combos: Iterable[str] | None = None
) -> list[str]:
    """Ask DHIS2 to generate (and prune) category option combos; needs F_PERFORM_MAINTENANCE.

    `combos`: only these category combos (`option_combos.update_option_combos`); None: every combo
    of the server (`POST /api/maintenance/categoryOptionComboUpdate`). Returns warnings.
    """
    if combos is not None:
        return update_option_combos(client, combos).warnings
    client.api.request(
        "POST", "maintenance/categoryOptionComboUpdate", expected=(200, 204), idempotent=True
    )
    return []


def _incomplete_combos(layout: AggregateLayout, found: ComboLookup) -> list[str]:
    """Category combos of the layout for which the server has fewer option combos than options allow."""
    incomplete = []
    for count in layout.counts.values():
        if count.category_combo == DEFAULT_CATEGORY_COMBO or count.category_combo in incomplete:
            continue
        expected = 1
        for dimension in count.dimensions:
            expected *= len(layout.options[dimension])
        if len(found.get(count.category_combo, {})) < expected:
            incomplete.append(count.category_combo)
    return incomplete


@dataclass
class AggregatePushResult:
    """What a push did: the plan's cell counts, the dry run, the commit (if any). No values."""

    version: str
    period: str
    org_unit: str
    k: int
    plan: DataValueSetPlan
    excluded_without_consent: int = 0
    dry_run: ImportSummary | None = None
    commit: ImportSummary | None = None
    combos_generated: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> tuple[DataValueConflict, ...]:
        return tuple(c for s in (self.dry_run, self.commit) if s is not None for c in s.conflicts)

    @property
    def ok(self) -> bool:
        summaries = [s for s in (self.dry_run, self.commit) if s is not None]
        return all(s.ok for s in summaries) and not self.plan.no_combo

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "version": self.version,
            "period": self.period,
            "org_unit": self.org_unit,
            "k": self.k,
            "data_set": self.plan.payload.get("dataSet"),
            **self.plan.to_json(),
            "excluded_without_consent": self.excluded_without_consent,
            "combos_generated": self.combos_generated,
            "dry_run": self.dry_run.to_json() if self.dry_run else None,
            "commit": self.commit.to_json() if self.commit else None,
            "warnings": [*self.plan.warnings, *self.warnings],
        }


class PeriodTypeMismatch(ValueError):
    """The period asked for is not of the data set's period type; nothing is sent."""


def fetch_data_set(client: Dhis2Client, uid: str) -> dict[str, Any] | None:
    """The server's data set (period type, assigned org units), or None when it has none."""
    response = client.api.request(
        "GET",
        f"dataSets/{uid}",
        expected=(200, 404),
        params={"fields": "id,periodType,organisationUnits[id]"},
    )
    if response.status_code == 404:
        return None
    body = response.json()
    return body if isinstance(body, dict) else None


@dataclass(frozen=True)
class DataSetState:
    """What the push checks against: the period type and org units, from the server if it has them."""

    period_type: str
    org_units: tuple[str, ...]
    on_server: bool


def data_set_state(layout: AggregateLayout, server: Mapping[str, Any] | None) -> DataSetState:
    if server is None:
        return DataSetState(layout.period_type, layout.org_units, False)
    units = tuple(
        ref.get("id") for ref in server.get("organisationUnits") or [] if isinstance(ref, dict)
    )
    return DataSetState(str(server.get("periodType") or layout.period_type), units, True)


def check_period(state: DataSetState, period: ReportingPeriod, data_set: str) -> None:
    """Refuse a period of another type than the data set's (`PeriodTypeMismatch`)."""
    if state.period_type and state.period_type != period.period_type:
        raise PeriodTypeMismatch(
            f"data set {data_set} collects {state.period_type} periods and {period.dhis2} is "
            f"{period.period_type}: DHIS2 would store the values and add them up with the data "
            f"set's own periods in analytics. Push a {state.period_type} period, or build the package "
            "with DeploymentPolicy(aggregate_period_type=...) for another period type"
        )


def _layout_warnings(layout: AggregateLayout, state: DataSetState, org_unit: str) -> list[str]:
    warnings = [f"package: {p}" for p in layout.problems]
    if not state.on_server:
        warnings.append(
            f"the server has no data set {layout.data_set}: install the package first "
            "(tipdata dhis2 install)"
        )
    elif org_unit not in state.org_units:
        warnings.append(
            f"org unit {org_unit} is not assigned to the data set {layout.data_set} on the "
            "server: assign it (tipdata dhis2 install --assign-org-unit UID) so that data "
            "entry and analytics by org unit see the values"
        )
    return warnings


def push_aggregates(
    client: Dhis2Client,
    records: Iterable[CanonicalRecord],
    codebook: Codebook,
    package: Mapping[str, Any],
    *,
    period: ReportingPeriod,
    org_unit: str,
    k: int = DEFAULT_K,
    area: Area | None = None,
    dry_run: bool = False,
    generate_combos: bool = False,
    person_of: Mapping[str, str] | None = None,
    tables: AggregateTables | None = None,
) -> AggregatePushResult:
    """Compute, protect and send the data set's counts for one period and org unit.

    Nothing is committed when the dry run reports a conflict (or with `dry_run=True`). `tables`:
    counts already computed and protected for this period (`protected_tables`); `records` are then
    not read. Raises `LayoutError` when the package has no aggregate data set,
    `PeriodTypeMismatch` when the period is not of the data set's period type,
    `PlatformError` when a request fails.
    """
    version = client.version
    layout = layout_from_package(package, codebook)
    state = data_set_state(layout, fetch_data_set(client, layout.data_set))
    check_period(state, period, layout.data_set)
    if tables is None:
        tables = protected_tables(
            records, layout, period.period, area, k=k, codebook=codebook, person_of=person_of
        )
    found = fetch_category_option_combos(client, layout.category_combos)
    combos = combos_by_options(found)
    generated = False
    generation_warnings: list[str] = []
    incomplete = _incomplete_combos(layout, combos) if generate_combos else []
    if incomplete:
        generation_warnings = generate_category_option_combos(client, incomplete)
        combos = combos_by_options(fetch_category_option_combos(client, layout.category_combos))
        generated = True
    plan = build_data_value_set(
        tables.protected, layout, combos, period=period.dhis2, org_unit=org_unit
    )
    result = AggregatePushResult(
        version.text,
        period.dhis2,
        org_unit,
        k,
        plan,
        tables.excluded_without_consent,
        combos_generated=generated,
        warnings=[*_layout_warnings(layout, state, org_unit), *generation_warnings, *tables.notes],
    )
    log.info(
        "dhis2 aggregates %s: %d values, %d suppressed, %d unrepresentable, %d without combo",
        period.dhis2,
        plan.sent,
        plan.suppressed,
        plan.unrepresentable,
        plan.no_combo,
    )
    if not plan.payload["dataValues"]:
        result.warnings.append("no data value to send")
        return result
    result.dry_run = import_data_value_set(client, plan.payload, dry_run=True)
    log.info(
        "dhis2 dataValueSets dry run: %s %s, %d conflict(s)",
        result.dry_run.status,
        result.dry_run.import_count,
        len(result.dry_run.conflicts),
    )
    if dry_run or not result.dry_run.ok:
        return result
    result.commit = import_data_value_set(client, plan.payload, dry_run=False)
    log.info(
        "dhis2 dataValueSets import: %s %s, %d conflict(s)",
        result.commit.status,
        result.commit.import_count,
        len(result.commit.conflicts),
    )
    return result
