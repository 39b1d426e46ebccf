"""Run the push after deliveries: one run at a time, and one more for whatever came during it.

Kobo delivers submissions one by one, often in bursts (a device syncing a day's interviews).
Pushing once per delivery would queue up runs that each find almost nothing new; pushing only
on a timer would leave a record waiting. `SyncTrigger` does neither: a delivery *requests* a
run; a worker thread waits `debounce` seconds for the burst to settle, then runs; requests that
arrive while it runs collapse into exactly one further run after it. So every stored record is
pushed by a run that started after it was stored, and at most one run is waiting at any time.

This is single-flight within the process only. Two processes (a `tipdata serve` and a
`tipdata sync` from cron) are kept apart by the engine's own run lock, not here.

A run that finds **another run holding the ledger's run lock** (a long `tipdata sync` from
cron; the exceptions given as `busy`) has not failed: it is *deferred*. The serve wiring waits
only briefly for the lock, so the worker is never stuck behind a sync for a minute; the run is
re-scheduled after `busy_retry` seconds, doubling up to `retry_after` while the lock stays busy.
Deliveries meanwhile do not cut that wait short (they would only meet the busy lock again): they
are stored in the ledger as usual (storing takes no run lock) and collapse into the re-scheduled
run. One INFO line when a streak of deferrals starts, one when the run finally goes through —
never an error per attempt.

A run that fails otherwise (the ledger unreachable, ...) is logged by exception type only — a
message could quote a record — and tried again `retry_after` seconds later; a delivery in
between starts it sooner. Platforms that fail do not make the run fail: the engine records them
and the next run resumes. The ledger is the outbox, so nothing is lost either way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("tipdata.serve")


class SyncTrigger:
    """Single-flight, debounced background runs of `run`.

    >>> trigger = SyncTrigger(lambda: engine.push(), debounce=1.0)
    >>> trigger.request()          # after storing a delivery; returns at once
    >>> trigger.close()
    """

    def __init__(self, run: Callable[[], object], *, debounce: float = 1.0,
                 retry_after: float = 60.0, busy: tuple[type[BaseException], ...] = (),
                 busy_retry: float = 5.0, name: str = "tipdata-sync-trigger") -> None:
        self._run = run
        self._debounce = max(0.0, debounce)
        self._retry_after = max(0.0, retry_after)
        #: exceptions that mean "another run holds the lock": deferred, not failed
        self._busy_errors = tuple(busy)
        self._busy_retry = max(0.0, busy_retry)
        self._wanted = threading.Event()
        self._closing = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self.requested = 0
        self.completed = 0
        self.failed = 0
        #: runs re-scheduled because another run held the lock
        self.deferred = 0
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a run; several requests before it starts make one run."""
        with self._idle:  # under the lock the worker checks `_wanted` with
            self.requested += 1
            self._busy = True
            self._wanted.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no run is wanted or running (for tests and shutdown); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop the worker after the run in progress (a wanted run that has not started is
        dropped: the next `tipdata sync` or `serve` sends what it would have)."""
        self._closing.set()
        self._wanted.set()
        self._thread.join(timeout)

    def _work(self) -> None:
        streak = 0  # deferrals in a row
        while True:
            self._wanted.wait()
            if self._closing.is_set():
                break
            if self._debounce and self._closing.wait(self._debounce):
                break
            self._wanted.clear()  # requests from here on get a run after this one
            try:
                self._run()
                self.completed += 1
                if streak:
                    log.info("triggered sync ran after %d deferral(s) behind another run", streak)
                streak = 0
            except self._busy_errors:
                self.deferred += 1
                streak += 1
                delay = min(self._busy_retry * 2 ** (streak - 1), max(self._busy_retry, self._retry_after))
                (log.info if streak == 1 else log.debug)(
                    "another tipdata run holds the ledger's run lock: push re-scheduled in %.0f s "
                    "(deliveries are still stored)", delay)
                if self._closing.wait(delay):  # deliveries do not cut it short; close does
                    break
                self._wanted.set()
            except Exception as exc:  # logged without its message: it could quote a record
                self.failed += 1
                streak = 0
                log.error("triggered sync failed (%s); trying again in %.0f s", type(exc).__name__,
                          self._retry_after)
                self._wanted.wait(self._retry_after)  # a delivery (or close) cuts it short
                self._wanted.set()
            with self._idle:
                if not self._wanted.is_set():
                    self._busy = False
                    self._idle.notify_all()
        with self._idle:
            self._busy = False
            self._idle.notify_all()
