"""DHIS2 names, short names and codes that fit the server's limits and stay unique.

DHIS2 rejects a name over 230 characters, a short name or code over 50 (`E4001`), and a second
object of a type with the same name, short name or code (`E5003`). The codebook's wording is
longer and freer than that, so every label goes through here: shortened deterministically, and
made unique with a suffix derived from the element code (never from the order of the build).
"""

from __future__ import annotations

import hashlib

NAME_LIMIT = 230
SHORT_NAME_LIMIT = 50
CODE_LIMIT = 50
FORM_NAME_LIMIT = 230

_ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def fit(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis when longer.

    >>> fit("Did someone offer you a job?", 15)
    'Did someone of…'
    """
    single = " ".join(text.split())
    return single if len(single) <= limit else single[: limit - 1].rstrip() + "…"


def tag(seed: str, length: int = 4) -> str:
    """A short, stable tag for ``seed`` (letters and digits) used to tell apart shortened names."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_ALPHANUMERIC[byte % len(_ALPHANUMERIC)] for byte in digest[:length])


def fit_code(text: str) -> str:
    """A DHIS2 code of at most 50 characters; a longer one keeps its start and a tag of the rest."""
    if len(text) <= CODE_LIMIT:
        return text
    return f"{text[: CODE_LIMIT - 6]}_{tag(text, 5)}"


class UniqueNames:
    """Unique names of one kind (say data element short names) within one package.

    The first object to ask for a text gets it; a later one with the same text gets its code
    appended (names) or a tag of its code (short names), so the result depends on the codebook
    only. Example::

        names = UniqueNames(50)
        names.claim("a", "TIP Other - please describe")   # 'TIP Other - please describe'
        names.claim("b", "TIP Other - please describe")   # 'TIP Other - please describe ~Xk3P'
    """

    def __init__(self, limit: int, style: str = "tag") -> None:
        self.limit = limit
        self.style = style
        self._owners: dict[str, str] = {}

    def claim(self, code: str, text: str) -> str:
        return self.claim_with_suffix(code, text)[0]

    def claim_with_suffix(self, code: str, text: str) -> tuple[str, str]:
        """The unique text and the suffix it needed ('' if none), to give translations too."""
        candidate = fit(text, self.limit)
        if self._owners.setdefault(candidate.casefold(), code) == code:
            return candidate, ""
        suffix = f" ({code})" if self.style == "code" else f" ~{tag(code)}"
        candidate = fit(text, self.limit - len(suffix)) + suffix
        owner = self._owners.setdefault(candidate.casefold(), code)
        if owner != code:
            raise ValueError(f"{code!r} and {owner!r} both need the name {candidate!r}")
        return candidate, suffix
