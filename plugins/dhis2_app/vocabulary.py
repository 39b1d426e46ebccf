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
    "dataset:description": {
        "en": "Trafficking in persons indicator counts sent by tipdata (tipdata dhis2 "
              "push-aggregates), with small cells suppressed. Assign the data set to the "
              "organisation units that report.",
        "fr": "Indicateurs de la traite des personnes envoyés par tipdata (tipdata dhis2 "
              "push-aggregates), petits effectifs masqués. Affectez l'ensemble de données aux "
              "unités d'organisation qui déclarent.",
        "es": "Indicadores de trata de personas enviados por tipdata (tipdata dhis2 "
              "push-aggregates), con las celdas pequeñas suprimidas. Asigne el conjunto de datos a "
              "las unidades organizativas que informan.",
    },
    "category:sex": {"en": "TIP sex", "fr": "TIP sexe", "es": "TIP sexo"},
    "category:age_band": {"en": "TIP age band", "fr": "TIP tranche d'âge", "es": "TIP grupo de edad"},
    # short names of category options start with these (DHIS2 short names hold 50 characters)
    "category_short:sex": {"en": "TIP sex", "fr": "TIP sexe", "es": "TIP sexo"},
    "category_short:age_band": {"en": "TIP age band", "fr": "TIP tranche d'âge", "es": "TIP edad"},
    "category_short:exploitation_form": {"en": "TIP form", "fr": "TIP forme", "es": "TIP forma"},
    "category:exploitation_form": {
        "en": "TIP form of exploitation", "fr": "TIP forme d'exploitation",
        "es": "TIP forma de explotación",
    },
    # category options the package names itself (the codebook's labels are used for the others)
    "option:sex:unknown": {"en": "Not recorded", "fr": "Non renseigné", "es": "No registrado"},
    "option:exploitation_form:sexual_exploitation": {
        "en": "Sexual exploitation (ICCS 02041)", "fr": "Exploitation sexuelle (ICCS 02041)",
        "es": "Explotación sexual (ICCS 02041)",
    },
    "option:exploitation_form:forced_labour": {
        "en": "Forced labour (ICCS 02042)", "fr": "Travail forcé (ICCS 02042)",
        "es": "Trabajo forzoso (ICCS 02042)",
    },
    "option:exploitation_form:organ_removal": {
        "en": "Organ removal (ICCS 02043)", "fr": "Prélèvement d'organes (ICCS 02043)",
        "es": "Extracción de órganos (ICCS 02043)",
    },
    "option:exploitation_form:other": {
        "en": "Other purposes (ICCS 02044)", "fr": "Autres fins (ICCS 02044)",
        "es": "Otros fines (ICCS 02044)",
    },
    "option:exploitation_form:multiple_forms": {
        "en": "Several forms", "fr": "Plusieurs formes", "es": "Varias formas",
    },
    "option:exploitation_form:purpose_unspecified": {
        "en": "Purpose not specified (ICCS 0204)", "fr": "Fin non précisée (ICCS 0204)",
        "es": "Fin no especificado (ICCS 0204)",
    },
    "option:exploitation_form:other_offence": {
        "en": "Related offences only", "fr": "Infractions connexes seulement",
        "es": "Solo delitos conexos",
    },
    "option:exploitation_form:unknown": {"en": "Not known", "fr": "Inconnu", "es": "Desconocido"},
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
