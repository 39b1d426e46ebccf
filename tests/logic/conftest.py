"""Fixtures for the logic-language tests."""

from __future__ import annotations

import pytest

from tipdata.logic import Symbol

from .symbol_table import SYMBOLS


@pytest.fixture
def symbols() -> dict[str, Symbol]:
    """One element of each type: age, weight, name, dob, seen_at, consent, means, minor, ..."""
    return dict(SYMBOLS)
