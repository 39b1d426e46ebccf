"""The demo run once per session (twice into the same folder), shared by the tests that read it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tipdata.cli.main import app
from tipdata.codebook import load_codebook
from tipdata.demo.synthetic import DemoDataset, DemoGenerator
from tipdata.model import Codebook

#: small enough to be quick, large enough that the report's totals exceed k = 11
RECORDS = 120
SEED = 11


@dataclass(frozen=True)
class DemoRun:
    out: Path
    first: dict[str, Any] = field(repr=False)
    second: dict[str, Any] = field(repr=False)
    #: sha256 of every file under out/ after the first and after the second run
    files_after_first: dict[str, str] = field(repr=False)
    files_after_second: dict[str, str] = field(repr=False)
    dataset: DemoDataset = field(repr=False)
    codebook: Codebook = field(repr=False)


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(app, ["demo", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    out = tmp_path_factory.mktemp("demo") / "tipdata-demo"
    options = ["--out", str(out), "--records", str(RECORDS), "--seed", str(SEED), "--json"]
    first = json.loads(run_cli(*options))
    first_files = digests(out / "out")
    second = json.loads(run_cli(*options))
    codebook = load_codebook()
    dataset = DemoGenerator(codebook).generate(records=RECORDS, seed=SEED)
    return DemoRun(out, first, second, first_files, digests(out / "out"), dataset, codebook)
