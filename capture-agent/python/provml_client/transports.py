"""Where batches go: the sidecar's Unix socket, its HTTP ingest, the client's own spool, or memory.

A transport is called from the client's one background thread only. ``send`` takes the batch as
JSON texts of capture events and either returns (all accepted) or raises:

- ``RetryableError``: nothing was kept; the same batch may be sent again (agent down, spool full,
  timeout, connection lost);
- ``RejectedError``: the receiver refused some events for good; ``indexes`` names them (0-based in
  the batch) when it can tell, else the whole batch was refused.
"""

import json
import socket
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from .spool import RecordTooLargeError, SpoolFullError, SpoolWriter, frame_texts

if TYPE_CHECKING:  # http.client (with email parsing, ~10 ms) is imported by the HTTP transport only
    from http.client import HTTPConnection


class TransportError(Exception):
    """Base of the errors a transport raises."""


class RetryableError(TransportError):
    """Nothing of the batch was kept; try again later."""


class RejectedError(TransportError):
    """The receiver refused events for good.

    ``indexes``: 0-based positions in the batch of the refused events, or None for all of them;
    ``issues``: the receiver's issues, as it sent them.
    """

    def __init__(self, message: str, indexes: Optional[List[int]] = None, issues: Optional[list] = None):
        super().__init__(message)
        self.indexes = indexes
        self.issues = issues or []


class Transport:
    """Interface of a transport."""

    #: A short name for errors and stats.
    name = "transport"
    #: True when ``send`` never waits on a peer (a write to local disk): without a spill spool, the
    #: client's one background thread then encodes and sends (``BatchProcessor.inline_send``).
    local = False

    def send(self, events: Sequence[str]) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def set_spec(self, spec: Dict[str, Any]) -> None:
        """A later version of the spec (a superset of the one before: names declared at run time),
        called on the capture thread. A transport that delivers specs sends it before the next batch.
        """

    def close(self) -> None:
        """Releases connections and files. Idempotent."""


def _spec_text(spec: Dict[str, Any]) -> str:
    return json.dumps(spec, separators=(",", ":"), ensure_ascii=False)


class _SpecVersions:
    """The spec a transport delivers: its latest version, and which version the receiver has.

    ``set`` runs on the capture thread, the rest on the sender's; the (version, text) pair is
    replaced whole, so the sender reads one consistent pair. Each version is a superset of the one
    before (capture events valid under one are valid under the next), so a newer version sent
    before older events is harmless; what matters is that it arrives before the first event that
    uses a name it added, which was queued after ``set`` returned.
    """

    __slots__ = ("latest", "delivered")

    def __init__(self, spec: Dict[str, Any]) -> None:
        self.latest: "tuple[int, str]" = (0, _spec_text(spec))
        self.delivered = -1  # none (a new connection: the receiver may have restarted)

    def set(self, spec: Dict[str, Any]) -> None:
        self.latest = (self.latest[0] + 1, _spec_text(spec))

    def pending(self) -> "Optional[tuple[int, str]]":
        """The version to send before the next batch, or None when the receiver has the latest."""
        latest = self.latest
        return None if latest[0] == self.delivered else latest


class UnixSocketTransport(Transport):
    """The sidecar's fast path (AGENT.md): NDJSON envelopes, an empty line ends a batch, one answer line.

    The spec is sent as the first envelope of the first batch on every new connection (the agent may
    have restarted with a fresh spool; specs are idempotent), and before the next batch after
    ``set_spec`` (a version that declares names added at run time).
    """

    name = "socket"

    def __init__(self, path: str, spec: Dict[str, Any], timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._specs = _SpecVersions(spec)
        self._sock: Optional[socket.socket] = None
        self._reader: Any = None

    def set_spec(self, spec: Dict[str, Any]) -> None:
        self._specs.set(spec)

    def _connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
        except OSError as e:
            s.close()
            raise RetryableError("agent socket %s: %s" % (self.path, e)) from e
        self._sock = s
        self._reader = s.makefile("rb")
        self._specs.delivered = -1

    def _drop(self) -> None:
        if self._reader is not None:
            try:
                self._reader.close()
            except OSError:
                pass
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._reader = None

    def send(self, events: Sequence[str]) -> None:
        if self._sock is None:
            self._connect()
        spec = self._specs.pending()
        with_spec = spec is not None
        lines = ['{"event":%s}' % e for e in events]
        if spec is not None:
            lines.insert(0, '{"spec":%s}' % spec[1])
        data = ("\n".join(lines) + "\n\n").encode("utf-8")
        try:
            self._sock.sendall(data)  # type: ignore[union-attr]
            answer = self._reader.readline()
        except (OSError, ValueError) as e:
            self._drop()
            raise RetryableError("agent socket %s: %s" % (self.path, e)) from e
        if not answer:
            self._drop()
            raise RetryableError("agent socket %s closed the connection before answering" % self.path)
        try:
            reply = json.loads(answer)
        except ValueError:
            self._drop()
            raise RetryableError("agent answered something that is not JSON: %r" % answer[:200]) from None
        if isinstance(reply, dict) and isinstance(reply.get("accepted"), int):
            if reply["accepted"] not in (len(lines), len(events)):  # with or without the spec line
                self._drop()
                raise RetryableError("agent accepted %s of %d lines" % (reply["accepted"], len(lines)))
            if spec is not None:
                self._specs.delivered = spec[0]
            return
        error = reply.get("error") if isinstance(reply, dict) else None
        message = reply.get("message", "") if isinstance(reply, dict) else str(reply)
        if error == "spool-full":
            raise RetryableError("agent spool full: %s" % message)
        if error == "invalid-event":
            issues = reply.get("issues") or []
            offset = 2 if with_spec else 1  # answers number lines from 1, the spec line included
            bad = sorted({i["line"] - offset for i in issues if isinstance(i, dict) and isinstance(i.get("line"), int)})
            if with_spec and -1 in bad:
                raise RejectedError("agent refused the spec: %s %s" % (message, issues), None, issues)
            indexes = [i for i in bad if 0 <= i < len(events)] or None
            raise RejectedError("agent refused events: %s" % message, indexes, issues)
        self._drop()
        raise RetryableError("agent answered %s: %s" % (error, message))

    def close(self) -> None:
        self._drop()


class HttpTransport(Transport):
    """``POST /v1/events`` (NDJSON) on the sidecar's or the ingest's HTTP port; the spec via ``/v1/workflows``."""

    name = "http"

    def __init__(self, url: str, spec: Dict[str, Any], timeout: float = 30.0) -> None:
        u = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError("http_url must be http://host:port, got %r" % url)
        self.url = url
        self.host = u.hostname
        self.port = u.port or 80
        self.base = u.path.rstrip("/")
        self.timeout = timeout
        self._specs = _SpecVersions(spec)
        self._conn: "Optional[HTTPConnection]" = None

    def set_spec(self, spec: Dict[str, Any]) -> None:
        self._specs.set(spec)

    def _post(self, path: str, body: bytes, content_type: str) -> "tuple[int, bytes]":
        from http.client import HTTPConnection, HTTPException  # here: a trainer without HTTP never loads it

        if self._conn is None:
            self._conn = HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self._conn.request("POST", self.base + path, body=body, headers={"Content-Type": content_type})
            r = self._conn.getresponse()
            return r.status, r.read()
        except (OSError, HTTPException) as e:
            self.close()
            self._specs.delivered = -1
            raise RetryableError("POST %s%s: %s" % (self.url, path, e)) from e

    def send(self, events: Sequence[str]) -> None:
        spec = self._specs.pending()
        if spec is not None:
            status, body = self._post("/v1/workflows", spec[1].encode("utf-8"), "application/json")
            if status == 400:
                raise RejectedError("ingest refused the spec: %s" % body[:2000].decode("utf-8", "replace"))
            if status >= 300:
                raise RetryableError("POST /v1/workflows answered %d" % status)
            self._specs.delivered = spec[0]
        status, body = self._post("/v1/events", ("\n".join(events) + "\n").encode("utf-8"), "application/x-ndjson")
        if 200 <= status < 300:
            return
        if status == 400:
            try:
                issues = json.loads(body).get("issues") or []
            except (ValueError, AttributeError):
                issues = []
            bad = sorted({i["line"] - 1 for i in issues if isinstance(i, dict) and isinstance(i.get("line"), int)})
            indexes = [i for i in bad if 0 <= i < len(events)] or None
            raise RejectedError("ingest refused events: %s" % body[:2000].decode("utf-8", "replace"), indexes, issues)
        raise RetryableError("POST /v1/events answered %d: %s" % (status, body[:500].decode("utf-8", "replace")))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class FallbackTransport(Transport):
    """Sends through ``primary``; when it cannot be reached (a retryable error), through ``secondary``."""

    name = "fallback"

    def __init__(self, primary: Transport, secondary: Transport) -> None:
        self.primary = primary
        self.secondary = secondary

    def set_spec(self, spec: Dict[str, Any]) -> None:
        self.primary.set_spec(spec)
        self.secondary.set_spec(spec)

    def send(self, events: Sequence[str]) -> None:
        try:
            self.primary.send(events)
        except RetryableError as first:
            try:
                self.secondary.send(events)
            except RetryableError as second:
                raise RetryableError("%s; fallback: %s" % (first, second)) from second

    def close(self) -> None:
        self.primary.close()
        self.secondary.close()


class SpoolTransport(Transport):
    """The offline settings: writes envelopes straight into a spool directory (AGENT.md format).

    The LOCK is taken when the transport is created (so a locked spool fails ``init``), the spec is
    the first record written.
    """

    name = "spool"
    local = True

    def __init__(self, directory: str, spec: Dict[str, Any], **writer_options: Any) -> None:
        self.writer = SpoolWriter(directory, **writer_options)
        self._specs = _SpecVersions(spec)

    def set_spec(self, spec: Dict[str, Any]) -> None:
        self._specs.set(spec)

    @property
    def directory(self) -> str:
        """The spool directory events are written to."""
        return self.writer.directory

    def send(self, events: Sequence[str]) -> None:
        spec = self._specs.pending()
        try:
            if spec is None:  # the batch framed in one pass, written in one call (issue #21)
                self.writer.append_framed(*frame_texts(events, '{"event":', "}"))
                return
            payloads = [('{"event":%s}' % e).encode("utf-8") for e in events]
            payloads.insert(0, ('{"spec":%s}' % spec[1]).encode("utf-8"))
            self.writer.append(payloads)
        except SpoolFullError as e:
            raise RetryableError(str(e)) from e
        except RecordTooLargeError:  # nothing was written; the spec alone too large: the whole batch
            too_big = [i for i, e in enumerate(events) if len(('{"event":%s}' % e).encode("utf-8")) > 1048576]
            raise RejectedError("events over the 1 MiB record limit", too_big or None)
        if spec is not None:
            self._specs.delivered = spec[0]

    def close(self) -> None:
        self.writer.close()


class MemoryTransport(Transport):
    """Keeps every event (parsed) in memory: tests and the stdlib example's dry run."""

    name = "memory"

    def __init__(self) -> None:
        self.events: List[Dict[str, Any]] = []
        #: The spec versions given by ``set_spec`` (names declared at run time), in order.
        self.specs: List[Dict[str, Any]] = []
        self.batches = 0
        self.closed = False
        self._lock = threading.Lock()

    def set_spec(self, spec: Dict[str, Any]) -> None:
        with self._lock:
            self.specs.append(json.loads(json.dumps(spec)))

    def send(self, events: Sequence[str]) -> None:
        parsed = [json.loads(e) for e in events]
        with self._lock:
            self.events.extend(parsed)
            self.batches += 1

    def close(self) -> None:
        self.closed = True


class DiscardTransport(Transport):
    """Counts and forgets (benchmarks)."""

    name = "discard"

    def __init__(self) -> None:
        self.count = 0

    def send(self, events: Sequence[str]) -> None:
        self.count += len(events)
