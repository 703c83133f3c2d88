"""fakeorch.py - a fake molt-lms-orchestrator for the CLI tests.

It speaks the orchestrator API of docs/api.md over HTTP or HTTPS (mutual TLS
when given a CA), answers each route with what the test set up, and records
every request so a test can assert what the CLI sent.  A route's answer can
be a callable, e.g. one that holds begin open until the test releases it.
"""

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    def __init__(self, method, path, body, headers):
        self.method = method
        self.path = path
        self.body = body
        self.headers = headers

    def __repr__(self):
        return f"{self.method} {self.path} {self.body!r}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep pytest's output clean
        pass

    def _serve(self):
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        req = Request(self.command, self.path, body, dict(self.headers))
        fake._record(req)
        answer = fake.routes.get((self.command, self.path))
        if answer is None:
            answer = (404, {"error": f"no route {self.command} {self.path}"})
        if callable(answer):
            answer = answer(req)
        status, doc = answer
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the CLI gave up (timeout, Ctrl-C)
        self.close_connection = True

    do_GET = _serve
    do_POST = _serve
    do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # TLS handshakes the fake refuses (no client certificate) end here.
        import sys
        self.fake.errors.append(str(sys.exc_info()[1]))


class FakeOrchestrator:
    """Serve on 127.0.0.1 (a free port).  With CERT/KEY it serves HTTPS;
    with CA too it requires a client certificate signed by that CA."""

    def __init__(self, cert=None, key=None, ca=None):
        self.routes = {}
        self.requests = []
        self.errors = []
        self.release = threading.Event()
        self._cond = threading.Condition()
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.fake = self
        scheme = "http"
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            if ca:
                ctx.load_verify_locations(ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
            # The handshake runs in the request's thread, at its first read.
            self._srv.socket = ctx.wrap_socket(self._srv.socket, server_side=True,
                                               do_handshake_on_connect=False)
            scheme = "https"
        self.port = self._srv.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._srv.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _record(self, req):
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()

    def on(self, method, path, status=200, doc=None, handler=None):
        """Answer METHOD PATH with STATUS and DOC, or call HANDLER(req)."""
        self.routes[(method, path)] = handler or (status, doc if doc is not None else {})

    def hold(self, status=200, doc=None, limit=30):
        """A handler that waits until release() (at most LIMIT s), then answers."""
        def handler(req):
            self.release.wait(limit)
            return status, doc if doc is not None else {}
        return handler

    def received(self, method, path):
        with self._cond:
            return [r for r in self.requests if r.method == method and r.path == path]

    def wait_for(self, method, path, timeout=15):
        """The first METHOD PATH request, waiting up to TIMEOUT s for it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.requests if r.method == method and r.path == path]
                if got:
                    return got[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {method} {path} within {timeout} s; got {self.requests}")
                self._cond.wait(left)

    def close(self):
        self.release.set()
        self._srv.shutdown()
        self._srv.server_close()
