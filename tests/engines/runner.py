"""Fill XForms with real form engines so tests can prove a form's logic, not imitate it.

Two engines sit behind one call, each driven by a small harness with the same JSON contract:

- ``javarosa``: the engine inside ODK Collect, taken from the ODK Validate jar that pyxform bundles
  (``javarosa/Harness.java``, compiled once per session into ``javarosa/build/``);
- ``odk-web-forms``: ``@getodk/xforms-engine`` in Node behind a jsdom shim
  (``odk_web_forms/run.mjs``; dependencies from ``npm ci`` in that folder).

Both report every node of the primary instance by name (leaves, calculates, notes and groups),
its relevance, the violations left after the answers, and the serialized instance. Answers the
engine could not take (unknown name, non-relevant or read-only node, value outside the choice
list) raise :class:`AnswersRejected` instead of being silently dropped, as the engines would.

Example::

    result = fill_form("javarosa", xform, [("consent", "yes"), ("means", ["debt", "threats"])])
    assert result.value("yes_count") == "2" and result.relevant("screening")

``scripts/setup-engines`` installs what the engines need. Under ``CI`` a missing engine is an
error; locally the tests that need it are skipped with the reason from :func:`engines_available`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

__all__ = [
    "ALL_ENGINES",
    "ENGINES",
    "Answer",
    "AnswerRejection",
    "AnswersRejected",
    "EngineFailure",
    "EngineResult",
    "EngineUnavailable",
    "NodeState",
    "Violation",
    "engines_available",
    "fill_form",
    "missing_engines_must_fail",
]

JAVAROSA = "javarosa"
WEB_FORMS = "odk-web-forms"
ALL_ENGINES: tuple[str, ...] = (JAVAROSA, WEB_FORMS)

ENGINES_DIR = Path(__file__).resolve().parent
JAVAROSA_DIR = ENGINES_DIR / "javarosa"
JAVAROSA_SOURCE = JAVAROSA_DIR / "Harness.java"
JAVAROSA_BUILD_DIR = JAVAROSA_DIR / "build"
WEB_FORMS_DIR = ENGINES_DIR / "odk_web_forms"
WEB_FORMS_SCRIPT = WEB_FORMS_DIR / "run.mjs"

FILL_TIMEOUT_SECONDS = 120
# @getodk/xforms-engine 0.22.0 declares node ^20.19.3 || ^22.12 || ^24.11
MINIMUM_NODE_VERSION = (20, 19, 3)
SETUP_HINT = "run scripts/setup-engines"


# ---- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One answer, applied in order; a list or tuple ``value`` answers a select_multiple.

    Example: ``Answer("control_means", ["threats", "debt"])``; ``Answer("consent", None)`` clears.
    """

    name: str
    value: str | int | float | Sequence[str] | None

    def to_request(self) -> dict[str, object]:
        if isinstance(self.value, (list, tuple)):
            return {"name": self.name, "values": [str(v) for v in self.value]}
        return {"name": self.name, "value": None if self.value is None else str(self.value)}


AnswerLike = Answer | tuple[str, object]


@dataclass(frozen=True)
class NodeState:
    """A node as the engine reports it.

    ``value`` is serialized as in the submission (select_multiple: space-separated codes, in
    answer order on JavaRosa and choice-list order on Web Forms) and "" while the node is not
    relevant: JavaRosa still holds answers and computes calculates there, but neither engine
    submits them or lets expressions see them.
    """

    value: str
    relevant: bool
    type: str  # select_one, select_multiple, integer, text, ..., note, calculate, hidden, group
    label: str | None = None  # in the active language, <output>s filled in; None without a label


@dataclass(frozen=True)
class Violation:
    """A relevant question whose constraint fails or that is required but empty."""

    name: str
    message: str  # the form's constraint/required message in the active language, or ""
    condition: str = "constraint"  # "constraint" | "required"


@dataclass(frozen=True)
class AnswerRejection:
    """An answer the harness did not apply, and why."""

    name: str
    message: str


@dataclass(frozen=True)
class EngineResult:
    """The state of a form after an engine applied the answers."""

    engine: str
    nodes: Mapping[str, NodeState]
    violations: tuple[Violation, ...]
    instance_xml: str
    language: str | None = None
    rejections: tuple[AnswerRejection, ...] = field(default=())

    def node(self, name: str) -> NodeState:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(
                f"{self.engine}: no node named {name!r}; the form has {sorted(self.nodes)}"
            ) from None

    def value(self, name: str) -> str:
        return self.node(name).value

    def relevant(self, name: str) -> bool:
        return self.node(name).relevant

    def label(self, name: str) -> str | None:
        return self.node(name).label


# ---- errors -------------------------------------------------------------------------------


class EngineUnavailable(RuntimeError):
    """The engine cannot run on this machine; the message says why and how to fix it."""


class EngineFailure(RuntimeError):
    """The harness ran but could not load or fill the form (bad XForm, unknown language, ...)."""


class AnswersRejected(AssertionError):
    """Some answers were not applied; ``result`` is the state after the ones that were."""

    def __init__(self, result: EngineResult) -> None:
        self.result = result
        self.rejections = result.rejections
        lines = "\n".join(f"  {r.name}: {r.message}" for r in result.rejections)
        super().__init__(
            f"{result.engine} did not apply {len(result.rejections)} answer(s):\n{lines}"
        )


# ---- availability -------------------------------------------------------------------------


def _odk_validate_jar() -> Path:
    return Path(str(resources.files("pyxform") / "validators/odk_validate/bin/ODK_Validate.jar"))


def _javarosa_unavailable() -> str | None:
    for tool in ("java", "javac"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH (needs JDK 17: openjdk-17-jdk-headless); {SETUP_HINT}"
    try:
        jar = _odk_validate_jar()
    except ModuleNotFoundError:
        return "pyxform is not installed, so there is no ODK Validate jar (pip install pyxform)"
    if not jar.is_file():
        return f"ODK Validate jar missing at {jar} (reinstall pyxform)"
    return None


@functools.cache
def _node_version() -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.(\d+)\.(\d+)", out.strip())
    return tuple(int(part) for part in match.groups()) if match else None


def _web_forms_unavailable() -> str | None:
    if shutil.which("node") is None:
        return f"node not found on PATH (needs Node >= 20.19.3); {SETUP_HINT}"
    version = _node_version()
    if version is None or version < MINIMUM_NODE_VERSION:
        shown = ".".join(map(str, version)) if version else "unknown"
        return f"node {shown} is too old for @getodk/xforms-engine 0.22.0 (needs >= 20.19.3)"
    pinned = json.loads((WEB_FORMS_DIR / "package.json").read_text())["dependencies"]
    for package, wanted in pinned.items():
        manifest = WEB_FORMS_DIR / "node_modules" / package / "package.json"
        if not manifest.is_file():
            return f"{package} is not installed in {WEB_FORMS_DIR} ({SETUP_HINT})"
        installed = json.loads(manifest.read_text()).get("version")
        if installed != wanted:
            return f"{package} {installed} is installed but {wanted} is pinned ({SETUP_HINT})"
    return None


def engines_available() -> dict[str, str | None]:
    """Map each engine to the reason it cannot run here, or None when it can.

    Example: ``{"javarosa": None, "odk-web-forms": "node not found on PATH ..."}``
    """
    return {JAVAROSA: _javarosa_unavailable(), WEB_FORMS: _web_forms_unavailable()}


def missing_engines_must_fail() -> bool:
    """True under CI, where every engine is installed and a missing one is a failure."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


# Engines the tests parametrize over: those that run here. Under CI every engine is listed, so a
# missing one fails loudly (EngineUnavailable) instead of vanishing from the test run.
ENGINES: tuple[str, ...] = tuple(
    engine
    for engine, reason in engines_available().items()
    if reason is None or missing_engines_must_fail()
)


# ---- running ------------------------------------------------------------------------------


@functools.cache
def _compiled_javarosa_harness() -> Path:
    """Compile Harness.java once per source/jar version into the gitignored build directory."""
    jar = _odk_validate_jar()
    digest = hashlib.sha256(JAVAROSA_SOURCE.read_bytes())
    digest.update(str(jar).encode() + str(jar.stat().st_size).encode())
    classes = JAVAROSA_BUILD_DIR / digest.hexdigest()[:16]
    if (classes / "Harness.class").is_file():
        return classes
    JAVAROSA_BUILD_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="compiling-", dir=JAVAROSA_BUILD_DIR))
    compiled = subprocess.run(
        [
            "javac",
            "-nowarn",
            "-encoding",
            "UTF-8",
            "-cp",
            str(jar),
            "-d",
            str(staging),
            str(JAVAROSA_SOURCE),
        ],
        capture_output=True,
        text=True,
        timeout=FILL_TIMEOUT_SECONDS,
    )
    if compiled.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise EngineFailure(f"javac could not compile {JAVAROSA_SOURCE}:\n{compiled.stderr}")
    try:
        staging.rename(classes)
    except OSError:  # another process compiled the same version first
        shutil.rmtree(staging, ignore_errors=True)
    for stale in JAVAROSA_BUILD_DIR.iterdir():  # builds of earlier Harness.java versions
        if stale != classes and not stale.name.startswith("compiling-"):
            shutil.rmtree(stale, ignore_errors=True)
    return classes


def _command(engine: str) -> tuple[list[str], Path]:
    if engine == JAVAROSA:
        classpath = os.pathsep.join([str(_odk_validate_jar()), str(_compiled_javarosa_harness())])
        return ["java", "-Djava.awt.headless=true", "-cp", classpath, "Harness"], JAVAROSA_DIR
    return ["node", str(WEB_FORMS_SCRIPT)], WEB_FORMS_DIR


def _as_answer(answer: AnswerLike) -> Answer:
    if isinstance(answer, Answer):
        return answer
    name, value = answer
    return Answer(str(name), value)  # type: ignore[arg-type]


def _parse_response(engine: str, response: Mapping[str, object]) -> EngineResult:
    nodes = {
        name: NodeState(
            value=state["value"],
            relevant=state["relevant"],
            type=state["type"],
            label=state.get("label"),
        )
        for name, state in response["nodes"].items()  # type: ignore[union-attr]
    }
    return EngineResult(
        engine=engine,
        nodes=MappingProxyType(nodes),
        violations=tuple(
            Violation(v["name"], v["message"], v.get("condition", "constraint"))
            for v in response["violations"]  # type: ignore[union-attr]
        ),
        instance_xml=str(response["instance_xml"]),
        language=response.get("language"),  # type: ignore[arg-type]
        rejections=tuple(
            AnswerRejection(r["name"], r["message"])
            for r in response.get("errors", ())  # type: ignore[union-attr]
        ),
    )


def fill_form(
    engine: str,
    xform_xml: str,
    answers: Sequence[AnswerLike],
    language: str | None = None,
) -> EngineResult:
    """Load ``xform_xml`` in ``engine``, apply ``answers`` in order, and report the form's state.

    ``language`` is a translation as the XForm names it ("Français (fr)"); None keeps the
    default. Raises EngineUnavailable, EngineFailure (form or language not loadable) or
    AnswersRejected (some answers not applied; the exception carries the result).

    Example::

        result = fill_form("odk-web-forms", xform, [("consent", "yes")], language="Français (fr)")
        assert result.label("screening") == "Dépistage"
    """
    if engine not in ALL_ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {ALL_ENGINES}")
    reason = engines_available()[engine]
    if reason is not None:
        raise EngineUnavailable(f"{engine} is unavailable: {reason}")
    command, cwd = _command(engine)
    request = {
        "xform": xform_xml,
        "language": language,
        "answers": [_as_answer(answer).to_request() for answer in answers],
    }
    try:
        completed = subprocess.run(
            command,
            cwd=cwd,
            input=json.dumps(request),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=FILL_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as exc:
        raise EngineFailure(f"{engine} did not answer within {FILL_TIMEOUT_SECONDS} s") from exc
    if completed.returncode != 0:
        raise EngineFailure(
            f"{engine} harness exited with status {completed.returncode}:\n"
            f"{completed.stderr.strip()[-4000:]}"
        )
    try:
        response = json.loads(completed.stdout)
    except json.JSONDecodeError as exc:
        raise EngineFailure(
            f"{engine} harness printed no JSON response: {completed.stdout[:500]!r}\n"
            f"{completed.stderr.strip()[-2000:]}"
        ) from exc
    result = _parse_response(engine, response)
    if result.rejections:
        raise AnswersRejected(result)
    return result
