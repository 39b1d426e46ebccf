"""What a report covers: the reporting period and the area.

Both are plain values, so a report can say exactly what it counted ("2025-Q1, NG") and two runs
with the same scope give the same numbers.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True)
class Period:
    """A closed range of dates: a unit is in the period when its reference date is in [start, end].

    >>> Period.parse("2025-Q1")
    Period(start=datetime.date(2025, 1, 1), end=datetime.date(2025, 3, 31))
    """

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start}); swap the dates")

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31))

    @classmethod
    def parse(cls, text: str) -> Period:
        """Read "2025", "2025-Q2", "2025-03" or "2025-01-01/2025-06-30"."""
        text = text.strip()
        if (m := _YEAR.match(text)):
            return cls.year(int(m[1]))
        if (m := _QUARTER.match(text)):
            year, quarter = int(m[1]), int(m[2])
            first = 3 * quarter - 2
            return cls(dt.date(year, first, 1),
                       dt.date(year, first + 2, calendar.monthrange(year, first + 2)[1]))
        if (m := _MONTH.match(text)):
            year, month = int(m[1]), int(m[2])
            return cls(dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1]))
        if "/" in text:
            start, end = (part.strip() for part in text.split("/", 1))
            try:
                return cls(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
            except ValueError:
                pass
        raise ValueError(f"cannot read period {text!r}; use 2025, 2025-Q2, 2025-03 or "
                         "2025-01-01/2025-06-30")

    def label(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


@dataclass(frozen=True)
class Area:
    """Where the counted cases were identified.

    `country` (ISO 3166-1 alpha-2, as the codebook's country list) is matched against the
    case's `ident_country`; `locations` (platform location codes, e.g. DHIS2 org units) against
    the case record's envelope location. Referral, service, outcome and justice records belong
    to the area of the case they cite (`svc_case_reference`); a record citing no known case is in
    the area only when no country is asked for and its own location matches. An empty Area is
    everywhere.

    >>> Area(country="NG").label()
    'NG'
    """

    country: str | None = None
    locations: frozenset[str] = field(default_factory=frozenset)
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "locations", frozenset(self.locations))

    def label(self) -> str:
        if self.name:
            return self.name
        parts = [self.country] if self.country else []
        if self.locations:
            parts.append("+".join(sorted(self.locations)))
        return " ".join(parts) or "all areas"


def as_period(value: Period | str | int) -> Period:
    if isinstance(value, Period):
        return value
    if isinstance(value, int):
        return Period.year(value)
    return Period.parse(value)


def as_area(value: Area | str | None) -> Area:
    if value is None:
        return Area()
    if isinstance(value, Area):
        return value
    return Area(country=value)
