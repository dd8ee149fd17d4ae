"""The explorer's local web server (standard library ``http.server``).

It answers a fixed set of paths and nothing else: the page and its two assets, read from this
package when the server starts, and the JSON API of :mod:`vaekit.explorer.api`. No request
path is ever turned into a file path, so there is nothing to traverse. Because a page on any
web site can send requests to 127.0.0.1, the server also refuses requests whose Host is not
its own (DNS rebinding), POSTs from another origin and POSTs that are not JSON (form posts).
"""

from __future__ import annotations

import ipaddress
import json
import sys
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from vaekit.errors import VaekitError
from vaekit.explorer.api import ENDPOINTS, ApiError, body_cap, handle
from vaekit.explorer.explorer import LatentExplorer

#: URL path -> (packaged file under static/, content type). The only files the server sends.
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/explorer.js": ("explorer.js", "text/javascript; charset=utf-8"),
    "/static/explorer.css": ("explorer.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: After refusing an oversized body, read and drop at most this much of it, for at most this long,
#: so the client can finish sending and read the refusal instead of a reset connection.
DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 2.0
_LOOPBACK_NAMES = ("localhost", "127.0.0.1")


def load_assets() -> dict[str, tuple[bytes, str]]:
    static = resources.files("vaekit.explorer") / "static"
    return {path: ((static / name).read_bytes(), ctype) for path, (name, ctype) in ASSETS.items()}


class ExplorerServer(ThreadingHTTPServer):
    """Serves one :class:`LatentExplorer`; ``port=0`` picks a free port (see ``url``)."""

    daemon_threads = True

    def __init__(self, explorer: LatentExplorer, host: str = "127.0.0.1", port: int = 0,
                 verbose: bool = False) -> None:
        self.explorer = explorer
        self.verbose = verbose
        self.assets = load_assets()
        self.max_body = body_cap(explorer)
        try:
            super().__init__((host, port), ExplorerHandler)
        except OSError as err:
            hint = "; choose another --port (0 picks a free one)" if port else ""
            raise VaekitError(f"cannot listen on {host}:{port} ({err.strerror or err}){hint}") from None
        port = self.server_address[1]
        self.url = f"http://{host}:{port}/"
        # Bound to loopback, only loopback names may address us; bound wider, any Host is expected.
        self.allowed_hosts = ({f"{name}:{port}" for name in (*_LOOPBACK_NAMES, host)}
                              if _is_loopback(host) else None)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class ExplorerHandler(BaseHTTPRequestHandler):
    server: ExplorerServer
    protocol_version = "HTTP/1.1"
    server_version = "vaekit-explorer"
    timeout = 30  # seconds a connection may sit idle or half-sent

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    # -- routing ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if not self._host_ok():
            return
        path = urlsplit(self.path).path
        if path == "/api/info":
            self._send_json(HTTPStatus.OK, self.server.explorer.info())
        elif path in self.server.assets:
            content, ctype = self.server.assets[path]
            self._send(HTTPStatus.OK, content, ctype)
        elif path.startswith("/api/") and path.removeprefix("/api/") in ENDPOINTS:
            self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "use POST with a JSON body"},
                            {"Allow": "POST"})
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        if not self._host_ok():
            return
        path = urlsplit(self.path).path
        raw = self._read_body()
        if raw is None:
            return
        if not path.startswith("/api/"):
            self._send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        try:
            self._send_json(HTTPStatus.OK, handle(self.server.explorer, path.removeprefix("/api/"), raw))
        except ApiError as err:
            self._send_json(err.status, {"error": str(err)})
        except Exception as err:  # noqa: BLE001 - a bug must not take the server down; report it, keep serving
            traceback.print_exc(file=sys.stderr)
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {err}"})

    # -- request checks --------------------------------------------------------------------------
    def _host_ok(self) -> bool:
        allowed = self.server.allowed_hosts
        if allowed is not None and self.headers.get("Host", "") not in allowed:
            self._send_json(HTTPStatus.FORBIDDEN, {"error": "this server answers only to its own address"})
            return False
        return True

    def _read_body(self) -> bytes | None:
        """The POST body, or None once a refusal is sent (cross-origin, not JSON, no length, too big)."""
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers.get('Host', '')}":
            return self._refuse(HTTPStatus.FORBIDDEN, "cross-origin requests are refused")
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
        if "Transfer-Encoding" in self.headers or "Content-Length" not in self.headers:
            return self._refuse(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        try:
            length = int(self.headers["Content-Length"])
        except ValueError:
            length = -1
        if length < 0:
            return self._refuse(HTTPStatus.BAD_REQUEST, "Content-Length must be a non-negative integer")
        if length > self.server.max_body:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                         f"the request body is {length} bytes; the limit is {self.server.max_body}")
            self._drain(length)
            return None
        return self.rfile.read(length)

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        self.close_connection = True  # the unread body would otherwise be taken for the next request
        self._send_json(status, {"error": message}, {"Connection": "close"})

    def _drain(self, length: int) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        left = min(length, DRAIN_BYTES)
        self.connection.settimeout(DRAIN_SECONDS)
        try:
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except (TimeoutError, ConnectionError):
            pass

    # -- responses -------------------------------------------------------------------------------
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
        self._send(status, body, "application/json", {"Cache-Control": "no-store", **(headers or {})})

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, "Content-Type": ctype, "Content-Length": str(len(body)),
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Only refusals and failures are worth a line; hovering makes hundreds of good requests."""
        if self.server.verbose and str(code).isdigit() and int(code) >= 400:
            super().log_request(code, size)

    def log_error(self, format: str, *args: Any) -> None:
        """Silent: refusals are already logged by ``log_request``, and idle keep-alive timeouts are normal."""
