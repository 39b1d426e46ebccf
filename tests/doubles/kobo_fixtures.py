"""pytest fixtures for the Kobo double.

Load them where needed with `pytest_plugins = ("tests.doubles.kobo_fixtures",)` (in the root
`tests/conftest.py`, or in a test module).

- `kobo_double`: a started `KoboDouble` on a free 127.0.0.1 port, stopped after the test.
- `kobo_form`: a started double plus one deployed form (`KoboForm(double, asset_uid)`).

Inline XLSForms for tests are built with `tests.doubles.kobo_workbooks.build_xlsform`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.doubles.kobo import KoboDouble
from tests.doubles.kobo_workbooks import small_xlsform


@dataclass(frozen=True)
class KoboForm:
    """A started double and the uid of one deployed asset on it."""

    double: KoboDouble
    asset_uid: str

    @property
    def data_url(self) -> str:
        return f"{self.double.base_url}/api/v2/assets/{self.asset_uid}/data/"


@pytest.fixture
def kobo_double() -> Iterator[KoboDouble]:
    """A Kobo double served on 127.0.0.1 for one test."""
    double = KoboDouble()
    double.start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def kobo_form(kobo_double: KoboDouble) -> KoboForm:
    """The double with `small_xlsform()` imported and deployed (active)."""
    return KoboForm(kobo_double, kobo_double.create_form(small_xlsform(), name="tip"))
