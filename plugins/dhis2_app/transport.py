"""dhis2.py's `Api`, hardened: the one object every DHIS2 request of tipdata goes through.

    api = Dhis2Api(resolve_dhis2_config())          # a dhis2.Api: base_url, api_url, get/post/...
    api.version_int                                  # 41, from GET /api/system/info (cached)
    response = api.request("POST", "tracker", json=payload, params={"async": "false"},
                           expected=(200, 409), idempotent=True)

What comes from dhis2.py (PyPI `dhis2.py` 2.3.0, the product's chosen client): the server URL
handling (`base_url`, scheme added when missing, `api_url` = `<server>/api`), the request methods
(`get` with its `.json` suffix, `post`/`put`/`patch`/`delete` sending JSON, request validation),
its `requests.Session`, and version detection (`info`, `version`, `version_int`).

What is hardened here, and why (dhis2-api.md §8 lists the gaps):
  - auth: dhis2.py always sets Basic auth from a username and password. `ApiTokenAuth` replaces it
    with the personal access token header, `Authorization: ApiToken <token>`. Being the session's
    `auth`, it also keeps requests from swapping in `~/.netrc` credentials, and requests drops it
    on a redirect to another host. The token is in no repr, log line or error;
  - timeouts: dhis2.py passes none on POST/PUT/PATCH/DELETE (a hung import blocks forever);
    `TimeoutAdapter`, mounted on its session, gives every request the configured timeout;
  - retries: dhis2.py has none; `request()` retries 429/502/503/504 and dropped connections with
    exponential backoff and jitter (honouring Retry-After). A POST is retried after the server may
    have acted on it only when the caller says it is idempotent (tracker and metadata imports are:
    every object has a deterministic UID);
  - status: dhis2.py raises on every non-2xx, but 409 is DHIS2's normal answer carrying an import
    report; `_validate_response` returns every response and `request()` judges it against the
    statuses the caller expects, raising `PlatformError` (method, URL, status, DHIS2's message,
    a fix) otherwise;
  - URL: dhis2.py refuses any server containing the text `/api`, e.g. https://api.example.org;
    here only a path segment `api` is refused (`resolve_dhis2_config` drops a trailing `/api`).
Callers send `async=false` as that literal string (dhis2.py would send a Python False as `False`,
which 2.40-2.41 do not recognise) and page tracker exports themselves (dhis2.py's `get_paged`
cannot read tracker envelopes); see `connector.py`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from dhis2 import Api, ClientException
from requests.adapters import HTTPAdapter

from tipdata.http import (
    USER_AGENT,
    PlatformError,
    ServiceConfig,
    send_with_retries,
)

log = logging.getLogger("tipdata.dhis2")

Hint = Callable[[int | None, str], str]
_VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class ApiTokenAuth(requests.auth.AuthBase):
    """`Authorization: ApiToken <token>` on every request (DHIS2 personal access tokens, 2.38+).

    The token is opaque: any prefix (`d2pat_`, `d2p_`) is sent as given.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"ApiToken {self._token}"
        return request

    def __repr__(self) -> str:
        return "ApiTokenAuth(<hidden>)"


class TimeoutAdapter(HTTPAdapter):
    """An adapter that gives a request without a timeout (dhis2.py's writes) the configured one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """`HTTPAdapter.send` with `timeout=None` (no timeout at all) replaced by the configured one."""
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def dhis2_message(response: requests.Response) -> str:
    """DHIS2's own words from a WebMessage or import report, never a large body (case data)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip().replace("\n", " ")[:300] or response.reason or ""
    if isinstance(body, dict):
        for key in ("message", "error", "status"):
            if body.get(key):
                return str(body[key])[:300]
    return str(body)[:300]


class Dhis2Api(Api):
    """A `dhis2.Api` authenticated by personal access token, with timeouts, retries and errors.

    >>> api = Dhis2Api(ServiceConfig("https://dhis.example.org/dhis", "d2p_..."))
    >>> api.api_url
    'https://dhis.example.org/dhis/api'
    """

    def __init__(
        self,
        config: ServiceConfig,
        *,
        hint: Hint | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # dhis2.py insists on a username and password and turns them into Basic auth; it gets
        # placeholders, and the auth is replaced below before any request is made
        super().__init__(config.base_url, "tipdata", "", user_agent=USER_AGENT)
        self.config = config
        self._hint = hint or (lambda status, message: "")
        self._sleep = sleep
        self.session.auth = ApiTokenAuth(config.secret)
        self.session.headers["User-Agent"] = USER_AGENT  # dhis2.py stores it as `user-agent`
        self.session.headers["Accept"] = "application/json"
        adapter = TimeoutAdapter(config.timeout)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def __repr__(self) -> str:
        return f"Dhis2Api({self.base_url!r})"

    def __str__(self) -> str:
        return f"DHIS2 API at {self.api_url} (personal access token)"

    # --- dhis2.py, hardened --------------------------------------------------------------------
    def _set_base_url(self, server: str) -> None:
        """dhis2.py's URL handling, without its false alarm on hosts such as `api.example.org`."""
        server = server.strip().rstrip("/")  # dhis2.py would keep it: `https://host/dhis//api`
        parts = urlsplit(server)
        if "api" in parts.path.split("/"):
            raise ClientException("Do not include /api/ in the DHIS2 `server` argument")
        if "/api" in server and parts.scheme and parts.netloc:
            self._base_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
            return
        Api.set_base_url(self, server)

    base_url = property(Api.get_base_url, _set_base_url)

    @staticmethod
    def _validate_response(response: requests.Response) -> requests.Response:
        """Never raise here: 409 carries DHIS2's import report; `request()` judges the status."""
        return response

    def get_info(self) -> dict[str, Any]:
        """`GET /api/system/info` once, through `request()` (retries, errors), cached like dhis2.py."""
        if not self._info:
            info = self.get_json("system/info")
            if not isinstance(info, dict) or not isinstance(info.get("version"), str):
                raise PlatformError(
                    "GET",
                    self.url("system/info"),
                    200,
                    "the answer names no DHIS2 version",
                    "check the server URL points at DHIS2 (with its context path)",
                )
            self._info = info
        return self._info

    info = property(get_info)

    # --- the one way tipdata sends a request -------------------------------------------------
    def url(self, endpoint: str) -> str:
        """The URL dhis2.py builds for `endpoint` (without the `.json` it adds to GETs)."""
        return f"{self.api_url}/{endpoint.lstrip('/')}"

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        expected: Iterable[int] = (200,),
        idempotent: bool | None = None,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        """Send one request through dhis2.py's method for `method`; retry what is transient.

        Returns the response when its status is in `expected`; raises `PlatformError` for any
        other status and `PlatformUnreachable` when every attempt failed to connect or timed out.
        """
        verb = method.upper()
        if verb not in _VERBS:
            raise ValueError(f"unsupported HTTP method {method!r}")
        if verb == "DELETE" and json is not None:
            raise ValueError("dhis2.py's delete() never sends a body; send none")
        expected = tuple(expected)
        url = self.url(endpoint)
        query = dict(params) if params else None
        body = dict(json) if json is not None else None

        def send() -> requests.Response:
            if verb == "GET":
                return self.get(endpoint, params=query)
            return getattr(self, verb.lower())(endpoint, json=body, params=query)

        return send_with_retries(
            send, method=verb, url=url, config=self.config, expected=expected,
            retry_after_send=idempotent if idempotent is not None else verb != "POST",
            sleep=self._sleep, hint=self._hint, message_of=dhis2_message)

    def get_json(self, endpoint: str, *, params: Mapping[str, str] | None = None) -> Any:
        """`request("GET", ...)` parsed; a body that is not JSON is an error, not a crash."""
        response = self.request("GET", endpoint, params=params)
        try:
            return response.json()
        except ValueError:
            raise PlatformError(
                "GET",
                self.url(endpoint),
                response.status_code,
                "the response is not valid JSON (truncated or an HTML error page)",
                "retry; if it persists, check the server URL points at DHIS2",
            ) from None
