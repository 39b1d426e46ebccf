"""Where the ledger lives: URL precedence, drivers, and errors that never show a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tipdata.crypto.at_rest import DataKey, Keyring
from tipdata.ledger import LedgerUnavailable, open_ledger
from tipdata.ledger.database import URL_ENV_VAR, resolve_url
from tipdata.model import Codebook


def test_resolve_url__argument_then_env_then_default() -> None:
    """should prefer the argument, then TIPDATA_LEDGER_URL, then ./tipdata-ledger.sqlite."""
    env = {URL_ENV_VAR: "postgresql://sync@db.example:5432/tipdata"}
    assert resolve_url("ledger.sqlite", env).render_as_string() == "sqlite:///ledger.sqlite"
    assert resolve_url(None, env).drivername == "postgresql+psycopg"
    assert resolve_url(None, {}).render_as_string() == "sqlite:///tipdata-ledger.sqlite"


def test_resolve_url__other_databases_are_refused() -> None:
    """should accept only SQLite and PostgreSQL, naming the variable to set."""
    with pytest.raises(LedgerUnavailable, match=URL_ENV_VAR):
        resolve_url("mysql://root@localhost/tipdata", {})


def test_open_ledger__unreachable_server_hides_the_password(codebook: Codebook) -> None:
    """should say which server could not be reached without printing the password."""
    with pytest.raises(LedgerUnavailable) as caught:
        open_ledger("postgresql://sync:s3cr3t-pw@127.0.0.1:1/tipdata", codebook=codebook,
                    keys=Keyring(DataKey.generate()), environ={})
    message = str(caught.value)
    assert "s3cr3t-pw" not in message
    assert "127.0.0.1:1" in message and "Fix:" in message


def test_open_ledger__default_file_in_working_directory(codebook: Codebook, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """should create ./tipdata-ledger.sqlite when no URL is given."""
    monkeypatch.chdir(tmp_path)
    with open_ledger(codebook=codebook, keys=Keyring(DataKey.generate()), environ={}):
        pass
    assert (tmp_path / "tipdata-ledger.sqlite").is_file()
