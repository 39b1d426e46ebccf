"""Build the DHIS2 (2.40–2.43) tracker program metadata package from the codebook.

Pure: codebook and deployment policy in, a JSON-ready dict and warnings out. The package is
imported with `POST /api/metadata` (`importMode=VALIDATE` first); every object has a UID derived
from its codebook code (:mod:`uids`), so a re-import updates instead of duplicating.

How the codebook maps onto DHIS2, and why:

- **person** elements become tracked entity attributes of the "TIP person" type: they describe
  the person across cases. `person_pseudo_id`, when present, is the unique, searchable key.
- **case** elements go to a dedicated non-repeatable stage, "TIP case record", created with the
  enrollment (`autoGenerateEvent`). Not attributes: attribute values belong to the tracked
  entity, so a person's second case would overwrite the first; not the identification stage:
  a case opened on an incoming referral has a record (consent, risk, intake) before anyone has
  identified the person, and identification is an act with its own date and decision.
- every other level is a stage of the same name; referral, service and outcome are repeatable.
  A case element that only another stage's forms collect lives in that stage (consent to
  screening is recorded, and compulsory, in the screening stage: `_Builder.stage_of`).
- value types: text → TEXT, or LONG_TEXT when `max_length` > 255 or `appearance: multiline`;
  integer → INTEGER, or INTEGER_ZERO_OR_POSITIVE when the constraint bounds it at 0 or more;
  decimal → NUMBER; date → DATE; datetime → DATETIME; boolean → BOOLEAN; select_one → TEXT
  with an option set; select_multiple → MULTI_TEXT with a MULTI_TEXT option set (2.39+; values
  are comma-separated option codes); geopoint → COORDINATE. Option `code` is the codebook code.
- program rules come from the elements' expressions (:mod:`program_rules`).
- confidentiality: restricted elements (immigration status) are never in the package, whatever
  the policy; direct identifiers only when the policy says so, and then with
  `skipSynchronization` and `skipAnalytics` (attribute `skipAnalytics` needs 2.43; `confidential`
  is not used: it needs server encryption and is gone in 2.44). Elements with no consent purpose
  never leave the collecting platform, so they are `skipSynchronization` too.
- sharing uses the `sharing` object only (the legacy top-level keys are ignored from 2.41):
  metadata readable by all, data read/write only for the policy's user groups. The program is
  PROTECTED (break-the-glass access outside the owning org unit, audited).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tipdata.logic import Compare, LogicSyntaxError, Number, SelfRef, parse
from tipdata.model import Codebook, Element

from .aggregate import DEFAULT_CATEGORY_COMBO, DEFAULT_PERIOD_TYPE, PERIOD_TYPES, build_aggregate
from .logic_rewrites import flatten
from .names import (
    FORM_NAME_LIMIT,
    NAME_LIMIT,
    SHORT_NAME_LIMIT,
    UniqueNames,
    fit,
    fit_code,
)
from .program_rules import RulePlan, plan_program_rules
from .uids import UidRegistry, is_valid_uid
from .vocabulary import has_word, word

PERSON_LEVEL = "person"
PERSON_KEY = "person_pseudo_id"
REPEATABLE_LEVELS = frozenset({"referral", "service", "outcome"})
ENROLLMENT_LEVEL = "case"
TEA_VALUE_LIMIT = 1200  # tracker error E1077 beyond this
LONG_TEXT_FROM = 255
RULE_DESCRIPTION_LIMIT = 255  # programrule.description is a plain varchar(255)
_ACCESS = re.compile(r"^[r-][w-][r-][w-]----$")
_TOP_LEVEL_ORDER = (
    "optionSets", "options", "trackedEntityAttributes", "trackedEntityTypes", "dataElements",
    "programs", "programStages", "programRuleVariables", "programRules", "programRuleActions",
    "categoryOptions", "categories", "categoryCombos", "dataSets",
)


class PolicyViolation(ValueError):
    """A deployment policy asks for something the package must never contain."""


@dataclass(frozen=True)
class DeploymentPolicy:
    """What one deployment chooses about the package (the codebook itself is shared).

    Defaults are the safe ones: no direct identifiers, nobody but the named user groups can see
    or enter data. Restricted elements (immigration status) can never be included: asking for
    them raises :class:`PolicyViolation`.

    Example: ``DeploymentPolicy(org_units=("ImspTQPwCqd",), data_user_groups=("wl5cDMuUhmF",))``
    """

    include_direct_identifiers: bool = False
    include_restricted: bool = False
    #: organisation units (UIDs) the program and data set are assigned to
    org_units: tuple[str, ...] = ()
    #: user groups (UIDs) given data read and write on the program, stages and data set
    data_user_groups: tuple[str, ...] = ()
    #: public access to the data-carrying objects; metadata read only, no data, by default
    public_access: str = "r-------"
    #: period type of the aggregate data set; Yearly because the TIP indicators are annual
    #: (docs/dhis2.md, "Period type"); Quarterly or Monthly for more frequent monitoring
    aggregate_period_type: str = DEFAULT_PERIOD_TYPE

    def __post_init__(self) -> None:
        if self.include_restricted:
            raise PolicyViolation(
                "restricted elements (immigration status) are never included in the DHIS2 "
                "package, whatever the policy; remove include_restricted from the policy"
            )
        bad = [uid for uid in (*self.org_units, *self.data_user_groups) if not is_valid_uid(uid)]
        if bad:
            raise ValueError(f"not DHIS2 UIDs (11 characters, a letter first): {', '.join(bad)}")
        if self.aggregate_period_type not in PERIOD_TYPES:
            raise ValueError(f"aggregate_period_type {self.aggregate_period_type!r} is not one of "
                             f"{', '.join(PERIOD_TYPES)}")
        if not _ACCESS.match(self.public_access):
            raise ValueError(
                f"public_access {self.public_access!r} is not a DHIS2 access string such as "
                "'r-------' (metadata read, data none) or 'rwrw----'"
            )


@dataclass(frozen=True)
class MetadataPackage:
    """The metadata import payload, the warnings raised building it, and the element UIDs."""

    json: dict[str, Any]
    warnings: tuple[str, ...]
    #: element code -> UID of its data element or tracked entity attribute
    element_uids: Mapping[str, str] = field(default_factory=dict)
    rule_plan: RulePlan | None = None

    def to_bytes(self) -> bytes:
        """Deterministic JSON: sorted keys, lists in codebook order, UTF-8, newline at the end."""
        text = json.dumps(self.json, sort_keys=True, ensure_ascii=False, indent=1)
        return (text + "\n").encode("utf-8")


def build_metadata(codebook: Codebook, policy: DeploymentPolicy = DeploymentPolicy()) -> MetadataPackage:
    """The DHIS2 metadata package for ``codebook`` under ``policy``.

    Example::

        package = build_metadata(load_codebook())
        package.json["programs"][0]["accessLevel"]   # 'PROTECTED'
        Path("tipdata-dhis2-metadata.json").write_bytes(package.to_bytes())
    """
    return _Builder(codebook, policy).build()


# ---- value types --------------------------------------------------------------------------------


def value_type(element: Element) -> str:
    """The DHIS2 value type of ``element`` (see the module docstring for the mapping)."""
    kind = element.type
    if kind == "text":
        narrative = (element.max_length or 0) > LONG_TEXT_FROM or element.appearance == "multiline"
        return "LONG_TEXT" if narrative else "TEXT"
    if kind == "integer":
        return "INTEGER_ZERO_OR_POSITIVE" if _never_negative(element.constraint) else "INTEGER"
    return {
        "decimal": "NUMBER", "date": "DATE", "datetime": "DATETIME", "boolean": "BOOLEAN",
        "select_one": "TEXT", "select_multiple": "MULTI_TEXT", "geopoint": "COORDINATE",
    }[kind]


def _never_negative(constraint: str | None) -> bool:
    """True when the constraint has a top-level `. >= k` or `. > k` with k >= 0."""
    if not constraint:
        return False
    try:
        expr = parse(constraint)
    except LogicSyntaxError:
        return False
    mirrored = {"<=": ">=", "<": ">", ">=": "<=", ">": "<"}
    for part in flatten(expr, "and"):
        if not isinstance(part, Compare):
            continue
        op, left, right = part.op, part.left, part.right
        if isinstance(right, SelfRef):  # k <= .  is  . >= k
            op, left, right = mirrored.get(op, op), right, left
        if (isinstance(left, SelfRef) and op in (">=", ">") and isinstance(right, Number)
                and right.value >= 0):
            return True
    return False


# ---- the builder --------------------------------------------------------------------------------


class _Builder:
    def __init__(self, codebook: Codebook, policy: DeploymentPolicy) -> None:
        self.cb = codebook
        self.policy = policy
        self.uids = UidRegistry()
        self.warnings: list[str] = []
        self.de_names = UniqueNames(NAME_LIMIT, "code")
        self.de_short_names = UniqueNames(SHORT_NAME_LIMIT)
        self.tea_names = UniqueNames(NAME_LIMIT, "code")
        self.tea_short_names = UniqueNames(SHORT_NAME_LIMIT)
        self.option_set_names = UniqueNames(NAME_LIMIT, "code")
        self.excluded: dict[str, str] = {}
        self.places: dict[str, str | None] = {}
        self.option_sets: dict[tuple[str, bool], str] = {}

    # -- helpers

    def translate(self, texts: Mapping[str, Callable[[str], str | None]]) -> list[dict[str, str]]:
        """DHIS2 `translations` for each language of the codebook other than the source."""
        result = []
        for lang in self.cb.languages[1:]:
            for prop, text_of in sorted(texts.items()):
                value, source = text_of(lang), text_of(self.cb.source_language)
                if value and value != source:
                    result.append({"locale": lang, "property": prop, "value": value})
        return result

    def sharing(self, data: bool) -> dict[str, Any]:
        groups = {uid: {"access": "rwrw----", "id": uid} for uid in self.policy.data_user_groups}
        return {
            "external": False,
            "public": self.policy.public_access if data else "r-------",
            "userGroups": groups if data else {},
            "users": {},
        }

    def element_texts(self, element: Element, names: UniqueNames,
                      short_names: UniqueNames) -> dict[str, Any]:
        code = element.code

        def label(lang: str) -> str:
            return self.cb.element_text(lang, code) or element.label

        name, name_suffix = names.claim_with_suffix(code, f"TIP {element.label}")
        short, short_suffix = short_names.claim_with_suffix(code, f"TIP {element.label}")
        if len(element.label) > FORM_NAME_LIMIT:
            self.warnings.append(f"{code}: label shortened to {FORM_NAME_LIMIT} characters")
        texts = {
            "code": code,
            "name": name,
            "shortName": short,
            "formName": fit(element.label, FORM_NAME_LIMIT),
            "translations": self.translate({
                "NAME": lambda lang: fit(f"TIP {label(lang)}", NAME_LIMIT - len(name_suffix))
                + name_suffix,
                "SHORT_NAME": lambda lang: fit(f"TIP {label(lang)}",
                                               SHORT_NAME_LIMIT - len(short_suffix)) + short_suffix,
                "FORM_NAME": lambda lang: fit(label(lang), FORM_NAME_LIMIT),
            }),
        }
        if element.description:
            texts["description"] = " ".join(element.description.split())
        return texts

    # -- steps

    def build(self) -> MetadataPackage:
        self.place_elements()
        option_sets, options = self.option_set_objects()
        attributes = self.attribute_objects()
        data_elements = self.data_element_objects()
        program_uid = self.uids.uid("program", self.cb.id)
        stages = self.stage_objects(program_uid)
        tracked_entity_type = self.tracked_entity_type()
        plan = plan_program_rules(self.cb, self.places, self.excluded)
        variables, rules, actions = self.rule_objects(plan, program_uid)
        program = self.program(program_uid, tracked_entity_type["id"], stages, attributes)
        aggregate = build_aggregate(
            self.cb, self.uids, self.translate, self.sharing, self.de_names, self.de_short_names,
            self.policy.aggregate_period_type, self.policy.org_units,
        )
        self.warnings.extend(aggregate.warnings)
        self.warnings.extend(skipped.message() for skipped in plan.skipped)
        self.warnings.extend(plan.notes)
        if not self.policy.org_units:
            self.warnings.append(
                "no organisation units in the policy: assign the program and the data set to "
                "org units before anyone can enrol or report"
            )
        package = {
            "optionSets": option_sets,
            "options": options,
            "trackedEntityAttributes": attributes,
            "trackedEntityTypes": [tracked_entity_type],
            "dataElements": data_elements + aggregate.objects["dataElements"],
            "programs": [program],
            "programStages": stages,
            "programRuleVariables": variables,
            "programRules": rules,
            "programRuleActions": actions,
            "categoryOptions": aggregate.objects["categoryOptions"],
            "categories": aggregate.objects["categories"],
            "categoryCombos": aggregate.objects["categoryCombos"],
            "dataSets": aggregate.objects["dataSets"],
        }
        self.check_never_included(package)
        element_uids = {
            code: self.uids.uid("trackedEntityAttribute" if place is None else "dataElement", code)
            for code, place in self.places.items()
        }
        return MetadataPackage({key: package[key] for key in _TOP_LEVEL_ORDER},
                               tuple(self.warnings), element_uids, plan)

    def place_elements(self) -> None:
        left_out: dict[str, list[str]] = {}
        for element in self.cb.elements.values():
            if element.sensitivity == "restricted":
                self.excluded[element.code] = "restricted: never in the DHIS2 package"
            elif element.sensitivity == "direct_identifier" and not self.policy.include_direct_identifiers:
                self.excluded[element.code] = "a direct identifier the policy does not include"
            else:
                self.places[element.code] = None if element.level == PERSON_LEVEL else self.stage_of(element)
                continue
            left_out.setdefault(element.sensitivity, []).append(element.code)
        for sensitivity, codes in sorted(left_out.items()):
            self.warnings.append(f"left out ({sensitivity.replace('_', ' ')}): {', '.join(codes)}")
        if self.policy.include_direct_identifiers:
            self.warnings.append(
                "direct identifiers included: they are skipSynchronization and skipAnalytics; "
                "DHIS2 2.40-2.42 ignore skipAnalytics on attributes, so there their values reach "
                "the analytics tables: restrict analytics access with sharing"
            )
        for element in self.cb.elements.values():
            if (element.code in self.places and self.places[element.code] is None
                    and element.type == "text" and (element.max_length or 0) > TEA_VALUE_LIMIT):
                self.warnings.append(
                    f"{element.code}: max_length {element.max_length} exceeds the {TEA_VALUE_LIMIT} "
                    "characters DHIS2 keeps in an attribute value (tracker error E1077)"
                )

    def stage_of(self, element: Element) -> str:
        """The stage of a non-person element: its level's, except for a case element collected elsewhere.

        A case-level element that no case-level form collects, but the forms of exactly one other
        stage level do, lives in that level's stage: there DHIS2 users record it, there the records
        that carry it file it, and only there can it be compulsory. Consent to screening is the one
        such element: given and recorded in the screening, compulsory there, where the screening's
        rules read it from the same event. Identification elements keep their own stage although
        the intake collects them: identification is an act with its own date and decision.
        """
        if element.level != ENROLLMENT_LEVEL:
            return element.level
        collected = {self.cb.forms[f].level for f in self.cb.forms_using(element.code)}
        elsewhere = collected - {ENROLLMENT_LEVEL, PERSON_LEVEL}
        if ENROLLMENT_LEVEL not in collected and len(elsewhere) == 1:
            return elsewhere.pop()
        return element.level

    def included(self) -> list[Element]:
        return [e for e in self.cb.elements.values() if e.code in self.places]

    def option_set_objects(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        sets, options = [], []
        for element in self.included():
            if not element.options:
                continue
            multiple = element.type == "select_multiple"
            key = (element.options, multiple)
            if key in self.option_sets:
                continue
            option_list = self.cb.option_lists[element.options]
            seed = option_list.name + (":multiple" if multiple else "")
            set_uid = self.option_sets[key] = self.uids.uid("optionSet", seed)
            names = UniqueNames(NAME_LIMIT, "code")
            refs = []
            for order, option in enumerate(option_list.options, 1):
                uid = self.uids.uid("option", f"{seed}:{option.code}")
                refs.append({"id": uid})
                name, suffix = names.claim_with_suffix(option.code, option.label)
                options.append({
                    "id": uid,
                    "code": option.code,
                    "name": name,
                    "sortOrder": order,
                    "optionSet": {"id": set_uid},
                    "translations": self.translate({
                        "NAME": lambda lang, c=option.code, s=suffix, n=option_list.name:
                            fit(self.cb.option_text(lang, n, c), NAME_LIMIT - len(s)) + s,
                    }),
                })
            label = f"TIP {option_list.name}" + (" (multiple)" if multiple else "")
            sets.append({
                "id": set_uid,
                "code": fit_code(f"TIP_{option_list.name}".upper() + ("_MULTI" if multiple else "")),
                "name": self.option_set_names.claim(seed, label),
                "valueType": "MULTI_TEXT" if multiple else "TEXT",
                "options": refs,
                "sharing": self.sharing(False),
            })
        return sets, options

    def _value_fields(self, element: Element) -> dict[str, Any]:
        fields: dict[str, Any] = {"valueType": value_type(element), "aggregationType": "NONE"}
        if element.options:
            key = (element.options, element.type == "select_multiple")
            fields["optionSet"] = {"id": self.option_sets[key]}
        return fields

    def _leaves_platform(self, element: Element) -> bool:
        """False for values that must stay where they were collected (no sync to a central server)."""
        return element.sensitivity != "direct_identifier" and bool(element.consent)

    def attribute_objects(self) -> list[dict[str, Any]]:
        attributes = []
        for element in self.included():
            if self.places[element.code] is not None:
                continue
            attribute = {
                "id": self.uids.uid("trackedEntityAttribute", element.code),
                **self.element_texts(element, self.tea_names, self.tea_short_names),
                **self._value_fields(element),
                "unique": element.code == PERSON_KEY,
                "orgunitScope": False,
                "generated": False,
                "skipSynchronization": not self._leaves_platform(element),
                "sharing": self.sharing(False),
            }
            if element.sensitivity == "direct_identifier":
                attribute["skipAnalytics"] = True
            attributes.append(attribute)
        return attributes

    def data_element_objects(self) -> list[dict[str, Any]]:
        return [
            {
                "id": self.uids.uid("dataElement", element.code),
                **self.element_texts(element, self.de_names, self.de_short_names),
                **self._value_fields(element),
                "domainType": "TRACKER",
                "categoryCombo": {"id": DEFAULT_CATEGORY_COMBO},
                "sharing": self.sharing(False),
            }
            for element in self.included()
            if self.places[element.code] is not None
        ]

    @staticmethod
    def _always_required(element: Element) -> bool:
        """Required wherever it appears: `required: true`, always relevant, not computed."""
        return element.required is True and not element.relevant and element.calculation is None

    def stage_levels(self) -> list[str]:
        return [level for level in self.cb.levels if level != PERSON_LEVEL]

    def stage_objects(self, program_uid: str) -> list[dict[str, Any]]:
        stages = []
        for order, level in enumerate(self.stage_levels(), 1):
            if not has_word(f"stage:{level}", "en"):
                self.warnings.append(
                    f"level {level!r} has no stage name in vocabulary.py; named {word('stage:' + level)!r}"
                )
            stage_uid = self.uids.uid("programStage", level)
            data_elements = []
            for sort, element in enumerate(
                    (e for e in self.included() if self.places[e.code] == level), 1):
                psde: dict[str, Any] = {
                    "id": self.uids.uid("programStageDataElement", f"{level}:{element.code}"),
                    "dataElement": {"id": self.uids.uid("dataElement", element.code)},
                    "compulsory": self._always_required(element),
                    "sortOrder": sort,
                    # the codebook's constraints (SHOWERROR rules) decide about future dates
                    "allowFutureDate": True,
                    "displayInReports": False,
                    "skipSynchronization": not self._leaves_platform(element),
                }
                if element.sensitivity == "direct_identifier":
                    psde["skipAnalytics"] = True
                data_elements.append(psde)
            stages.append({
                "id": stage_uid,
                "code": fit_code(f"TIP_STAGE_{level}".upper()),
                "name": word(f"stage:{level}"),
                "description": " ".join(self.cb.levels[level].split()),
                "program": {"id": program_uid},
                "repeatable": level in REPEATABLE_LEVELS,
                "autoGenerateEvent": level == ENROLLMENT_LEVEL,
                "sortOrder": order,
                "validationStrategy": "ON_COMPLETE",
                "programStageDataElements": data_elements,
                "sharing": self.sharing(True),
                "translations": self.translate({"NAME": lambda lang, lv=level: word(f"stage:{lv}", lang)}),
            })
        return stages

    def tracked_entity_type(self) -> dict[str, Any]:
        attributes = []
        if self.places.get(PERSON_KEY, "") is None:
            attributes.append({
                "id": self.uids.uid("trackedEntityTypeAttribute", PERSON_KEY),
                "trackedEntityAttribute": {"id": self.uids.uid("trackedEntityAttribute", PERSON_KEY)},
                "searchable": True,
                "displayInList": True,
                "mandatory": False,
            })
        return {
            "id": self.uids.uid("trackedEntityType", PERSON_LEVEL),
            "code": "TIP_PERSON",
            "name": word("person"),
            "shortName": fit(word("person"), SHORT_NAME_LIMIT),
            "featureType": "NONE",
            "allowAuditLog": True,
            "minAttributesRequiredToSearch": 1,
            "trackedEntityTypeAttributes": attributes,
            "sharing": self.sharing(True),
            "translations": self.translate({
                "NAME": lambda lang: word("person", lang),
                "SHORT_NAME": lambda lang: fit(word("person", lang), SHORT_NAME_LIMIT),
            }),
        }

    def program(self, program_uid: str, tet_uid: str, stages: list[dict[str, Any]],
                attributes: list[dict[str, Any]]) -> dict[str, Any]:
        elements = {e.code: e for e in self.included()}
        program_attributes = []
        for order, attribute in enumerate(attributes, 1):
            element = elements[attribute["code"]]
            key = element.code == PERSON_KEY
            program_attributes.append({
                "id": self.uids.uid("programTrackedEntityAttribute", element.code),
                "trackedEntityAttribute": {"id": attribute["id"]},
                "mandatory": self._always_required(element),
                "searchable": key,
                "displayInList": key,
                "allowFutureDate": True,
                "renderOptionsAsRadio": False,
                "sortOrder": order,
            })
        return {
            "id": program_uid,
            "code": fit_code(self.cb.id),
            "name": word("program"),
            "shortName": fit(word("program"), SHORT_NAME_LIMIT),
            "description": f"{self.cb.title} {self.cb.version}",
            "programType": "WITH_REGISTRATION",
            "trackedEntityType": {"id": tet_uid},
            "accessLevel": "PROTECTED",
            "onlyEnrollOnce": False,
            "displayIncidentDate": False,
            "selectEnrollmentDatesInFuture": False,
            "categoryCombo": {"id": DEFAULT_CATEGORY_COMBO},
            "organisationUnits": [{"id": uid} for uid in self.policy.org_units],
            "programStages": [{"id": stage["id"]} for stage in stages],
            "programTrackedEntityAttributes": program_attributes,
            "sharing": self.sharing(True),
            "translations": self.translate({
                "NAME": lambda lang: word("program", lang),
                "SHORT_NAME": lambda lang: fit(word("program", lang), SHORT_NAME_LIMIT),
            }),
        }

    def _target(self, code: str) -> dict[str, Any]:
        if self.places[code] is None:
            return {"trackedEntityAttribute": {"id": self.uids.uid("trackedEntityAttribute", code)}}
        return {"dataElement": {"id": self.uids.uid("dataElement", code)}}

    def rule_objects(self, plan: RulePlan, program_uid: str
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        elements = self.cb.elements
        variables = [
            {
                "id": self.uids.uid("programRuleVariable", spec.name),
                "name": spec.name,
                "program": {"id": program_uid},
                "programRuleVariableSourceType": spec.source,
                **self._target(spec.element),
                "useCodeForOptionSet": True,
                "valueType": value_type(elements[spec.element]),
            }
            for spec in plan.variables
        ]
        rules, actions = [], []
        for spec in plan.rules:
            rule_uid = self.uids.uid("programRule", spec.key)
            action_uid = self.uids.uid("programRuleAction", spec.key)
            rule: dict[str, Any] = {
                "id": rule_uid,
                "name": fit("TIP " + spec.key.replace(":", " "), NAME_LIMIT),
                "description": fit(spec.description, RULE_DESCRIPTION_LIMIT),
                "program": {"id": program_uid},
                "condition": spec.condition,
                "programRuleActions": [{"id": action_uid}],
            }
            if spec.stage is not None:
                rule["programStage"] = {"id": self.uids.uid("programStage", spec.stage)}
            rules.append(rule)
            action: dict[str, Any] = {
                "id": action_uid,
                "programRule": {"id": rule_uid},
                "programRuleActionType": spec.action,
                **self._target(spec.element),
            }
            if spec.data is not None:
                action["data"] = spec.data
            if spec.content is not None:
                action["content"] = spec.content
            actions.append(action)
        return variables, rules, actions

    def check_never_included(self, package: dict[str, Any]) -> None:
        """Last line of defence: no restricted element, and no excluded one, in any object."""
        codes = {obj.get("code") for key in ("trackedEntityAttributes", "dataElements")
                 for obj in package[key]}
        leaked = sorted(code for code in self.excluded if code in codes)
        if leaked:
            raise PolicyViolation(f"left-out elements reached the package: {', '.join(leaked)}")
