"""What a report takes from record linkage: a person per record, and who saw each person.

The linking party's result (`tipdata.linkage.LinkageResult`, or the JSON `tipdata link match
--out` writes) holds, per (source, record id), a person id. The report needs two things from it:
the person of each record, to count persons instead of records (`compute_indicators(person_of=)`),
and the sources of each record, to count the persons of the period by the combination of
agencies that identified them ("ngo only", "police only", "ngo + police"). That overlap is
computed here for the report's own period and area, not copied from the linkage run, which may
have covered other records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tipdata.linkage.matching import LinkageResult
from tipdata.model import Codebook
from tipdata.statistics.catalogue import IndicatorCatalogue
from tipdata.statistics.populations import Populations
from tipdata.statistics.report_words import ReportWords, report_words
from tipdata.statistics.scope import Area, Period

OVERLAP_DIMENSION = "seen_by"
#: category of persons none of whose records of the period was in the linkage
NOT_LINKED = "not_linked"
_SEPARATOR = "+"


class LinkageInputError(ValueError):
    """A linkage result the report cannot use; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class LinkageView:
    """The linkage as the report uses it: ids only, never identifiers.

    >>> view = LinkageView.from_json({"sources": ["ngo", "police"], "assignments": [
    ...     {"source": "ngo", "id": "r1", "person": "P1"}, {"source": "police", "id": "r2", "person": "P1"}]})
    >>> view.person_of, view.sources
    ({'r1': 'P1', 'r2': 'P1'}, ('ngo', 'police'))
    """

    sources: tuple[str, ...]
    person_of: dict[str, str] = field(repr=False)
    source_of: dict[str, str] = field(repr=False)
    threshold: float | None = None

    @classmethod
    def from_result(cls, result: LinkageResult) -> LinkageView:
        rows = [(source, record, person) for (source, record), person in result.person_of.items()]
        return cls._build(result.sources, rows, result.settings.threshold, "the linkage result")

    @classmethod
    def from_json(cls, document: Mapping[str, Any], where: str = "the linkage JSON") -> LinkageView:
        try:
            assignments = document["assignments"]
            rows = [(str(a["source"]), str(a["id"]), str(a["person"])) for a in assignments]
        except (KeyError, TypeError) as exc:
            raise LinkageInputError(
                f"{where}: no `assignments` list of {{source, id, person}} ({exc!s}). Fix: pass the "
                "file `tipdata link match --out` wrote."
            ) from None
        sources = document.get("sources") or list(dict.fromkeys(s for s, _, _ in rows))
        threshold = (document.get("settings") or {}).get("threshold")
        return cls._build(tuple(str(s) for s in sources), rows, threshold, where)

    @classmethod
    def _build(
        cls,
        sources: tuple[str, ...],
        rows: list[tuple[str, str, str]],
        threshold: float | None,
        where: str,
    ) -> LinkageView:
        problems = [
            f"source name {s!r} cannot be used (reserved or contains {_SEPARATOR!r})"
            for s in sources
            if not s or s in ("_T", NOT_LINKED) or _SEPARATOR in s
        ]
        person_of: dict[str, str] = {}
        source_of: dict[str, str] = {}
        unknown_sources = set()
        for source, record, person in rows:
            if source not in sources:
                unknown_sources.add(source)
            if record in source_of and (source_of[record], person_of[record]) != (source, person):
                problems.append(f"record {record} is assigned twice")
            person_of[record], source_of[record] = person, source
        problems += [
            f"assignment source {s!r} is not among sources {list(sources)}"
            for s in sorted(unknown_sources)
        ]
        if problems:
            raise LinkageInputError(
                f"{where}: "
                + "; ".join(problems[:5])
                + ". Fix: use the result of one `tipdata link match` run."
            )
        return cls(tuple(sources), person_of, source_of, threshold)


def as_linkage_view(
    linkage: LinkageResult | LinkageView | Mapping[str, Any] | str | Path | None,
) -> LinkageView | None:
    """Whatever form the linkage comes in (result, parsed JSON, path to the JSON), as a view."""
    if linkage is None or isinstance(linkage, LinkageView):
        return linkage
    if isinstance(linkage, LinkageResult):
        return LinkageView.from_result(linkage)
    if isinstance(linkage, str | Path):
        path = Path(linkage)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise LinkageInputError(
                f"{path}: cannot read the linkage result ({exc}). Fix: pass the "
                "file `tipdata link match --out` wrote."
            ) from None
        return LinkageView.from_json(document, str(path))
    if isinstance(linkage, Mapping):
        return LinkageView.from_json(linkage)
    raise TypeError(
        f"linkage must be a LinkageResult, its JSON or a path, not {type(linkage).__name__}"
    )


def overlap_categories(sources: tuple[str, ...]) -> tuple[str, ...]:
    """Every combination of sources, smallest first, then `not_linked`.

    >>> overlap_categories(("ngo", "police"))
    ('ngo', 'police', 'ngo+police', 'not_linked')
    """
    combos = [
        _SEPARATOR.join(c)
        for size in range(1, len(sources) + 1)
        for c in combinations(sources, size)
    ]
    return (*combos, NOT_LINKED)


def overlap_labels(sources: tuple[str, ...], words: ReportWords | None = None) -> dict[str, str]:
    """'ngo' → 'ngo only', 'ngo+police' → 'ngo + police', 'not_linked' → a sentence (in the
    language of `words`; agency names stay as the linkage names them)."""
    words = words or report_words()
    labels = {}
    for code in overlap_categories(sources):
        if code == NOT_LINKED:
            labels[code] = words("overlap.not_linked")
        elif _SEPARATOR in code:
            labels[code] = " + ".join(code.split(_SEPARATOR))
        else:
            labels[code] = words("overlap.only", source=code)
    return labels


def overlap_table(
    frame: pd.DataFrame,
    codebook: Codebook,
    catalogue: IndicatorCatalogue,
    period: Period,
    area: Area,
    view: LinkageView,
    total: str = "_T",
) -> pd.DataFrame:
    """Persons identified in the period and area (as VIC_IDENT_PERSONS counts them) by the
    combination of sources holding one of their records of the period: a one-dimensional,
    additive table (each person in exactly one combination) with its total.
    """
    populations = Populations(frame, codebook, catalogue, period, area, view.person_of)
    persons = populations.get("victim_persons")["unit"].astype(object)
    cases = populations.cases
    dates = cases["ident_date"]
    in_scope = (
        (dates >= pd.Timestamp(period.start)) & (dates <= pd.Timestamp(period.end))
    ).to_numpy(bool) & cases["_in_area"].to_numpy(bool)
    records = cases.loc[in_scope, "record_id"].astype(object)
    units = records.map(view.person_of).where(lambda s: s.notna(), records)
    sources = records.map(view.source_of)
    order = {s: i for i, s in enumerate(view.sources)}
    seen: dict[str, set[str]] = {}
    for unit, source in zip(units.to_numpy(object), sources.to_numpy(object), strict=True):
        bucket = seen.setdefault(unit, set())
        if isinstance(source, str):
            bucket.add(source)
    categories = overlap_categories(view.sources)
    counts = dict.fromkeys(categories, 0)
    for unit in persons.to_numpy(object):
        found = seen.get(unit, set())
        code = _SEPARATOR.join(sorted(found, key=order.__getitem__)) if found else NOT_LINKED
        counts[code] += 1
    table = pd.DataFrame(
        {
            OVERLAP_DIMENSION: [total, *categories],
            "value": np.array([len(persons), *counts.values()], dtype=np.int64),
        }
    )
    table.attrs.update(
        {
            "indicator": "VIC_PERSONS_OVERLAP",
            "unit": "person",
            "statistic": "count",
            "dimensions": [OVERLAP_DIMENSION],
            "non_additive": [],
            "total_code": total,
            "value_column": "value",
            "count_column": "value",
            "notes": [],
            "period": period.label(),
            "area": area.label(),
            "deduplicated": True,
        }
    )
    return table
