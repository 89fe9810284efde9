"""Test doubles: scripted transports, a fake sidecar speaking the AGENT.md socket protocol, and a
tiny HTTP ingest that can go away and come back."""

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from provml_client.transports import RejectedError, RetryableError, Transport


class ScriptedTransport(Transport):
    """Fails as scripted, then accepts; records every attempt."""

    name = "scripted"

    def __init__(self, script=(), delay=0.0):
        self.script = list(script)  # exceptions to raise, in order, before accepting
        self.delay = delay
        self.attempts = []
        self.accepted = []
        self.closed = 0
        self.lock = threading.Lock()

    def send(self, events):
        with self.lock:
            self.attempts.append(list(events))
            outcome = self.script.pop(0) if self.script else None
        if self.delay:
            time.sleep(self.delay)
        if outcome is not None:
            raise outcome
        with self.lock:
            self.accepted.append([json.loads(e) for e in events])

    @property
    def accepted_events(self):
        return [e for batch in self.accepted for e in batch]

    def close(self):
        self.closed += 1


class FakeAgent:
    """A Unix-socket server with the agent's protocol: NDJSON envelopes, empty line ends a batch.

    ``answers``: a list of callables (lines -> dict) consumed one per batch; by default every batch
    is accepted. Accepted envelopes are in ``envelopes``.
    """

    def __init__(self, path, answers=()):
        self.path = path
        self.answers = list(answers)
        self.envelopes = []
        self.batches = []
        self.connections = 0
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(path):
            os.unlink(path)
        self._server.bind(path)
        self._server.listen(8)
        self._stop = False
        self._threads = []
        self._conns = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()

    def _serve(self, conn):
        f = conn.makefile("rb")
        lines = []
        try:
            for raw in f:
                line = raw.rstrip(b"\n")
                if line:
                    lines.append(json.loads(line))
                    continue
                with self._lock:
                    answer = self.answers.pop(0) if self.answers else None
                reply = answer(lines) if answer else None
                if reply is None:
                    reply = {"accepted": len(lines)}
                if "accepted" in reply:
                    with self._lock:
                        self.envelopes.extend(lines)
                        self.batches.append(lines)
                if reply.get("close"):
                    conn.close()
                    return
                conn.sendall((json.dumps(reply) + "\n").encode())
                lines = []
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    @property
    def events(self):
        with self._lock:
            return [e["event"] for e in self.envelopes if "event" in e]

    def close(self):
        """Goes away: the listening socket and every open connection (as a killed agent)."""
        self._stop = True
        try:
            self._server.close()
        except OSError:
            pass
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if os.path.exists(self.path):
            os.unlink(self.path)


def spool_full(lines):
    return {"error": "spool-full", "message": "spool holds its cap"}


def invalid_lines(*line_numbers):
    def answer(lines):
        return {
            "error": "invalid-event",
            "message": "%d problem(s)" % len(line_numbers),
            "issues": [{"line": n, "path": "time", "message": "bad"} for n in line_numbers],
        }

    return answer


def hang_up(lines):
    return {"close": True}


class FlakyIngest:
    """``POST /v1/workflows`` and ``POST /v1/events`` (NDJSON) on 127.0.0.1, as the real ingest
    answers them, that a test can ``stop()`` (connections refused) and ``start()`` again on the same
    port, or make ``hang()`` (requests wait, unanswered, until ``release()``).

    ``refuse``: a predicate on an event; a batch holding such events is refused (400) naming their
    lines, as the real ingest does. Accepted events are in ``events``, in arrival order.
    """

    def __init__(self, refuse=None):
        self.events = []
        self.requests = 0
        self.refuse = refuse
        self.port = 0
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._server = None
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def ids(self):
        with self._lock:
            return [e["eventId"] for e in self.events]

    def start(self):
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ingest._open.wait(60)
                if self.path == "/v1/workflows":
                    return self._answer(201, {"workflow": json.loads(body)["workflow"]})
                lines = [json.loads(line) for line in body.decode().splitlines() if line]
                bad = [i + 1 for i, e in enumerate(lines) if ingest.refuse is not None and ingest.refuse(e)]
                with ingest._lock:
                    ingest.requests += 1
                    if not bad:
                        ingest.events.extend(lines)
                if bad:
                    issues = [{"line": n, "path": "values", "message": "refused"} for n in bad]
                    return self._answer(400, {"error": "invalid-event", "issues": issues})
                self._answer(202, {"accepted": len(lines)})

            def _answer(self, status, obj):
                out = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server

    def stop(self):
        """Goes away: new connections are refused until ``start()``."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def hang(self):
        """Requests are read and left unanswered until ``release()`` (a stuck ingest)."""
        self._open.clear()

    def release(self):
        self._open.set()

    def close(self):
        self.release()
        self.stop()


class BlackHole:
    """A TCP port on 127.0.0.1 that completes connections and never reads or answers them."""

    def __init__(self):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.url = "http://127.0.0.1:%d" % self._sock.getsockname()[1]

    def close(self):
        self._sock.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
