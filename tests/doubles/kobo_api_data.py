"""The `/data/` routes of the Kobo double: listing, single records, deletes, validation status,
Enketo links and attachments.

Followed (`kobo-api.md` §5; kpi read, not copied): `kpi/views/v2/data.py` (`list`,
`_filter_mongo_query`, `destroy`, `validation_status`, `_get_enketo_link`),
`kpi/deployment_backends/base_backend.py::validate_submission_list_params` (the 400 bodies for
`limit`, `start`, `query`, `sort`, `fields`, `count`; Mongo gets `start` only, while the
paginator also honours `offset`/`page` when it builds links), `kpi/views/v2/attachment.py`,
`kpi/renderers.py::SubmissionXMLRenderer`. DRF detail: a `ValidationError({"field": "text"})`
raised outside a serializer keeps the string (`{"limit": "A positive integer is required"}`).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from tests.doubles.kobo_api_base import (
    NOT_FOUND,
    XML_DECLARATION,
    ApiBase,
    ApiError,
    Page,
    positive_int,
)
from tests.doubles.kobo_http import HttpRequest, HttpResponse, json_response
from tests.doubles.kobo_query import UnsupportedQuery, validate_query
from tests.doubles.kobo_state import (
    ENKETO_HOST,
    PERM_CHANGE_SUBMISSIONS,
    PERM_DELETE_SUBMISSIONS,
    PERM_VALIDATE_SUBMISSIONS,
    PERM_VIEW_SUBMISSIONS,
    User,
)
from tests.doubles.kobo_submissions import (
    VALIDATION_LABELS,
    instance_xml,
    project_fields,
    render_submission,
    validation_status_json,
)


class DataRoutes(ApiBase):
    """Handlers for `/api/v2/assets/{uid}/data…`."""

    def data_list(self, request: HttpRequest, user: User, after: list, uid: str,
                  fmt: str | None = None) -> HttpResponse:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_VIEW_SUBMISSIONS, hide=True)
        self._deployed(asset)
        params = request.query
        format_type = (fmt or "").lstrip(".") or params.get("format", "json")
        max_limit = self.state.max_page_size
        if "limit" in params:
            try:
                limit = positive_int(params["limit"], strict=True, cutoff=max_limit)
            except ValueError:
                raise ApiError(400, {"limit": "A positive integer is required"}) from None
        else:
            limit = self.state.default_page_size
        if "count" in params:
            raise ApiError(400, {"count": "This param is not implemented. Use `count` property "
                                          "of the response instead."})
        if format_type == "xml":
            if "sort" in params:
                raise ApiError(400, {"sort": "This param is not supported in `XML` format"})
            if "fields" in params:
                raise ApiError(400, {"fields": "This is not supported in `XML` format"})
        query = self._json_param(params, "query", {})
        sort = self._json_param(params, "sort", {})
        try:
            start = positive_int(params.get("start", 0))
        except ValueError:
            raise ApiError(400, {"start": "A positive integer is required."}) from None
        fields = self._json_param(params, "fields", [])
        if not isinstance(query, dict) or not isinstance(sort, dict) or not isinstance(fields, list):
            raise ApiError(400, ["Unsupported query"])
        try:
            validate_query(query)
            rows = self.state.select_rows(asset, query, sort,
                                          (params.get("query", ""), params.get("sort", "")))
        except UnsupportedQuery as error:
            message = str(error)
            raise ApiError(400, [message if message == "$all needs an array"
                                 else "Unsupported query"]) from None
        count = len(rows)
        page_rows = rows[start:start + limit]
        paginator = Page.from_request(request, self.state.default_page_size, max_limit)
        ctx = self.state.render_context(asset, request.base_url)
        after.extend(self.faults.data_page_served(asset.uid))
        if format_type == "xml":
            following, previous = paginator.links(request, count)
            xml = "".join(instance_xml(row, ctx) for row in page_rows)
            text = (f"{XML_DECLARATION}<root><count>{count}</count>"
                    f"<next>{_xml_text(following)}</next><previous>{_xml_text(previous)}</previous>"
                    f"<results>{xml}</results></root>")
            return HttpResponse(200, text.encode("utf-8"), "application/xml")
        results = [render_submission(row, ctx) for row in page_rows]
        if fields:
            results = [project_fields(doc, fields) for doc in results]
        return json_response(200, paginator.envelope(request, count, results))

    def data_detail(self, request: HttpRequest, user: User, after: list, uid: str, pk: str,
                    fmt: str | None = None) -> HttpResponse:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_VIEW_SUBMISSIONS, hide=True)
        self._deployed(asset)
        row = self._row(asset, pk)
        ctx = self.state.render_context(asset, request.base_url)
        format_type = (fmt or "").lstrip(".") or request.query.get("format", "json")
        if format_type == "xml":
            text = XML_DECLARATION + instance_xml(row, ctx)
            return HttpResponse(200, text.encode("utf-8"), "application/xml")
        return json_response(200, render_submission(row, ctx))

    def data_delete(self, request: HttpRequest, user: User, after: list, uid: str, pk: str,
                    fmt: str | None = None) -> HttpResponse:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_VIEW_SUBMISSIONS, hide=True)
        self._require(asset, user, PERM_DELETE_SUBMISSIONS)
        self._deployed(asset)
        self.state.remove_row(asset, self._row(asset, pk))
        return HttpResponse(204)

    def validation_status_get(self, request: HttpRequest, user: User, after: list, uid: str,
                              pk: str) -> HttpResponse:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_VIEW_SUBMISSIONS, hide=True)
        self._deployed(asset)
        return json_response(200, self._row(asset, pk).validation_status or {})

    def validation_status_set(self, request: HttpRequest, user: User, after: list, uid: str,
                              pk: str) -> HttpResponse:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_VIEW_SUBMISSIONS, hide=True)
        self._require(asset, user, PERM_VALIDATE_SUBMISSIONS)
        self._deployed(asset)
        row = self._row(asset, pk)
        value = self._body(request).get("validation_status.uid")
        if value not in VALIDATION_LABELS:
            raise ApiError(400, {"detail": f"Invalid validation status: `{value}`"})
        row.validation_status = validation_status_json(value, user.username, self.state.now())
        self.state.data_changed(asset)
        return json_response(200, row.validation_status)

    def enketo_link(self, request: HttpRequest, user: User, after: list, uid: str, pk: str,
                    action: str) -> HttpResponse:
        asset = self._asset(user, uid)
        needed = PERM_CHANGE_SUBMISSIONS if action == "edit" else PERM_VIEW_SUBMISSIONS
        self._require(asset, user, PERM_VIEW_SUBMISSIONS, hide=True)
        self._require(asset, user, needed)
        self._deployed(asset)
        row = self._row(asset, pk)
        if action == "edit" and any(r.uuid == row.uuid and r.id != row.id for r in asset.rows):
            raise ApiError(409, {"detail": "A duplicate submission has been detected. This "
                                           "submission cannot be edited at the moment."})
        enketo_id = asset.deployment.enketo_id if asset.deployment else ""
        return json_response(200, {"url": f"{ENKETO_HOST}/{action}/{enketo_id}"
                                          f"?instance_id={row.uuid}&return_url=false"})

    def attachment_get(self, request: HttpRequest, user: User, after: list, uid: str, pk: str,
                       att: str, suffix: str | None = None) -> HttpResponse:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_VIEW_SUBMISSIONS, hide=True)
        self._deployed(asset)
        row = self._row(asset, pk)
        for attachment in row.attachments:
            if attachment.uid == att:
                return _file_response(attachment)
        raise ApiError(404, NOT_FOUND)

    def attachment_by_xpath(self, request: HttpRequest, user: User, after: list, uid: str,
                            pk: str) -> HttpResponse:
        asset = self._asset(user, uid)
        self._require(asset, user, PERM_VIEW_SUBMISSIONS, hide=True)
        self._deployed(asset)
        row = self._row(asset, pk)
        xpath = request.query.get("xpath")
        if xpath is None:
            raise ApiError(400, {"detail": "`xpath` query parameter is required"})
        for attachment in row.attachments:
            if attachment.question_xpath == xpath:
                return _file_response(attachment)
        raise ApiError(400, {"detail": "The path could not be found in the submission"})



def _file_response(attachment: Any) -> HttpResponse:
    return HttpResponse(200, attachment.content, attachment.mimetype, {
        "Content-Disposition": f"attachment; filename={attachment.basename}"})


def _xml_text(value: str | None) -> str:
    return escape(value) if value else ""

