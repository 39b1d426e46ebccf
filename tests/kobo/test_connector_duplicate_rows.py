"""`/data/` paging when a server sends a submission twice: each `_id` is yielded once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tipdata.http import PlatformError, ServiceConfig
from tipdata.kobo_forms.connector import KoboClient

ASSET = "aJ7sd2kqWcH5YbVfXe8mLp"


def scripted_client(bodies: list[dict[str, Any]]) -> tuple[KoboClient, list[dict[str, Any]]]:
    """A client whose GETs answer the given bodies in turn; it records the query sent."""
    client = KoboClient(ServiceConfig("https://kf.example.org", "t" * 40))
    asked: list[dict[str, Any]] = []
    answers = iter(bodies)

    def get(path: str, params: dict[str, Any] | None = None) -> Any:
        asked.append(json.loads((params or {}).get("query", "{}")))
        return next(answers)

    client.get = get  # type: ignore[method-assign]
    return client, asked


def rows(*ids: int) -> list[dict[str, Any]]:
    return [{"_id": i, "_uuid": f"u{i}"} for i in ids]


def test_data_iter_pages__rows_sent_again_are_yielded_once():
    """should drop a row repeated inside a page and rows at or below the last id received"""
    client, asked = scripted_client(
        [
            {"count": 6, "next": "https://kf.example.org/…?start=3", "results": rows(1, 2, 2, 3)},
            {"count": 3, "next": "https://kf.example.org/…?start=3", "results": rows(3, 4, 5)},
            {"count": 1, "next": None, "results": rows(5, 6)},
        ]
    )
    pages = list(client.data.iter_pages(ASSET))
    assert [[r["_id"] for r in page.results] for page in pages] == [[1, 2, 3], [4, 5], [6]]
    assert asked == [{}, {"_id": {"$gt": 3}}, {"_id": {"$gt": 5}}]


def test_data_iter_pages__server_ignoring_the_id_filter_is_an_error():
    """should stop with an explained error, not loop, when more is announced but nothing new"""
    again = {"count": 4, "next": "https://kf.example.org/…?start=2", "results": rows(1, 2)}
    client, asked = scripted_client([again, again, again])
    pages = client.data.iter_pages(ASSET)
    assert [r["_id"] for r in next(pages).results] == [1, 2]
    with pytest.raises(PlatformError, match="sent none past _id 2"):
        next(pages)
    assert len(asked) == 2
