"""Which sharing purposes a case's consent covers right now. Pure: no frappe import.

Consent is recorded per purpose (`consent_<purpose>` = 'yes'), needs consent to record data at
all (`consent_data_recording`), and can be withdrawn later for some purposes or, by withdrawing
`data_recording`, for every use. The TIP Case controller stores the result in the
`consent_covers_<purpose>` checks, which the permission hooks and lists filter on.

Example::

    >>> coverage({"consent_data_recording": "yes", "consent_law_enforcement": "yes"},
    ...          ["law_enforcement", "statistics"])
    {'law_enforcement': True, 'statistics': False}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def coverage(values: Mapping[str, object], purposes: Iterable[str]) -> dict[str, bool]:
    """Purpose -> whether the person's consent covers it now."""
    recording = values.get("consent_data_recording") == "yes"
    withdrawn = values.get("consent_withdrawn") == "yes"
    withdrawn_for = set(values.get("consent_withdrawn_purposes") or ()) if withdrawn else set()
    return {
        purpose: recording
        and values.get(f"consent_{purpose}") == "yes"
        and purpose not in withdrawn_for
        and "data_recording" not in withdrawn_for
        for purpose in purposes
    }
