"""A JSON-lines file of canonical records as a sync source.

One `CanonicalRecord.to_json()` object per line, appended over time — the format
`tipdata kobo pull --out DIR` writes (the last line for a record id is its current version).
The watermark is the byte offset after the last line stored, so a run reads only the lines
appended since, and a crash re-reads at most one page. Every line is checked against the
codebook; a line that is not a record, or a record with errors, is quarantined whole, with
every problem (`SY710`, `RC2xx`), never dropped.

A file is a *platform* of its own (`file`) for the routing policy: it owns no level, so its
records add values and first versions but never override an owner's copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tipdata.ledger import Watermark
from tipdata.model import Codebook
from tipdata.problems import Problem
from tipdata.quarantine import QuarantinedRecord
from tipdata.records import CanonicalRecord, record_from_json, validate_record
from tipdata.sync.ports import SourcePage

DEFAULT_PAGE_SIZE = 500
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def stream_name_for(path: Path) -> str:
    """`file:<stem>`: the watermark name of a file (letters, digits, `_ . -` only)."""
    return f"file:{_UNSAFE.sub('_', path.stem) or 'records'}"


def record_or_quarantine(codebook: Codebook, stream: str, source_id: str,
                         data: Any) -> CanonicalRecord | QuarantinedRecord:
    """A parsed line as a valid record, or quarantined with every problem (pure)."""
    where = f"{stream} {source_id}"
    if not isinstance(data, dict) or not isinstance(data.get("envelope"), dict):
        return QuarantinedRecord.from_problems(stream, source_id, [Problem(
            "SY710", "the line has no `envelope` object", where)],
            payload=data if isinstance(data, dict) else {"line": data})
    try:
        record = record_from_json(codebook, data)
    except (ValidationError, ValueError, TypeError) as exc:
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return QuarantinedRecord.from_problems(stream, source_id, [Problem(
            "SY710", f"not a canonical record: {detail}", where)], payload=data)
    problems = [p for p in validate_record(codebook, record, today=record.envelope.collected_at.date(),
                                           source=where) if p.severity == "error"]
    if problems:
        envelope = record.envelope
        return QuarantinedRecord.from_problems(envelope.source_system, envelope.source_id, problems,
                                               payload=data, record_id=record.record_id,
                                               form_id=envelope.form_id)
    return record


class JsonLinesSource:
    """Records appended to JSON-lines files, read from where the last run stopped.

    >>> source = JsonLinesSource([Path("exports/tip_case_intake.jsonl")], codebook)
    >>> source.streams()
    ['file:tip_case_intake']
    """

    platform = "file"
    empty_values: Mapping[str, Any] = {}

    def __init__(self, paths: Sequence[Path], codebook: Codebook, *,
                 page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.paths = {stream_name_for(Path(p)): Path(p) for p in paths}
        if len(self.paths) != len(paths):
            raise ValueError("two source files have the same name; give each file a distinct name")
        self.codebook = codebook
        self.page_size = max(1, page_size)

    def streams(self) -> Sequence[str]:
        return list(self.paths)

    def pages(self, stream: str, since: Watermark | None, *, dry_run: bool = False) -> Iterator[SourcePage]:
        path = self.paths[stream]
        offset = since.number if since is not None and since.number is not None else 0
        records: list[CanonicalRecord] = []
        quarantined: list[QuarantinedRecord] = []
        with path.open("rb") as handle:
            if offset > path.stat().st_size:
                raise ValueError(f"{path} is shorter than when it was last read (offset {offset}); "
                                 "source files must only be appended to")
            handle.seek(offset)
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # a line still being written: the next run reads it whole
                line_offset, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue
                try:
                    data: Any = json.loads(raw)
                except ValueError:
                    data = {"line": raw.decode("utf-8", "replace")}
                    quarantined.append(QuarantinedRecord.from_problems(
                        stream, f"offset-{line_offset}", [Problem(
                            "SY710", "the line is not JSON", f"{stream} offset {line_offset}")],
                        payload=data))
                else:
                    outcome = record_or_quarantine(self.codebook, stream, f"offset-{line_offset}", data)
                    (records if isinstance(outcome, CanonicalRecord) else quarantined).append(outcome)  # type: ignore[arg-type]
                if len(records) + len(quarantined) >= self.page_size:
                    yield self._page(records, quarantined, offset)
                    records, quarantined = [], []
        if records or quarantined or since is None or offset != since.number:
            yield self._page(records, quarantined, offset)

    @staticmethod
    def _page(records: list[CanonicalRecord], quarantined: list[QuarantinedRecord],
              offset: int) -> SourcePage:
        return SourcePage(tuple(records), tuple(quarantined), Watermark(number=offset),
                          received=len(records) + len(quarantined))

    def remap(self, quarantine_source: str, source_id: str,
              payload: bytes) -> CanonicalRecord | QuarantinedRecord | None:
        """Check a quarantined line again (after the codebook or the line was fixed)."""
        try:
            data = json.loads(payload)
        except ValueError:
            return None
        envelope = data.get("envelope") if isinstance(data, dict) else None
        mine = quarantine_source in self.paths or (
            isinstance(envelope, dict) and envelope.get("source_system") == quarantine_source
            and self.paths)
        if not mine:
            return None
        stream = quarantine_source if quarantine_source in self.paths else next(iter(self.paths))
        return record_or_quarantine(self.codebook, stream, source_id, data)
