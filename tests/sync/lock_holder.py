"""Hold a ledger's run lock in a subprocess until killed, for the run-lock tests.

Usage: python lock_holder.py URL SCHEMA|- ; prints `locked` once it holds the lock, then sleeps.
"""

from __future__ import annotations

import sys
import time

from tipdata.ledger import open_ledger
from tipdata.ledger.run_lock import run_lock_for

if __name__ == "__main__":
    url, schema = sys.argv[1], sys.argv[2]
    ledger = open_ledger(url, encrypt=False, schema=None if schema == "-" else schema, environ={})
    lock = run_lock_for(ledger, "sync")
    lock.acquire(timeout=30)
    print("locked", flush=True)
    while True:
        time.sleep(60)
