"""The one catalogue of codebook and input problems.

Every problem carries a stable code, where it happened (file, line, element) and a fix, so a
maintainer can act on a report without reading our source. Validation collects every problem and
reports them together: fixing a codebook one error per run is the failure mode this avoids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]

#: code -> (short name, fix hint). Messages are built per problem; the hint is shared.
CATALOGUE: dict[str, tuple[str, str]] = {
    "CB100": ("yaml-syntax", "Fix the YAML syntax at the line shown (indentation, a missing colon or quote)."),
    "CB101": ("missing-field", "Add the field; see docs/codebook-format.md for what each entry needs."),
    "CB102": ("invalid-value", "Use a value of the expected kind shown in the message."),
    "CB103": ("unknown-key", "Remove the key or correct its spelling."),
    "CB110": ("duplicate-element-code", "Give each element a unique code; codes are stable ids, so rename the newer one."),
    "CB111": ("invalid-code", "Codes are lower_snake_case: a letter, then letters, digits or underscores."),
    "CB112": ("unknown-option-list", "Name a list defined under common/codebook/options/ or add the list."),
    "CB113": ("option-code-clash", "Each option code must appear once in its list."),
    "CB114": ("duplicate-option-list", "Each option list name must be defined once."),
    "CB115": ("options-mismatch", "select_one/select_multiple elements need `options`; other types must not have it."),
    "CB120": ("unknown-level", "Use one of the levels declared in codebook.yaml."),
    "CB121": ("unknown-sensitivity", "Use one of the sensitivity classes declared in codebook.yaml."),
    "CB122": ("unknown-consent-purpose", "Use one of the consent purposes declared in codebook.yaml."),
    "CB130": ("bad-expression", "Correct the expression; docs/logic-language.md lists names, functions and types."),
    "CB131": ("expression-cycle", "Break the cycle: an element's expression must not depend on itself."),
    "CB140": ("missing-label", "Every element, option, group and note needs a label in the source language."),
    "CB141": ("unknown-language", "Use an ISO 639-1 code and add common/codebook/translations/<code>.yaml."),
    "CB142": ("stale-translation", "Remove the translation or fix the code it belongs to."),
    "CB143": ("missing-translation", "Add the text to the language's translation file."),
    "CB150": ("unknown-form-element", "Name an element defined under common/codebook/elements/."),
    "CB151": ("duplicate-form-name", "Each question, group and note name may appear once per form."),
    "CB152": ("reference-outside-form", "Add the referenced element to the form, or drop the reference."),
    "CB153": ("invalid-fixed-value", "A fixed value must be valid for the element's type and options."),
    "CB154": ("duplicate-form-id", "Each form id must be unique."),
    "CB160": ("unknown-standard-column", "Use a column name from the standard's list in common/standards.py."),
    "CB161": ("invalid-standard-code", "Use a code from the standard's published list."),
    "RC200": ("unknown-element", "Use an element code from the codebook."),
    "RC201": ("wrong-type", "Give a value of the element's type."),
    "RC202": ("unknown-option", "Use one of the element's option codes."),
    "RC203": ("missing-required", "Provide a value: the element is required here."),
    "RC204": ("constraint-failed", "Correct the value so that the element's constraint holds."),
    "RC205": ("not-relevant", "Remove the value: the element does not apply to this record."),
    "RC206": ("invalid-envelope", "Correct the record envelope field."),
    # KoboToolbox submissions (tipdata.kobo_forms.mapping / pull)
    "KB300": ("undecryptable-submission", "Check that the private key pairs with the form's public key and re-pull; the message names the ODK reason (wrong_key, signature_mismatch, file_missing, ...)."),
    "KB301": ("repeated-answer", "A canonical record holds one value per element: remove the repeat around the question on Kobo, or split the repeat's entries into their own submissions."),
    "KB302": ("malformed-submission", "The submission lacks what every Kobo submission has (an integer _id, flat string answers); check the server returns /api/v2/assets/{uid}/data/ JSON."),
    "KB303": ("duplicate-submission", "Kobo holds the same submission (same meta/instanceID) under two _ids; keep one on Kobo (delete the other) and re-pull."),
    # Frappe casework site (tipdata.erpnext_casework.connector / mapping)
    "FR400": ("frappe-rejected", "The casework site refused the record; its message gives the rule in words. Correct the record at its source (or the site's rule), then push again."),
    "FR401": ("frappe-conflict", "The document kept changing on the casework site while tipdata wrote it; push again, and if it persists find out who else edits the case."),
    "FR402": ("frappe-permission", "Give the sync user a role with read, write and create permission on the DocType (Role Permissions Manager), then push again."),
    "FR403": ("frappe-unmapped", "The casework app has no DocType or field for this: rebuild the app from the codebook (tipdata build), migrate the site, then push again."),
    "FR404": ("frappe-unreadable-document", "A document on the casework site holds a value the codebook does not allow; correct it in the desk, then pull again."),
    "FR405": ("frappe-case-not-found", "The record quotes no case reference, or one no case on the site (or several) has: push the case's intake record first, or correct the reference at the source, then push again."),
    # Routing policy files (tipdata.policy)
    "PL600": ("policy-syntax", "Fix the TOML syntax at the line shown, or the path of the policy file."),
    "PL601": ("unknown-policy-key", "Remove the key or correct its spelling; docs/routing-policy.md lists the keys."),
    "PL602": ("unknown-target", "Use one of the targets kobo, frappe, dhis2, export."),
    "PL603": ("invalid-policy-class", "Use a sensitivity class declared in codebook.yaml; restricted elements are named one by one under [targets.<name>.restricted]."),
    "PL604": ("unknown-policy-purpose", "Use a consent purpose declared in codebook.yaml."),
    "PL605": ("invalid-restricted-element", "Name an element whose sensitivity is restricted (e.g. person_immigration_status)."),
    "PL606": ("invalid-owner", "Give every level declared in codebook.yaml exactly one owner among kobo, frappe, dhis2."),
    "PL607": ("invalid-policy-value", "Use a value of the kind shown in the message."),
    "PL608": ("unknown-policy-element", "Name an element defined under common/codebook/elements/."),
    # DHIS2 connector (tipdata.dhis2_app.connector / tracker): why a record was not saved on DHIS2
    "DH400": ("dhis2-rejected", "Correct what DHIS2 names (its error code, e.g. E1125, and the element are in the message) in the record or in the DHIS2 metadata, then push again."),
    "DH401": ("no-tracker-link", "Give the record a person_pseudo_id or a case reference (case_reference, svc_case_reference) so DHIS2 can file it under a tracked entity and an enrollment."),
    "DH402": ("dhis2-parent-rejected", "Fix the record DHIS2 rejected first (same person or case in this push): this one was not saved because the tracked entity or enrollment it belongs to was not."),
    "DH403": ("restricted-in-package", "Rebuild the DHIS2 package without the restricted element: immigration status never goes to DHIS2, whatever the package or policy says."),
    # Sync configuration and engine (tipdata.sync)
    "SY700": ("config-syntax", "Fix the TOML syntax at the line shown, or the path of tipdata.toml (`tipdata init` writes a commented example)."),
    "SY701": ("unknown-config-key", "Remove the key or correct its spelling; `tipdata init` writes every key with a comment."),
    "SY702": ("invalid-config-value", "Use a value of the kind shown in the message."),
    "SY703": ("secret-in-config", "Remove the secret from the file and set the environment variable named in the message; tipdata.toml is often shared and committed."),
    "SY704": ("missing-config-value", "Add the setting; the message names the table and key."),
    "SY705": ("unknown-config-form", "Name a form of the codebook (tipdata codebook validate lists them) with the Kobo asset uid it is deployed as."),
    "SY710": ("unreadable-source-line", "The line is not a canonical record (CanonicalRecord.to_json); correct or remove it in the source file, then retry."),
    # Receiver (tipdata serve, tipdata.sync.receiver)
    "SY720": ("unreadable-delivery", "The delivery is not one JSON object of acceptable size: point the Kobo REST Service at tipdata serve with export type json and no payload_template (`tipdata kobo hook` does); the pull (`tipdata sync`) still fetches the submission."),
    "SY721": ("unknown-delivery-form", "Add the form's asset uid under [kobo.forms] in tipdata.toml and restart tipdata serve, then `tipdata quarantine retry` the entry (or retry the failed delivery on Kobo)."),
    "SY722": ("awaiting-decryption", "Encrypted submission held unopened: set [kobo] private_key in tipdata.toml (and TIPDATA_KEY_PASSPHRASE if the key file is encrypted), then `tipdata quarantine retry --reason SY722`."),
}


@dataclass(frozen=True)
class Problem:
    """One problem found in a codebook or input, located precisely enough to fix."""

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    element: str | None = None
    severity: Severity = "error"
    fix: str = field(default="")

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise ValueError(f"problem code {self.code!r} is not in the catalogue")
        if not self.fix:
            object.__setattr__(self, "fix", CATALOGUE[self.code][1])

    @property
    def name(self) -> str:
        return CATALOGUE[self.code][0]

    @property
    def location(self) -> str:
        where = self.file or "<codebook>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return where

    def render(self) -> str:
        """One line a maintainer can act on, e.g. `elements/person.yaml:12 [CB110] ...`."""
        subject = f" element {self.element!r}:" if self.element else ""
        return f"{self.location}: {self.severity} {self.code} {self.name}:{subject} {self.message} Fix: {self.fix}"

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "element": self.element,
            "message": self.message,
            "fix": self.fix,
        }


class CodebookInvalid(Exception):
    """Raised when a codebook has errors; carries every problem, not only the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        lines = "\n".join(p.render() for p in errors)
        super().__init__(f"the codebook has {len(errors)} error(s):\n{lines}")


def relative_path(path: Path, root: Path) -> str:
    """Paths in reports are relative to the codebook folder so they read the same on every machine."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
