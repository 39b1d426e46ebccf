"""A fixed synthetic data set for the golden report: two agencies identifying the same people.

Seeded, so every run builds the same records. 1,500 made-up persons (no names: the report never
reads them) are identified by an NGO, by the police or by both, some twice by the NGO, on dates
from October 2024 to February 2026, mostly in Nigeria; the NGO refers some to services, the
police open investigations, some of which are prosecuted. Each person's attributes (sex, age,
citizenship, purposes, status, consent) are the same on every record, so the expected numbers
can be counted from `Person` objects with plain Python (`expected_numbers`) - independently of
pandas and of `tipdata.statistics`.

The linkage is the ground truth (which records are the same person), in the format `tipdata
link match --out` writes, so the golden report tests the report and not the matcher.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from dataclasses import dataclass, field
from typing import Any

from tipdata.records import CanonicalRecord, Envelope, record_id_for
from tipdata.statistics.report import Report, ReportOptions, build_report

SEED = 2025
PERSONS = 1500
PERIOD = "2025"
AREA = "NG"
STAMP = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
ALL_PURPOSES = frozenset({"service_referral", "law_enforcement", "statistics", "follow_up_contact"})
AGENCIES: dict[str, tuple[str, str]] = {  # linkage source → (source system, organisation type)
    "ngo": ("kobo:ngoIntakeAsset", "ngo"),
    "police": ("frappe:policeCasework", "law_enforcement"),
}
FORMS = {
    "case": "tip_case_intake",
    "referral": "tip_referral",
    "service": "tip_service_followup",
    "outcome": "tip_outcome_assessment",
    "investigation": "tip_investigation",
    "prosecution": "tip_prosecution",
}
DOMAINS = ("out_safety", "out_housing", "out_mental_wellbeing", "out_income_employment")
FIRST_DAY = dt.date(2024, 10, 1)
LAST_DAY = dt.date(2026, 2, 28)


@dataclass
class CaseRecord:
    agency: str
    record_id: str
    reference: str
    ident_date: dt.date


@dataclass
class Person:
    pid: str
    country: str
    sex: str | None
    age: int | None
    citizenship: tuple[str, ...] | None
    purposes: tuple[str, ...] | None
    status: str
    consents: bool
    cases: list[CaseRecord] = field(default_factory=list)
    referral_dates: list[dt.date] = field(default_factory=list)


@dataclass
class Dataset:
    records: list[CanonicalRecord]
    persons: list[Person]
    linkage: dict[str, Any]


def _pick(rng: random.Random, weighted: list[tuple[Any, float]]) -> Any:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights=weights, k=1)[0]


def build_dataset(seed: int = SEED, persons: int = PERSONS) -> Dataset:
    """The records (case intakes, referrals, investigations, prosecutions), the persons behind
    them and the linkage JSON."""
    rng = random.Random(seed)
    people: list[Person] = []
    records: list[CanonicalRecord] = []
    serial = iter(range(1, 10**6))

    def envelope(agency: str, kind: str, consents: bool) -> Envelope:
        system = AGENCIES[agency][0]
        source_id = f"uuid:{kind}-{next(serial):05d}"
        purposes = ALL_PURPOSES if consents else ALL_PURPOSES - {"statistics"}
        return Envelope(
            record_id=record_id_for(system, source_id),
            source_system=system,
            source_id=source_id,
            form_id=FORMS[kind],
            collected_at=STAMP,
            updated_at=STAMP,
            consent_purposes=purposes,
        )

    span = (LAST_DAY - FIRST_DAY).days
    for index in range(persons):
        person = Person(
            pid=f"P{index + 1:04d}",
            country=_pick(rng, [("NG", 85), ("GH", 15)]),
            sex=_pick(
                rng, [("female", 55), ("male", 40), ("intersex", 1), ("declined", 2), (None, 2)]
            ),
            age=None if rng.random() < 0.08 else rng.randint(8, 60),
            citizenship=_pick(rng, [(("NG",), 70), (("GH",), 10), (("BJ",), 10), (None, 10)]),
            purposes=_pick(
                rng,
                [
                    (("sexual_exploitation",), 45),
                    (("forced_labour",), 30),
                    (("forced_begging",), 8),
                    (("forced_labour", "sexual_exploitation"), 7),
                    (("organ_removal",), 1),
                    (None, 9),
                ],
            ),
            status=_pick(
                rng, [("potential", 30), ("presumed", 35), ("confirmed", 30), ("not_victim", 5)]
            ),
            consents=rng.random() < 0.94,
        )
        first = FIRST_DAY + dt.timedelta(days=rng.randrange(span))
        seen_by = _pick(rng, [(("ngo",), 50), (("police",), 30), (("ngo", "police"), 20)])
        dates = [first, *(first + dt.timedelta(days=rng.randint(1, 60)) for _ in seen_by[1:])]
        if "ngo" in seen_by and rng.random() < 0.04:  # registered twice by the NGO
            seen_by, dates = (
                (*seen_by, "ngo"),
                [*dates, first + dt.timedelta(days=rng.randint(1, 30))],
            )
        for agency, when in zip(seen_by, dates, strict=True):
            env = envelope(agency, "case", person.consents)
            reference = f"{agency.upper()}-{next(serial):05d}"
            values = {
                "case_reference": reference,
                "ident_date": when,
                "ident_country": person.country,
                "ident_trafficking_status": person.status,
                "ident_org_type": AGENCIES[agency][1],
                "person_sex": person.sex,
                "person_age": person.age,
                "person_citizenship": person.citizenship,
                "expl_palermo_purpose": person.purposes,
            }
            records.append(
                CanonicalRecord(
                    envelope=env, values={k: v for k, v in values.items() if v is not None}
                )
            )
            person.cases.append(CaseRecord(agency, env.record_id, reference, when))
            if agency == "ngo" and rng.random() < 0.5:
                ref_date = when + dt.timedelta(days=rng.randint(0, 20))
                person.referral_dates.append(ref_date)
                records.append(
                    CanonicalRecord(
                        envelope=envelope(agency, "referral", person.consents),
                        values={
                            "svc_case_reference": reference,
                            "ref_date": ref_date,
                            "ref_status": _pick(
                                rng,
                                [
                                    ("made", 20),
                                    ("accepted", 30),
                                    ("in_progress", 20),
                                    ("completed", 25),
                                    ("declined_by_person", 5),
                                ],
                            ),
                            "ref_org_type": _pick(
                                rng, [("ngo", 50), ("health_service", 30), ("legal_service", 20)]
                            ),
                            "ref_service_type": _pick(
                                rng,
                                [
                                    (("safe_accommodation",), 40),
                                    (("medical_care",), 35),
                                    (("legal_assistance", "medical_care"), 25),
                                ],
                            ),
                            "ref_first_service_date": ref_date
                            + dt.timedelta(days=rng.randint(0, 14)),
                        },
                    )
                )
                if rng.random() < 0.6:
                    records.append(
                        CanonicalRecord(
                            envelope=envelope(agency, "service", person.consents),
                            values={
                                "svc_case_reference": reference,
                                "svc_date": ref_date + dt.timedelta(days=rng.randint(0, 30)),
                                "svc_record_kind": _pick(
                                    rng, [("service", 70), ("both", 20), ("follow_up", 10)]
                                ),
                                "svc_received": _pick(
                                    rng,
                                    [
                                        (("safe_accommodation",), 40),
                                        (("medical_care",), 30),
                                        (("safe_accommodation", "mental_health_psychosocial"), 30),
                                    ],
                                ),
                                "svc_provider_org_type": _pick(
                                    rng, [("ngo", 60), ("health_service", 40)]
                                ),
                            },
                        )
                    )
                if rng.random() < 0.35:  # two outcome assessments, the second usually better
                    first_rating = {d: rng.randint(1, 3) for d in DOMAINS}
                    for number, (offset, lift) in enumerate(
                        ((5, 0), (rng.randint(60, 150), 1)), start=1
                    ):
                        ratings = {
                            d: str(min(5, r + lift * rng.randint(0, 2)))
                            for d, r in first_rating.items()
                        }
                        records.append(
                            CanonicalRecord(
                                envelope=envelope(agency, "outcome", person.consents),
                                values={
                                    "svc_case_reference": reference,
                                    "out_assessment_date": ref_date + dt.timedelta(days=offset),
                                    "out_assessment_number": number,
                                    **ratings,
                                },
                            )
                        )
            if agency == "police" and rng.random() < 0.45:
                opened = when + dt.timedelta(days=rng.randint(0, 40))
                offences = _pick(
                    rng,
                    [
                        (("tip_sexual_exploitation",), 50),
                        (("tip_forced_labour",), 40),
                        (("kidnapping",), 10),
                    ],
                )
                records.append(
                    CanonicalRecord(
                        envelope=envelope(agency, "investigation", person.consents),
                        values={
                            "svc_case_reference": reference,
                            "inv_opened_date": opened,
                            "inv_offences": offences,
                            "inv_agency_type": _pick(
                                rng, [("police", 60), ("anti_trafficking_unit", 40)]
                            ),
                            "inv_suspect_sex": _pick(
                                rng, [("male", 70), ("female", 25), ("unknown", 5)]
                            ),
                        },
                    )
                )
                if rng.random() < 0.5:
                    filed = opened + dt.timedelta(days=rng.randint(10, 90))
                    outcome = _pick(
                        rng, [("convicted_trafficking", 45), ("acquitted", 20), ("ongoing", 35)]
                    )
                    values = {
                        "svc_case_reference": reference,
                        "pros_filed_date": filed,
                        "pros_charges": offences,
                        "pros_outcome": outcome,
                    }
                    if outcome != "ongoing":
                        values["pros_verdict_date"] = filed + dt.timedelta(
                            days=rng.randint(30, 200)
                        )
                    if outcome == "convicted_trafficking":
                        values["pros_sentence_type"] = _pick(
                            rng,
                            [
                                (("imprisonment",), 70),
                                (("imprisonment", "fine"), 20),
                                (("suspended",), 10),
                            ],
                        )
                        values["pros_sentence_months"] = rng.randint(12, 180)
                    records.append(
                        CanonicalRecord(
                            envelope=envelope(agency, "prosecution", person.consents), values=values
                        )
                    )
        people.append(person)
    linkage = {
        "sources": list(AGENCIES),
        "assignments": sorted(
            (
                {"source": case.agency, "id": case.record_id, "person": person.pid}
                for person in people
                if person.consents
                for case in person.cases
            ),
            key=lambda a: (a["source"], a["id"]),
        ),
        "settings": {"threshold": 0.75},
    }
    return Dataset(records, people, linkage)


def expected_numbers(dataset: Dataset, year: int = 2025, country: str = AREA) -> dict[str, int]:
    """Headline numbers counted from the persons with plain Python, for the golden test to hold
    the report against (independently of how tipdata computes them)."""
    in_year = lambda day: day.year == year  # noqa: E731
    victims = [
        p
        for p in dataset.persons
        if p.consents and p.country == country and p.status != "not_victim"
    ]
    scoped = {p.pid: [c for c in p.cases if in_year(c.ident_date)] for p in victims}
    scoped = {pid: cases for pid, cases in scoped.items() if cases}
    by_pid = {p.pid: p for p in victims}
    agencies = {pid: {c.agency for c in cases} for pid, cases in scoped.items()}
    cases_of_country = [p for p in dataset.persons if p.consents and p.country == country]
    return {
        "records": sum(len(cases) for cases in scoped.values()),
        "persons": len(scoped),
        "ngo_only": sum(1 for a in agencies.values() if a == {"ngo"}),
        "police_only": sum(1 for a in agencies.values() if a == {"police"}),
        "both": sum(1 for a in agencies.values() if a == {"ngo", "police"}),
        "female_persons": sum(1 for pid in scoped if by_pid[pid].sex == "female"),
        "children_persons": sum(
            1 for pid in scoped if by_pid[pid].age is not None and by_pid[pid].age < 18
        ),
        "referrals": sum(1 for p in cases_of_country for day in p.referral_dates if in_year(day)),
    }


@functools.cache
def golden_dataset() -> Dataset:
    """The data set, built once per process."""
    return build_dataset()


@functools.cache
def golden_report(language: str = "en") -> Report:
    """The golden report (2025, NG, linkage = ground truth, k = 11) in `language`, built once per process."""
    dataset = golden_dataset()
    return build_report(
        dataset.records,
        None,
        ReportOptions(period=PERIOD, area=AREA, linkage=dataset.linkage, language=language),
    )
