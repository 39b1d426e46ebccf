"""The sync ledger: what has been read from where, written to where, and under which consent.

SQLite by default (`./tipdata-ledger.sqlite`), PostgreSQL given a URL; the same schema on both,
migrated on open. Identifiers, restricted and sensitive values and quarantined payloads are
encrypted at rest (see `tipdata.crypto.at_rest`). Start with `open_ledger()`.
"""

from tipdata.ledger.entries import (
    AuditEntry,
    IdLink,
    QuarantineContents,
    QuarantineEntry,
    QuarantineItem,
    RunError,
    RunSummary,
    UpsertOutcome,
    Watermark,
)
from tipdata.ledger.errors import (
    ContentNotAllowed,
    EncryptionModeMismatch,
    LedgerError,
    LedgerSchemaError,
    LedgerUnavailable,
    RecordConflict,
    WatermarkRewind,
)
from tipdata.ledger.ledger import Ledger, LedgerTransaction, open_ledger
from tipdata.ledger.rotation import RotationProgress, RotationResult, rotate_key

__all__ = [
    "AuditEntry", "ContentNotAllowed", "EncryptionModeMismatch", "IdLink", "Ledger", "LedgerError",
    "LedgerSchemaError", "LedgerTransaction", "LedgerUnavailable", "QuarantineContents",
    "QuarantineItem", "QuarantineEntry", "RecordConflict", "RotationProgress", "RotationResult",
    "RunError", "RunSummary", "UpsertOutcome", "Watermark", "WatermarkRewind", "open_ledger",
    "rotate_key",
]
