"""The capture queue: the caller's thread appends to a deque; one daemon thread batches and exports.

The caller never waits on I/O. What happens when the queue is full is explicit (``block`` waits for
room, ``drop`` drops and counts); every event that is not delivered is counted and reported to the
one error handler, never lost silently.
"""

import json
import logging
import random
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional

from .transports import RejectedError, RetryableError, Transport

_log = logging.getLogger("provml_client")

ErrorHandler = Callable[[Exception], None]


class CaptureError(Exception):
    """What the error handler receives: ``kind`` says what happened, ``count`` to how many events."""

    def __init__(self, kind: str, message: str, count: int = 0, cause: Optional[BaseException] = None):
        super().__init__(message)
        self.kind = kind
        self.count = count
        self.__cause__ = cause


def default_error_handler(error: Exception) -> None:
    _log.error("provml capture: %s", error)


_INF = float("inf")
#: JSON text of value names seen (bounded): a batch's loss is encoded without the json module's per-call setup.
_KEY_JSON: Dict[str, str] = {}


def encode_values(values: Dict[str, Any], encode: Callable[[Any], str]) -> str:
    """``encode(values)``, with a fast path for the common case of a few numbers (a loss, an epoch):
    the same text as the json encoder (``float.__repr__``, ``int.__repr__``); anything else, NaN and
    infinities included (which the encoder refuses), goes through ``encode``."""
    parts = []
    for k, v in values.items():
        t = type(v)
        if t is float:
            if v != v or v == _INF or v == -_INF:
                return encode(values)
            text = float.__repr__(v)
        elif t is int:
            text = int.__repr__(v)
        else:
            return encode(values)
        kj = _KEY_JSON.get(k)
        if kj is None:
            if type(k) is not str:
                return encode(values)
            kj = encode(k)
            if len(_KEY_JSON) < 4096:
                _KEY_JSON[k] = kj
        parts.append(kj + ":" + text)
    return "{" + ",".join(parts) + "}"


def encode_event(e: Any, encode: Callable[[Any], str]) -> str:
    """The JSON text of an event as the capture calls queue it (see WorkflowRun._begin, TaskRun.end):
    (run, event number, task, task execution number, parent number or None, phase, time in ns,
    values, data references, status)."""
    run, eid, task, te, parent, phase, t_ns, values, refs, status = e
    return run._template % (
        eid,
        task,
        te,
        "null" if parent is None else run._parent_template % parent,
        phase,
        t_ns // 1000,
        encode_values(values, encode) if values else "{}",
        encode(refs) if refs else "[]",
        "null" if status is None else '"%s"' % status,
        run._context_json if parent is None and phase == "begin" else "{}",
    )


class Stats:
    """Counters of the queue (a snapshot; read with ``Client.stats``)."""

    __slots__ = (
        "enqueued",
        "exported",
        "dropped",
        "rejected",
        "failed",
        "blocked",
        "batches",
        "retries",
        "queue_depth",
        "last_export_ms",
    )

    def __init__(self, **kw: Any) -> None:
        for k in self.__slots__:
            setattr(self, k, kw.get(k, 0))

    def as_dict(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return "Stats(%s)" % ", ".join("%s=%r" % kv for kv in self.as_dict().items())


class BatchProcessor:
    """Bounded queue + background exporter thread."""

    def __init__(
        self,
        transport: Transport,
        batch_size: int = 512,
        max_queue_size: int = 65536,
        overflow: str = "block",
        flush_interval: float = 0.2,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        retry_deadline: Optional[float] = None,
        on_error: Optional[ErrorHandler] = None,
        name: str = "provml-capture",
    ) -> None:
        if overflow not in ("block", "drop"):
            raise ValueError("overflow must be 'block' or 'drop'")
        if not (batch_size >= 1 and max_queue_size >= batch_size):
            raise ValueError("queue_size (events per export) must be >= 1 and <= max_queue_size")
        self.transport = transport
        self.batch_size = batch_size
        self.max_queue_size = max_queue_size
        self.overflow = overflow
        self.flush_interval = flush_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.retry_deadline = retry_deadline
        self.on_error = on_error or default_error_handler
        self._q: Deque[Any] = deque()
        self._wake = threading.Event()
        self._woken = False
        self._room = threading.Condition(threading.Lock())
        self._waiting_for_room = 0
        self._progress = threading.Condition(threading.Lock())
        self._taken = 0  # events the worker took off the queue
        self._done = 0  # events the worker finished with (exported, rejected or failed)
        self._urgent = 0  # pending flush requests: export partial batches at once
        self._closing = False
        self._give_up = threading.Event()  # set when shutdown's grace time is over
        self._closed = False
        self._shutdown_lock = threading.Lock()
        self._exported = 0
        self._dropped = 0
        self._rejected = 0
        self._failed = 0
        self._blocked = 0
        self._batches = 0
        self._retries = 0
        self._last_export_ms = 0.0
        self._counter_lock = threading.Lock()
        self._reported_drops = 0
        self._in_forked_child = False
        self._drop_message = ""
        self._encode = json.JSONEncoder(
            ensure_ascii=False, check_circular=False, allow_nan=False, separators=(",", ":")
        ).encode
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the caller's side ----------------------------------------------------------------------

    def enqueue(self, event: Dict[str, Any]) -> bool:
        """Appends an event; False when it was dropped (policy ``drop`` and full, or shut down)."""
        q = self._q
        if len(q) >= self.max_queue_size or self._closing:
            if not self._make_room():
                return False
        q.append(event)
        if len(q) >= self.batch_size and not self._woken:
            self._woken = True
            self._wake.set()
        return True

    def _make_room(self) -> bool:
        if self._closing:
            self._count_drop("capture is shut down: event dropped")
            return False
        if self.overflow == "drop":
            self._count_drop("capture queue full (%d events): event dropped" % self.max_queue_size)
            return False
        with self._room:
            self._blocked += 1
            self._waiting_for_room += 1
            self._wake.set()
            try:
                while len(self._q) >= self.max_queue_size and not self._closing:
                    self._room.wait(0.05)
            finally:
                self._waiting_for_room -= 1
        if self._closing:
            self._count_drop("capture is shut down: event dropped")
            return False
        return True

    def _count_drop(self, message: str) -> None:
        # counted here, reported by the background thread: the caller's thread does no I/O
        with self._counter_lock:
            self._dropped += 1
            self._drop_message = message
        if self._in_forked_child:
            if self._dropped == 1:
                _log.warning("provml capture: events captured in a forked child process are dropped; call init() in the child")
            return
        if self._closed and not self._thread.is_alive():
            self._report_drops()  # after shutdown nobody else will: the caller reports
            return
        self._wake.set()

    def _forked(self) -> None:
        """In a forked child: no background thread here, so capture calls drop (counted, logged once)."""
        self._closing = True
        self._closed = True
        self._in_forked_child = True
        self._room = threading.Condition(threading.Lock())
        self._counter_lock = threading.Lock()
        self._progress = threading.Condition(threading.Lock())
        self._q.clear()

    def _report_drops(self) -> None:
        n = self._dropped
        if n > self._reported_drops:
            self._report(
                CaptureError("dropped", "%s (%d dropped, %d in all)" % (self._drop_message, n - self._reported_drops, n), n - self._reported_drops)
            )
            self._reported_drops = n

    @property
    def stats(self) -> Stats:
        depth = len(self._q)
        return Stats(
            enqueued=self._taken + depth,
            exported=self._exported,
            dropped=self._dropped,
            rejected=self._rejected,
            failed=self._failed,
            blocked=self._blocked,
            batches=self._batches,
            retries=self._retries,
            queue_depth=depth,
            last_export_ms=self._last_export_ms,
        )

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every event enqueued before the call was exported (or reported); False on timeout."""
        target = self._taken + len(self._q)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._progress:
            self._urgent += 1
        self._wake.set()
        try:
            with self._progress:
                while self._done < target:
                    if not self._thread.is_alive():
                        return False
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._progress.wait(0.05 if left is None else min(left, 0.05))
            return True
        finally:
            with self._progress:
                self._urgent -= 1

    def shutdown(self, timeout: Optional[float] = 30.0) -> bool:
        """Exports what is queued (retrying for at most ``timeout`` s), stops the thread, closes the
        transport. Events still not delivered are counted as failed and reported. Idempotent."""
        with self._shutdown_lock:
            if self._closed:
                return True
            self._closed = True
        self._closing = True
        with self._room:
            self._room.notify_all()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._give_up.set()  # stop retrying: what is left is reported as failed
            self._wake.set()
            self._thread.join(10.0)
        ok = not self._thread.is_alive() and self._failed == 0
        self._report_drops()  # drops after the thread ended (events captured during shutdown)
        try:
            self.transport.close()
        except Exception as e:
            self._report(CaptureError("close", "closing %s failed: %s" % (self.transport.name, e), 0, e))
            ok = False
        return ok

    # -- the background thread ------------------------------------------------------------------

    def _run(self) -> None:
        q = self._q
        wake = self._wake
        try:
            while True:
                timed_out = False
                if len(q) < self.batch_size and not self._closing and not self._urgent:
                    timed_out = not wake.wait(self.flush_interval)
                wake.clear()
                self._woken = False
                if self._dropped != self._reported_drops:
                    self._report_drops()
                while q:
                    n = len(q) if self._give_up.is_set() else min(len(q), self.batch_size)
                    # a partial batch goes out when its time is up, or on flush and shutdown
                    if n < self.batch_size and not (timed_out or self._closing or self._urgent):
                        break
                    batch = [q.popleft() for _ in range(n)]
                    self._taken += n
                    if self._waiting_for_room:
                        with self._room:
                            self._room.notify_all()
                    self._export(batch)
                    with self._progress:
                        self._done += n
                        self._progress.notify_all()
                if self._closing and not q:
                    self._report_drops()
                    return
        except BaseException as e:  # a bug here must not pass silently
            self._report(CaptureError("internal", "capture thread stopped: %r" % e, len(q), e))
            raise

    def _export(self, events: List[Dict[str, Any]]) -> None:
        started = time.perf_counter()
        encode = self._encode
        texts = []
        for e in events:
            try:
                texts.append(encode_event(e, encode))
            except (TypeError, ValueError) as err:  # values are checked on the caller's side
                self._rejected += 1
                self._report(CaptureError("rejected", "an event cannot be encoded: %s" % err, 1, err))
        delay = self.retry_initial
        deadline = None if self.retry_deadline is None else time.monotonic() + self.retry_deadline
        if texts and self._give_up.is_set():  # shutdown's grace time is over: count, report, move on
            self._failed += len(texts)
            self._report(CaptureError("failed", "%d events not exported before shutdown's timeout" % len(texts), len(texts)))
            texts = []
        while texts:
            try:
                self.transport.send(texts)
                self._exported += len(texts)
                break
            except RetryableError as err:
                if self._give_up.is_set() or (deadline is not None and time.monotonic() + delay > deadline):
                    self._failed += len(texts)
                    self._report(
                        CaptureError("failed", "export of %d events via %s failed: %s" % (len(texts), self.transport.name, err), len(texts), err)
                    )
                    break
                self._retries += 1
                if self._retries == 1 or self._retries % 20 == 0:
                    self._report(CaptureError("retrying", "export via %s will be retried: %s" % (self.transport.name, err), len(texts), err))
                self._give_up.wait(delay * (0.5 + random.random() / 2))
                delay = min(self.retry_max, delay * 2)
            except RejectedError as err:
                bad = err.indexes if err.indexes is not None else list(range(len(texts)))
                self._rejected += len(bad)
                ids = []
                for i in bad:
                    try:
                        ids.append(json.loads(texts[i]).get("eventId"))
                    except (ValueError, IndexError):
                        pass
                self._report(CaptureError("rejected", "%s refused %d events %s: %s" % (self.transport.name, len(bad), ids[:10], err), len(bad), err))
                if err.indexes is None:
                    break
                drop = set(bad)
                texts = [t for i, t in enumerate(texts) if i not in drop]  # resend the rest (all-or-nothing receivers)
            except Exception as err:  # a transport bug: report and count, keep the thread alive
                self._failed += len(texts)
                self._report(CaptureError("failed", "export via %s raised %r" % (self.transport.name, err), len(texts), err))
                break
        self._batches += 1
        self._last_export_ms = (time.perf_counter() - started) * 1000.0

    def _report(self, error: CaptureError) -> None:
        try:
            self.on_error(error)
        except Exception:  # a throwing handler must not break the export loop
            _log.exception("provml capture error handler raised")
