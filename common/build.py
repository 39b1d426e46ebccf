"""Every generated artifact, built from the codebook in one pass.

Each target (XLSForms now; DHIS2 metadata and Frappe DocTypes join later) is a pure function
codebook → artifacts (relative path + bytes). Writing and staleness checks compare bytes, so the
renderers must be deterministic; the folders a target owns are listed so that a file left behind
by a removed form counts as stale too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tipdata.model import Codebook


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to the output root, '/'-separated
    content: bytes
    target: str


@dataclass(frozen=True)
class BuildOptions:
    """Choices a deployment makes at build time (not part of the shared codebook)."""

    public_key: str | None = None  # base64 DER, from `tipdata keys generate`
    submission_url: str | None = None


@dataclass(frozen=True)
class Target:
    name: str
    #: glob patterns (relative to the root) of files this target owns
    owns: tuple[str, ...]
    build: Callable[[Codebook, BuildOptions], list[Artifact]]


def _xlsforms(codebook: Codebook, options: BuildOptions) -> list[Artifact]:
    from tipdata.kobo_forms.xlsform import Encryption, build_xlsform
    from tipdata.spreadsheet import write_xlsx

    encryption = None
    if options.public_key:
        if not options.submission_url:
            raise ValueError("an encrypted form needs a submission URL (--submission-url)")
        encryption = Encryption(options.public_key, options.submission_url)
    artifacts = []
    for form_id in sorted(codebook.forms):
        xlsform = build_xlsform(codebook, form_id, encryption)
        content = write_xlsx(xlsform.sheets(), column_widths={"A": 28, "B": 30, "C": 60},
                             escape_formulas=False)
        artifacts.append(Artifact(f"xlsforms/{form_id}.xlsx", content, "xlsforms"))
    return artifacts


def _dhis2(codebook: Codebook, options: BuildOptions) -> list[Artifact]:
    from tipdata.dhis2_app.target import dhis2_artifacts

    return dhis2_artifacts(codebook, options)


def _frappe(codebook: Codebook, options: BuildOptions) -> list[Artifact]:
    from tipdata.erpnext_casework.artifacts import frappe_artifacts

    return frappe_artifacts(codebook, options)


_FRAPPE_APP = "plugins/erpnext_casework/app/tip_casework"

TARGETS: dict[str, Target] = {
    "xlsforms": Target("xlsforms", ("xlsforms/*.xlsx",), _xlsforms),
    "dhis2": Target("dhis2", ("plugins/dhis2_app/metadata/*.json",), _dhis2),
    "frappe": Target("frappe", (
        f"{_FRAPPE_APP}/tip_casework/doctype/*/*.json",
        f"{_FRAPPE_APP}/tip_casework/doctype/tip_*_option/*.py",
        f"{_FRAPPE_APP}/rules.json",
        f"{_FRAPPE_APP}/translations/*.csv",
    ), _frappe),
}


class BuildError(Exception):
    """A valid codebook that a target still cannot render (e.g. a list a platform app needs)."""


def build_artifacts(codebook: Codebook, options: BuildOptions = BuildOptions(),
                    targets: Iterable[str] | None = None) -> list[Artifact]:
    chosen = list(targets) if targets is not None else list(TARGETS)
    unknown = [name for name in chosen if name not in TARGETS]
    if unknown:
        raise BuildError(f"unknown target(s) {', '.join(unknown)}; expected {', '.join(TARGETS)}")
    artifacts: list[Artifact] = []
    for name in chosen:
        try:
            artifacts.extend(TARGETS[name].build(codebook, options))
        except ValueError as exc:  # renderers report unrenderable codebooks as ValueError
            raise BuildError(f"target {name}: {exc}") from exc
    return artifacts


@dataclass(frozen=True)
class Difference:
    path: str
    state: Literal["missing", "changed", "extra"]


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def compare_artifacts(artifacts: list[Artifact], root: Path,
                      targets: Iterable[str] | None = None) -> list[Difference]:
    """What on disk differs from a fresh build (the basis of `tipdata build --check`)."""
    differences = []
    expected = {a.path for a in artifacts}
    for artifact in artifacts:
        path = root / artifact.path
        if not path.is_file():
            differences.append(Difference(artifact.path, "missing"))
        elif path.read_bytes() != artifact.content:
            differences.append(Difference(artifact.path, "changed"))
    for existing in _owned_files(root, targets):
        if existing not in expected:
            differences.append(Difference(existing, "extra"))
    return differences


def _owned_files(root: Path, targets: Iterable[str] | None) -> list[str]:
    names = list(targets) if targets is not None else list(TARGETS)
    found = set()
    for name in names:
        for pattern in TARGETS[name].owns:
            found.update(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())
    return sorted(found)


def write_artifacts(artifacts: list[Artifact], root: Path,
                    targets: Iterable[str] | None = None) -> WriteReport:
    """Write what changed, leave identical files untouched, remove files no form produces."""
    report = WriteReport()
    for difference in compare_artifacts(artifacts, root, targets):
        if difference.state == "extra":
            (root / difference.path).unlink()
            report.removed.append(difference.path)
    by_path = {a.path: a for a in artifacts}
    for path, artifact in by_path.items():
        target = root / path
        if target.is_file() and target.read_bytes() == artifact.content:
            report.unchanged.append(path)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(artifact.content)
        tmp.replace(target)
        report.written.append(path)
    return report
