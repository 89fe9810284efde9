"""Test doubles: scripted transports, and a fake sidecar speaking the AGENT.md socket protocol."""

import json
import os
import socket
import threading
import time

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
        self._stop = True
        try:
            self._server.close()
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
