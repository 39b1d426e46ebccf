"""Published field and column lists of the standards the codebook crosswalks to.

These are facts (names and codes) from ../shared/reference/standards.md: the HTCDS v2.0 fields and
picklists (IOM, CC BY 4.0), the CTDC generation-1 and generation-2 column sets, ICCS trafficking
codes and the ICD-10-CM trafficking codes. A crosswalk entry naming anything else is a codebook
error, so a typo cannot silently break the CTDC export later.
"""

from __future__ import annotations

STANDARDS: dict[str, str] = {
    "htcds": "IOM Human Trafficking Case Data Standard v2.0",
    "ctdc_gen1": "CTDC generation-1 global k-anonymised dataset (63 columns)",
    "ctdc_gen2": "CTDC generation-2 global synthetic dataset (27 columns)",
    "iccs": "UNODC International Classification of Crime for Statistical Purposes v1.0",
    "icd10cm": "ICD-10-CM (US) trafficking-related codes",
}

_MEANS_OF_CONTROL = [
    "DebtBondage", "TakesEarnings", "RestrictsFinancialAccess", "Threats", "PsychologicalAbuse",
    "PhysicalAbuse", "SexualAbuse", "FalsePromises", "PsychoactiveSubstances", "RestrictsMovement",
    "RestrictsMedicalCare", "ExcessiveWorkingHours", "UsesChildren", "ThreatOfLawEnforcement",
    "WithholdsNecessities", "WithholdsDocuments", "Other", "NotSpecified",
]
_LABOUR = [
    "Agriculture", "Aquafarming", "Begging", "Construction", "DomesticWork", "Hospitality",
    "IllicitActivities", "Manufacturing", "MiningOrDrilling", "Peddling", "Transportation", "Other",
    "NotSpecified",
]

#: The 63 CTDC generation-1 columns, in published order.
CTDC_GEN1_COLUMNS: tuple[str, ...] = (
    "yearOfRegistration", "Datasource", "gender", "ageBroad", "majorityStatus",
    "majorityStatusAtExploit", "majorityEntry", "citizenship",
    *(f"meansOfControl{m}" for m in _MEANS_OF_CONTROL), "meansOfControlConcatenated",
    "isForcedLabour", "isSexualExploit", "isOtherExploit", "isSexAndLabour", "isForcedMarriage",
    "isForcedMilitary", "isOrganRemoval", "isSlaveryAndPractices", "typeOfExploitConcatenated",
    *(f"typeOfLabour{s}" for s in _LABOUR), "typeOfLabourConcatenated",
    "typeOfSexProstitution", "typeOfSexPornography", "typeOfSexRemoteInteractiveServices",
    "typeOfSexPrivateSexualServices", "typeOfSexConcatenated",
    "isAbduction", "RecruiterRelationship", "CountryOfExploitation",
    "recruiterRelationIntimatePartner", "recruiterRelationFriend", "recruiterRelationFamily",
    "recruiterRelationOther", "recruiterRelationUnknown",
)

#: The 27 CTDC generation-2 (synthetic dataset) columns.
CTDC_GEN2_COLUMNS: tuple[str, ...] = (
    "yearOfRegistration", "gender", "ageBroad", "citizenship", "CountryOfExploitation",
    "traffickMonths", "isForcedLabour", "isSexualExploit", "isOtherExploit",
    "meansDebtBondageEarnings", "meansThreats", "meansAbusePsyPhySex", "meansFalsePromises",
    "meansDrugsAlcohol", "meansDenyBasicNeeds", "meansExcessiveWorkHours", "meansWithholdDocs",
    "typeOfLabourAgriculture", "typeOfLabourConstruction", "typeOfLabourDomesticWork",
    "typeOfLabourHospitality", "typeOfSexProstitution", "typeOfSexPornography",
    "recruiterRelationIntimatePartner", "recruiterRelationFriend", "recruiterRelationFamily",
    "recruiterRelationOther",
)

CTDC_AGE_BANDS: tuple[str, ...] = (
    "0--8", "9--17", "18--20", "21--23", "24--26", "27--29", "30--38", "39--47", "48+",
)

#: HTCDS v2.0 field names (prefix_PascalCase), from the v2.0 field standard.
HTCDS_FIELDS: frozenset[str] = frozenset(
    [f"org_{n}" for n in (
        "Name", "ShippingCity", "ShippingCountry", "ShippingState", "ShippingStreet",
        "ShippingPostalCode", "ShippingLongitude", "ShippingLatitude", "Phone", "Type")]
    + [f"prs_{n}" for n in (
        "Salutation", "FirstName", "MiddleName", "SecondName", "Birthdate", "Gender", "Deceased",
        "MaritalStatus", "NumberOfChildren", "PrimaryLanguage", "SecondaryLanguage",
        "HighestLevelOfEducation", "Citizenship", "IdentityNumber", "Title", "Email", "HomePhone",
        "MobilePhone", "MailingCity", "MailingCountry", "MailingState", "MailingStreet",
        "MailingPostalCode", "MailingLongitude", "MailingLatitude")]
    + [f"vic_{n}" for n in (
        "TraffickingStatus", "TraffickingStatusDecisionMakingOrg", "RelationshipToTrafficker",
        "AgeWhenTrafficked", "RecruitmentWebsitesAndApps", "MethodOfRecruitment",
        "LocationOfRecruitment", "MethodsOfControl", "TypeOfExploitation", "ForcedLabourIndustry",
        "TypeOfSexExploitation", "LocationOfExploitation", "ExploitationWebsitesAndApps")]
    + ["per_RoleInProcess", "per_RoleDetails", "per_Organisation"]
    + [f"cas_{n}" for n in (
        "Status", "ReasonForCaseClosure", "CaseOwner", "ReferringOrganisation",
        "IncomingReferralDate", "ReferringPrimaryCaseWorker", "ReasonForIncomingReferral",
        "IncomingReferralDetails", "ReferredOrganisation", "ReferredPrimaryCaseWorker",
        "ReasonForOutgoingReferral", "OutgoingReferralDate", "OutgoingReferralDetails")]
    + ["cco_CaseComment"]
    + [f"hte_{n}" for n in (
        "Longitude", "Latitude", "City", "Country", "State", "Street", "PostalCode", "Date", "Type",
        "Description")]
    + [f"spl_{n}" for n in ("Objectives", "ActionPlan", "PlannedEndDate", "ActualEndDate", "Type")]
    + ["con_Consent"]
)

#: ICCS v1.0 codes relevant to trafficking (offence / exploitation types).
ICCS_CODES: dict[str, str] = {
    "0202": "Acts against liberty",
    "020221": "Kidnapping",
    "0203": "Slavery and exploitation",
    "0204": "Trafficking in persons",
    "02041": "Trafficking in persons for sexual exploitation",
    "02042": "Trafficking in persons for forced labour or services",
    "02043": "Trafficking in persons for organ removal",
    "02044": "Trafficking in persons for other purposes",
}

#: ICD-10-CM trafficking codes (7th character A/D/S appended at coding time).
ICD10CM_CODES: dict[str, str] = {
    "T74.51": "Adult forced sexual exploitation, confirmed",
    "T74.52": "Child sexual exploitation, confirmed",
    "T74.61": "Adult forced labor exploitation, confirmed",
    "T74.62": "Child forced labor exploitation, confirmed",
    "T76.51": "Adult forced sexual exploitation, suspected",
    "T76.52": "Child sexual exploitation, suspected",
    "T76.61": "Adult forced labor exploitation, suspected",
    "T76.62": "Child forced labor exploitation, suspected",
    "Y07.6": "Multiple perpetrators of maltreatment and neglect",
    "Z04.81": "Examination and observation of victim following forced sexual exploitation",
    "Z04.82": "Examination and observation of victim following forced labor exploitation",
    "Z62.813": "Personal history of forced labor or sexual exploitation in childhood",
    "Z91.42": "Personal history of forced labor or sexual exploitation",
}

KNOWN_COLUMNS: dict[str, frozenset[str]] = {
    "htcds": HTCDS_FIELDS,
    "ctdc_gen1": frozenset(CTDC_GEN1_COLUMNS),
    "ctdc_gen2": frozenset(CTDC_GEN2_COLUMNS),
    "iccs": frozenset(ICCS_CODES),
    "icd10cm": frozenset(ICD10CM_CODES),
}
