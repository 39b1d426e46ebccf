"""From a `SyncConfig` to a ready engine: open the ledger, load the policy, wire the platforms.

This is the edge where platform modules are imported (each adapter only when its table is in
tipdata.toml), so the engine stays platform-free and a deployment without DHIS2 never needs its
package. `tipdata sync`, `tipdata quarantine retry`, and later `tipdata serve` and `tipdata demo`
all start here:

    with open_session(load_config()) as session:
        plan = session.engine.run(dry_run=True)
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tipdata.codebook import load_codebook
from tipdata.ledger import Ledger, open_ledger
from tipdata.model import Codebook
from tipdata.policy import RoutingPolicy, load_policy
from tipdata.sync.apply import ProgressCallback, SyncEngine
from tipdata.sync.config import SyncConfig
from tipdata.sync.ports import Source, Target

#: how often reconciliation runs for `reconcile = "daily"`
DAILY = dt.timedelta(hours=24)


@dataclass
class SyncSession:
    """An open ledger and an engine wired from the configuration; close it when done."""

    config: SyncConfig
    ledger: Ledger
    codebook: Codebook
    policy: RoutingPolicy
    engine: SyncEngine
    sources: list[Source] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    #: False when the caller opened the ledger (and closes it)
    owns_ledger: bool = True

    def __enter__(self) -> SyncSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for source in self.sources:
            state = getattr(source, "state", None)
            if state is not None and hasattr(state, "flush"):
                state.flush()
        if self.owns_ledger:
            self.ledger.close()


def open_ledger_for(config: SyncConfig, codebook: Codebook,
                    environ: Mapping[str, str] | None = None, **options: Any) -> Ledger:
    """The ledger the configuration names (key from TIPDATA_LEDGER_KEY / _FILE)."""
    return open_ledger(config.ledger_url, codebook=codebook, encrypt=config.encrypt,
                       schema=config.ledger_schema, environ=environ, **options)


def open_session(config: SyncConfig, *, codebook: Codebook | None = None,
                 ledger: Ledger | None = None, environ: Mapping[str, str] | None = None,
                 on_progress: ProgressCallback | None = None,
                 platforms: Mapping[str, Any] | None = None) -> SyncSession:
    """Open the ledger and build the sources and targets tipdata.toml configures.

    `platforms` overrides how a platform is reached (tests and `tipdata demo` pass clients of
    doubles): `{"kobo": KoboClient, "frappe": FrappeClient, "dhis2": Dhis2Client}`.
    """
    book = codebook if codebook is not None else load_codebook()
    policy = load_policy(config.policy_file, codebook=book)
    opened = ledger if ledger is not None else open_ledger_for(config, book, environ)
    try:
        sources, targets = build_platforms(config, book, policy, platforms or {}, environ,
                                           ledger=opened)
        engine = SyncEngine(opened, book, policy, sources=sources, targets=targets,
                            on_progress=on_progress)
    except BaseException:
        if ledger is None:
            opened.close()
        raise
    return SyncSession(config, opened, book, policy, engine, sources, targets,
                       owns_ledger=ledger is None)


def build_platforms(config: SyncConfig, codebook: Codebook, policy: RoutingPolicy,
                    clients: Mapping[str, Any],
                    environ: Mapping[str, str] | None = None, *,
                    ledger: Ledger | None = None) -> tuple[list[Source], list[Target]]:
    """Adapters for every platform configured; each import happens only when it is used."""
    sources: list[Source] = []
    targets: list[Target] = []
    if config.files:
        from tipdata.sync.adapters.files import JsonLinesSource

        sources.append(JsonLinesSource(list(config.files), codebook, page_size=config.page_size))
    if config.kobo is not None:
        if ledger is None:
            raise ValueError("a Kobo source keeps its pull state in the ledger: pass `ledger`")
        sources.append(_kobo_source(config, codebook, clients.get("kobo"), environ, ledger))
    if config.frappe is not None and (config.frappe.push or config.frappe.pull):
        site = _frappe_site(config, codebook, policy, clients.get("frappe"))
        if config.frappe.pull:
            sources.append(site)
        if config.frappe.push:
            targets.append(site)
    if config.dhis2 is not None and config.dhis2.push:
        targets.append(_dhis2_target(config, codebook, clients.get("dhis2")))
    return sources, targets


def _kobo_source(config: SyncConfig, codebook: Codebook, client: Any,
                 environ: Mapping[str, str] | None, ledger: Ledger) -> Source:
    from tipdata.kobo_forms.connector import KoboClient, resolve_kobo_config
    from tipdata.kobo_forms.pull import PullOptions
    from tipdata.sync.adapters.kobo import KoboSource

    settings = config.kobo
    assert settings is not None
    if client is None:
        client = KoboClient(resolve_kobo_config(settings.url, timeout=settings.timeout,
                                                retries=settings.retries))
    reconcile = {"always": True, "never": False, "daily": None}[settings.reconcile]
    private_key = None
    if settings.private_key is not None:
        from tipdata.crypto.keys import PASSPHRASE_ENV_VAR, load_private_key

        env = os.environ if environ is None else environ
        passphrase = env.get(PASSPHRASE_ENV_VAR)
        private_key = load_private_key(settings.private_key,
                                       passphrase.encode("utf-8") if passphrase else None)
    options = PullOptions(private_key=private_key, reconcile=reconcile, reconcile_every=DAILY,
                          page_size=settings.page_size)
    return KoboSource(client, codebook, settings.forms, ledger, options,
                      legacy_state=settings.state)  # a JSON state of before: imported once


def _frappe_site(config: SyncConfig, codebook: Codebook, policy: RoutingPolicy, client: Any) -> Any:
    from tipdata.erpnext_casework.connector import (
        CaseworkSync,
        FrappeClient,
        resolve_frappe_config,
    )
    from tipdata.erpnext_casework.mapping import casework_mapping
    from tipdata.sync.adapters.frappe import FrappeCasework

    settings = config.frappe
    assert settings is not None
    if client is None:
        client = FrappeClient(resolve_frappe_config(settings.url, timeout=settings.timeout,
                                                    retries=settings.retries),
                              time_zone=settings.time_zone)
    named = policy.target("frappe").restricted  # restricted elements the policy sends to Frappe
    sync = CaseworkSync(client, casework_mapping(codebook), codebook, allow_restricted=named)
    return FrappeCasework(sync, batch_size=settings.batch_size, page_size=config.page_size)


def _dhis2_target(config: SyncConfig, codebook: Codebook, client: Any) -> Target:
    from tipdata.dhis2_app.connector import (
        Dhis2Client,
        Dhis2Connector,
        load_package,
        resolve_dhis2_config,
    )
    from tipdata.sync.adapters.dhis2 import Dhis2Tracker

    settings = config.dhis2
    assert settings is not None
    if client is None:
        client = Dhis2Client(resolve_dhis2_config(settings.url, timeout=settings.timeout,
                                                  retries=settings.retries))
    connector = Dhis2Connector(client, codebook, load_package(settings.package),
                               org_unit=settings.org_unit)
    return Dhis2Tracker(connector, batch_size=settings.batch_size)
