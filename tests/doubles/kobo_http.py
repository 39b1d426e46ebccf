"""HTTP plumbing for the Kobo double: a threaded stdlib server on 127.0.0.1 and small request/response types.

Stdlib only (`http.server`), so the double needs nothing beyond the project's dependencies. The
server speaks HTTP/1.1 with keep-alive (so a 100,000-record pull does not open a socket per page),
applies armed faults (`kobo_faults.FaultPlan`) before the application sees a request, and reports
every request to a callback for the request log (method, path, parameters, status — never
bodies or headers).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.doubles.kobo_faults import PROXY_PAGES, FaultPlan


@dataclass(frozen=True)
class FormValue:
    """One form field: text, or a file with its name and content type."""

    value: bytes = field(repr=False)
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.value.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: Mapping[str, str]
    """Query parameters; the last value wins, as with Django's `QueryDict.get`."""
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    base_url: str = ""
    raw_query: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def full_url(self) -> str:
        return f"{self.base_url}{self.path}" + (f"?{self.raw_query}" if self.raw_query else "")

    def json(self) -> Any:
        """Parse a JSON body; raises ValueError with DRF's wording when it is not JSON."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"JSON parse error - {error}") from None

    def form(self) -> dict[str, FormValue]:
        """Parse a multipart or urlencoded body into fields (last value wins)."""
        content_type = self.header("content-type") or ""
        if content_type.startswith("multipart/form-data"):
            return parse_multipart(self.body, content_type)
        if content_type.startswith("application/x-www-form-urlencoded"):
            pairs = parse_qsl(self.body.decode("utf-8", errors="replace"), keep_blank_values=True)
            return {k: FormValue(v.encode("utf-8")) for k, v in pairs}
        return {}

    def data(self) -> dict[str, Any]:
        """DRF `request.data`: JSON object, or form fields as strings."""
        content_type = self.header("content-type") or ""
        if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            return {k: v.text for k, v in self.form().items() if v.filename is None}
        return self.json()


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return HttpResponse(status, body, "application/json", dict(headers or {}))


def parse_multipart(body: bytes, content_type: str) -> dict[str, FormValue]:
    """Split a multipart/form-data body exactly (binary-safe), without the deprecated `cgi`."""
    boundary = ""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        return {}
    fields: dict[str, FormValue] = {}
    delimiter = b"--" + boundary.encode("latin-1")
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, _, content = chunk.partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        name = filename = part_type = None
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            header, _, value = line.partition(":")
            if header.strip().lower() == "content-disposition":
                for item in value.split(";")[1:]:
                    key, _, raw = item.strip().partition("=")
                    if key == "name":
                        name = raw.strip('"')
                    elif key == "filename":
                        filename = raw.strip('"')
            elif header.strip().lower() == "content-type":
                part_type = value.strip()
        if name is not None:
            fields[name] = FormValue(content, filename, part_type)
    return fields


RequestLogger = Callable[[str, str, dict[str, str], int], None]


class DoubleHttpServer:
    """Serve an application callable on 127.0.0.1 in a background thread."""

    def __init__(self, app: Callable[[HttpRequest], HttpResponse], faults: FaultPlan,
                 on_request: RequestLogger) -> None:
        self._app = app
        self._faults = faults
        self._on_request = on_request
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.base_url = ""

    def start(self, port: int = 0) -> str:
        if self._server is not None:
            return self.base_url
        handler = _make_handler(self)
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        server.daemon_threads = True
        self._server = server
        self._stopping.clear()
        host, bound_port = server.server_address[:2]
        self.base_url = f"http://{host}:{bound_port}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="kobo-double", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def wait(self, seconds: float) -> None:
        """Sleep for a delay fault, but wake up when the server stops."""
        self._stopping.wait(seconds)


def _make_handler(owner: DoubleHttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms ACK stalls
        server_version = "KoboDouble/1.0"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return  # the double keeps its own request log; never print requests

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self._handle()

        def do_HEAD(self) -> None:  # noqa: N802
            self._handle()

        def do_POST(self) -> None:  # noqa: N802
            self._handle()

        def do_PUT(self) -> None:  # noqa: N802
            self._handle()

        def do_PATCH(self) -> None:  # noqa: N802
            self._handle()

        def do_DELETE(self) -> None:  # noqa: N802
            self._handle()

        def _read_body(self) -> bytes:
            if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            split = urlsplit(self.path)
            path = split.path
            params = dict(parse_qsl(split.query, keep_blank_values=True))
            body = self._read_body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            host = headers.get("host") or f"127.0.0.1:{self.server.server_address[1]}"
            request = HttpRequest(self.command, path, params, headers, body, f"http://{host}",
                                  split.query)
            fault = owner._faults.take(self.command, path)
            if fault and fault.delay:
                owner.wait(fault.delay)
            if fault and fault.status:
                page = PROXY_PAGES.get(fault.status, f"<h1>{fault.status}</h1>")
                response = HttpResponse(fault.status, page.encode("utf-8"), "text/html")
                if fault.retry_after is not None:
                    response.headers["Retry-After"] = fault.retry_after
            else:
                try:
                    response = owner._app(request)
                except Exception:  # noqa: BLE001 - answer like Django would, then keep serving
                    response = HttpResponse(500, PROXY_PAGES[500].encode("utf-8"), "text/html")
            owner._on_request(self.command, path, params, response.status)
            self._write(response, fault.truncate if fault else None)

        def _write(self, response: HttpResponse, truncate: str | None) -> None:
            body = b"" if response.status in (204, 304) else response.body
            sent_body = body[: len(body) // 2] if truncate else body
            announced = len(body) if truncate == "connection" else len(sent_body)
            try:
                self.send_response(response.status)
                if response.status not in (204, 304):
                    self.send_header("Content-Type", response.content_type)
                    self.send_header("Content-Length", str(announced))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if truncate == "connection":
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(sent_body)
                self.wfile.flush()
                if truncate == "connection":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
            except (BrokenPipeError, ConnectionResetError, OSError):
                self.close_connection = True

    return Handler
