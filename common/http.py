"""One HTTP session shape for every platform connector (Kobo, DHIS2, Frappe).

Each connector needs the same things: a base URL and a secret that never shows up in a repr, a
log or an error; a timeout on every request; retries with backoff on 429/502/503/504 and on
dropped connections (honouring Retry-After); a User-Agent; and errors that say the method, URL,
status, the server's own message and how to fix it. Connectors add their resource services on
top and a `hint` function that knows their platform's failure modes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from tipdata import __version__

log = logging.getLogger("tipdata.http")

USER_AGENT = f"tipdata/{__version__} (+https://github.com/tipdata)"
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class PlatformError(Exception):
    """A request that failed; says what was asked, what the server said and what to do."""

    def __init__(self, method: str, url: str, status: int | None, server_message: str,
                 hint: str = "") -> None:
        self.method = method
        self.url = url
        self.status = status
        self.server_message = server_message
        self.hint = hint
        status_text = f"HTTP {status}" if status is not None else "no response"
        text = f"{method} {url} → {status_text}: {server_message}"
        if hint:
            text += f" Fix: {hint}"
        super().__init__(text)


class PlatformUnreachable(PlatformError):
    """The server could not be reached (DNS, refused connection, TLS, timeout)."""


@dataclass(frozen=True)
class ServiceConfig:
    """Where a platform is and how to authenticate; the secret is never printed."""

    base_url: str
    secret: str = field(repr=False)
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5  # seconds; doubled per attempt, with jitter
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"server URL {self.base_url!r} must look like https://host[/path]")
        if not self.secret:
            raise ValueError("no API token or key was given")


def resolve_secret(explicit: str | None, env_var: str, file_env_var: str | None = None,
                   config: Mapping[str, Any] | None = None, config_key: str | None = None) -> str:
    """Secret precedence: argument > environment > key file named by an env var > config file.

    Raises ValueError naming the places looked at (never the value).
    """
    if explicit:
        return explicit
    if os.environ.get(env_var):
        return os.environ[env_var]
    if file_env_var and os.environ.get(file_env_var):
        path = Path(os.environ[file_env_var])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read the key file {path} named by {file_env_var}: "
                             f"{exc.strerror}") from None
    if config and config_key and config.get(config_key):
        return str(config[config_key])
    places = [env_var] + ([file_env_var] if file_env_var else []) + (
        [f"config key {config_key}"] if config_key else [])
    raise ValueError(f"no secret found; set {' or '.join(places)}")


def _server_message(response: requests.Response) -> str:
    """The platform's own words, without echoing large bodies (which could hold case data)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return text[:300] or response.reason or ""
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "exc_type", "_server_messages", "status"):
            value = body.get(key)
            if value:
                return str(value)[:300]
    return json.dumps(body)[:300]


class HeaderAuth(requests.auth.AuthBase):
    """The platform's token header, set as the session's `auth` rather than a plain header.

    Why: requests only looks in `~/.netrc` when a session has no `auth`; with the token as a
    bare header a netrc entry for the host silently replaced it with Basic credentials. As an
    auth object it is also dropped when a redirect leaves the host. Never shows the secret.
    """

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._headers)
        return request

    def __repr__(self) -> str:
        return f"HeaderAuth({sorted(self._headers)!r}, <hidden>)"


def environment_settings(base_url: str) -> dict[str, Any]:
    """Proxies and CA bundle for `base_url` from the environment, read once per session.

    requests reads them (and ~/.netrc) again on every request when `trust_env` is on: a
    walk over the whole environment per request, a tenth of the client's CPU in a sync of
    many small pages. The session resolves them once, with requests' own rules
    (`get_environ_proxies` honours NO_PROXY), and turns `trust_env` off.
    """
    proxies = requests.utils.get_environ_proxies(base_url)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return {"proxies": proxies, "verify": bundle or True}


def backoff_delay(config: ServiceConfig, attempt: int, retry_after: str | None) -> float:
    """Exponential backoff with jitter, never shorter than the server's Retry-After (both capped
    at `max_backoff`)."""
    delay = config.backoff * (2 ** (attempt - 1)) * (0.5 + random.random() / 2)
    if retry_after:
        try:
            delay = max(delay, float(retry_after))
        except ValueError:
            pass
    return min(delay, config.max_backoff)


def send_with_retries(send: Callable[[], requests.Response], *, method: str, url: str,
                      config: ServiceConfig, expected: tuple[int, ...], retry_after_send: bool,
                      sleep: Callable[[float], None], hint: Callable[[int | None, str], str],
                      message_of: Callable[[requests.Response], str] = _server_message,
                      ) -> requests.Response:
    """`send()` until its status is in `expected`; transient failures are retried, the rest raise.

    One loop for every connector (PlatformSession, and the DHIS2 transport whose `send` goes
    through dhis2.py): 429/502/503/504 and dropped connections are retried with backoff;
    a request the server may have acted on (a POST that was sent) only when `retry_after_send`
    says repeating it is harmless. Raises PlatformError with the server's message and `hint`'s
    fix, or PlatformUnreachable when no attempt got an answer.
    """
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        try:
            response = send()
        except (requests.ConnectionError, requests.Timeout) as exc:
            sent = isinstance(exc, requests.ReadTimeout)
            if attempt <= config.retries and (retry_after_send or not sent):
                sleep(backoff_delay(config, attempt, None))
                continue
            kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
            raise PlatformUnreachable(method, url, None, f"{kind} after {attempt} attempt(s)",
                                      hint(None, kind)) from None
        log.debug("%s %s → %s in %.3fs", method, urlsplit(url).path, response.status_code,
                  time.perf_counter() - started)
        if response.status_code in expected:
            return response
        if response.status_code in RETRY_STATUSES and attempt <= config.retries and (
                retry_after_send or response.status_code in (429, 503)):
            sleep(backoff_delay(config, attempt, response.headers.get("Retry-After")))
            continue
        message = message_of(response)
        raise PlatformError(method, url, response.status_code, message,
                            hint(response.status_code, message))


class PlatformSession:
    """A `requests.Session` with the timeouts, retries, auth and errors every connector needs."""

    def __init__(self, config: ServiceConfig, auth_headers: Mapping[str, str],
                 hint: Callable[[int | None, str], str] | None = None,
                 session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._hint = hint or (lambda status, message: "")
        self._sleep = sleep
        self.http = session or requests.Session()
        self.http.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.http.auth = HeaderAuth(auth_headers)
        if self.http.trust_env:
            settings = environment_settings(config.base_url)
            self.http.trust_env = False
            self.http.proxies.update(settings["proxies"])
            if self.http.verify is True:
                self.http.verify = settings["verify"]

    def __repr__(self) -> str:
        return f"PlatformSession({self.config.base_url!r})"

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.config.base_url.rstrip("/") + "/", path_or_url.lstrip("/"))

    def request(self, method: str, path_or_url: str, *, expected: Iterable[int] = (200,),
                idempotent: bool | None = None, **kwargs: Any) -> requests.Response:
        """Send one request; retry transient failures; raise PlatformError otherwise.

        POST is not retried after the server may have acted on it unless the caller says the
        request is idempotent (e.g. an upsert keyed by deterministic ids).
        """
        url = self.url(path_or_url)
        return send_with_retries(
            lambda: self.http.request(method, url, timeout=self.config.timeout, **kwargs),
            method=method, url=url, config=self.config, expected=tuple(expected),
            retry_after_send=idempotent if idempotent is not None else method.upper() != "POST",
            sleep=self._sleep, hint=self._hint)

    def get_json(self, path_or_url: str, **kwargs: Any) -> Any:
        response = self.request("GET", path_or_url, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise PlatformError("GET", response.url, response.status_code,
                                "the response is not valid JSON (truncated or an HTML error page)",
                                "retry; if it persists, check the server URL points at the API") from None
