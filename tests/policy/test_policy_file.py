"""Loading and validating the routing policy file: every problem, with file and line."""

from __future__ import annotations

import textwrap

import pytest

from tipdata.model import Codebook
from tipdata.policy import (
    DEFAULT_POLICY_PATH,
    PolicyInvalid,
    RoutingPolicy,
    load_policy,
    parse_policy,
)


def _problems(text: str, codebook: Codebook) -> list[tuple[str, int | None]]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text, codebook=codebook, source="site-policy.toml")
    assert all(p.file == "site-policy.toml" for p in caught.value.problems)
    return sorted((p.code, p.line) for p in caught.value.problems)


def at(text: str, snippet: str) -> int:
    """The 1-based line of the one line holding `snippet`."""
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if snippet in line]
    return number


OWNERS = """version = "site-1"
[owners]
person = "frappe"
case = "frappe"
screening = "kobo"
identification = "frappe"
referral = "frappe"
service = "frappe"
outcome = "frappe"
investigation = "kobo"
prosecution = "kobo"
"""


def test_load_policy__default_is_valid(default_policy: RoutingPolicy, codebook: Codebook) -> None:
    """should load the shipped policy against the real codebook with an owner for every level."""
    assert default_policy.version == "tipdata-default-1"
    assert set(default_policy.targets) == {"kobo", "frappe", "dhis2", "export"}
    assert set(default_policy.owners) == set(codebook.levels)
    assert default_policy.audit_version.startswith("tipdata-default-1+")
    assert default_policy.source == DEFAULT_POLICY_PATH.name


def test_load_policy__defaults_keep_the_hard_lines(default_policy: RoutingPolicy) -> None:
    """should ship no restricted element anywhere and direct identifiers only to casework."""
    assert all(not t.restricted for t in default_policy.targets.values())
    holders = {name for name, t in default_policy.targets.items() if "direct_identifier" in t.classes}
    assert holders == {"frappe"}


def test_parse_policy__unknown_target_class_and_purpose_are_located(codebook: Codebook) -> None:
    """should report an unknown target, class and purpose, each at its own line."""
    text = OWNERS + """
[targets.dhis3]
[targets.dhis2.classes]
secret = ["statistics"]
operational = ["statistics",
  "marketing"]
"""
    assert _problems(text, codebook) == [
        ("PL602", at(text, "[targets.dhis3]")), ("PL603", at(text, "secret")),
        ("PL604", at(text, '"marketing"'))]


def test_parse_policy__restricted_only_by_element_code(codebook: Codebook) -> None:
    """should refuse the class `restricted` in classes and a non-restricted element under restricted."""
    text = OWNERS + """
[targets.frappe.classes]
restricted = ["service_referral"]
[targets.frappe.restricted]
person_age = ["service_referral"]
person_immigration_status = ["service_referral"]
"""
    assert _problems(text, codebook) == [("PL603", at(text, "restricted = ")),
                                         ("PL605", at(text, "person_age"))]


def test_parse_policy__owners_levels_and_platforms(codebook: Codebook) -> None:
    """should report an unknown level, an owner that cannot own, and levels left without owner."""
    text = textwrap.dedent("""\
        version = "site-1"
        [owners]
        person = "frappe"
        planet = "kobo"
        case = "export"
        """)
    assert _problems(text, codebook) == [("PL606", at(text, "[owners]")), ("PL606", at(text, "planet")),
                                         ("PL606", at(text, "case ="))]


def test_parse_policy__keys_values_and_elements(codebook: Codebook) -> None:
    """should report unknown keys, wrong kinds of values and unknown element codes together."""
    text = 'colour = "blue"\n' + OWNERS + """
[targets.export]
free_text = "no"
exclude = ["person_age", "no_such_element"]
fre_text_allow = []
"""
    assert _problems(text, codebook) == [
        ("PL601", at(text, "colour")), ("PL601", at(text, "fre_text_allow")),
        ("PL607", at(text, "free_text =")), ("PL608", at(text, "no_such_element"))]


def test_parse_policy__missing_version(codebook: Codebook) -> None:
    """should require a version, since the audit log records it with every move."""
    assert _problems(OWNERS.replace('version = "site-1"', ""), codebook) == [("PL607", None)]


def test_parse_policy__toml_syntax_error_has_a_line(codebook: Codebook) -> None:
    """should report a TOML syntax error with its line."""
    text = OWNERS + "\n[targets.kobo\n"
    assert _problems(text, codebook) == [("PL600", at(text, "[targets.kobo"))]


def test_load_policy__missing_file(codebook: Codebook, tmp_path) -> None:  # noqa: ANN001
    """should name the policy file that cannot be read."""
    with pytest.raises(PolicyInvalid, match="nope.toml"):
        load_policy(tmp_path / "nope.toml", codebook=codebook)


def test_parse_policy__error_message_reads_like_codebook_errors(codebook: Codebook) -> None:
    """should render `file:line: error CODE name: message Fix: hint`."""
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(OWNERS + '[targets.dhis3]\n', codebook=codebook, source="site-policy.toml")
    assert "site-policy.toml:12: error PL602 unknown-target: unknown target 'dhis3'" in str(caught.value)
    assert "Fix: Use one of the targets kobo, frappe, dhis2, export." in str(caught.value)
