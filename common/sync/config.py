"""`tipdata.toml`: where the sync reads and writes, in one file; secrets only in the environment.

Lookup: the path given (`--config`), else `TIPDATA_CONFIG`, else `./tipdata.toml`. Relative
paths in the file are relative to the file. Precedence for each setting: environment > file >
default (`TIPDATA_LEDGER_URL`, `TIPDATA_KOBO_URL`, `TIPDATA_FRAPPE_URL`, `TIPDATA_DHIS2_URL`,
`TIPDATA_DHIS2_ORG_UNIT` override the file, so one file serves several environments). Tokens,
keys and passwords are refused in the file (SY703): they come from the variables each connector
names (`TIPDATA_KOBO_TOKEN`, `TIPDATA_FRAPPE_API_KEY`/`_SECRET`, `TIPDATA_DHIS2_TOKEN`,
`TIPDATA_LEDGER_KEY`, or the `*_FILE` variants).

Validation collects every problem (unknown key, wrong kind of value, unknown form, a secret) with
file and line, and reports them together, like codebook and policy errors. `tipdata init` writes
the commented example shipped as `tipdata/tipdata.example.toml`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipdata.model import Codebook
from tipdata.policy import _TomlLines as TomlLines
from tipdata.problems import Problem

CONFIG_ENV = "TIPDATA_CONFIG"
DEFAULT_CONFIG_FILE = Path("tipdata.toml")
EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "tipdata.example.toml"
#: key names that hold secrets, wherever they appear
SECRET_KEYS = frozenset({"token", "token_value", "secret", "api_secret", "api_key", "password",
                         "passphrase", "key", "private_key_passphrase"})
_SECRET_ENV = {
    "ledger": "TIPDATA_LEDGER_KEY (or TIPDATA_LEDGER_KEY_FILE)",
    "kobo": "TIPDATA_KOBO_TOKEN (or TIPDATA_KOBO_TOKEN_FILE)",
    "frappe": "TIPDATA_FRAPPE_API_KEY and TIPDATA_FRAPPE_API_SECRET (or TIPDATA_FRAPPE_API_SECRET_FILE)",
    "dhis2": "TIPDATA_DHIS2_TOKEN (or TIPDATA_DHIS2_TOKEN_FILE)",
}
_ASSET_UID = re.compile(r"^[A-Za-z0-9]{8,64}$")
_DHIS2_UID = re.compile(r"^[A-Za-z][A-Za-z0-9]{10}$")
RECONCILE_CHOICES = ("always", "never", "daily")

#: table → key → (kind, default). Kinds: str, bool, int, float, path, paths, table
_SCHEMA: dict[str, dict[str, tuple[str, Any]]] = {
    "ledger": {"url": ("str", None), "schema": ("str", None), "encrypt": ("bool", True)},
    "policy": {"file": ("path", None)},
    "sync": {"batch_size": ("int", 200), "page_size": ("int", 500)},
    "kobo": {"url": ("str", None), "forms": ("table", {}), "state": ("path", ".tipdata/sync-kobo-state.json"),
             "reconcile": ("str", "daily"), "page_size": ("int", 1000), "timeout": ("float", 30.0),
             "retries": ("int", 4), "private_key": ("path", None)},
    "frappe": {"url": ("str", None), "push": ("bool", True), "pull": ("bool", True),
               "time_zone": ("str", None), "timeout": ("float", 30.0), "retries": ("int", 4),
               "batch_size": ("int", 200)},
    "dhis2": {"url": ("str", None), "org_unit": ("str", None), "package": ("path", None),
              "push": ("bool", True), "timeout": ("float", 60.0), "retries": ("int", 4),
              "batch_size": ("int", 250)},
    "files": {"paths": ("paths", [])},
}


class ConfigInvalid(Exception):
    """tipdata.toml has errors; carries every problem, not only the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(p.render() for p in self.problems)
        super().__init__(f"the sync configuration has {len(self.problems)} error(s):\n{lines}")


@dataclass(frozen=True)
class KoboSettings:
    url: str | None
    #: codebook form id → Kobo asset uid
    forms: Mapping[str, str]
    state: Path
    reconcile: str = "daily"
    page_size: int = 1000
    timeout: float = 30.0
    retries: int = 4
    private_key: Path | None = None


@dataclass(frozen=True)
class FrappeSettings:
    url: str | None
    push: bool = True
    pull: bool = True
    time_zone: str | None = None
    timeout: float = 30.0
    retries: int = 4
    batch_size: int = 200


@dataclass(frozen=True)
class Dhis2Settings:
    url: str | None
    org_unit: str | None = None
    package: Path | None = None
    push: bool = True
    timeout: float = 60.0
    retries: int = 4
    batch_size: int = 250


@dataclass(frozen=True)
class SyncConfig:
    """Everything a sync needs except secrets (read from the environment when connecting)."""

    source: str = "<defaults>"
    ledger_url: str | None = None
    ledger_schema: str | None = None
    encrypt: bool = True
    policy_file: Path | None = None
    batch_size: int = 200
    page_size: int = 500
    kobo: KoboSettings | None = None
    frappe: FrappeSettings | None = None
    dhis2: Dhis2Settings | None = None
    files: tuple[Path, ...] = field(default_factory=tuple)


def config_path(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The file to read: argument > TIPDATA_CONFIG > ./tipdata.toml."""
    env = os.environ if environ is None else environ
    return Path(path) if path else Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else DEFAULT_CONFIG_FILE


def load_config(path: Path | str | None = None, *, codebook: Codebook | None = None,
                environ: Mapping[str, str] | None = None) -> SyncConfig:
    """Read and validate tipdata.toml; raises ConfigInvalid listing every problem.

    Example: `config = load_config("tipdata.toml", codebook=load_codebook())`
    """
    file = config_path(path, environ)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        hint = " (write one with `tipdata init`)" if isinstance(exc, FileNotFoundError) else ""
        raise ConfigInvalid([Problem("SY700", f"cannot read the configuration: {exc.strerror}{hint}",
                                     str(file))]) from None
    return parse_config(text, source=str(file), base=file.resolve().parent, codebook=codebook,
                        environ=environ)


def parse_config(text: str, *, source: str = "<tipdata.toml>", base: Path | None = None,
                 codebook: Codebook | None = None,
                 environ: Mapping[str, str] | None = None) -> SyncConfig:
    """Validate tipdata.toml text; every problem is reported at once (ConfigInvalid)."""
    env = os.environ if environ is None else environ
    root = base or Path.cwd()
    lines = TomlLines(text)
    problems: list[Problem] = []

    def add(code: str, message: str, path: tuple[str, ...], item: str | None = None) -> None:
        problems.append(Problem(code, message, source, lines.line_of(path, item)))

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise ConfigInvalid([Problem("SY700", str(exc).split(" (at line")[0], source,
                                     int(found.group(1)) if found else None)]) from None
    _find_secrets(data, (), add)
    tables: dict[str, dict[str, Any]] = {}
    for name, body in data.items():
        if name not in _SCHEMA:
            add("SY701", f"unknown table [{name}] (tables: {', '.join(_SCHEMA)})", (name,))
            continue
        if not isinstance(body, dict):
            add("SY702", f"`{name}` must be a table ([{name}])", (name,))
            continue
        tables[name] = _read_table(name, body, root, add)

    kobo = None
    if "kobo" in tables:
        k = tables["kobo"]
        forms = _kobo_forms(k["forms"], codebook, add)
        if k["reconcile"] not in RECONCILE_CHOICES:
            add("SY702", f"`kobo.reconcile` must be one of {', '.join(RECONCILE_CHOICES)}",
                ("kobo", "reconcile"))
        url = env.get("TIPDATA_KOBO_URL") or k["url"]
        if not url:
            add("SY704", "[kobo] needs `url` (or TIPDATA_KOBO_URL), e.g. https://kf.kobotoolbox.org",
                ("kobo",))
        if not forms:
            add("SY704", "[kobo.forms] names no form: add `<codebook form id> = \"<asset uid>\"`",
                ("kobo",))
        kobo = KoboSettings(url, forms, k["state"], k["reconcile"], k["page_size"], k["timeout"],
                            k["retries"], k["private_key"])
    frappe = None
    if "frappe" in tables:
        f = tables["frappe"]
        url = env.get("TIPDATA_FRAPPE_URL") or f["url"]
        if not url:
            add("SY704", "[frappe] needs `url` (or TIPDATA_FRAPPE_URL), e.g. https://casework.example.org",
                ("frappe",))
        frappe = FrappeSettings(url, f["push"], f["pull"], f["time_zone"], f["timeout"],
                                f["retries"], f["batch_size"])
    dhis2 = None
    if "dhis2" in tables:
        d = tables["dhis2"]
        url = env.get("TIPDATA_DHIS2_URL") or d["url"]
        org_unit = env.get("TIPDATA_DHIS2_ORG_UNIT") or d["org_unit"]
        if not url:
            add("SY704", "[dhis2] needs `url` (or TIPDATA_DHIS2_URL), the server root", ("dhis2",))
        if not org_unit:
            add("SY704", "[dhis2] needs `org_unit` (or TIPDATA_DHIS2_ORG_UNIT): records are filed "
                "under it", ("dhis2",))
        elif not _DHIS2_UID.fullmatch(org_unit):
            add("SY702", f"`dhis2.org_unit` {org_unit!r} is not a DHIS2 UID (11 letters and digits)",
                ("dhis2", "org_unit"))
        dhis2 = Dhis2Settings(url, org_unit, d["package"], d["push"], d["timeout"], d["retries"],
                              d["batch_size"])
    ledger = tables.get("ledger") or _read_table("ledger", {}, root, add)
    sync = tables.get("sync") or _read_table("sync", {}, root, add)
    policy = tables.get("policy") or _read_table("policy", {}, root, add)
    files = tables.get("files") or _read_table("files", {}, root, add)
    if problems:
        raise ConfigInvalid(problems)
    ledger_url = env.get("TIPDATA_LEDGER_URL") or ledger["url"]
    if ledger["url"] and ledger_url == ledger["url"] and "://" not in ledger_url \
            and not Path(ledger_url).expanduser().is_absolute():
        ledger_url = str(root / Path(ledger_url).expanduser())  # a SQLite file next to the config
    return SyncConfig(source=source, ledger_url=ledger_url,
                      ledger_schema=ledger["schema"], encrypt=ledger["encrypt"],
                      policy_file=policy["file"], batch_size=sync["batch_size"],
                      page_size=sync["page_size"], kobo=kobo, frappe=frappe, dhis2=dhis2,
                      files=tuple(files["paths"]))


def _find_secrets(data: Mapping[str, Any], path: tuple[str, ...], add: Any) -> None:
    for key, value in data.items():
        here = (*path, key)
        if isinstance(value, dict):
            _find_secrets(value, here, add)
        elif key.lower() in SECRET_KEYS or key.lower().endswith(("_token", "_secret", "_password")):
            variable = _SECRET_ENV.get(path[0] if path else "", "the platform's environment variable")
            add("SY703", f"`{'.'.join(here)}` holds a secret; secrets are never read from "
                f"tipdata.toml: set {variable}", here)


def _read_table(name: str, body: Mapping[str, Any], root: Path, add: Any) -> dict[str, Any]:
    """The table's settings with defaults, each checked for its kind."""
    schema = _SCHEMA[name]
    values: dict[str, Any] = {}
    for key in body:
        if key not in schema and key.lower() not in SECRET_KEYS:
            add("SY701", f"unknown key `{key}` in [{name}] (keys: {', '.join(schema)})", (name, key))
    for key, (kind, default) in schema.items():
        raw = body.get(key, default)
        values[key] = _checked(name, key, kind, raw, default, root, add)
    return values


def _checked(table: str, key: str, kind: str, raw: Any, default: Any, root: Path, add: Any) -> Any:
    where = (table, key)
    dotted = f"{table}.{key}"
    if raw is None:
        return None
    if kind == "str":
        if isinstance(raw, str) and raw.strip():
            return raw.strip()
        add("SY702", f"`{dotted}` must be a non-empty string", where)
        return default
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        add("SY702", f"`{dotted}` must be true or false", where)
        return default
    if kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
            return raw
        add("SY702", f"`{dotted}` must be a positive whole number", where)
        return default
    if kind == "float":
        if isinstance(raw, int | float) and not isinstance(raw, bool) and raw > 0:
            return float(raw)
        add("SY702", f"`{dotted}` must be a positive number of seconds", where)
        return default
    if kind == "path":
        if isinstance(raw, str) and raw.strip():
            path = Path(raw).expanduser()
            return path if path.is_absolute() else root / path
        add("SY702", f"`{dotted}` must be a file path (a string)", where)
        return None
    if kind == "paths":
        if isinstance(raw, list) and all(isinstance(p, str) and p.strip() for p in raw):
            return [p if p.is_absolute() else root / p for p in (Path(x).expanduser() for x in raw)]
        add("SY702", f"`{dotted}` must be a list of file paths (strings)", where)
        return []
    if kind == "table":
        if isinstance(raw, dict):
            return raw
        add("SY702", f"`{dotted}` must be a table ([{dotted}])", where)
        return {}
    raise AssertionError(kind)


def _kobo_forms(raw: Mapping[str, Any], codebook: Codebook | None, add: Any) -> dict[str, str]:
    forms: dict[str, str] = {}
    for form_id, uid in raw.items():
        where = ("kobo", "forms", form_id)
        if codebook is not None and form_id not in codebook.forms:
            add("SY705", f"{form_id!r} under [kobo.forms] is not a form of the codebook "
                f"(forms: {', '.join(sorted(codebook.forms))})", where)
            continue
        if not isinstance(uid, str) or not _ASSET_UID.fullmatch(uid):
            add("SY702", f"the asset uid of {form_id!r} must be the Kobo asset uid (letters and "
                "digits, e.g. \"aBcD1234EfGh5678\")", where)
            continue
        forms[form_id] = uid
    return forms
