"""Failures the Kobo double can be told to produce, so connectors can be tested against them.

All faults are armed from Python (`double.faults.…`) and consumed by the next matching requests.
Status faults answer before authentication and routing, like the proxy in front of
kf.kobotoolbox.org would: 502/503/504 bodies are nginx-style HTML, a 500 is Django's plain
"Server Error (500)" page — connectors must not expect JSON on these.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

TruncateMode = Literal["body", "connection"]

PROXY_PAGES = {
    500: "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>"
         "\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n",
    502: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
         "Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    503: "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
         "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx"
         "</center>\r\n</body>\r\n</html>\r\n",
    504: "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 "
         "Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
}


@dataclass
class _Armed:
    kind: Literal["status", "delay", "truncate"]
    remaining: int
    path_contains: str | None
    method: str | None
    status: int = 0
    retry_after: str | None = None
    seconds: float = 0.0
    mode: TruncateMode = "body"

    def applies(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path


@dataclass(frozen=True)
class Fault:
    """What to do with one request, as decided by `FaultPlan.take`."""

    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    truncate: TruncateMode | None = None


@dataclass
class _PageTrigger:
    asset_uid: str
    after_pages: int
    action: Callable[[], None]
    seen: int = 0


@dataclass
class FaultPlan:
    """Armed faults; thread-safe because the server answers from several threads."""

    _armed: list[_Armed] = field(default_factory=list)
    _page_triggers: list[_PageTrigger] = field(default_factory=list)
    _duplicate_deliveries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int = 1, status: int = 503, *, retry_after: int | str | None = None,
                  path_contains: str | None = None, method: str | None = None) -> None:
        """The next `count` matching requests get `status` (500, 502, 503, 504, 429…).

        Example: `double.faults.fail_next(2, 503, retry_after=1, path_contains="/data/")`
        """
        with self._lock:
            self._armed.append(_Armed("status", count, path_contains, method, status=status,
                                      retry_after=None if retry_after is None else str(retry_after)))

    def delay_next(self, count: int = 1, seconds: float = 1.0, *,
                   path_contains: str | None = None, method: str | None = None) -> None:
        """The next `count` matching requests are answered only after `seconds` (client timeouts)."""
        with self._lock:
            self._armed.append(_Armed("delay", count, path_contains, method, seconds=seconds))

    def truncate_next(self, count: int = 1, *, mode: TruncateMode = "body",
                      path_contains: str | None = None, method: str | None = None) -> None:
        """Cut the next `count` matching response bodies in half.

        `mode="body"`: a valid HTTP response whose JSON is cut (Content-Length matches the cut
        body). `mode="connection"`: the full Content-Length is announced, half is sent, and the
        connection is closed (the client sees an incomplete read).
        """
        with self._lock:
            self._armed.append(_Armed("truncate", count, path_contains, method, mode=mode))

    def change_data_while_paging(self, asset_uid: str, action: Callable[[], None], *,
                                 after_pages: int = 1) -> None:
        """Run `action` (e.g. add or delete a submission) right after the N-th `/data/` page.

        Example: `double.faults.change_data_while_paging(uid, lambda: double.add_submission(uid, {...}))`
        """
        with self._lock:
            self._page_triggers.append(_PageTrigger(asset_uid, after_pages, action))

    def duplicate_hook_deliveries(self, count: int = 1) -> None:
        """The next `count` REST Service deliveries are POSTed twice (Kobo can send duplicates)."""
        with self._lock:
            self._duplicate_deliveries += count

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self._page_triggers.clear()
            self._duplicate_deliveries = 0

    # ----------------------------------------------------------------- used by the double

    def take(self, method: str, path: str) -> Fault | None:
        """Consume the faults that apply to this request (one of each kind at most)."""
        status = retry_after = truncate = None
        delay = 0.0
        with self._lock:
            for armed in list(self._armed):
                if armed.remaining <= 0 or not armed.applies(method, path):
                    continue
                if armed.kind == "status" and status is None:
                    status, retry_after = armed.status, armed.retry_after
                elif armed.kind == "delay" and not delay:
                    delay = armed.seconds
                elif armed.kind == "truncate" and truncate is None:
                    truncate = armed.mode
                else:
                    continue
                armed.remaining -= 1
                if armed.remaining <= 0:
                    self._armed.remove(armed)
        if status is None and not delay and truncate is None:
            return None
        return Fault(status=status, retry_after=retry_after, delay=delay, truncate=truncate)

    def data_page_served(self, asset_uid: str) -> list[Callable[[], None]]:
        """Count a served `/data/` page; return the actions that are now due."""
        due: list[Callable[[], None]] = []
        with self._lock:
            for trigger in list(self._page_triggers):
                if trigger.asset_uid != asset_uid:
                    continue
                trigger.seen += 1
                if trigger.seen >= trigger.after_pages:
                    due.append(trigger.action)
                    self._page_triggers.remove(trigger)
        return due

    def take_duplicate_delivery(self) -> bool:
        with self._lock:
            if self._duplicate_deliveries > 0:
                self._duplicate_deliveries -= 1
                return True
            return False
