"""The shared secret Kobo sends with every delivery, and the constant-time check of it.

`tipdata kobo hook` registers the REST Service with a custom header, `X-Tipdata-Hook-Secret`
(`tipdata.kobo_forms.hooks.SECRET_HEADER`), holding the secret from `TIPDATA_HOOK_SECRET`; Kobo
adds it to every POST (kobo-api.md §7.2–7.3). `tipdata serve` reads the same secret from the
environment, never from an option or tipdata.toml (both end up in shell histories and
repositories):

    TIPDATA_RECEIVER_SECRET        the secret itself, or
    TIPDATA_RECEIVER_SECRET_FILE   a file holding it (e.g. a container secret), or
    TIPDATA_HOOK_SECRET            the variable `tipdata kobo hook` reads, when serve and hook
                                   run with the same environment.

Set more than one and they must agree, else the server would refuse every delivery Kobo makes.
A secret must be at least 16 printable ASCII characters (it travels in an HTTP header); make one
with `python -c "import secrets; print(secrets.token_urlsafe(32))"`.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from tipdata.kobo_forms.hooks import SECRET_ENV as HOOK_SECRET_ENV
from tipdata.kobo_forms.hooks import SECRET_HEADER

SECRET_ENV = "TIPDATA_RECEIVER_SECRET"
SECRET_FILE_ENV = "TIPDATA_RECEIVER_SECRET_FILE"
MIN_SECRET_LENGTH = 16
__all__ = ["HOOK_SECRET_ENV", "SECRET_ENV", "SECRET_FILE_ENV", "SECRET_HEADER",
           "ReceiverSecretError", "SharedSecret", "load_receiver_secret"]


class ReceiverSecretError(ValueError):
    """No usable secret: the server must not start (it would accept anyone, or no one)."""


class SharedSecret:
    """The secret, compared in constant time; never shown in a repr or a message."""

    def __init__(self, value: str) -> None:
        if len(value) < MIN_SECRET_LENGTH:
            raise ReceiverSecretError(
                f"the receiver secret is shorter than {MIN_SECRET_LENGTH} characters; make one "
                "with `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`")
        if not all(" " < ch < "\x7f" for ch in value):
            raise ReceiverSecretError("the receiver secret must be printable ASCII without "
                                      "spaces (Kobo sends it in an HTTP header)")
        self._value = value.encode("ascii")

    def __repr__(self) -> str:
        return "SharedSecret(***)"

    def matches(self, presented: bytes | None) -> bool:
        """True only for exactly the secret; the time taken does not depend on where it differs.

        >>> SharedSecret("0123456789abcdef").matches(b"0123456789abcdef")
        True
        """
        if presented is None:
            hmac.compare_digest(self._value, self._value)  # same work either way
            return False
        return hmac.compare_digest(self._value, presented)


def load_receiver_secret(environ: Mapping[str, str] | None = None) -> SharedSecret:
    """The secret from the environment (see the module doc); raises ReceiverSecretError.

    >>> load_receiver_secret({"TIPDATA_RECEIVER_SECRET": "s" * 32})
    SharedSecret(***)
    """
    env = os.environ if environ is None else environ
    found: dict[str, str] = {}
    if env.get(SECRET_ENV):
        found[SECRET_ENV] = env[SECRET_ENV].strip()
    if env.get(SECRET_FILE_ENV):
        path = Path(env[SECRET_FILE_ENV]).expanduser()
        try:
            found[SECRET_FILE_ENV] = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ReceiverSecretError(f"cannot read the receiver secret from {path} "
                                      f"({SECRET_FILE_ENV}): {reason}") from None
    if env.get(HOOK_SECRET_ENV):
        found[HOOK_SECRET_ENV] = env[HOOK_SECRET_ENV].strip()
    if not found:
        raise ReceiverSecretError(
            f"no receiver secret: set {SECRET_ENV} (or {SECRET_FILE_ENV}, or {HOOK_SECRET_ENV} "
            f"as for `tipdata kobo hook`); Kobo sends it in the {SECRET_HEADER} header and "
            "tipdata serve refuses to run without one")
    if len(set(found.values())) > 1:
        raise ReceiverSecretError(
            f"{' and '.join(sorted(found))} hold different secrets; set one, or the same value "
            f"in each (Kobo sends the one `tipdata kobo hook` registered)")
    return SharedSecret(next(iter(found.values())))
