"""Shared parts of the Kobo double's API handlers: errors, DRF-style paging, lookups, bodies.

Paging follows `kpi/paginators.py::DefaultPagination` over DRF's `LimitOffsetPagination`
(read, not copied): `start` (alias `offset`, or `page`/`page_size`) and `limit`, default 100,
capped at the maximum without an error; `next`/`previous` are the request URL with `limit` and
`start` replaced and all parameters re-encoded in sorted order; `previous` drops `start` when it
would be 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from tests.doubles.kobo_faults import FaultPlan
from tests.doubles.kobo_http import HttpRequest, json_response
from tests.doubles.kobo_query import parse_json_param
from tests.doubles.kobo_state import Asset, KoboState, User

NOT_FOUND = {"detail": "Not found."}
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'


class ApiError(Exception):
    """Short-circuit a handler with a JSON error response."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.response = json_response(status, body, headers)


class ServerError(Exception):
    """What kpi lets escape as an unhandled exception → Django's HTML 500 page."""



# --------------------------------------------------------------------------- pagination


def replace_query_param(url: str, key: str, value: Any) -> str:
    """DRF `replace_query_param`: set one parameter, re-encode all parameters sorted by name."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params[key] = [str(value)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True),
                       fragment))


def remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params.pop(key, None)
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True),
                       fragment))


def positive_int(text: Any, *, strict: bool = False, cutoff: int | None = None) -> int:
    """DRF `_positive_int`: ValueError when negative (or zero with `strict`)."""
    value = int(text)
    if value < 0 or (strict and value == 0):
        raise ValueError("not positive")
    return min(value, cutoff) if cutoff else value


@dataclass(frozen=True)
class Page:
    """kpi `DefaultPagination`'s view of a request: what the links are computed from."""

    offset: int
    limit: int

    @classmethod
    def from_request(cls, request: HttpRequest, default: int, maximum: int) -> Page:
        params = request.query
        page_number = _optional_positive(params.get("page"))
        limit_text = params.get("limit")
        if limit_text is None and page_number:
            limit_text = params.get("page_size", str(default))
        try:
            limit = positive_int(limit_text if limit_text is not None else default, strict=True,
                                  cutoff=maximum)
        except (TypeError, ValueError):
            limit = default
        offset_text = params.get("start") or params.get("offset")
        if offset_text is None and page_number:
            offset_text = str((page_number - 1) * limit)
        try:
            offset = positive_int(offset_text, strict=True) if offset_text else 0
        except (TypeError, ValueError):
            offset = 0
        return cls(offset=offset, limit=limit)

    def links(self, request: HttpRequest, count: int) -> tuple[str | None, str | None]:
        url = request.full_url()
        following = None
        if self.offset + self.limit < count:
            following = replace_query_param(replace_query_param(url, "limit", self.limit),
                                            "start", self.offset + self.limit)
        previous = None
        if self.offset > 0:
            previous = replace_query_param(url, "limit", self.limit)
            if self.offset - self.limit <= 0:
                previous = remove_query_param(previous, "start")
            else:
                previous = replace_query_param(previous, "start", self.offset - self.limit)
        return following, previous

    def envelope(self, request: HttpRequest, count: int, results: list[Any]) -> dict[str, Any]:
        following, previous = self.links(request, count)
        return {"count": count, "next": following, "previous": previous, "results": results}

    def slice(self, items: list[Any]) -> list[Any]:
        if not items or self.offset > len(items):
            return []
        return items[self.offset:self.offset + self.limit]


def _optional_positive(text: str | None) -> int | None:
    try:
        return positive_int(text) if text is not None else None
    except ValueError:
        return None


class ApiBase:
    """State access and the lookups every route family shares."""

    def __init__(self, state: KoboState, faults: FaultPlan) -> None:
        self.state = state
        self.faults = faults

    # ------------------------------------------------------------------ shared lookups

    def _asset(self, user: User, uid: str) -> Asset:
        asset = self.state.assets.get(uid)
        if asset is None or not self.state.can_view(asset, user.username):
            raise ApiError(404, NOT_FOUND)  # kpi hides existence: never 403 here
        return asset

    def _require(self, asset: Asset, user: User, *perms: str, hide: bool = False) -> None:
        granted = self.state.permissions(asset, user.username)
        if not set(perms) <= granted:
            raise ApiError(404, NOT_FOUND) if hide else ApiError(403, FORBIDDEN)

    def _deployed(self, asset: Asset) -> None:
        if asset.deployment is None:
            raise ApiError(400, {"detail": "The specified asset has not been deployed"})

    def _row(self, asset: Asset, pk: str):
        row = self.state.find_row(asset, pk)
        if row is None:
            raise ApiError(404, NOT_FOUND)
        return row

    # ------------------------------------------------------------------ body helpers

    def _body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            body = request.data()
        except ValueError as error:
            raise ApiError(400, {"detail": str(error)}) from None
        if not isinstance(body, dict):
            raise ApiError(400, {"non_field_errors": [
                f"Invalid data. Expected a dictionary, but got {type(body).__name__}."]})
        return body

    def _json_field(self, text: str, name: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            raise ApiError(400, {name: ["Value must be valid JSON."]}) from None

    def _json_param(self, params: Any, name: str, default: Any) -> Any:
        if name not in params:
            return default
        try:
            return parse_json_param(params[name])
        except ValueError:
            raise ApiError(400, {name: "Value must be valid JSON."}) from None


