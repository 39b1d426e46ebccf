"""The DHIS2 package's own words: program, stage, data set and category names, per language.

The codebook translates what it owns (element and option labels); the objects only DHIS2 has
(a program, its stages, an aggregate data set) are named here, in the languages the codebook
ships. A language without an entry falls back to English, exactly like the codebook's texts.
"""

from __future__ import annotations

from collections.abc import Mapping

#: key -> language -> text
WORDS: Mapping[str, Mapping[str, str]] = {
    "program": {
        "en": "TIP case management",
        "fr": "TIP gestion des cas de traite des personnes",
        "es": "TIP gestión de casos de trata de personas",
    },
    "person": {"en": "TIP person", "fr": "TIP personne", "es": "TIP persona"},
    "stage:case": {"en": "TIP case record", "fr": "TIP dossier du cas", "es": "TIP expediente del caso"},
    "stage:screening": {"en": "TIP screening", "fr": "TIP dépistage", "es": "TIP detección"},
    "stage:identification": {
        "en": "TIP identification", "fr": "TIP identification", "es": "TIP identificación",
    },
    "stage:referral": {"en": "TIP referral", "fr": "TIP orientation", "es": "TIP derivación"},
    "stage:service": {
        "en": "TIP service or follow-up", "fr": "TIP service ou suivi",
        "es": "TIP servicio o seguimiento",
    },
    "stage:outcome": {
        "en": "TIP outcome assessment", "fr": "TIP évaluation des résultats",
        "es": "TIP evaluación de resultados",
    },
    "stage:investigation": {"en": "TIP investigation", "fr": "TIP enquête", "es": "TIP investigación"},
    "stage:prosecution": {"en": "TIP prosecution", "fr": "TIP poursuites", "es": "TIP enjuiciamiento"},
    "dataset": {"en": "TIP indicators", "fr": "TIP indicateurs", "es": "TIP indicadores"},
    "category:sex": {"en": "TIP sex", "fr": "TIP sexe", "es": "TIP sexo"},
    "category:age_band": {"en": "TIP age band", "fr": "TIP tranche d'âge", "es": "TIP grupo de edad"},
    "category:exploitation_form": {
        "en": "TIP form of exploitation", "fr": "TIP forme d'exploitation",
        "es": "TIP forma de explotación",
    },
    "count:victims_identified": {
        "en": "TIP victims identified", "fr": "TIP victimes identifiées",
        "es": "TIP víctimas identificadas",
    },
    "count:referrals_made": {
        "en": "TIP referrals made", "fr": "TIP orientations faites", "es": "TIP derivaciones hechas",
    },
    "count:referrals_accepted": {
        "en": "TIP referrals accepted", "fr": "TIP orientations acceptées",
        "es": "TIP derivaciones aceptadas",
    },
    "count:referrals_completed": {
        "en": "TIP referrals completed", "fr": "TIP orientations menées à terme",
        "es": "TIP derivaciones completadas",
    },
    "count:investigations": {
        "en": "TIP investigations opened", "fr": "TIP enquêtes ouvertes",
        "es": "TIP investigaciones abiertas",
    },
    "count:prosecutions": {
        "en": "TIP prosecutions", "fr": "TIP poursuites engagées", "es": "TIP enjuiciamientos",
    },
    "count:convictions": {"en": "TIP convictions", "fr": "TIP condamnations", "es": "TIP condenas"},
}


def word(key: str, lang: str = "en") -> str:
    """The text of ``key`` in ``lang``, English when there is none (or no entry at all)."""
    entry = WORDS.get(key)
    if entry is None:
        return "TIP " + key.split(":", 1)[-1].replace("_", " ")
    return entry.get(lang, entry["en"])


def has_word(key: str, lang: str) -> bool:
    return lang in WORDS.get(key, {})
