"""tipdata.toml: loading, validation with file and line, secrets only from the environment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.sync.conftest import codebook
from tipdata.cli.init_cmd import example_config
from tipdata.problems import CATALOGUE
from tipdata.sync.config import ConfigInvalid, load_config, parse_config


def parse(text: str, **kwargs):
    return parse_config(textwrap.dedent(text), source="tipdata.toml", base=Path("/srv/tip"),
                        codebook=codebook(), environ=kwargs.pop("environ", {}), **kwargs)


def problems_of(text: str, **kwargs) -> list[tuple[str, int | None]]:
    with pytest.raises(ConfigInvalid) as caught:
        parse(text, **kwargs)
    return [(p.code, p.line) for p in caught.value.problems]


def test_parse_config__the_shipped_example_is_valid():
    """should read the example `tipdata init` writes without a problem"""
    config = parse_config(example_config(), codebook=codebook(), environ={})
    assert config.kobo is not None and config.kobo.forms == {"tip_case_intake": "aBcDeFgHiJkLmNoPqRsTuV"}
    assert config.frappe is not None and config.dhis2 is not None
    assert config.dhis2.org_unit == "ImspTQPwCqd" and config.batch_size == 200


def test_parse_config__reports_every_problem_with_its_line():
    """should report unknown keys, wrong kinds and unknown forms together, each at its line"""
    found = problems_of("""
        [ledger]
        url = "ledger.sqlite"
        colour = "blue"
        [sync]
        batch_size = -3
        [kobo]
        url = "https://kf.kobotoolbox.org"
        reconcile = "sometimes"
        [kobo.forms]
        tip_not_a_form = "aBcD1234EfGh"
        [dhis2]
        url = "https://dhis.example.org"
    """)
    assert ("SY701", 4) in found          # colour
    assert ("SY702", 6) in found          # batch_size
    assert ("SY702", 9) in found          # reconcile
    assert ("SY705", 11) in found         # the form
    assert any(code == "SY704" for code, _ in found)  # kobo has no form left; dhis2 no org unit
    assert all(code in CATALOGUE for code, _ in found)


def test_parse_config__secrets_are_refused_in_the_file():
    """should refuse a token in tipdata.toml and name the environment variable to use instead"""
    with pytest.raises(ConfigInvalid) as caught:
        parse("""
            [dhis2]
            url = "https://dhis.example.org"
            org_unit = "ImspTQPwCqd"
            token = "d2p_secret"
        """)
    [problem] = caught.value.problems
    assert (problem.code, problem.line) == ("SY703", 5)
    assert "TIPDATA_DHIS2_TOKEN" in problem.message and "d2p_secret" not in problem.render()


def test_parse_config__environment_overrides_the_file_and_paths_follow_the_file():
    """should take URLs from the environment over the file, and resolve relative paths next to the file"""
    config = parse("""
        [ledger]
        url = "data/ledger.sqlite"
        [frappe]
        url = "https://file.example.org"
        [files]
        paths = ["exports/intake.jsonl"]
    """, environ={"TIPDATA_FRAPPE_URL": "https://env.example.org"})
    assert config.frappe is not None and config.frappe.url == "https://env.example.org"
    assert config.ledger_url == "/srv/tip/data/ledger.sqlite"
    assert config.files == (Path("/srv/tip/exports/intake.jsonl"),)
    env = parse("[ledger]\nurl = \"x.sqlite\"\n", environ={"TIPDATA_LEDGER_URL": "postgresql://db/tip"})
    assert env.ledger_url == "postgresql://db/tip"


def test_load_config__missing_file_says_how_to_make_one(tmp_path: Path):
    """should name the file and `tipdata init` when there is no configuration"""
    with pytest.raises(ConfigInvalid) as caught:
        load_config(tmp_path / "tipdata.toml", environ={})
    assert "tipdata init" in caught.value.problems[0].message


def test_parse_config__syntax_error_has_its_line():
    """should report a TOML syntax error at its line"""
    assert problems_of("[kobo]\nurl = \n") == [("SY700", 2)]
