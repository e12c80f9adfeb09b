"""`avharness view RUN`: the report page of one run folder, served over HTTP while the run goes on.

It listens on 127.0.0.1 unless told otherwise, and answers only: the page (`/`, rebuilt when the folder's
journal or results.json changes), its version (`/api/version`, which the page polls to reload itself), the
media files the records' samples name (`/media/TOKEN/NAME`, TOKEN drawn from the path, unknown tokens
refused; byte ranges served, so players can seek), and the regular files inside the run folder
(`/files/PATH`; a path that leaves the folder, also through a symlink, is refused). Bound to a loopback
address it also refuses requests whose Host header is not a loopback name, so a web page elsewhere cannot
reach it through DNS rebinding.
"""

from __future__ import annotations

import hashlib
import ipaddress
import mimetypes
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from .errors import HarnessError
from .html_report import SampleFinder, build, journal_files

DEFAULT_PORT = 8765
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")
BLOCK = 1 << 16


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def media_token(path: Path) -> str:
    return hashlib.sha256(str(path).encode("utf-8", "surrogatepass")).hexdigest()[:20]


class RunSite:
    """What the viewer serves for one run folder: the page, rebuilt when the folder changes, and the media
    its records name."""

    def __init__(self, folder: Path, finder_factory=SampleFinder, poll_s: float = 5.0):
        self.folder = Path(folder).resolve()
        if not self.folder.is_dir():
            raise HarnessError(f"{folder}: not a folder")
        self.finder_factory = finder_factory
        self.poll_ms = max(200, int(poll_s * 1000))
        self.media: dict[str, Path] = {}
        self._page: bytes = b""
        self._built_for: str | None = None
        self._lock = threading.Lock()

    def version(self) -> str:
        """Changes whenever a journal file or results.json does (size and modification time)."""
        parts = []
        for path in [*journal_files(self.folder), self.folder / "results.json"]:
            try:
                st = path.stat()
            except OSError:
                continue
            parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def page(self) -> bytes:
        with self._lock:
            version = self.version()
            if version != self._built_for:
                files = [p.name for p in (*journal_files(self.folder), self.folder / "results.json",
                                          self.folder / "summary.md") if p.is_file()]
                html, data = build([self.folder], finder=self.finder_factory(),
                                   media_url=lambda p: f"media/{media_token(p)}/{quote(Path(p).name)}",
                                   live={"version": version, "poll_ms": self.poll_ms, "files": files})
                self.media = {media_token(p): Path(p) for p in data.media}
                self._page, self._built_for = html.encode("utf-8"), version
            return self._page

    def run_file(self, relative: str) -> Path | None:
        """A regular file inside the run folder, or None (outside it, or not a file)."""
        if not relative or relative.startswith("/") or "\\" in relative or "\x00" in relative:
            return None
        if any(part in ("", ".", "..") for part in relative.split("/")):
            return None
        target = (self.folder / relative).resolve()  # follows symlinks: one pointing out is refused below
        if not target.is_relative_to(self.folder) or not target.is_file():
            return None
        return target

    def media_file(self, token: str) -> Path | None:
        if not self.media:
            self.page()
        path = self.media.get(token)
        return path if path is not None and path.is_file() else None


def make_handler(site: RunSite, check_host: bool):
    class Handler(BaseHTTPRequestHandler):
        server_version = "avharness-view"
        sys_version = ""

        def log_message(self, format, *args):  # one line per request on stderr is noise while a run goes
            pass

        def _refuse(self, code: int, why: str) -> None:
            body = why.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _host_ok(self) -> bool:
            if not check_host:
                return True
            host = (self.headers.get("Host") or "").strip().lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            return name in LOOPBACK_NAMES

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            if not self._host_ok():
                return self._refuse(403, "this viewer answers requests for localhost only")
            path = urlsplit(self.path).path
            if path in ("/", "/index.html"):
                return self._send(site.page(), "text/html; charset=utf-8")
            if path == "/api/version":
                return self._send(site.version().encode(), "text/plain; charset=utf-8")
            if path.startswith("/media/"):
                token = path[len("/media/"):].split("/", 1)[0]
                target = site.media_file(token)
                if target is None:
                    return self._refuse(404, "no such media in this run's records")
                return self._send_file(target)
            if path.startswith("/files/"):
                target = site.run_file(unquote(path[len("/files/"):]))
                if target is None:
                    return self._refuse(404, "no such file in the run folder")
                return self._send_file(target)
            return self._refuse(404, "not found")

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _send_file(self, target: Path) -> None:
            size = target.stat().st_size
            start, end = 0, size - 1
            wanted = self.headers.get("Range", "")
            partial = wanted.startswith("bytes=") and "," not in wanted
            if partial:
                first, _, last = wanted[len("bytes="):].strip().partition("-")
                try:
                    if first:
                        start, end = int(first), min(int(last) if last else size - 1, size - 1)
                    else:  # the last N bytes
                        start, end = max(0, size - int(last)), size - 1
                except ValueError:
                    partial = False
                    start, end = 0, size - 1
                if partial and (start > end or start >= size):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.end_headers()
                    return
            kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self.send_response(206 if partial else 200)
            self.send_header("Content-Type", kind)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            self.send_header("X-Content-Type-Options", "nosniff")
            if partial:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if self.command == "HEAD":
                return
            with open(target, "rb") as fh:
                fh.seek(start)
                left = end - start + 1
                try:
                    while left > 0:
                        block = fh.read(min(BLOCK, left))
                        if not block:
                            break
                        self.wfile.write(block)
                        left -= len(block)
                except (BrokenPipeError, ConnectionResetError):  # a player that seeks drops the connection
                    pass

    return Handler


def make_server(site: RunSite, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(site, check_host=_is_loopback(host)))
    server.daemon_threads = True
    return server


def serve(folder: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT, finder_factory=SampleFinder,
          poll_s: float = 5.0, log=None) -> None:
    log = log or (lambda msg: print(msg, file=sys.stderr))
    site = RunSite(folder, finder_factory, poll_s)
    server = make_server(site, host, port)
    bound_host, bound_port = server.server_address[:2]
    if not _is_loopback(host):
        log(f"avharness view: listening on {host}, reachable from other machines: anyone who can reach it sees "
            "the run's records and media")
    log(f"avharness view: http://{'localhost' if _is_loopback(host) else bound_host}:{bound_port}/ "
        f"(serving {site.folder}; Ctrl-C stops)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
