"""A fake molt-lms admin API (docs/api.md, "Proxy admin API") for the
orchestrator tests: it is not a database, so a fake is enough.

FakeProxy(...) serves GET/POST /api/v1/state, GET /api/v1/connections and
GET and POST /api/v1/watermark on 127.0.0.1, in a thread.  Knobs:
  drains       False: never reports drained (an open transaction blocks)
  connections  what GET /api/v1/connections lists
  source_dsn   where /api/v1/watermark writes and reads the token (psycopg2)
  tls          (certfile, keyfile, cafile): https, client certificate required
Everything received is kept in .posts (list of (path, body))."""

import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def unreachable_url():
    """An admin URL where nothing listens."""
    return "http://127.0.0.1:%d" % free_port()


class FakeProxy:
    def __init__(self, name, drains=True, connections=None, source_dsn=None, tls=None, shadow_mode="none"):
        self.name = name
        self.drains = drains
        self.connections = connections or []
        self.source_dsn = source_dsn
        self.lock = threading.Lock()
        self.state = {"epoch": 0, "phase": "serving", "source_of_truth": "source", "cutover_id": None}
        self.shadow_mode = shadow_mode
        self.posts = []
        self.on_watermark = None  # called after a POSTed watermark is written, before the reply
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls:
            certfile, keyfile, cafile = tls
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(certfile, keyfile)
            ctx.load_verify_locations(cafile)
            ctx.verify_mode = ssl.CERT_REQUIRED
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def document(self):
        with self.lock:
            st = dict(self.state)
        busy = sum(1 for c in self.connections if c["state"] in ("in_transaction", "active"))
        drained = st["phase"] == "paused" and (self.drains and busy == 0)
        st.update(instance_id=self.name, version="0.0-fake", shadow_mode=self.shadow_mode, store="ok",
                  sessions=len(self.connections), in_transaction=busy, queued_requests=0,
                  queued_sessions=0, drained=drained)
        return st

    def write_watermark(self, token):
        """Upsert the token on the source, as molt-lms does.  The shared
        clusters may be busy with other suites: retry a refused login."""
        deadline = time.monotonic() + 8
        while True:
            try:
                conn = psycopg2.connect(self.source_dsn, connect_timeout=5)
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("INSERT INTO _molt_lms.watermark (id, token, written_at) "
                            "VALUES (1, %s, now()) ON CONFLICT (id) DO UPDATE "
                            "SET token = excluded.token, written_at = excluded.written_at", (token,))
        finally:
            conn.close()

    def read_watermark(self):
        """The source's token (None without a row), as molt-lms reads it."""
        conn = psycopg2.connect(self.source_dsn, connect_timeout=5)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT token FROM _molt_lms.watermark WHERE id = 1")
                row = cur.fetchone()
                return row[0] if row else None
        finally:
            conn.close()

    def posted(self, path):
        with self.lock:
            return [b for p, b in self.posts if p == path]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code, doc):
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/api/v1/state":
                    self.reply(200, fake.document())
                elif self.path == "/api/v1/connections":
                    self.reply(200, {"instance_id": fake.name, "connections": fake.connections})
                elif self.path == "/api/v1/watermark":
                    if not fake.source_dsn:
                        self.reply(503, {"error": "no source"})
                        return
                    try:
                        self.reply(200, {"token": fake.read_watermark()})
                    except psycopg2.Error as e:
                        self.reply(503, {"error": "cannot read the watermark: %s" % e})
                else:
                    self.reply(404, {"error": "no such route"})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with fake.lock:
                    fake.posts.append((self.path, body))
                if self.path == "/api/v1/state":
                    with fake.lock:
                        if body["epoch"] > fake.state["epoch"]:
                            fake.state.update({k: body.get(k) for k in
                                               ("epoch", "phase", "source_of_truth", "cutover_id")})
                    self.reply(200, fake.document())
                elif self.path == "/api/v1/watermark":
                    if not fake.source_dsn:
                        self.reply(503, {"error": "no source"})
                        return
                    try:
                        fake.write_watermark(body["token"])
                    except psycopg2.Error as e:
                        self.reply(503, {"error": "cannot write the watermark: %s" % e})
                        return
                    if fake.on_watermark:
                        fake.on_watermark()
                    self.reply(200, {"written": True})
                else:
                    self.reply(404, {"error": "no such route"})

        return Handler
