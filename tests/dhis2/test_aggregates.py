"""`tipdata dhis2 push-aggregates`: protected indicator counts into the package's aggregate data set.

The builder is checked on its own (layout from the committed package, periods, suppressed cells
never sent, determinism); the push runs over real HTTP against the DHIS2 contract double, whose
dataValueSets and category-option-combo endpoints are pinned here too.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.dhis2.connector_support import ORG_UNIT, VERSIONS
from tests.doubles.dhis2 import Dhis2Double
from tipdata.codebook import load_codebook
from tipdata.crypto.at_rest import DataKey
from tipdata.dhis2_app import cli
from tipdata.dhis2_app.aggregate_push import (
    fetch_category_option_combos,
    generate_category_option_combos,
    import_data_value_set,
    push_aggregates,
)
from tipdata.dhis2_app.aggregates import (
    UNREPRESENTABLE,
    AggregateTables,
    LayoutError,
    ReportingPeriod,
    aggregate_catalogue,
    build_data_value_set,
    combos_by_options,
    layout_from_package,
    protected_tables,
)
from tipdata.dhis2_app.cli import dhis2_app
from tipdata.dhis2_app.connector import Dhis2Client, load_package, resolve_dhis2_config
from tipdata.dhis2_app.uids import uid_for
from tipdata.ledger import open_ledger
from tipdata.model import Codebook
from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.statistics.indicators import compute_indicators

K = 3
PERIOD = ReportingPeriod.parse("2025")
AGGREGATE_TYPES = ("categoryOptions", "categories", "categoryCombos", "dataSets")
SOURCE = "kobo:aggregatesTest"
T0 = dt.datetime(2025, 12, 31, 12, tzinfo=dt.UTC)
CONSENT = frozenset({"service_referral", "law_enforcement", "statistics", "follow_up_contact"})


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return load_codebook()


@pytest.fixture(scope="module")
def package() -> dict[str, Any]:
    return load_package()


@pytest.fixture(scope="module")
def layout(package, codebook):
    return layout_from_package(package, codebook)


def _record(
    form_id: str, values: dict[str, Any], serial: int, consent: frozenset[str] = CONSENT
) -> CanonicalRecord:
    source_id = f"uuid:{form_id}-{serial}"
    envelope = Envelope(
        record_id=record_id_for(SOURCE, source_id),
        source_system=SOURCE,
        source_id=source_id,
        form_id=form_id,
        collected_at=T0,
        updated_at=T0,
        consent_purposes=consent,
    )
    return CanonicalRecord(
        envelope=envelope, values={k: v for k, v in values.items() if v is not None}
    )


def make_records(count: int, seed: int = 7) -> list[CanonicalRecord]:
    """Victim cases in 2025 over few attribute combinations (so that some cells reach k), each
    with a referral, some with an investigation; one case without statistics consent."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        ref = f"TIP-{i:04d}"
        records.append(
            _record(
                "tip_case_intake",
                {
                    "case_reference": ref,
                    "ident_date": dt.date(2025, rng.randint(1, 12), 15),
                    "ident_country": "NG",
                    "ident_trafficking_status": "presumed",
                    "person_sex": rng.choice(["female", "female", "male", None]),
                    "person_age": rng.choice([15, 25, 25, 34, None]),
                    "expl_palermo_purpose": rng.choice(
                        [
                            ("forced_labour",),
                            ("sexual_exploitation",),
                            ("forced_labour", "sexual_exploitation"),
                            None,
                        ]
                    ),
                },
                i,
            )
        )
        records.append(
            _record(
                "tip_referral",
                {
                    "svc_case_reference": ref,
                    "ref_date": dt.date(2025, 6, 1),
                    "ref_status": rng.choice(["accepted", "completed"]),
                },
                i,
            )
        )
        if i % 2:
            records.append(
                _record(
                    "tip_investigation",
                    {
                        "svc_case_reference": ref,
                        "inv_opened_date": dt.date(2025, 7, 1),
                        "inv_offences": rng.choice(
                            [
                                ("tip_sexual_exploitation",),
                                ("tip_forced_labour",),
                                ("tip_purpose_unspecified",),
                                ("slavery_exploitation",),
                                ("tip_sexual_exploitation", "tip_forced_labour"),
                            ]
                        ),
                    },
                    i,
                )
            )
    records.append(
        _record(
            "tip_case_intake",
            {
                "case_reference": "TIP-NOCONSENT",
                "ident_date": dt.date(2025, 3, 1),
                "ident_trafficking_status": "presumed",
                "person_sex": "male",
            },
            count,
            consent=frozenset({"service_referral"}),
        )
    )
    return records


@pytest.fixture(scope="module")
def records() -> list[CanonicalRecord]:
    return make_records(90)


@pytest.fixture(scope="module")
def tables(records, layout, codebook) -> AggregateTables:
    return protected_tables(records, layout, PERIOD.period, k=K, codebook=codebook)


def client_for(double: Dhis2Double) -> Dhis2Client:
    config = resolve_dhis2_config(double.base_url, double.token, timeout=5.0, retries=2)
    return Dhis2Client(config, sleep=lambda seconds: None)


def install_aggregates(
    client: Dhis2Client, package: dict[str, Any], *, combos: bool = True
) -> None:
    """Import the package's aggregate part (categories, combos, data elements, data set)."""
    aggregate_des = [d for d in package["dataElements"] if d.get("domainType") == "AGGREGATE"]
    part = {key: package[key] for key in AGGREGATE_TYPES}
    part["dataElements"] = aggregate_des
    report = client.import_metadata(part, "COMMIT")
    assert report["status"] == "OK", report
    if combos:
        generate_category_option_combos(client)


@pytest.fixture(params=VERSIONS)
def any_version(request: pytest.FixtureRequest) -> Iterator[Dhis2Double]:
    with Dhis2Double(request.param) as running:
        yield running


@pytest.fixture
def double() -> Iterator[Dhis2Double]:
    with Dhis2Double("2.42") as running:
        yield running


def stored(double: Dhis2Double) -> dict[tuple[str, ...], str]:
    with double.store.lock:
        return {key: entry["value"] for key, entry in double.store.data_values.items()}


# --- periods and layout -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, dhis2, kind, start, end",
    [
        ("2025", "2025", "Yearly", "2025-01-01", "2025-12-31"),
        ("2025Q2", "2025Q2", "Quarterly", "2025-04-01", "2025-06-30"),
        ("2025-Q4", "2025Q4", "Quarterly", "2025-10-01", "2025-12-31"),
        ("202402", "202402", "Monthly", "2024-02-01", "2024-02-29"),
        ("2025-03", "202503", "Monthly", "2025-03-01", "2025-03-31"),
    ],
)
def test_reporting_period__reads_tipdata_and_dhis2_forms(text, dhis2, kind, start, end):
    """should give DHIS2's ISO period id and type and the same date range as tipdata's Period"""
    period = ReportingPeriod.parse(text)
    assert (period.dhis2, period.period_type) == (dhis2, kind)
    assert (period.period.start.isoformat(), period.period.end.isoformat()) == (start, end)


@pytest.mark.parametrize("text", ["2025W3", "2025-13", "25", "2025-01-01/2025-06-30"])
def test_reporting_period__refuses_periods_dhis2_cannot_hold(text):
    """should refuse weeks, invalid months and free date ranges with a message naming the forms"""
    with pytest.raises(ValueError, match="2025Q1"):
        ReportingPeriod.parse(text)


def test_layout__reads_the_committed_package(layout, package):
    """should find the data set, every count's data element and combo, and the category options"""
    ids = {
        key: {o["id"] for o in package[key]}
        for key in ("dataSets", "dataElements", "categoryCombos", "categoryOptions")
    }
    assert layout.data_set in ids["dataSets"] and not layout.problems
    assert {c.data_element for c in layout.counts.values()} <= ids["dataElements"]
    assert set(layout.category_combos) <= ids["categoryCombos"]
    assert {uid for options in layout.options.values() for uid in options.values()} <= ids[
        "categoryOptions"
    ]
    assert layout.counts["victims_identified"].dimensions == (
        "sex",
        "age_band",
        "exploitation_form",
    )
    assert layout.counts["convictions"].dimensions == ("exploitation_form",)


def test_layout__package_without_data_set_is_refused(package, codebook):
    """should raise LayoutError naming the missing data set"""
    with pytest.raises(LayoutError, match="TIP_INDICATORS"):
        layout_from_package({**package, "dataSets": []}, codebook)


def test_layout__missing_count_is_listed_and_left_out(package, codebook):
    """should list a count whose data element is missing and keep the others"""
    missing = uid_for("dataElement", "aggregate:convictions")
    trimmed = {
        **package,
        "dataElements": [d for d in package["dataElements"] if d["id"] != missing],
    }
    layout = layout_from_package(trimmed, codebook)
    assert "convictions" not in layout.counts and any("convictions" in p for p in layout.problems)


# --- the payload ----------------------------------------------------------------------------------------


def fake_combos(layout) -> dict[str, dict[frozenset[str], str]]:
    """Combos as a server would answer them (UIDs made up here: they are server-generated)."""
    import itertools

    result: dict[str, dict[frozenset[str], str]] = {}
    serial = itertools.count()
    for count in layout.counts.values():
        options = [list(layout.options[d].values()) for d in count.dimensions]
        result.setdefault(
            count.category_combo,
            {frozenset(p): f"C{next(serial):010d}" for p in itertools.product(*options)},
        )
    return result


def test_build__suppressed_cells_are_counted_not_sent(tables, layout):
    """should send no suppressed cell, count each one, and account for every full-cross cell"""
    combos = fake_combos(layout)
    plan = build_data_value_set(tables.protected, layout, combos, period="2025", org_unit=ORG_UNIT)
    by_coc = {coc: key for lookup in combos.values() for key, coc in lookup.items()}
    sent = {(v["dataElement"], v["categoryOptionCombo"]) for v in plan.payload["dataValues"]}
    assert len(sent) == plan.sent == len(plan.payload["dataValues"])
    suppressed_total = 0
    for count, count_layout in layout.counts.items():
        protected = tables.protected[count]
        frame = protected.published_df
        dims = [c for c in frame.columns if c.startswith("dhis2_")]
        inner = (frame[dims] != "_T").all(axis=1)
        suppressed_total += int((inner & protected.suppressed_mask).sum())
        summary = plan.counts[count]
        assert summary.cells == int(inner.sum())
        assert (
            summary.cells
            == summary.sent
            + summary.suppressed
            + sum(summary.unrepresentable.values())
            + summary.no_combo
        )
        for row in frame[inner & protected.suppressed_mask].itertuples(index=False):
            codes = [getattr(row, d) for d in dims]
            if any(c in UNREPRESENTABLE for c in codes):
                continue
            uids = frozenset(
                layout.options[
                    d.removeprefix("dhis2_").replace("offence_form", "exploitation_form")
                ][c]
                for d, c in zip(dims, codes, strict=True)
            )
            assert (
                count_layout.data_element,
                combos[count_layout.category_combo][uids],
            ) not in sent
    assert plan.suppressed == suppressed_total > 0
    for value in plan.payload["dataValues"]:
        assert int(value["value"]) == 0 or int(value["value"]) >= K
        assert len(by_coc[value["categoryOptionCombo"]]) >= 1


def test_build__margins_are_not_sent_and_every_cell_has_an_option(tables, layout):
    """should send only full-cross cells, none left out for want of a category option"""
    combos = fake_combos(layout)
    plan = build_data_value_set(tables.protected, layout, combos, period="2025", org_unit=ORG_UNIT)
    sizes = {combo: {len(key) for key in lookup} for combo, lookup in combos.items()}
    for value in plan.payload["dataValues"]:
        combo = next(
            c for c, lookup in combos.items() if value["categoryOptionCombo"] in lookup.values()
        )
        assert sizes[combo] == {
            len(next(c for c in layout.counts.values() if c.category_combo == combo).dimensions)
        }
    assert plan.unrepresentable == 0 and plan.no_combo == 0


def _margin(table, column: str, code: str) -> int:
    others = [c for c in table.columns if c.startswith("dhis2_") and c != column]
    rows = table[(table[column] == code) & (table[others] == "_T").all(axis=1)]
    return int(rows["value"].sum())


@pytest.fixture(scope="module")
def raw_tables(records, layout, codebook):
    return compute_indicators(
        records, PERIOD.period, codebook=codebook, catalogue=aggregate_catalogue(layout)
    )


@pytest.mark.parametrize(
    "indicator, column, code",
    [
        ("DHIS2_VICTIMS_IDENTIFIED", "dhis2_sex", "unknown"),
        ("DHIS2_VICTIMS_IDENTIFIED", "dhis2_exploitation_form", "multiple_forms"),
        ("DHIS2_VICTIMS_IDENTIFIED", "dhis2_exploitation_form", "forced_labour"),
        ("DHIS2_VICTIMS_IDENTIFIED", "dhis2_exploitation_form", "unknown"),
        ("DHIS2_INVESTIGATIONS", "dhis2_offence_form", "sexual_exploitation"),
        ("DHIS2_INVESTIGATIONS", "dhis2_offence_form", "multiple_forms"),
        ("DHIS2_INVESTIGATIONS", "dhis2_offence_form", "purpose_unspecified"),
        ("DHIS2_INVESTIGATIONS", "dhis2_offence_form", "other_offence"),
    ],
)
def test_tables__values_reach_the_package_options(raw_tables, indicator, column, code):
    """should count unrecorded sex, several forms, unspecified purposes and related offences under their options"""
    assert _margin(raw_tables[indicator], column, code) > 0


def test_tables__victim_forms_are_grouped_by_iccs(layout, codebook):
    """should file each purpose under its ICCS group, several groups as multiple_forms, none or declined as unknown"""
    purposes = [
        ("servitude",),
        ("forced_begging",),
        ("slavery", "child_labour"),
        ("sexual_exploitation", "other"),
        ("declined",),
        None,
    ]
    records = [
        _record(
            "tip_case_intake",
            {
                "case_reference": f"TIP-G{i}",
                "ident_date": dt.date(2025, 5, 1),
                "ident_trafficking_status": "presumed",
                "person_sex": "female",
                "expl_palermo_purpose": purpose,
            },
            500 + i,
        )
        for i, purpose in enumerate(purposes)
    ]
    table = compute_indicators(
        records, PERIOD.period, codebook=codebook, catalogue=aggregate_catalogue(layout)
    )["DHIS2_VICTIMS_IDENTIFIED"]
    counts = {
        code: _margin(table, "dhis2_exploitation_form", code)
        for code in layout.options["exploitation_form"]
    }
    assert counts == {
        "sexual_exploitation": 0,
        "forced_labour": 2,
        "organ_removal": 0,
        "other": 1,
        "multiple_forms": 1,
        "purpose_unspecified": 0,
        "other_offence": 0,
        "unknown": 2,
    }


def test_build__an_older_package_counts_what_it_cannot_hold(package, codebook, records):
    """should count cells needing an option the package lacks as unrepresentable, never send or merge them"""
    missing = uid_for("categoryOption", "exploitation_form:multiple_forms")
    older = {
        **package,
        "categories": [
            {**c, "categoryOptions": [r for r in c["categoryOptions"] if r["id"] != missing]}
            for c in package["categories"]
        ],
    }
    layout = layout_from_package(older, codebook)
    assert "multiple_forms" not in layout.options["exploitation_form"]
    tables = protected_tables(records, layout, PERIOD.period, k=1, codebook=codebook)
    plan = build_data_value_set(
        tables.protected, layout, fake_combos(layout), period="2025", org_unit=ORG_UNIT
    )
    assert plan.counts["victims_identified"].unrepresentable["_multiple_forms"] > 0
    assert plan.counts["investigations"].unrepresentable["_multiple_forms"] > 0
    assert set(plan.counts["victims_identified"].unrepresentable) == {"_multiple_forms"}


def test_build__same_input_same_payload(records, layout, codebook):
    """should give the same payload, value for value, whatever the order of the records"""
    combos = fake_combos(layout)
    shuffled = list(records)
    random.Random(3).shuffle(shuffled)
    plans = [
        build_data_value_set(
            protected_tables(r, layout, PERIOD.period, k=K, codebook=codebook).protected,
            layout,
            combos,
            period="2025",
            org_unit=ORG_UNIT,
        )
        for r in (records, shuffled)
    ]
    assert json.dumps(plans[0].payload) == json.dumps(plans[1].payload)
    assert (
        plans[0].payload["period"] == "2025"
        and plans[0].payload["attributeOptionCombo"] == "HllvX50cXC0"
    )


def test_build__cells_without_server_combo_are_counted(tables, layout):
    """should count (and warn about) cells whose category option combo the server lacks"""
    plan = build_data_value_set(tables.protected, layout, {}, period="2025", org_unit=ORG_UNIT)
    assert plan.sent == 0 and plan.no_combo > 0 and plan.warnings


def test_build__consent_is_respected(tables):
    """should leave out records whose person did not consent to statistics"""
    assert tables.excluded_without_consent == 1


# --- the contract double: combos and dataValueSets ------------------------------------------------------


def test_double_combos__generated_by_maintenance_only(double, package, layout):
    """should have no combos after /api/metadata and one per option product after the maintenance call"""
    client = client_for(double)
    install_aggregates(client, package, combos=False)
    assert fetch_category_option_combos(client, layout.category_combos) == []
    generate_category_option_combos(client)
    combos = combos_by_options(fetch_category_option_combos(client, layout.category_combos))
    for count in layout.counts.values():
        expected = 1
        for dimension in count.dimensions:
            expected *= len(layout.options[dimension])
        assert len(combos[count.category_combo]) == expected
    assert double.requests_to("maintenance/categoryOptionComboUpdate")[-1].status == 204


def test_double_combos__unknown_combo_is_a_conflict(double):
    """should answer the per-combo update of an unknown combo with a 409 WebMessage"""
    response = client_for(double).api.request(
        "POST", "maintenance/categoryOptionComboUpdate/categoryCombo/AAAAAAAAAAA", expected=(409,)
    )
    assert "does not exist" in response.json()["message"]


def test_double_data_values__unknown_uids_and_strict_combos(double, package, layout):
    """should report E7610/E7612/E7613 for unknown UIDs and E7634 for a combo of another category combo"""
    client = client_for(double)
    install_aggregates(client, package)
    combos = combos_by_options(fetch_category_option_combos(client, layout.category_combos))
    victims, convictions = layout.counts["victims_identified"], layout.counts["convictions"]
    foreign = next(iter(combos[convictions.category_combo].values()))
    good = next(iter(combos[victims.category_combo].values()))
    payload = {
        "dataSet": layout.data_set,
        "period": "2025",
        "orgUnit": ORG_UNIT,
        "dataValues": [
            {"dataElement": "AAAAAAAAAAA", "categoryOptionCombo": good, "value": "12"},
            {
                "dataElement": victims.data_element,
                "categoryOptionCombo": "BBBBBBBBBBB",
                "value": "12",
            },
            {"dataElement": victims.data_element, "categoryOptionCombo": foreign, "value": "12"},
            {
                "dataElement": victims.data_element,
                "categoryOptionCombo": good,
                "value": "12",
                "orgUnit": "CCCCCCCCCCC",
            },
            {"dataElement": victims.data_element, "categoryOptionCombo": good, "value": "-4"},
            {"dataElement": victims.data_element, "categoryOptionCombo": good, "value": "12"},
        ],
    }
    summary = import_data_value_set(client, payload, dry_run=False)
    assert summary.status == "WARNING" and summary.import_count["imported"] == 1
    assert [(c.error_code, c.indexes) for c in summary.conflicts] == [
        ("E7610", (0,)),
        ("E7613", (1,)),
        ("E7634", (2,)),
        ("E7612", (3,)),
        ("E2030", (4,)),
    ]


def test_double_data_values__unknown_data_set_is_an_error(double):
    """should answer an unknown data set with an ERROR summary (E7600) and import nothing"""
    summary = import_data_value_set(
        client_for(double),
        {"dataSet": "DDDDDDDDDDD", "period": "2025", "orgUnit": ORG_UNIT, "dataValues": [{}]},
        dry_run=True,
    )
    assert summary.status == "ERROR" and summary.conflicts[0].error_code == "E7600"
    assert summary.import_count["imported"] == 0


# --- the push over HTTP ------------------------------------------------------------------------------


def test_push__commits_the_published_cells(any_version, package, layout, tables, codebook):
    """should check with dryRun first, then store exactly the payload's values, on every version"""
    client = client_for(any_version)
    install_aggregates(client, package)
    result = push_aggregates(
        client, [], codebook, package, period=PERIOD, org_unit=ORG_UNIT, k=K, tables=tables
    )
    assert result.ok and result.dry_run.dry_run and result.commit is not None
    assert result.commit.import_count["imported"] == result.plan.sent > 0
    posts = any_version.requests_to("dataValueSets", "POST")
    assert [p.query["dryRun"] for p in posts] == ["true", "false"]
    assert all(p.query["importStrategy"] == "CREATE_AND_UPDATE" for p in posts)
    expected = {
        (v["dataElement"], "2025", ORG_UNIT, v["categoryOptionCombo"], "HllvX50cXC0"): v["value"]
        for v in result.plan.payload["dataValues"]
    }
    assert stored(any_version) == expected


def test_push__repush_updates_and_adds_nothing(double, package, tables, codebook):
    """should update the same cells when the same period is pushed again"""
    client = client_for(double)
    install_aggregates(client, package)
    first = push_aggregates(
        client, [], codebook, package, period=PERIOD, org_unit=ORG_UNIT, k=K, tables=tables
    )
    before = stored(double)
    again = push_aggregates(
        client, [], codebook, package, period=PERIOD, org_unit=ORG_UNIT, k=K, tables=tables
    )
    assert (
        again.commit.import_count["updated"] == first.plan.sent
        and again.commit.import_count["imported"] == 0
    )
    assert stored(double) == before


def test_push__dry_run_commits_nothing(double, package, tables, codebook):
    """should send only dryRun=true with --dry-run and leave DHIS2 unchanged"""
    client = client_for(double)
    install_aggregates(client, package)
    result = push_aggregates(
        client,
        [],
        codebook,
        package,
        period=PERIOD,
        org_unit=ORG_UNIT,
        k=K,
        tables=tables,
        dry_run=True,
    )
    assert (
        result.ok
        and result.commit is None
        and result.dry_run.import_count["imported"] == result.plan.sent
    )
    assert stored(double) == {}


@pytest.mark.parametrize("version", ["2.41", "2.43"])
def test_push__conflicts_stop_before_commit(version, package, tables, codebook):
    """should read conflicts from the summary (409 before 2.43, 200 from 2.43) and commit nothing"""
    with Dhis2Double(version) as running:
        client = client_for(running)
        install_aggregates(client, package)
        result = push_aggregates(
            client, [], codebook, package, period=PERIOD, org_unit="EEEEEEEEEEE", k=K, tables=tables
        )
        assert not result.ok and result.commit is None
        assert {c.error_code for c in result.conflicts} == {"E7612"}
        assert len(result.conflicts) == result.plan.sent and stored(running) == {}


def test_push__generates_missing_combos_when_asked(double, package, tables, codebook):
    """should report cells without combos, and generate the combos with generate_combos"""
    client = client_for(double)
    install_aggregates(client, package, combos=False)
    without = push_aggregates(
        client, [], codebook, package, period=PERIOD, org_unit=ORG_UNIT, k=K, tables=tables
    )
    assert not without.ok and without.plan.sent == 0 and without.plan.no_combo > 0
    generated = push_aggregates(
        client,
        [],
        codebook,
        package,
        period=PERIOD,
        org_unit=ORG_UNIT,
        k=K,
        tables=tables,
        generate_combos=True,
    )
    assert generated.ok and generated.combos_generated and generated.plan.no_combo == 0


def test_push__retries_a_busy_server(double, package, tables, codebook):
    """should retry a 503 on the import through the connector session and still commit once"""
    client = client_for(double)
    install_aggregates(client, package)
    double.fail_next(1, status=503, path_contains="dataValueSets")
    result = push_aggregates(
        client, [], codebook, package, period=PERIOD, org_unit=ORG_UNIT, k=K, tables=tables
    )
    assert result.ok and len(stored(double)) == result.plan.sent


# --- the command ------------------------------------------------------------------------------------


@pytest.fixture
def ledger_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, records, codebook) -> Path:
    key = DataKey.generate()
    monkeypatch.setenv("TIPDATA_LEDGER_KEY", key.to_base64())
    monkeypatch.delenv("TIPDATA_LEDGER_KEY_FILE", raising=False)
    path = tmp_path / "ledger.sqlite"
    ledger = open_ledger(str(path), codebook=codebook)
    try:
        with ledger.transaction() as tx:
            tx.upsert_records(records)
    finally:
        ledger.close()
    return path


@pytest.fixture
def served(double, package, monkeypatch: pytest.MonkeyPatch, codebook) -> Dhis2Double:
    monkeypatch.setattr(cli, "load_codebook", lambda path: codebook)
    monkeypatch.setenv("TIPDATA_DHIS2_URL", double.base_url)
    monkeypatch.setenv("TIPDATA_DHIS2_TOKEN", double.token)
    monkeypatch.delenv("TIPDATA_DHIS2_TOKEN_FILE", raising=False)
    monkeypatch.delenv("TIPDATA_DHIS2_ORG_UNIT", raising=False)
    install_aggregates(client_for(double), package)
    return double


def test_cli_push_aggregates__pushes_from_the_ledger(served, ledger_env):
    """should push the ledger's counts, print cell counts per count and exit 0"""
    result = CliRunner().invoke(
        dhis2_app,
        [
            "push-aggregates",
            "--period",
            "2025",
            "--org-unit",
            ORG_UNIT,
            "--k",
            str(K),
            "--ledger",
            str(ledger_env),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (
        summary["ok"]
        and summary["commit"]["import_count"]["imported"] == summary["data_values"] > 0
    )
    assert summary["suppressed"] == sum(c["suppressed"] for c in summary["counts"].values())
    assert len(stored(served)) == summary["data_values"]


def test_cli_push_aggregates__conflicts_exit_1_with_each_conflict(served, ledger_env):
    """should print each conflict's object, code and message and exit 1 when DHIS2 refuses values"""
    result = CliRunner().invoke(
        dhis2_app,
        [
            "push-aggregates",
            "--period",
            "2025",
            "--org-unit",
            "EEEEEEEEEEE",
            "--k",
            str(K),
            "--ledger",
            str(ledger_env),
        ],
    )
    assert result.exit_code == 1, result.output
    assert (
        "E7612" in result.output
        and "EEEEEEEEEEE" in result.output
        and "nothing committed" in result.output
    )
    assert stored(served) == {}


def test_cli_push_aggregates__bad_period_is_a_usage_error(served, ledger_env):
    """should exit 2 naming the accepted period forms"""
    result = CliRunner().invoke(
        dhis2_app, ["push-aggregates", "--period", "2025W01", "--ledger", str(ledger_env)]
    )
    assert result.exit_code == 2 and "2025Q1" in result.output
