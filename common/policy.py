"""The routing policy: which values may travel to which platform, under which consent.

Every connector write goes through one pure function, `decide(record, target, policy, codebook)`,
which splits a record's values into those the target may receive and those withheld (with a
reason per element). The policy file (TOML, see docs/routing-policy.md and the shipped
`policy_default.toml`) says, per target, which sensitivity classes it may hold and under which
consent purposes, which restricted elements it may hold (by element code), which platform owns
each level, and the policy version the audit log records.

Some rules are not configuration. `decide` enforces them whatever the file says, so a typo or a
hand-built policy cannot open them up:
  - a restricted element (immigration status) travels only to a target that names its code;
  - a direct identifier travels only to a target that allows the class `direct_identifier`;
  - an element whose codebook consent list is empty never leaves;
  - a value travels only under a purpose the person consented to, the element may be shared
    for, and the target accepts for the element's class: all three at once. (The one reading of
    "consented to" the file can widen: `[screening_cases.consent]` lets the consent to a screening
    interview stand for named purposes on named targets, for a screening that opens a case and
    that case, until consent per purpose is recorded. Empty by default.)

Validation collects every problem in the file (unknown target, class, purpose, element, level,
platform, key) with file and line, then reports them together, like codebook errors.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipdata.model import Codebook
from tipdata.problems import Problem
from tipdata.records import CanonicalRecord

DEFAULT_POLICY_PATH = Path(__file__).parent / "policy_default.toml"
#: the targets a policy may configure; `export` covers files leaving the system (CSV, CTDC, ...)
TARGETS: tuple[str, ...] = ("kobo", "frappe", "dhis2", "export")
#: platforms that can be the source of truth for a level (an export owns nothing)
OWNER_PLATFORMS: tuple[str, ...] = ("kobo", "frappe", "dhis2")
RESTRICTED = "restricted"
DIRECT_IDENTIFIER = "direct_identifier"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+\-]{0,99}$")

# Why a value was withheld: stable codes connectors may count and report.
UNKNOWN_ELEMENT = "unknown_element"
EXCLUDED = "excluded_by_policy"
NO_CONSENT_PURPOSES = "element_never_shared"
RESTRICTED_NOT_NAMED = "restricted_not_named"
DIRECT_IDENTIFIER_NOT_ALLOWED = "direct_identifier_not_allowed"
CLASS_NOT_ALLOWED = "class_not_allowed"
FREE_TEXT_NOT_ALLOWED = "free_text_not_allowed"
CONSENT_MISSING = "consent_missing"
WITHHOLD_REASONS: tuple[str, ...] = (
    UNKNOWN_ELEMENT, EXCLUDED, NO_CONSENT_PURPOSES, RESTRICTED_NOT_NAMED,
    DIRECT_IDENTIFIER_NOT_ALLOWED, CLASS_NOT_ALLOWED, FREE_TEXT_NOT_ALLOWED, CONSENT_MISSING,
)


@dataclass(frozen=True)
class TargetPolicy:
    """What one target may receive."""

    name: str
    #: sensitivity class → purposes under which the target may receive that class
    #: (`restricted` is never read from here: restricted elements are named one by one)
    classes: Mapping[str, frozenset[str]]
    #: restricted element code → purposes under which the target may receive it
    restricted: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: element codes never sent to this target, whatever the consent
    exclude: frozenset[str] = frozenset()
    #: False: text-type elements are withheld unless listed in `free_text_allow` (free text can
    #: hold anything, names included; statistics targets take coded values only)
    free_text: bool = True
    free_text_allow: frozenset[str] = frozenset()
    description: str = ""


#: the source id prefix of a case the sync engine opened from a screening (`tipdata.sync.screening_cases`)
SCREENING_CASE_PREFIX = "screening-case/"
SCREENING_RESULT = "screening_result"
CONSENT_SCREENING = "consent_screening"
#: how a record of another level quotes its case
QUOTED_CASE_REFERENCE = "svc_case_reference"


def screening_token(record_id: str) -> str:
    """16 letters and digits derived from a screening's record id (names no one, stable)."""
    digest = hashlib.sha256(f"tipdata-screening-case:{record_id}".encode()).digest()
    return base64.b32encode(digest[:10]).decode("ascii")


def screening_case_reference(record_id: str) -> str:
    """`SCR-…`: the case reference of the case the screening `record_id` opens."""
    return f"SCR-{screening_token(record_id)}"


@dataclass(frozen=True)
class ScreeningCases:
    """Which screenings open a case, and what the screening's own consent stands for.

    `open_for`: screening result → identification status of the case it opens (a result not
    listed opens none). `consent`: target → purposes that the person's consent to the screening
    interview (`consent_screening = yes`) counts as, for the opened case and its screening, until
    consent per purpose is recorded on the case. Empty by default: nothing of a screening leaves
    without consent per purpose. See docs/routing-policy.md, "Cases opened from screenings".
    """

    open_for: Mapping[str, str] = field(default_factory=dict)
    consent: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RoutingPolicy:
    version: str
    #: level → platform that is the source of truth for it (updates flow owner → copies)
    owners: Mapping[str, str]
    targets: Mapping[str, TargetPolicy]
    source: str = "<policy>"
    #: sha256 of the policy file, so an edit without a version bump is still visible
    digest: str = ""
    screening_cases: ScreeningCases = field(default_factory=ScreeningCases)

    @property
    def audit_version(self) -> str:
        """`version+digest8`: what the audit log records for moves made under this policy."""
        return f"{self.version}+{self.digest[:8]}" if self.digest else self.version

    def target(self, name: str) -> TargetPolicy:
        try:
            return self.targets[name]
        except KeyError:
            raise PolicyError(f"the routing policy {self.source} has no target {name!r} "
                              f"(it configures {', '.join(sorted(self.targets)) or 'none'}); "
                              f"add [targets.{name}] to send anything there") from None

    def owner_of(self, level: str) -> str:
        """The platform whose copy of `level` is the source of truth."""
        try:
            return self.owners[level]
        except KeyError:
            raise PolicyError(f"the routing policy {self.source} names no owner for level "
                              f"{level!r}; add it under [owners]") from None

    def owns(self, platform: str, element_code: str, codebook: Codebook) -> bool:
        """Whether an update of this element coming from `platform` is authoritative.

        Example: `policy.owns("frappe", "person_phone", codebook)` → True with the default policy.
        """
        element = codebook.elements.get(element_code)
        return element is not None and self.owners.get(element.level) == platform


@dataclass(frozen=True)
class Decision:
    """What `decide` allows to travel to one target, and what it withholds and why."""

    target: str
    policy_version: str
    allowed_values: dict[str, Any]
    #: (element code, reason code), in element code order
    withheld: list[tuple[str, str]]
    #: consent purposes that authorised at least one allowed value (for the audit log)
    purposes_used: frozenset[str] = frozenset()


class PolicyError(ValueError):
    """A policy cannot be used as asked (unknown target, level without owner)."""


class PolicyInvalid(Exception):
    """The policy file has errors; carries every problem, not only the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(p.render() for p in self.problems)
        super().__init__(f"the routing policy has {len(self.problems)} error(s):\n{lines}")


# --- the decision -------------------------------------------------------------------------------

def decide(record: CanonicalRecord, target: str, policy: RoutingPolicy, codebook: Codebook) -> Decision:
    """Split a record's values into what `target` may receive and what is withheld, with reasons.

    Pure and deterministic: same inputs, same decision (values and reasons in element code order).

    Example:
        d = decide(record, "dhis2", load_policy(codebook=cb), cb)
        dhis2_client.write(d.allowed_values)            # never record.values
    """
    rules = policy.target(target)
    consented = record.envelope.consent_purposes
    if not consented and target in policy.screening_cases.consent \
            and screening_consent_applies(record, policy, codebook):
        consented = policy.screening_cases.consent[target]
    allowed: dict[str, Any] = {}
    withheld: list[tuple[str, str]] = []
    used: set[str] = set()
    for code in sorted(record.values):
        element = codebook.elements.get(code)
        if element is None:
            withheld.append((code, UNKNOWN_ELEMENT))
            continue
        if not element.consent:
            withheld.append((code, NO_CONSENT_PURPOSES))
            continue
        if code in rules.exclude:
            withheld.append((code, EXCLUDED))
            continue
        if element.sensitivity == RESTRICTED:
            if code not in rules.restricted:
                withheld.append((code, RESTRICTED_NOT_NAMED))
                continue
            accepted = rules.restricted[code]
        elif element.sensitivity == DIRECT_IDENTIFIER and DIRECT_IDENTIFIER not in rules.classes:
            withheld.append((code, DIRECT_IDENTIFIER_NOT_ALLOWED))
            continue
        elif element.sensitivity not in rules.classes:
            withheld.append((code, CLASS_NOT_ALLOWED))
            continue
        else:
            accepted = rules.classes[element.sensitivity]
        if element.type == "text" and not rules.free_text and code not in rules.free_text_allow:
            withheld.append((code, FREE_TEXT_NOT_ALLOWED))
            continue
        purposes = consented & frozenset(element.consent) & accepted
        if not purposes:
            withheld.append((code, CONSENT_MISSING))
            continue
        allowed[code] = record.values[code]
        used |= purposes
    return Decision(target=target, policy_version=policy.audit_version, allowed_values=allowed,
                    withheld=withheld, purposes_used=frozenset(used))


def screening_consent_applies(record: CanonicalRecord, policy: RoutingPolicy, codebook: Codebook) -> bool:
    """Whether `record` travels under its screening consent (`[screening_cases.consent]`).

    True for a case opened from a screening, and for a screening whose result opens one or that
    opened one earlier (it keeps quoting that case after an edit to a result that opens none, so
    it stays where its case is), when the person agreed to the screening and no consent per
    purpose has been recorded yet (once it is, that consent alone decides).
    """
    values = record.values
    if values.get(CONSENT_SCREENING) != "yes":
        return False
    if any(f"consent_{purpose}" in values for purpose in codebook.consent_purposes):
        return False
    return record.envelope.source_id.startswith(SCREENING_CASE_PREFIX) or \
        values.get(SCREENING_RESULT) in policy.screening_cases.open_for or \
        values.get(QUOTED_CASE_REFERENCE) == screening_case_reference(record.record_id)


# --- loading and validation -----------------------------------------------------------------------

def load_policy(path: Path | str | None = None, *, codebook: Codebook) -> RoutingPolicy:
    """Read and validate a policy file (default: the shipped `policy_default.toml`).

    Raises PolicyInvalid listing every problem with file and line.
    Example: `policy = load_policy("/etc/tipdata/policy.toml", codebook=load_codebook())`
    """
    file = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise PolicyInvalid([Problem("PL600", f"cannot read the policy file: {exc.strerror}", str(file))]) from None
    name = file.name if path is None else str(file)
    return parse_policy(data.decode("utf-8"), codebook=codebook, source=name)


def parse_policy(text: str, *, codebook: Codebook, source: str = "<policy>") -> RoutingPolicy:
    """Validate policy TOML text against the codebook; every problem is reported at once."""
    lines = _TomlLines(text)
    problems: list[Problem] = []

    def add(code: str, message: str, path: tuple[str, ...], item: str | None = None,
            element: str | None = None) -> None:
        problems.append(Problem(code, message, source, lines.line_of(path, item), element))

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise PolicyInvalid([Problem("PL600", str(exc).split(" (at line")[0], source,
                                     int(found.group(1)) if found else None)]) from None

    def strings(value: Any, path: tuple[str, ...], what: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            add("PL607", f"`{'.'.join(path)}` must be a list of {what} (strings)", path)
            return []
        return value

    def purposes(value: Any, path: tuple[str, ...]) -> frozenset[str]:
        found: set[str] = set()
        for purpose in strings(value, path, "consent purposes"):
            if purpose not in codebook.consent_purposes:
                add("PL604", f"unknown consent purpose {purpose!r} in `{'.'.join(path)}` "
                    f"(codebook purposes: {', '.join(codebook.consent_purposes)})", path, purpose)
            else:
                found.add(purpose)
        return frozenset(found)

    def table(value: Any, path: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            add("PL607", f"`{'.'.join(path)}` must be a table", path)
            return {}
        return value

    for key in data:
        if key not in ("version", "description", "owners", "targets", "screening_cases"):
            add("PL601", f"unknown key `{key}` (allowed: version, description, owners, targets, "
                "screening_cases)", (key,))
    version = data.get("version")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        add("PL607", "`version` must be a string such as \"tipdata-default-1\" (letters, digits, . _ - + :)"
            if version is not None else "`version` is required: the audit log records it with every move",
            ("version",))
        version = "invalid"

    owners: dict[str, str] = {}
    for level, platform in table(data.get("owners", {}), ("owners",)).items():
        if level not in codebook.levels:
            add("PL606", f"unknown level {level!r} under [owners] (codebook levels: "
                f"{', '.join(codebook.levels)})", ("owners", level))
        elif platform not in OWNER_PLATFORMS:
            add("PL606", f"owner {platform!r} of level {level!r} is not one of "
                f"{', '.join(OWNER_PLATFORMS)}", ("owners", level))
        else:
            owners[level] = platform
    declared = data.get("owners") if isinstance(data.get("owners"), dict) else {}
    orphans = [level for level in codebook.levels if level not in declared]
    if orphans:
        add("PL606", f"no owner under [owners] for level(s) {', '.join(orphans)}", ("owners",))

    targets: dict[str, TargetPolicy] = {}
    for name, body in table(data.get("targets", {}), ("targets",)).items():
        path = ("targets", name)
        if name not in TARGETS:
            add("PL602", f"unknown target {name!r} (targets: {', '.join(TARGETS)})", path)
            continue
        body = table(body, path)
        for key in body:
            if key not in ("description", "classes", "restricted", "exclude", "free_text", "free_text_allow"):
                add("PL601", f"unknown key `{key}` in [targets.{name}] (allowed: description, "
                    "classes, restricted, exclude, free_text, free_text_allow)", (*path, key))
        classes: dict[str, frozenset[str]] = {}
        for cls, value in table(body.get("classes", {}), (*path, "classes")).items():
            cls_path = (*path, "classes", cls)
            if cls == RESTRICTED:
                add("PL603", f"[targets.{name}.classes] cannot allow the class `restricted`: name "
                    f"each restricted element under [targets.{name}.restricted]", cls_path)
            elif cls not in codebook.sensitivity_classes:
                add("PL603", f"unknown sensitivity class {cls!r} in [targets.{name}.classes] "
                    f"(codebook classes: {', '.join(codebook.sensitivity_classes)})", cls_path)
            else:
                classes[cls] = purposes(value, cls_path)
        restricted: dict[str, frozenset[str]] = {}
        for code, value in table(body.get("restricted", {}), (*path, "restricted")).items():
            code_path = (*path, "restricted", code)
            element = codebook.elements.get(code)
            if element is None or element.sensitivity != RESTRICTED:
                what = "is not an element of the codebook" if element is None else \
                    f"has sensitivity {element.sensitivity}, not restricted"
                add("PL605", f"{code!r} under [targets.{name}.restricted] {what}", code_path, element=code)
            else:
                restricted[code] = purposes(value, code_path)
        element_lists: dict[str, frozenset[str]] = {}
        for key in ("exclude", "free_text_allow"):
            codes = strings(body.get(key, []), (*path, key), "element codes")
            for code in codes:
                if code not in codebook.elements:
                    add("PL608", f"{code!r} in `targets.{name}.{key}` is not an element of the codebook",
                        (*path, key), code, element=code)
            element_lists[key] = frozenset(c for c in codes if c in codebook.elements)
        free_text = body.get("free_text", True)
        if not isinstance(free_text, bool):
            add("PL607", f"`targets.{name}.free_text` must be true or false", (*path, "free_text"))
            free_text = False
        description = body.get("description", "")
        if not isinstance(description, str):
            add("PL607", f"`targets.{name}.description` must be a string", (*path, "description"))
            description = ""
        targets[name] = TargetPolicy(name=name, classes=classes, restricted=restricted,
                                     exclude=element_lists["exclude"], free_text=free_text,
                                     free_text_allow=element_lists["free_text_allow"],
                                     description=description)
    screening = _screening_cases(table(data.get("screening_cases", {}), ("screening_cases",)),
                                 codebook, targets, add, table, purposes)
    if problems:
        raise PolicyInvalid(problems)
    return RoutingPolicy(version=version, owners=owners, targets=targets, source=source,
                         digest=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                         screening_cases=screening)


def _screening_cases(body: Mapping[str, Any], codebook: Codebook, targets: Mapping[str, TargetPolicy],
                     add: Any, table: Any, purposes: Any) -> ScreeningCases:
    """`[screening_cases]`: results (codebook options) → statuses, and consent per known target."""
    path = ("screening_cases",)
    for key in body:
        if key not in ("open_for", "consent"):
            add("PL601", f"unknown key `{key}` in [screening_cases] (allowed: open_for, consent)",
                (*path, key))
    results = codebook.options_for(codebook.elements[SCREENING_RESULT]) \
        if SCREENING_RESULT in codebook.elements else None
    statuses = codebook.options_for(codebook.elements["ident_trafficking_status"]) \
        if "ident_trafficking_status" in codebook.elements else None
    open_for: dict[str, str] = {}
    for result, status in table(body.get("open_for", {}), (*path, "open_for")).items():
        where = (*path, "open_for", result)
        if results is None or result not in results.codes():
            add("PL607", f"{result!r} under [screening_cases.open_for] is not a screening result "
                f"(options: {', '.join(results.codes()) if results else 'none in the codebook'})", where)
        elif not isinstance(status, str) or statuses is None or status not in statuses.codes():
            add("PL607", f"screening result {result!r} must open a case with an identification "
                f"status ({', '.join(statuses.codes()) if statuses else 'none in the codebook'})", where)
        else:
            open_for[result] = status
    consent: dict[str, frozenset[str]] = {}
    for target, value in table(body.get("consent", {}), (*path, "consent")).items():
        where = (*path, "consent", target)
        if target not in targets:
            add("PL602", f"[screening_cases.consent] names {target!r}, which is not a target of "
                f"this policy ({', '.join(sorted(targets)) or 'none'})", where)
            continue
        consent[target] = purposes(value, where)
    if consent and not open_for:
        add("PL607", "[screening_cases.consent] is set but `open_for` names no screening result "
            "that opens a case", (*path, "consent"))
    return ScreeningCases(open_for=open_for, consent=consent)


class _TomlLines:
    """Line of each key (and of each string in an array) in TOML text, for error messages.

    tomllib returns plain dicts without positions; policy files are small and simple (tables,
    `key = value`, arrays of strings), so a line scan recovers what a maintainer needs.
    """

    _HEADER = re.compile(r'^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$')
    _KEY = re.compile(r'^\s*((?:"[^"]*"|\'[^\']*\'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:"[^"]*"|\'[^\']*\'|[A-Za-z0-9_\-]+))*)\s*=')
    _STRING = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'')

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[str, ...], int] = {}
        self.items: dict[tuple[tuple[str, ...], str], int] = {}
        table: tuple[str, ...] = ()
        array_key: tuple[str, ...] | None = None
        depth = 0
        for number, line in enumerate(text.splitlines(), 1):
            code = self._strip_comment(line)
            if array_key is not None and depth > 0:
                self._note_items(array_key, code, number)
                depth += self._depth_change(code)
                if depth <= 0:
                    array_key = None
                continue
            header = self._HEADER.match(code)
            if header:
                table = self._split(header.group(1))
                self.keys.setdefault(table, number)
                continue
            key = self._KEY.match(code)
            if key:
                path = table + self._split(key.group(1))
                self.keys.setdefault(path, number)
                rest = code[key.end():]
                self._note_items(path, rest, number)
                depth = self._depth_change(rest)
                array_key = path if depth > 0 else None

    @staticmethod
    def _split(dotted: str) -> tuple[str, ...]:
        parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_\-]+)', dotted)
        return tuple(next(p for p in part if p) if any(part) else "" for part in parts)

    @classmethod
    def _strip_comment(cls, line: str) -> str:
        out, quote = [], ""
        for char in line:
            if quote:
                quote = "" if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == "#":
                break
            out.append(char)
        return "".join(out)

    @classmethod
    def _depth_change(cls, code: str) -> int:
        bare = cls._STRING.sub("", code)
        return bare.count("[") + bare.count("{") - bare.count("]") - bare.count("}")

    def _note_items(self, path: tuple[str, ...], code: str, number: int) -> None:
        for match in self._STRING.finditer(code):
            self.items.setdefault((path, match.group(1) if match.group(1) is not None else match.group(2)), number)

    def line_of(self, path: tuple[str, ...], item: str | None = None) -> int | None:
        if item is not None and (path, item) in self.items:
            return self.items[(path, item)]
        for size in range(len(path), 0, -1):
            if path[:size] in self.keys:
                return self.keys[path[:size]]
        return None
