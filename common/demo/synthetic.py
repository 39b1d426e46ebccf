"""The demo's synthetic field work: two agencies screen people, some of them the same people.

Nobody in here is real. Names come from `tipdata.linkage.synthetic` (common names from several
regions plus syllable-built rare ones); everything else is drawn from the codebook's options.

The story, for `records` screening interviews:

- Two agencies collect on their own KoboToolbox projects: an NGO (`ngo`) and a police unit
  (`police`). Each has the adult and child screening forms and the case intake form, so each
  (agency, form) pair is one Kobo asset.
- A quarter of the people are screened by both agencies, weeks apart; the second agency records
  them with the faults real registrations have (typos, swapped names, day and month swapped, sex
  left out), so that record linkage has real, imperfect duplicates to find.
- Every interview is a screening (child form under 18). When the person consents and the
  screening indicates trafficking (likely or possible), a case intake follows the same day.
- The intake asks consent per purpose; people answer in a few typical patterns
  (`CONSENT_VARIANTS`; most people answer the same way at both agencies), which decide what
  the routing policy lets travel. A third of intakes
  record an immigration status, which the default policy never lets leave.
- A few extra intakes are broken on purpose (`DEFECTS`): an answer outside the option list, a
  number written in words, a required answer missing, and a ciphertext damaged in transit. Each
  must end in quarantine with its reason, never in a target.

Everything is drawn from one `random.Random(seed)`: the same seed gives the same submissions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tipdata.demo.form_answers import COUNTRIES, FormFiller
from tipdata.kobo_forms.mapping import FormLayout, kobo_text
from tipdata.linkage.encoding import PersonIdentifiers
from tipdata.linkage.synthetic import NoiseRates, make_person, reregister
from tipdata.model import Codebook

DEMO_YEAR = 2025
#: where the agencies work: the area the report covers (ISO 3166 alpha-2)
DEMO_COUNTRY = "GH"
SCREENING_ADULT = "tip_screening_adult"
SCREENING_CHILD = "tip_screening_child"
INTAKE = "tip_case_intake"
DEMO_FORMS: tuple[str, ...] = (SCREENING_ADULT, SCREENING_CHILD, INTAKE)
#: share of people screened by both agencies
SHARED_PEOPLE = 0.25
#: chance that a person screened twice answers the consent questions the same way both times
SAME_CONSENT_AGAIN = 0.7
#: how the second agency's record of a person differs (no year-only dates: the form asks a date)
SECOND_REGISTRATION_NOISE = NoiseRates(typo_given=0.25, typo_family=0.25, swap_names=0.1,
                                       swap_day_month=0.05, year_only=0.0, missing_sex=0.05,
                                       missing_given=0.0)
IMMIGRATION_STATUS_SHARE = 0.35
PHONE_SHARE = 0.4
#: consent answers of an intake: the purposes the person agreed to
CONSENT_VARIANTS: dict[str, frozenset[str]] = {
    "all": frozenset({"service_referral", "law_enforcement", "statistics", "follow_up_contact"}),
    "no_law_enforcement": frozenset({"service_referral", "statistics", "follow_up_contact"}),
    "no_statistics": frozenset({"service_referral", "law_enforcement", "follow_up_contact"}),
    "service_only": frozenset({"service_referral"}),
    "law_enforcement_only": frozenset({"law_enforcement"}),
    "none": frozenset(),
}
_CONSENT_WEIGHTS = (40, 20, 15, 12, 6, 7)
#: deliberate faults → the quarantine reason each must produce
DEFECTS: dict[str, str] = {
    "unknown_option": "RC202",
    "wrong_type": "RC201",
    "missing_required": "RC203",
    "undecryptable": "KB300",
}
_INDICATORS = {
    "act": ("scr_act_recruited", "scr_act_moved", "scr_act_housed"),
    "means": ("scr_means_deceived", "scr_means_threatened", "scr_means_force", "scr_means_debt",
              "scr_means_documents", "scr_means_not_free", "scr_means_abducted",
              "scr_means_vulnerability"),
    "purpose": ("scr_purpose_forced_work", "scr_purpose_sexual", "scr_purpose_domestic",
                "scr_purpose_marriage", "scr_purpose_crime", "scr_purpose_begging",
                "scr_purpose_armed_group", "scr_purpose_organ"),
}
#: which Palermo elements a screening finds: (act, means, purpose) and how often
_PROFILES = (((True, True, True), 60), ((True, False, True), 15), ((True, True, False), 10),
             ((False, False, False), 10), ((False, True, False), 5))


@dataclass(frozen=True)
class Agency:
    """One collecting agency: its own Kobo project, case numbering and ways of meeting people."""

    key: str
    name: str
    org_type: str
    case_prefix: str
    settings: tuple[str, ...]

    def asset_uid(self, form_id: str) -> str:
        """The (stable) Kobo asset uid of this agency's copy of a form: `a` + 21 characters."""
        digest = hashlib.sha256(f"tipdata-demo:{self.key}:{form_id}".encode()).digest()
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
        return "a" + "".join(alphabet[b % len(alphabet)] for b in digest[:21])


AGENCIES: tuple[Agency, ...] = (
    Agency("ngo", "Harbour Trust", "ngo", "HT",
           ("outreach", "shelter", "hotline_call", "self_referral", "health_facility")),
    Agency("police", "Anti-Trafficking Police Unit", "law_enforcement", "ATPU",
           ("police_operation", "border", "workplace_inspection")),
)


@dataclass(frozen=True)
class DemoSubmission:
    """One submission as the device recorded it; `repr` shows where it belongs, never answers."""

    agency: str
    form_id: str
    asset_uid: str
    #: Kobo's `_id` on the agency's server (numbered in submission order per asset)
    submission_id: int
    instance_id: str
    started: dt.datetime
    submitted: dt.datetime
    #: Kobo path (`grp_case/case_reference`) → the text the device wrote
    answers: Mapping[str, str] = field(repr=False)
    #: ground truth: the person (intakes and screenings), the consent pattern (intakes)
    person: str | None = None
    consent: str | None = None
    defect: str | None = None

    @property
    def expected_reason(self) -> str | None:
        """The quarantine reason this submission must get (None: it must map cleanly)."""
        return DEFECTS.get(self.defect) if self.defect else None


@dataclass(frozen=True)
class DemoDataset:
    """Every submission of the demo, plus what a test needs to check the outcome."""

    seed: int
    submissions: tuple[DemoSubmission, ...] = field(repr=False)
    #: every direct identifier written into any submission (to prove none reaches DHIS2)
    identifiers: frozenset[str] = field(repr=False, default=frozenset())

    def valid_intakes(self) -> list[DemoSubmission]:
        return [s for s in self.submissions if s.form_id == INTAKE and s.defect is None]

    def true_persons(self, purpose: str = "statistics") -> int:
        """Distinct people among the valid intakes whose consent covers `purpose`."""
        return len({s.person for s in self.valid_intakes()
                    if s.consent is not None and purpose in CONSENT_VARIANTS[s.consent]})


@dataclass
class _Encounter:
    agency: Agency
    person: str
    identity: PersonIdentifiers
    date: dt.date
    consent: str = "all"


class DemoGenerator:
    """Draws a `DemoDataset` from the codebook's forms; see the module docstring for the story.

    >>> dataset = DemoGenerator(load_codebook()).generate(records=300, seed=7)
    >>> len(dataset.submissions) > 300
    True
    """

    def __init__(self, codebook: Codebook, agencies: tuple[Agency, ...] = AGENCIES) -> None:
        self.codebook = codebook
        self.agencies = agencies
        self.fillers = {form_id: FormFiller(codebook, form_id) for form_id in DEMO_FORMS}
        self.layouts = {form_id: FormLayout.of(codebook, form_id) for form_id in DEMO_FORMS}

    def generate(self, *, records: int, seed: int) -> DemoDataset:
        """`records` screening interviews (at least 10), their intakes and the broken extras."""
        rng = random.Random(seed)
        encounters = self._encounters(rng, max(10, records))
        drafts: list[dict[str, Any]] = []
        identifiers: set[str] = set()
        case_numbers: dict[str, int] = {}
        for encounter in encounters:
            screening = self._screening(rng, encounter)
            drafts.append(screening)
            values = screening["values"]
            if values.get("consent_screening") == "yes" and \
                    values.get("screening_result") in ("likely", "possible"):
                drafts.append(self._intake(rng, encounter, case_numbers, identifiers))
        for index in range(max(len(DEFECTS), round(records * 0.02))):
            defect = list(DEFECTS)[index % len(DEFECTS)]
            agency = self.agencies[index % len(self.agencies)]
            person = _person(rng, f"X{index:03d}")
            encounter = _Encounter(agency, f"X{index:03d}", person, _demo_date(rng), "all")
            draft = self._intake(rng, encounter, case_numbers, identifiers)
            drafts.append({**draft, "defect": defect})
        return DemoDataset(seed, self._number(rng, drafts), frozenset(identifiers))

    # --- who is met where -------------------------------------------------------------------

    def _encounters(self, rng: random.Random, records: int) -> list[_Encounter]:
        people = round(records / (1 + SHARED_PEOPLE))
        shared = records - people
        first, second = self.agencies[0], self.agencies[1]
        encounters = []
        for index in range(people):
            key = f"P{index:04d}"
            identity = _person(rng, key)
            date = _demo_date(rng)
            consent = _consent_variant(rng)
            if index < shared:
                encounters.append(_Encounter(first, key, identity, date, consent))
                later = min(date + dt.timedelta(days=rng.randrange(7, 60)),
                            dt.date(DEMO_YEAR, 12, 15))
                again = reregister(rng, identity, key, SECOND_REGISTRATION_NOISE)
                if rng.random() >= SAME_CONSENT_AGAIN:
                    consent = _consent_variant(rng)
                encounters.append(_Encounter(second, key, again, later, consent))
            else:
                agency = first if rng.random() < 0.6 else second
                encounters.append(_Encounter(agency, key, identity, date, consent))
        return encounters

    # --- the forms --------------------------------------------------------------------------

    def _screening(self, rng: random.Random, encounter: _Encounter) -> dict[str, Any]:
        age = _age(encounter.identity, encounter.date)
        form_id = SCREENING_CHILD if age < 18 else SCREENING_ADULT
        profile = rng.choices([p for p, _ in _PROFILES], [w for _, w in _PROFILES])[0]
        scenario: dict[str, Any] = {
            "screening_date": encounter.date,
            "consent_screening": "yes" if rng.random() < 0.96 else "no",
            "scr_safe_now": "yes" if rng.random() < 0.85 else "no",
            "age_at_screening": age,
            "screening_referral_offered": "yes",
        }
        for present, (_kind, questions) in zip(profile, _INDICATORS.items(), strict=True):
            chosen = set(rng.sample(questions, k=rng.choice((1, 1, 2)))) if present else set()
            scenario.update({q: "yes" if q in chosen else "no" for q in questions})
        values = self.fillers[form_id].answers(rng, scenario, today=encounter.date)
        return {"encounter": encounter, "form_id": form_id, "values": values}

    def _intake(self, rng: random.Random, encounter: _Encounter, case_numbers: dict[str, int],
                identifiers: set[str]) -> dict[str, Any]:
        agency, identity, date = encounter.agency, encounter.identity, encounter.date
        variant = encounter.consent
        purposes = CONSENT_VARIANTS[variant]
        minor = _age(identity, date) < 18
        case_numbers[agency.key] = case_numbers.get(agency.key, 0) + 1
        phone = f"+233 {rng.randrange(20, 60)} {rng.randrange(100, 1000)} {rng.randrange(1000, 10000)}" \
            if rng.random() < PHONE_SHARE else None
        immigration = rng.choice(("regular_temporary", "victim_permit", "asylum_seeker", "refugee",
                                  "irregular", "stateless")) \
            if rng.random() < IMMIGRATION_STATUS_SHARE else None
        born = dt.date.fromisoformat(str(identity.date_of_birth))
        scenario: dict[str, Any] = {
            "consent_information_given": "yes",
            "consent_given_by": "parent_or_guardian" if minor else "person",
            "consent_person_views_heard": "yes",
            "consent_data_recording": "yes",
            **{f"consent_{p}": "yes" if p in purposes else "no"
               for p in self.codebook.consent_purposes},
            "consent_date": date,
            "case_reference": f"{agency.case_prefix}-{DEMO_YEAR}-{case_numbers[agency.key]:04d}",
            "case_opened_date": date,
            "case_status": "active",
            "person_pseudo_id": f"{agency.case_prefix}P{rng.getrandbits(40):010X}",
            "person_given_names": identity.given_names,
            "person_family_names": identity.family_names,
            "person_phone": phone,
            "person_date_of_birth": born,
            "person_dob_estimated": "yes" if rng.random() < 0.15 else "no",
            "person_sex": identity.sex,
            "person_citizenship": (identity.citizenship,) if identity.citizenship else None,
            "person_immigration_status": immigration,
            "ident_date": date,
            "ident_country": DEMO_COUNTRY,
            "ident_org_type": agency.org_type,
            "ident_org_name": agency.name,
            "ident_setting": rng.choice(agency.settings),
            "ident_data_source": "case_management",
            "ident_trafficking_status": rng.choice(("potential", "presumed", "presumed", "confirmed")),
            "ident_status_decision_date": date,
        }
        values = self.fillers[INTAKE].answers(rng, scenario, today=date)
        identifiers.update(str(v) for c, v in values.items()
                           if v and self.codebook.elements[c].sensitivity == "direct_identifier")
        return {"encounter": encounter, "form_id": INTAKE, "values": values, "consent": variant}

    # --- as submitted -----------------------------------------------------------------------

    def _number(self, rng: random.Random, drafts: list[dict[str, Any]]) -> tuple[DemoSubmission, ...]:
        """Times, `_id`s (in submission order per asset) and the Kobo text of every answer."""
        timed = []
        for draft in drafts:
            encounter = draft["encounter"]
            started = dt.datetime.combine(encounter.date, dt.time(rng.randrange(8, 16),
                                                                   rng.randrange(60)), tzinfo=dt.UTC)
            if draft["form_id"] == INTAKE:
                started += dt.timedelta(hours=1)  # after the screening
            submitted = started + dt.timedelta(minutes=rng.randrange(20, 90))
            timed.append((submitted, started, draft))
        timed.sort(key=lambda item: (item[0], item[2]["encounter"].person, item[2]["form_id"]))
        numbers: dict[str, int] = {}
        submissions = []
        for submitted, started, draft in timed:
            encounter = draft["encounter"]
            asset_uid = encounter.agency.asset_uid(draft["form_id"])
            numbers[asset_uid] = numbers.get(asset_uid, 0) + 1
            answers = self._texts(draft["form_id"], draft["values"])
            if draft.get("defect"):
                answers = self._break(draft["defect"], answers)
            submissions.append(DemoSubmission(
                agency=encounter.agency.key, form_id=draft["form_id"], asset_uid=asset_uid,
                submission_id=numbers[asset_uid], instance_id=f"uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                started=started, submitted=submitted, answers=answers, person=encounter.person,
                consent=draft.get("consent"), defect=draft.get("defect")))
        return tuple(submissions)

    def _texts(self, form_id: str, values: Mapping[str, Any]) -> dict[str, str]:
        paths = self.layouts[form_id].paths
        texts = {}
        for code, value in values.items():
            text = kobo_text(value)
            if text is not None:
                texts[paths[code]] = text
        return texts

    def _break(self, defect: str, answers: dict[str, str]) -> dict[str, str]:
        """The fault a `defect` names, in the intake's answers (one fault, one reason)."""
        paths = self.layouts[INTAKE].paths
        broken = dict(answers)
        if defect == "unknown_option":
            broken[paths["person_sex"]] = "F"  # a label's initial, not the option code
        elif defect == "wrong_type":
            broken[paths["person_number_of_children"]] = "two"
        elif defect == "missing_required":
            broken.pop(paths["case_reference"], None)
        return broken  # undecryptable: the answers are fine, the ciphertext is damaged


def _person(rng: random.Random, key: str) -> PersonIdentifiers:
    """A synthetic person aged 12 to 55 in the demo year, citizen of a country of the region."""
    person = make_person(rng, key)
    born = dt.date(DEMO_YEAR - rng.randrange(12, 56), 1, 1) + dt.timedelta(days=rng.randrange(365))
    citizenship = DEMO_COUNTRY if rng.random() < 0.5 else rng.choice(COUNTRIES)
    return replace(person, date_of_birth=born.isoformat(), citizenship=citizenship)


def _consent_variant(rng: random.Random) -> str:
    return rng.choices(list(CONSENT_VARIANTS), _CONSENT_WEIGHTS)[0]


def _demo_date(rng: random.Random) -> dt.date:
    return dt.date(DEMO_YEAR, 1, 6) + dt.timedelta(days=rng.randrange(310))


def _age(identity: PersonIdentifiers, on: dt.date) -> int:
    born = dt.date.fromisoformat(str(identity.date_of_birth))
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
