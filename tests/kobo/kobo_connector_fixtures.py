"""Fixtures for the Kobo connector tests: the real codebook's forms on the Kobo double.

Loaded by the `test_connector_*`, `test_deploy_*` and `test_pull_*` modules through
`pytest_plugins`. The double (tests/doubles/kobo.py) is served over real HTTP on 127.0.0.1;
the client talks to it exactly as it would to a Kobo server, with sleeping switched off so
retries do not slow the tests down.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from tests.doubles.kobo import KoboDouble
from tipdata.codebook import load_codebook
from tipdata.crypto.keys import public_key_base64, public_key_pem
from tipdata.http import ServiceConfig
from tipdata.kobo_forms.connector import KoboClient
from tipdata.kobo_forms.odk_encryption import encrypt_submission
from tipdata.kobo_forms.pull_state import JsonFilePullState
from tipdata.kobo_forms.pull_state_sqlite import SqliteFilePullState
from tipdata.kobo_forms.xlsform import Encryption, build_xlsform
from tipdata.model import Codebook
from tipdata.spreadsheet import write_xlsx

SCREENING = "tip_screening_adult"
START = "2026-03-01T11:11:31.421+02:00"


def xlsform_bytes(codebook: Codebook, form_id: str, encryption: Encryption | None = None) -> bytes:
    """The XLSForm exactly as `tipdata build` writes it."""
    return write_xlsx(
        build_xlsform(codebook, form_id, encryption).sheets(),
        column_widths={"A": 28, "B": 30, "C": 60},
        escape_formulas=False,
    )


#: the adult screening's yes/no indicator questions (act, means, purpose), as Kobo paths
SCREENING_INDICATOR_PATHS: tuple[str, ...] = (
    *(f"grp_act/scr_act_{name}" for name in ("recruited", "moved", "housed")),
    *(f"grp_means/scr_means_{name}" for name in (
        "deceived", "threatened", "force", "debt", "documents", "not_free", "abducted",
        "vulnerability")),
    *(f"grp_purpose/scr_purpose_{name}" for name in (
        "forced_work", "sexual", "domestic", "marriage", "crime", "begging", "armed_group",
        "organ")),
)


def screening_answers(**overrides: str | None) -> dict[str, str]:
    """Flat Kobo answers of a complete, valid adult screening (override by element code).

    The person consented, feels safe, and no indicator is present: result `unlikely`.
    """
    answers: dict[str, str | None] = {
        "start": START,
        "grp_start/screening_date": "2026-03-01",
        "grp_start/screening_population": "adult",
        "grp_start/consent_screening": "yes",
        "grp_safety/scr_safe_now": "yes",
        "grp_safety/age_at_screening": "34",
        "grp_safety/screening_is_child": "false",
        **dict.fromkeys(SCREENING_INDICATOR_PATHS, "no"),
        "palermo_act_indicated": "false",
        "palermo_means_indicated": "false",
        "palermo_purpose_indicated": "false",
        "palermo_elements_met": "false",
        "screening_elements_count": "0",
        "screening_result": "unlikely",
    }
    by_code = {path.rsplit("/", 1)[-1]: path for path in answers}
    for code, value in overrides.items():
        answers[by_code.get(code, code)] = value
    return {path: value for path, value in answers.items() if value is not None}


def instance_xml(
    asset_uid: str, version: str | None, answers: Mapping[str, str], instance_id: str
) -> bytes:
    """The submission XML a device would encrypt: flat Kobo paths nested back into groups."""
    tree: dict[str, Any] = {}
    for path, value in answers.items():
        node = tree
        *groups, leaf = path.split("/")
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = value

    def render(node: Mapping[str, Any]) -> str:
        return "".join(
            f"<{k}>{render(v) if isinstance(v, Mapping) else escape(v)}</{k}>"
            for k, v in node.items()
        )

    version_attr = f' version="{escape(version)}"' if version else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><data id="{asset_uid}"{version_attr}>'
        f"<formhub><uuid>57e6fd0b4065443280c9641be5670e89</uuid></formhub>{render(tree)}"
        f"<__version__>vPlainVersionInside</__version__>"
        f"<meta><instanceID>{instance_id}</instanceID></meta></data>"
    ).encode()


@pytest.fixture(scope="session")
def codebook() -> Codebook:
    return load_codebook()


@pytest.fixture(scope="session")
def screening_xlsx(codebook: Codebook) -> bytes:
    return xlsform_bytes(codebook, SCREENING)


@pytest.fixture
def kobo(request: pytest.FixtureRequest) -> Iterator[KoboDouble]:
    """A started Kobo double whose import tasks report `processing` once before completing.

    Other double settings through indirect parametrization, e.g.
    `@pytest.mark.parametrize("kobo", [{"max_page_size": 7}], indirect=True)`.
    """
    settings = {"import_polls_until_done": 2, **getattr(request, "param", {})}
    double = KoboDouble(**settings)
    double.start()
    try:
        yield double
    finally:
        double.stop()


def make_client(
    double: KoboDouble,
    *,
    token: str | None = None,
    timeout: float = 5.0,
    retries: int = 3,
    sleep: Callable[[float], None] | None = None,
) -> KoboClient:
    """A client of the double that does not really sleep between retries."""
    return KoboClient(
        ServiceConfig(
            double.base_url, token or double.token, timeout=timeout, retries=retries, backoff=0.0
        ),
        sleep=sleep or (lambda _seconds: None),
    )


@pytest.fixture
def client(kobo: KoboDouble) -> KoboClient:
    return make_client(kobo)


@pytest.fixture
def screening_asset(kobo: KoboDouble, screening_xlsx: bytes) -> str:
    """The adult screening form imported and deployed on the double; its asset uid."""
    return kobo.create_form(screening_xlsx, name="screening.xlsx")


@pytest.fixture(params=["json", "sqlite"])
def state_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A state file of each kind `tipdata kobo pull` keeps: the pull tests run over both."""
    return tmp_path / "state" / f"kobo-pull-state.{request.param}"


def open_state(path: Path) -> JsonFilePullState | SqliteFilePullState:
    """The file state for `path` by its suffix; the JSON one writes at every checkpoint."""
    if path.suffix == ".json":
        return JsonFilePullState(path, flush_seconds=0)
    return SqliteFilePullState(path)


@pytest.fixture
def new_state(state_path: Path) -> Callable[[], JsonFilePullState | SqliteFilePullState]:
    """A fresh reader of the same state file (as a later run of the pull would open it)."""
    return lambda: open_state(state_path)


def add_screenings(
    double: KoboDouble, asset_uid: str, count: int, **overrides: str | None
) -> list[int]:
    """`count` valid screenings, ages 20, 21, … so each is distinguishable; their `_id`s."""
    base = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    return [
        double.add_submission(
            asset_uid,
            screening_answers(age_at_screening=str(20 + i % 90), **overrides),
            submitted_at=base + dt.timedelta(seconds=i),
            deliver_hooks=False,
        )
        for i in range(count)
    ]


def encrypted_xlsform(codebook: Codebook, private_key: Any) -> bytes:
    """The screening XLSForm with settings that make devices encrypt every submission."""
    encryption = Encryption(
        public_key_base64(public_key_pem(private_key)), "https://kc.kobotoolbox.org/submission"
    )
    return xlsform_bytes(codebook, SCREENING, encryption)


def submit_encrypted(
    double: KoboDouble,
    asset_uid: str,
    private_key: Any,
    answers: Mapping[str, str],
    *,
    media: Mapping[str, bytes] | None = None,
    tamper: str | None = None,
    drop: str | None = None,
) -> int:
    """Encrypt like Enketo and store it as Kobo does (manifest + .enc attachments); its `_id`.

    `tamper` flips one bit of the named .enc file; `drop` leaves the named file out.
    """
    instance_id = f"uuid:{uuid.uuid4()}"
    version = double.form_version(asset_uid)
    xml = instance_xml(asset_uid, version, answers, instance_id)
    encrypted = encrypt_submission(
        private_key.public_key(),
        form_id=asset_uid,
        version=version,
        instance_id=instance_id,
        submission_xml=xml,
        media=media or {},
    )
    files = dict(encrypted.files)
    if tamper:
        content = bytearray(files[tamper])
        content[20] ^= 0x01
        files[tamper] = bytes(content)
    if drop:
        files.pop(drop)
    return double.add_encrypted_submission(asset_uid, encrypted.manifest_xml, files)
