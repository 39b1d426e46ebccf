"""Shared fixtures: a small valid codebook written inline, so each test can break one thing."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

MINI_CODEBOOK: dict[str, str] = {
    "codebook.yaml": """
        id: mini
        version: 1.2.3
        title: Mini codebook
        source_language: en
        source_language_name: English
        levels: {person: Person, screening: Screening}
        sensitivity_classes: {direct_identifier: d, quasi_identifier: q, restricted: r, sensitive: s, operational: o}
        consent_purposes: {service_referral: s, statistics: st}
    """,
    "elements/person.yaml": """
        section: person
        elements:
          - code: person_name
            type: text
            label: Name
            level: person
            sensitivity: direct_identifier
            consent: [service_referral]
          - code: person_age
            type: integer
            label: Age
            level: person
            sensitivity: quasi_identifier
            consent: [service_referral, statistics]
            constraint: ". >= 0 and . <= 120"
            constraint_message: Age between 0 and 120.
          - code: person_sex
            type: select_one
            options: sex
            label: Sex
            level: person
            sensitivity: quasi_identifier
            consent: [service_referral, statistics]
            required: true
    """,
    "elements/screening.yaml": """
        section: screening
        elements:
          - code: scr_forced
            type: select_one
            options: yes_no
            label: Forced to work?
            level: screening
            sensitivity: sensitive
            consent: [statistics]
          - code: scr_is_child
            type: boolean
            label: Child
            level: screening
            sensitivity: operational
            calculation: "answered(person_age) and person_age < 18"
    """,
    "options/common.yaml": """
        lists:
          yes_no:
            - {code: "yes", label: "Yes"}
            - {code: "no", label: "No"}
          sex:
            description: Sex
            options:
              - {code: female, label: Female, standards: {htcds: Feminine}}
              - {code: male, label: Male}
    """,
    "forms/mini_form.yaml": """
        id: mini_form
        title: Mini form
        level: screening
        items:
          - group: grp_main
            label: Main
            items:
              - element: person_age
              - element: person_sex
              - element: scr_forced
                relevant: "person_age >= 0"
              - note: note_done
                label: Done
          - element: scr_is_child
    """,
    "translations/fr.yaml": """
        language: fr
        name: Français
        elements:
          person_name: {label: Nom}
          person_age: {label: Âge, constraint_message: Âge entre 0 et 120.}
          person_sex: {label: Sexe}
          scr_forced: {label: "Forcé à travailler ?"}
          scr_is_child: {label: Enfant}
        options:
          yes_no: {"yes": Oui, "no": Non}
          sex: {female: Féminin, male: Masculin}
        forms:
          mini_form:
            title: Mini formulaire
            items:
              grp_main: {label: Principal}
              note_done: {label: Fini}
    """,
}


def write_codebook(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def mini_codebook(tmp_path: Path) -> Callable[..., Path]:
    """Write the mini codebook, with some files replaced or edited, and return its folder."""

    def make(replace: dict[str, str] | None = None,
             edit: dict[str, tuple[str, str]] | None = None) -> Path:
        files = {k: textwrap.dedent(v).lstrip("\n") for k, v in MINI_CODEBOOK.items()}
        for name, text in (replace or {}).items():
            files[name] = textwrap.dedent(text).lstrip("\n")
        for name, (old, new) in (edit or {}).items():
            assert old in files[name], f"edit target {old!r} not in {name}"
            files[name] = files[name].replace(old, new, 1)
        return write_codebook(tmp_path / "codebook", files)

    return make
