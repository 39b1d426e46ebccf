"""The HTTP face of the receiver: a Starlette app with two routes, and nothing that answers 500.

- `POST /kobo/hook` — a Kobo REST Service delivery. The `X-Tipdata-Hook-Secret` header must hold
  the shared secret (constant-time check) or the answer is 401 and nothing is read or kept.
  The body is read up to the size limit, then handed to `KoboReceiver.receive` in a worker
  thread (the ledger is synchronous). The answer is the receipt as JSON — status, record id,
  reason code, quarantine id; never contents: 200 `stored` / `duplicate` / `quarantined` /
  `held`, 400 `rejected` (kept in quarantine).
- `GET /healthz` — 200 `{"status": "ok"}` when the ledger answers, else 503. No secret, no data.

Kobo retries only 502, 503 and 504 (kobo-api.md §7.4), so every internal failure — the ledger
unreachable, a bug — must be a 503: Kobo then tries again later, up to four times, and the pull
covers the rest. A 500 would be logged by Kobo as failed for good. Two layers make sure of it:
the route catches everything, and `NeverServerError` wraps the whole application, so not even an
error in the framework's own middleware becomes a 500. Both log the exception's type only: a
message could quote a submission.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tipdata.sync.receiver.secret import SECRET_HEADER, SharedSecret
from tipdata.sync.receiver.store import KoboReceiver

log = logging.getLogger("tipdata.serve")

RECEIVE_PATH = "/kobo/hook"
HEALTH_PATH = "/healthz"
#: how long Kobo should wait before retrying after a 503 (it uses its own backoff anyway)
RETRY_AFTER_SECONDS = 60
_SECRET_HEADER = SECRET_HEADER.lower().encode("latin-1")
_UNAVAILABLE = {"status": "unavailable", "record_id": None, "reason": None, "quarantine_id": None}


def unavailable() -> Response:
    """503 with Retry-After: the answer Kobo retries."""
    return JSONResponse(_UNAVAILABLE, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def presented_secret(scope: Scope) -> bytes | None:
    """The secret header's raw bytes; None when absent or given more than once."""
    values = [value for name, value in scope.get("headers", ()) if name.lower() == _SECRET_HEADER]
    return values[0] if len(values) == 1 else None


def build_app(receiver: KoboReceiver, secret: SharedSecret) -> ASGIApp:
    """The ASGI application `tipdata serve` runs (wrapped so it never answers 500).

    >>> app = build_app(KoboReceiver(engine, {"tip_case_intake": "aBcD1234EfGh"}), secret)
    >>> uvicorn.run(app, host="127.0.0.1", port=8765)
    """

    async def deliver(request: Request) -> Response:
        if not secret.matches(presented_secret(request.scope)):
            return JSONResponse({"status": "unauthorized"}, 401)
        try:
            body, truncated = await _read_limited(request, receiver.max_body_bytes)
            receipt = await run_in_threadpool(receiver.receive, body, truncated=truncated)
        except Exception as exc:  # never 500: Kobo retries 503
            log.error("kobo delivery not stored (%s); answered 503 so Kobo retries",
                      type(exc).__name__)
            return unavailable()
        return JSONResponse(receipt.to_json(), receipt.http_status)

    async def health(request: Request) -> Response:
        try:
            healthy = await run_in_threadpool(receiver.healthy)
        except Exception as exc:
            log.error("health check: the ledger does not answer (%s)", type(exc).__name__)
            healthy = False
        return JSONResponse({"status": "ok"}) if healthy else unavailable()

    async def server_error(request: Request, exc: Exception) -> Response:
        return unavailable()

    app = Starlette(routes=[Route(RECEIVE_PATH, deliver, methods=["POST"]),
                            Route(HEALTH_PATH, health, methods=["GET"])],
                    exception_handlers={Exception: server_error})
    return NeverServerError(app)


async def _read_limited(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body, at most `limit` + 1 bytes of it; True when it was longer than `limit`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return bytes(body[:limit + 1]), True
    return bytes(body), False


class NeverServerError:
    """ASGI wrapper: whatever the app raises or forgets, the client gets 503, never 500.

    Starlette's outermost middleware answers an unhandled error itself (here with the 503 of
    `exception_handlers`) and then re-raises it for the server to log with its traceback; this
    wrapper swallows that re-raise (logging the type only) and answers 503 when nothing was sent.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("request failed inside the app (%s); answered 503", type(exc).__name__)
        if not started:
            await _send_json(send, 503, _UNAVAILABLE,
                             [(b"retry-after", str(RETRY_AFTER_SECONDS).encode("ascii"))])


async def _send_json(send: Send, status: int, data: dict[str, Any],
                     headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(data).encode("utf-8")
    try:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode("ascii")), *headers]})
        await send({"type": "http.response.body", "body": body})
    except Exception as exc:  # the client is gone; nothing more to do
        log.debug("could not answer (%s)", type(exc).__name__)
