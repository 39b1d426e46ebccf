"""One DocType's documents in the Frappe double, with the indexes a database would use.

Why: a list request filtered on `name in [...]`, `parent in [...]` or a unique field, and the
`modified asc, name asc` keyset pages of an incremental read, are index lookups on a real
site (MariaDB keys `name`, `parent` and `modified`). Scanning every stored document for each
of them made the double's cost per document grow with the documents it holds, so a 100,000
record end-to-end bench measured the double rather than the engine. The indexes only choose
which documents are *looked at*; the double still applies every filter, the ordering and the
paging to them exactly as before, so answers are unchanged (tests/doubles/test_frappe_table.py
compares both paths).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

#: (value as the database compares it) for one field of one stored document
Typed = Callable[[str, Any], Any]


class DocTable:
    """Documents by name, plus hash indexes per field and an ordered `(modified, name)` index.

    Hash indexes are built the first time a field is looked up and then kept up to date on
    every `put` and `remove`; a document must not be changed in place while stored (take it
    out, change it, put it back) or the indexes would go stale.
    """

    def __init__(self, typed: Typed) -> None:
        self._typed = typed
        self.docs: dict[str, dict[str, Any]] = {}
        self._seq: dict[str, int] = {}  # name → when it was first stored (a table scan's order)
        self._next = 0
        self._hash: dict[str, dict[Any, set[str]]] = {}
        self._order: list[tuple[Any, str]] | None = None

    def __len__(self) -> int:
        return len(self.docs)

    def __contains__(self, name: object) -> bool:
        return name in self.docs

    def get(self, name: str) -> dict[str, Any] | None:
        return self.docs.get(name)

    def values(self) -> Iterator[dict[str, Any]]:
        return iter(self.docs.values())

    # --- writes -----------------------------------------------------------------------------
    def put(self, doc: dict[str, Any]) -> None:
        """Store `doc` under its name, replacing (and unindexing) any document of that name."""
        name = doc["name"]
        old = self.docs.get(name)
        if old is not None:
            self._unindex(old)
        else:
            self._seq[name] = self._next
            self._next += 1
        self.docs[name] = doc
        for fieldname, index in self._hash.items():
            index.setdefault(self._typed(fieldname, doc.get(fieldname)), set()).add(name)
        if self._order is not None:
            bisect.insort(self._order, self._order_key(doc))

    def remove(self, name: str) -> dict[str, Any] | None:
        doc = self.docs.pop(name, None)
        if doc is not None:
            self._unindex(doc)
            del self._seq[name]
        return doc

    def _unindex(self, doc: dict[str, Any]) -> None:
        name = doc["name"]
        for fieldname, index in self._hash.items():
            key = self._typed(fieldname, doc.get(fieldname))
            names = index.get(key)
            if names is not None:
                names.discard(name)
                if not names:
                    del index[key]
        if self._order is not None:
            key = self._order_key(doc)
            at = bisect.bisect_left(self._order, key)
            if at < len(self._order) and self._order[at] == key:
                del self._order[at]

    # --- lookups ------------------------------------------------------------------------------
    def named(self, names: Iterable[Any]) -> list[dict[str, Any]]:
        """The stored documents among `names`, each once, in the order a table scan meets them
        (so ties in a later sort fall as they did when every request scanned the table)."""
        found = {str(n) for n in names if str(n) in self.docs}
        return [self.docs[n] for n in sorted(found, key=self._seq.__getitem__)]

    def names_with(self, fieldname: str, values: list[Any]) -> set[str]:
        """Names of the documents whose `fieldname` is one of `values` (already typed)."""
        index = self._hash.get(fieldname)
        if index is None:
            index = {}
            for name, doc in self.docs.items():
                index.setdefault(self._typed(fieldname, doc.get(fieldname)), set()).add(name)
            self._hash[fieldname] = index
        found: set[str] = set()
        for value in values:
            found |= index.get(value, set())
        return found

    def in_modified_order(self, low: Any, *, inclusive: bool) -> Iterator[dict[str, Any]]:
        """Documents ordered by (modified, name), from the first with modified > low
        (>= when `inclusive`); None for `low` starts at the beginning."""
        if self._order is None:
            self._order = sorted(self._order_key(d) for d in self.docs.values())
        order = self._order
        if low is None:
            at = 0
        elif inclusive:
            at = bisect.bisect_left(order, (low, ""))
        else:
            at = bisect.bisect_right(order, (low, "\U0010ffff"))
            while at < len(order) and order[at][0] == low:  # names beyond the sentinel
                at += 1
        # the double answers requests under its lock, so nothing changes the order meanwhile
        for position in range(at, len(order)):
            yield self.docs[order[position][1]]

    def _order_key(self, doc: dict[str, Any]) -> tuple[Any, str]:
        return (self._typed("modified", doc.get("modified")), str(doc["name"]))
