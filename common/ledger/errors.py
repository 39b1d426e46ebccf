"""Ledger errors: each says what failed, where (database URL without password) and how to fix it.

None of them carries case contents: record ids, system names and counts only.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every ledger error; `hint` is the fix."""

    reason = "ledger_error"

    def __init__(self, detail: str, hint: str = "") -> None:
        self.detail = detail
        self.hint = hint
        super().__init__(f"{detail}. Fix: {hint}" if hint else detail)


class LedgerUnavailable(LedgerError):
    """The database could not be reached or opened."""

    reason = "ledger_unavailable"


class LedgerSchemaError(LedgerError):
    """The schema is newer than this code, or a migration failed."""

    reason = "ledger_schema"


class EncryptionModeMismatch(LedgerError):
    """The ledger was created with (or without) encryption and is opened the other way."""

    reason = "encryption_mode_mismatch"


class WatermarkRewind(LedgerError):
    """A watermark was asked to move backwards without `allow_rewind=True`."""

    reason = "watermark_rewind"


class RecordConflict(LedgerError):
    """Two record ids claim the same source record, or a platform id is linked twice."""

    reason = "record_conflict"


class ContentNotAllowed(LedgerError):
    """Something that could carry case contents was offered to the audit log or run history."""

    reason = "content_not_allowed"
