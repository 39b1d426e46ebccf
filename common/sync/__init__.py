"""The sync engine: plan, then apply, from sources through the ledger to targets.

    from tipdata.sync import load_config, open_session
    with open_session(load_config("tipdata.toml")) as session:
        plan = session.engine.run(dry_run=True)     # what would happen, with reasons
        report = session.engine.run()               # do it

Modules: `ports` (the Source/Target protocols), `plan` (what each target receives, pure),
`conflicts` (merging by ownership), `apply` (the engine), `config` (tipdata.toml), `session`
(wiring from config), `ledger_reads` (bulk ledger queries), `adapters/` (Kobo, Frappe, DHIS2,
JSON-lines files).
"""

from tipdata.sync.apply import CONFLICT_ACTION, Progress, RetryReport, SyncEngine
from tipdata.sync.config import ConfigInvalid, SyncConfig, load_config, parse_config
from tipdata.sync.conflicts import Conflict, Merge, merge_incoming
from tipdata.sync.plan import SourceTally, SyncPlan, TargetTally, plan_write
from tipdata.sync.ports import Outbound, Source, SourcePage, Target, WriteOutcome
from tipdata.sync.session import SyncSession, open_session

__all__ = [
    "CONFLICT_ACTION", "ConfigInvalid", "Conflict", "Merge", "Outbound", "Progress", "RetryReport",
    "Source", "SourcePage", "SourceTally", "SyncConfig", "SyncEngine", "SyncPlan", "SyncSession",
    "Target", "TargetTally", "WriteOutcome", "load_config", "merge_incoming", "open_session",
    "parse_config", "plan_write",
]
