"""The capture queue: the caller's thread appends to a deque; one or two daemon threads deliver.

- The caller never waits on I/O: a capture call appends to a bounded deque. When it is full,
  ``overflow`` decides: ``drop`` (the default: dropped and counted) or ``block`` (the call waits for
  room; opt-in, as a dead transport then stalls training).
- The **export thread** takes batches off the queue, encodes them and routes them: to the sender in
  memory while the transport keeps up, else (the transport is down, or behind with the queue half
  full) to the **spill spool** on local disk (``_spill.py``). It never calls the transport, so it
  never waits on it.
- The **sender thread** is the only caller of the transport. It sends in-memory batches and, once
  anything was spilled, the spill spool, oldest first; between failed attempts it backs off
  (``retry_initial`` … ``retry_max``, jittered), reporting once per back-off step. Order is kept:
  once anything is in the spill spool, everything newer goes there too until it is drained.
- ``flush()`` and ``shutdown()`` return a ``DeliveryResult``; ``shutdown`` returns within its
  timeout, leaving what the transport did not take in the spill spool.

Without a spill spool (the offline settings, whose transport is a spool already, or ``spill=False``)
failed batches are retried in memory until ``retry_deadline`` or shutdown's timeout, then counted as
failed. Every event that is not delivered is counted and reported to the one error handler.

When the transport is local (``Transport.local``: the offline spool, a write to local disk that never
waits on a peer) and there is no spill spool, the export thread sends each batch itself (``inline_send``):
one background thread per client, one wake-up per batch instead of two hand-offs (issue #21). Retries,
back-off, flush, shutdown's bound and its give-up work as with two threads.
"""

import json
import logging
import queue
import random
import threading
import time
from collections import deque
from typing import Any, Deque, List, Optional, Tuple

from ._encode import encode_event
from ._errors import CaptureError, ErrorHandler, default_error_handler
from ._fork import CHECK_INTERVAL, ForkedDrops, track
from ._spill import SpillSpool
from ._stats import DeliveryResult, Stats
from .spool import SpoolError, SpoolFullError
from .transports import RejectedError, RetryableError, Transport

_log = logging.getLogger("provml_client")

#: Events per spill spool write and per batch drained from it (at most; the receivers take 10,000).
SPILL_BATCH = 4096
#: Share of the time left to shutdown kept for writing what is still in memory to the spill spool.
_SHUTDOWN_RESERVE = 0.1

_MEMORY = "memory"
_SPOOL = "spool"


class _Wake:
    """The export thread's wake-up, as ``threading.Event`` (``set``, ``wait``, ``clear``) on a C
    ``SimpleQueue`` of tokens: ``set`` and ``wait`` are one C call each, where the Event's are Python code
    around a Condition that allocates a lock per wait (issue #21: the trainer sets it once per batch).
    ``set`` leaves a token that a later ``wait`` takes at once, as a set Event stays set (at most two
    wait: a burst of drops while the export thread is busy does not pile them up); ``clear`` drops the
    tokens left."""

    __slots__ = ("_tokens",)

    def __init__(self) -> None:
        self._tokens: "queue.SimpleQueue[None]" = queue.SimpleQueue()

    def set(self) -> None:
        tokens = self._tokens
        if tokens.qsize() < 2:
            tokens.put_nowait(None)

    def wait(self, timeout: float) -> bool:
        try:
            self._tokens.get(True, timeout)
            return True
        except queue.Empty:
            return False

    def clear(self) -> None:
        tokens = self._tokens
        while not tokens.empty():
            try:
                tokens.get_nowait()
            except queue.Empty:
                return


class _Batch:
    __slots__ = ("texts", "source", "end_seq", "events")

    def __init__(self, texts: List[str], source: str, end_seq: int = 0) -> None:
        self.texts = texts
        self.source = source
        self.end_seq = end_seq  # spool batches: the sequence number after their last record
        self.events = len(texts)  # as taken (rejections shrink texts)


class BatchProcessor:
    """Bounded queue + export thread + sender thread (see the module's doc)."""

    def __init__(
        self,
        transport: Transport,
        batch_size: int = 512,
        max_queue_size: int = 65536,
        overflow: str = "drop",
        flush_interval: float = 0.2,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        retry_deadline: Optional[float] = None,
        on_error: Optional[ErrorHandler] = None,
        spill: Optional[SpillSpool] = None,
        name: str = "provml-capture",
        inline_send: Optional[bool] = None,
    ) -> None:
        if overflow not in ("block", "drop"):
            raise ValueError("overflow must be 'drop' or 'block'")
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
        self.spill = spill
        #: What counts the values dropped at the capture call (``undeclared``, ``invalid``): the Checker.
        self.mistakes: Any = None
        #: In-memory batches waiting for the sender (events); beyond it the export thread waits, and
        #: spills once the queue is half full.
        self.outbox_limit = max(2 * batch_size, 64)
        self._high_water = max(batch_size, max_queue_size // 2)
        # -- the caller's side
        self._q: Deque[Any] = deque()
        self._wake = _Wake()
        self._woken = False
        self._room = threading.Condition(threading.Lock())
        self._waiting_for_room = 0
        self._closing = False
        self._closed = False
        self._shutdown_lock = threading.Lock()
        self._shutdown_done = threading.Event()
        self._result: Optional[DeliveryResult] = None
        self._in_forked_child = False
        self._forks = ForkedDrops()
        # -- between the threads (under _lock)
        # reentrant: the error handler runs under it for some reports (it must not flush or shut down)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # outbox room, progress, spill state
        self._outbox: Deque[_Batch] = deque()
        self._outbox_events = 0
        self._spilling = False  # batches go to the spill spool (it holds unsent events, or will)
        self._inflight: Optional[_Batch] = None
        self._abandoned = False  # shutdown gave up on a send that did not return
        self._send_wake = threading.Event()
        self._kicked = False  # flush/shutdown: try again now, whatever the back-off says
        self._urgent = 0  # pending flush requests: export partial batches at once
        self._give_up = threading.Event()  # shutdown's time is up
        self._export_done = threading.Event()
        # -- counters
        self._taken = 0  # events the export thread took off the queue
        self._left_memory = 0  # of those, delivered, rejected, failed or spilled (no longer in memory)
        self._exported = 0
        self._dropped = 0
        self._rejected = 0
        self._failed = 0
        self._spilled = 0
        self._blocked = 0
        self._batches = 0
        self._retries = 0
        self._attempts = 0
        self._last_failed_attempt = 0
        self._consecutive_failures = 0  # failed attempts since the transport last answered
        self._last_export_ms = 0.0
        self._counter_lock = threading.Lock()
        self._reported_drops = 0
        self._drop_message = ""
        self._encode = json.JSONEncoder(
            ensure_ascii=False, check_circular=False, allow_nan=False, separators=(",", ":")
        ).encode
        if inline_send is None:
            inline_send = spill is None and getattr(transport, "local", False)
        elif inline_send and spill is not None:
            raise ValueError("inline_send needs a processor without a spill spool")
        if spill is not None and spill.is_open and spill.unsent:
            self._spilling = True  # an earlier process's events go first
        #: The export thread sends too (no sender thread): a local transport without a spill spool.
        self.inline_send = bool(inline_send)
        self._export_thread = threading.Thread(target=self._run_export, name=name, daemon=True)
        if self.inline_send:
            self._send_thread = self._export_thread  # one thread: joins and liveness checks name it twice
        else:
            self._send_thread = threading.Thread(target=self._run_send, name=name + "-send", daemon=True)
        self._export_thread.start()
        if not self.inline_send:
            self._send_thread.start()
        track(self)

    # -- the caller's side ----------------------------------------------------------------------

    def set_spec(self, spec: Any) -> None:
        """A later version of the spec (a superset: names declared at run time), given before any
        event that uses its new names is queued: the transport sends it before its next batch, and
        the spill spool, when open, writes it now, before the events spilled after it."""
        self.transport.set_spec(spec)
        record = ('{"spec":%s}' % json.dumps(spec, separators=(",", ":"), ensure_ascii=False)).encode("utf-8")
        with self._changed:
            spill = self.spill
            if spill is None:
                return
            try:
                spill.set_spec(record)
            except (SpoolError, OSError) as e:
                self._report(CaptureError("failed", "the spill spool %s: the new spec version was not written: %s" % (spill.path, e), 0, e))

    def enqueue(self, event: Any) -> bool:
        """Appends an event; False when it was dropped (queue full with ``drop``, or shut down)."""
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
        # counted here, reported by the export thread: the caller's thread does no I/O
        if self._in_forked_child:
            self._forks.child_dropped(1)
            with self._counter_lock:
                self._dropped += 1
                first = self._dropped == 1
            if first:
                _log.warning(
                    "provml capture: events captured in a forked child process are dropped (and counted in the "
                    "parent's stats.dropped); call provml_client.init() in the child to capture from it"
                )
            return
        with self._counter_lock:
            self._dropped += 1
            self._drop_message = message
        if self._closed and not self._export_thread.is_alive():
            self._report_drops()  # after shutdown nobody else will: the caller reports
            return
        self._wake.set()

    def _forked(self) -> None:
        """In a forked child: no background threads here, so capture calls drop (counted in the parent)."""
        self._closing = True
        self._closed = True
        self._in_forked_child = True
        self._room = threading.Condition(threading.Lock())
        self._counter_lock = threading.Lock()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._shutdown_lock = threading.Lock()
        self._q.clear()
        self._outbox.clear()
        self._outbox_events = 0
        self.spill = None  # the parent's: not ours to write or close
        for k in ("_taken", "_left_memory", "_exported", "_dropped", "_rejected", "_failed", "_spilled",
                  "_blocked", "_batches", "_retries", "_reported_drops"):
            setattr(self, k, 0)
        self._forks.after_fork_in_child()

    def _collect_child_drops(self) -> None:
        new = self._forks.collect()
        if new:
            with self._counter_lock:
                self._dropped += new
            self._report(
                CaptureError(
                    "dropped",
                    "%d events captured in forked child processes were dropped (%d in all); call "
                    "provml_client.init() in the child to capture from it" % (new, self._forks.count),
                    new,
                )
            )

    def _report_drops(self) -> None:
        with self._counter_lock:
            n = self._dropped - self._forks.count
            new = n - self._reported_drops
            if new <= 0:
                return
            self._reported_drops = n
            message = self._drop_message
        self._report(CaptureError("dropped", "%s (%d dropped, %d in all)" % (message, new, n), new))

    @property
    def stats(self) -> Stats:
        if not self._in_forked_child:
            self._collect_child_drops()
        spill = self.spill
        with self._lock:  # one consistent snapshot (an event is never both delivered and spooled)
            depth = len(self._q)
            return Stats(
                enqueued=self._taken + depth,
                exported=self._exported,
                dropped=self._dropped + (spill.dropped if spill is not None else 0),
                rejected=self._rejected,
                failed=self._failed,
                spilled=self._spilled,
                spooled=spill.unsent if spill is not None else 0,
                recovered=spill.recovered if spill is not None else 0,
                undeclared=getattr(self.mistakes, "undeclared", 0),
                invalid=getattr(self.mistakes, "invalid", 0),
                child_dropped=self._forks.count,
                blocked=self._blocked,
                batches=self._batches,
                retries=self._retries,
                queue_depth=depth,
                last_export_ms=self._last_export_ms,
            )

    def result(self, timed_out: bool = False) -> DeliveryResult:
        """The delivery counts now (what ``flush`` and ``shutdown`` return)."""
        with self._lock:
            s = self.stats
            left_memory = self._left_memory
        spill = self.spill
        if spill is not None and s.spooled:
            path: Optional[str] = spill.path
        else:  # the offline settings: where their events went
            path = getattr(self.transport, "directory", None)
        return DeliveryResult(
            delivered=s.exported,
            rejected=s.rejected,
            dropped=s.dropped + s.failed,
            spooled=s.spooled,
            spool_path=path,
            pending=0 if self._in_forked_child else max(0, s.enqueued - left_memory),
            undeclared=s.undeclared,
            invalid=s.invalid,
            timed_out=timed_out,
        )

    def flush(self, timeout: Optional[float] = None) -> DeliveryResult:
        """Waits until every event captured before the call is delivered (or rejected or dropped),
        or the transport proved down (an attempt made after the call failed, and so did the one
        tried at once after it: the events are in the spill spool, or still in memory without
        one), or ``timeout`` s passed. A dead transport costs two attempts, not the timeout."""
        if self._in_forked_child:
            return self.result()
        target = self._taken + len(self._q)
        first_attempt = self._attempts
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._urgent += 1
            self._kicked = True
        self._wake.set()
        self._send_wake.set()
        timed_out = False
        retried = False
        try:
            with self._changed:
                while True:
                    out_of_memory = self._left_memory >= target
                    spooled = self.spill.unsent if self.spill is not None else 0
                    if out_of_memory and spooled == 0:
                        break
                    if self._last_failed_attempt > first_attempt:
                        if self._consecutive_failures >= 2:
                            if out_of_memory or self.spill is None:
                                break  # down: the events are spooled (or wait in memory)
                        elif not retried:  # one failure may be a lost connection: try again at once
                            retried = True
                            self._kicked = True
                            self._send_wake.set()
                    if not self._send_thread.is_alive() or self._give_up.is_set():
                        break
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        timed_out = True
                        break
                    self._changed.wait(0.05 if left is None else min(left, 0.05))
        finally:
            with self._lock:
                self._urgent -= 1
        return self.result(timed_out)

    def shutdown(self, timeout: float = 5.0) -> DeliveryResult:
        """Delivers what is queued for at most ``timeout`` s, leaving the rest in the spill spool
        (or counting it as failed without one), stops the threads and closes the transport.
        Returns the delivery counts. Idempotent: later calls return the first one's result."""
        if self._in_forked_child:
            return self.result()
        with self._shutdown_lock:
            first = not self._closed
            self._closed = True
        if not first:  # another thread is shutting down, or did
            self._shutdown_done.wait(max(0.0, timeout))
            return self._result if self._result is not None else self.result(True)
        try:
            self._result = self._shutdown(timeout)
        finally:
            self._shutdown_done.set()
        return self._result

    def _shutdown(self, timeout: float) -> DeliveryResult:
        deadline = time.monotonic() + max(0.0, timeout)
        give_up_at = deadline - min(1.0, _SHUTDOWN_RESERVE * max(0.0, timeout))
        self._closing = True
        with self._room:
            self._room.notify_all()
        with self._changed:
            self._kicked = True  # try once more now, whatever the back-off says
            self._changed.notify_all()
        self._wake.set()
        self._send_wake.set()
        self._export_thread.join(max(0.0, give_up_at - time.monotonic()))
        self._send_thread.join(max(0.0, give_up_at - time.monotonic()))
        timed_out = self._send_thread.is_alive() or self._export_thread.is_alive()
        if timed_out:
            # time is up: what is in memory goes to the spill spool (or is counted as failed)
            self._give_up.set()
            self._wake.set()
            self._send_wake.set()
            with self._changed:
                self._changed.notify_all()
            self._export_thread.join(max(0.0, deadline - time.monotonic() - 0.2))
            self._send_thread.join(max(0.0, deadline - time.monotonic()))
            if self._send_thread.is_alive():
                self._abandon()  # stuck in transport.send: its batch goes to the spool (sent twice at worst)
        sender_done = not self._send_thread.is_alive()
        with self._changed:
            if sender_done:
                while self._outbox:  # routed after the sender stopped (no spill spool)
                    b = self._outbox.popleft()
                    self._outbox_events -= b.events
                    self._fail_locked(b, "shutdown's timeout passed")
        self._collect_child_drops()
        self._report_drops()
        if sender_done:
            self._close_transport()
            with self._changed:
                if self.spill is not None:
                    self.spill.close()
        result = self.result(timed_out)
        if result.pending:  # the export thread could not even spill them in time: lost with the process
            self._report(
                CaptureError(
                    "failed",
                    "%d events were still in memory when shutdown's %.1f s were up: they are lost with this process"
                    % (result.pending, timeout),
                    result.pending,
                )
            )
        if result.spooled:
            self._report(
                CaptureError(
                    "spilling",
                    "%d events were not delivered before shutdown (%s down): they are kept in the spill spool %s; "
                    "a client with spill_dir=%r sends them, or `npm run provml -- replay %s`"
                    % (result.spooled, self.transport.name, result.spool_path, result.spool_path, result.spool_path),
                    result.spooled,
                )
            )
        self._forks.close()
        return result

    def _abandon(self) -> None:
        """Shutdown's last resort when the sender is stuck in a send: the batch in flight and the
        outbox are written to the spill spool; whatever the send does later is ignored."""
        with self._lock:
            self._abandoned = True
            batches = []
            if self._inflight is not None and self._inflight.source == _MEMORY:
                batches.append(self._inflight)
            batches.extend(self._outbox)
            self._outbox.clear()
            self._outbox_events = 0
            for b in batches:
                self._spill_or_fail(b.texts, "shutdown's timeout passed during a send")
            self._changed.notify_all()

    def _close_transport(self) -> None:
        try:
            self.transport.close()
        except Exception as e:
            self._report(CaptureError("close", "closing %s failed: %s" % (self.transport.name, e), 0, e))

    # -- the export thread ----------------------------------------------------------------------

    def _run_export(self) -> None:
        q = self._q
        wake = self._wake
        inline = self.inline_send
        backoff = _Backoff(self.retry_initial, self.retry_max) if inline else None
        forks = self._forks
        next_fork_check = 0.0
        try:
            while True:
                timed_out = False
                if len(q) < self.batch_size and not self._closing and not self._urgent:
                    timed_out = not wake.wait(self.flush_interval)
                wake.clear()
                self._woken = False
                if forks.active:  # only once this process forked (the pipe is made then), and not per batch
                    now = time.monotonic()
                    if now >= next_fork_check or self._closing:
                        next_fork_check = now + CHECK_INTERVAL
                        self._collect_child_drops()
                if self._dropped - self._forks.count != self._reported_drops:
                    self._report_drops()
                while q:
                    spilling = self._spilling or self._give_up.is_set()
                    n = min(len(q), SPILL_BATCH if spilling else self.batch_size)
                    # a partial batch goes out when its time is up, or on flush and shutdown
                    if n < self.batch_size and not (timed_out or self._closing or self._urgent):
                        break
                    if not spilling:
                        self._wait_for_outbox_room()
                    batch = [q.popleft() for _ in range(n)]
                    self._taken += n
                    if self._waiting_for_room:
                        with self._room:
                            self._room.notify_all()
                    self._route(self._encode_batch(batch))
                    if inline and not self._send_outbox(backoff):  # type: ignore[arg-type]
                        return  # abandoned by shutdown
                if self._closing and not q:
                    self._report_drops()
                    return
        except BaseException as e:  # a bug here must not pass silently
            self._report(CaptureError("internal", "capture thread stopped: %r" % e, len(q), e))
            raise
        finally:
            self._export_done.set()
            self._send_wake.set()
            if inline:
                with self._changed:
                    self._changed.notify_all()

    def _send_outbox(self, backoff: "_Backoff") -> bool:
        """``inline_send``: the export thread sends what it routed (False: shutdown abandoned a send)."""
        while True:
            with self._changed:
                if self._abandoned:
                    return False
                if not self._outbox:
                    return True
                b = self._outbox.popleft()
                self._outbox_events -= b.events
                if self._give_up.is_set():  # shutdown's time is up: nothing new is tried
                    self._fail_locked(b, "shutdown's timeout passed")
                    continue
                self._inflight = b
            if not self._deliver(b, backoff):
                return False

    def _wait_for_outbox_room(self) -> None:
        """While the sender is behind: waits, and spills once the queue is half full."""
        with self._changed:
            while self._outbox_events >= self.outbox_limit and not self._spilling:
                if self._give_up.is_set():
                    return
                if len(self._q) >= self._high_water and self.spill is not None:
                    self._start_spilling("%s is behind (%d events queued)" % (self.transport.name, len(self._q)))
                    return
                self._changed.wait(0.05)

    def _encode_batch(self, events: List[Any]) -> List[str]:
        encode = self._encode
        texts = []
        for e in events:
            try:
                texts.append(encode_event(e, encode))
            except (TypeError, ValueError) as err:  # values are checked on the caller's side
                with self._lock:
                    self._rejected += 1
                    self._left_memory += 1
                self._report(CaptureError("rejected", "an event cannot be encoded: %s" % err, 1, err))
        return texts

    def _route(self, texts: List[str]) -> None:
        if not texts:
            return
        with self._changed:
            if self.spill is not None and self._give_up.is_set() and not self._spilling:
                self._start_spilling("shutdown's timeout passed")
            if self._spilling and self.spill is not None:
                self._spill_or_fail(texts, "")
            else:
                self._outbox.append(_Batch(texts, _MEMORY))
                self._outbox_events += len(texts)
                if not self.inline_send:
                    self._send_wake.set()
            self._changed.notify_all()

    # -- the spill spool (under _lock) ----------------------------------------------------------

    def _start_spilling(self, why: str) -> None:
        """From now on batches go to the spill spool; the outbox (older than what comes) goes first."""
        if self._spilling or self.spill is None:
            return
        self._spilling = True
        self._report(
            CaptureError("spilling", "%s: events go to the spill spool %s until it is drained" % (why, self.spill.path), self._outbox_events)
        )
        while self._outbox:
            b = self._outbox.popleft()
            self._outbox_events -= b.events
            self._spill_or_fail(b.texts, "")
        self._changed.notify_all()
        self._send_wake.set()

    def _spill_or_fail(self, texts: List[str], why: str) -> None:
        spill = self.spill
        if spill is None:
            self._failed += len(texts)
            self._left_memory += len(texts)
            self._report(CaptureError("failed", "%d events not delivered: %s" % (len(texts), why or "no spill spool"), len(texts)))
            return
        dropped_before = spill.dropped
        errors: List[Exception] = []
        written = self._spill_write(spill, texts, errors)
        if written < len(texts):
            lost = len(texts) - written
            self._failed += lost
            e = errors[0] if errors else SpoolFullError("spool full")
            self._report(CaptureError("failed", "%d events could not be written to the spill spool %s: %s" % (lost, spill.path, e), lost, e))
        if spill.dropped != dropped_before:
            self._report(
                CaptureError(
                    "dropped",
                    "the spill spool %s reached its cap: its %d oldest unsent events were deleted (spool_full=drop-oldest)"
                    % (spill.path, spill.dropped - dropped_before),
                    spill.dropped - dropped_before,
                )
            )
        self._left_memory += len(texts)
        self._send_wake.set()

    def _spill_write(self, spill: SpillSpool, texts: List[str], errors: List[Exception]) -> int:
        """Writes what it can of ``texts`` to the spill spool, in order; returns how many were written.
        The spool writes a batch whole or not at all: a batch over the cap is split until the rest
        fits (``spool_full=reject``); a disk error stops at once. Errors go to ``errors``."""
        try:
            spill.write(texts)
        except SpoolFullError as e:
            if len(texts) == 1:
                errors.append(e)
                return 0
            half = len(texts) // 2
            first = self._spill_write(spill, texts[:half], errors)
            return first if first < half else first + self._spill_write(spill, texts[half:], errors)
        except (SpoolError, OSError, ValueError) as e:
            errors.append(e)
            return 0
        self._spilled += len(texts)
        return len(texts)

    # -- the sender thread ----------------------------------------------------------------------

    def _run_send(self) -> None:
        backoff = _Backoff(self.retry_initial, self.retry_max)
        try:
            while True:
                batch = self._next_batch(backoff)
                if batch is None:
                    return
                if not self._deliver(batch, backoff):
                    return
        except BaseException as e:  # a bug here must not pass silently
            self._report(CaptureError("internal", "capture sender stopped: %r" % e, 0, e))
            raise
        finally:
            with self._changed:
                self._changed.notify_all()

    def _deliver(self, batch: _Batch, backoff: "_Backoff") -> bool:
        """Sends a batch, retrying with back-off; False when shutdown abandoned the send (stop)."""
        while True:  # attempts of this batch
            outcome, err = self._attempt(batch)
            if outcome == "done":
                if backoff.failing_since is not None:
                    _log.info("provml capture: %s delivers again", self.transport.name)
                backoff.succeeded()
                break
            if outcome == "abandoned":
                self._close_transport()  # shutdown left it to this thread
                return False
            backoff.failed()
            if backoff.new_step:  # one report per back-off step, not per attempt
                self._report(
                    CaptureError(
                        "retrying",
                        "delivery via %s failed (%d failed attempts so far); next try in %.2f s%s: %s"
                        % (
                            self.transport.name,
                            self._retries,
                            backoff.delay,
                            "; meanwhile events go to the spill spool %s" % self.spill.path if self.spill is not None else "",
                            err,
                        ),
                        batch.events,
                        err,
                    )
                )
            if batch.source == _MEMORY:
                if self._spill_failed(batch):
                    break  # in the spill spool now: sent from there
                failing_for = time.monotonic() - backoff.failing_since  # type: ignore[operator]
                if self.spill is None and self.retry_deadline is not None and failing_for + backoff.delay > self.retry_deadline:
                    self._fail(batch, "given up after %.1f s (retry_deadline): %s" % (failing_for, err))
                    break
            if not self._back_off(backoff.retry_at):
                self._give_up_batch(batch)
                break
        return True

    def _back_off(self, retry_at: float) -> bool:
        """Waits until ``retry_at`` (or until a flush or shutdown asks for a try now); False: shutdown's
        time is up."""
        while True:
            self._send_wake.clear()
            if self._give_up.is_set():
                return False
            with self._lock:
                if self._kicked:
                    self._kicked = False
                    return True
            left = retry_at - time.monotonic()
            if left <= 0:
                return True
            self._send_wake.wait(min(left, 0.25))

    def _next_batch(self, backoff: "_Backoff") -> Optional[_Batch]:
        """The next batch to send (None: done), waiting for work and for the back-off."""
        while True:
            self._send_wake.clear()
            wait = 0.25
            with self._changed:
                if self._abandoned:
                    return None
                spill = self.spill
                if self._give_up.is_set():
                    # shutdown's time is up: nothing new is tried; what is in memory is kept or counted
                    if self._outbox:
                        if spill is not None:
                            self._start_spilling("shutdown's timeout passed")
                        else:
                            while self._outbox:
                                b = self._outbox.popleft()
                                self._outbox_events -= b.events
                                self._fail_locked(b, "shutdown's timeout passed")
                    if self._export_done.is_set():
                        return None
                elif self._outbox:
                    b = self._outbox.popleft()
                    self._outbox_events -= b.events
                    self._changed.notify_all()
                    self._inflight = b
                    return b
                elif self._spilling and spill is not None:
                    if spill.unsent == 0:
                        self._spilling = False  # drained: back to sending from memory
                        self._changed.notify_all()
                        _log.info("provml capture: the spill spool %s is drained", spill.path)
                        continue
                    if time.monotonic() >= backoff.retry_at or self._kicked:
                        self._kicked = False
                        try:
                            texts, end = spill.read(max(self.batch_size, SPILL_BATCH))
                            if not texts and end < spill.next_seq:
                                raise ValueError("no record readable at %d of %d" % (end, spill.next_seq))
                        except (OSError, ValueError) as e:
                            lost = spill.skip_unreadable()
                            self._failed += lost
                            self._report(CaptureError("failed", "the spill spool %s cannot be read: %s" % (spill.path, e), lost, e))
                            continue
                        if not texts:  # only other envelopes (the spec) were left
                            spill.ack(end, 0)
                            if spill.unsent:  # counted but not found: given up
                                self._failed += spill.skip_unreadable()
                            continue
                        b = _Batch(texts, _SPOOL, end)
                        self._inflight = b
                        return b
                    wait = max(0.0, min(0.25, backoff.retry_at - time.monotonic()))
                elif self._export_done.is_set() and self._closing:
                    return None
            self._send_wake.wait(wait)

    def _attempt(self, batch: _Batch) -> "Tuple[str, Optional[Exception]]":
        """Sends a batch (resending what is left after the receiver named refused events):
        ("done" | "retry" | "abandoned", the retryable error)."""
        started = time.perf_counter()
        while True:
            self._attempts += 1
            attempt = self._attempts
            try:
                self.transport.send(batch.texts)
            except RetryableError as err:
                with self._changed:
                    if self._abandoned:
                        return "abandoned", None
                    self._retries += 1
                    self._consecutive_failures += 1
                    self._last_failed_attempt = attempt
                    self._changed.notify_all()
                return "retry", err
            except RejectedError as err:
                bad = err.indexes if err.indexes is not None else list(range(len(batch.texts)))
                ids = []
                for i in bad[:10]:
                    try:
                        ids.append(json.loads(batch.texts[i]).get("eventId"))
                    except (ValueError, IndexError):
                        pass
                with self._changed:
                    if self._abandoned:
                        return "abandoned", None
                    self._rejected += len(bad)
                    if batch.source == _MEMORY:
                        self._left_memory += len(bad)
                    drop = set(bad)
                    batch.texts = [t for i, t in enumerate(batch.texts) if i not in drop]
                    self._changed.notify_all()
                self._report(CaptureError("rejected", "%s refused %d events %s: %s" % (self.transport.name, len(bad), ids, err), len(bad), err))
                if err.indexes is not None and batch.texts:
                    continue  # resend the rest (all-or-nothing receivers)
                batch.texts = []
                with self._changed:
                    self._finish(batch, started)
                return "done", None
            except Exception as err:  # a transport bug: report and count, keep the thread alive
                with self._changed:
                    if self._abandoned:
                        return "abandoned", None
                    self._failed += len(batch.texts)
                    if batch.source == _MEMORY:
                        self._left_memory += len(batch.texts)
                    batch.texts = []
                    self._finish(batch, started)
                self._report(CaptureError("failed", "export via %s raised %r" % (self.transport.name, err), batch.events, err))
                return "done", None
            with self._changed:
                if self._abandoned:
                    return "abandoned", None
                self._exported += len(batch.texts)
                if batch.source == _MEMORY:
                    self._left_memory += len(batch.texts)
                self._finish(batch, started)
            return "done", None

    def _finish(self, batch: _Batch, started: float) -> None:
        """The batch is dealt with (delivered, rejected or failed: counted already, under the same
        hold of the lock, so that a snapshot never sees it both delivered and still spooled)."""
        self._batches += 1
        self._consecutive_failures = 0
        self._last_export_ms = (time.perf_counter() - started) * 1000.0
        if batch.source == _SPOOL and self.spill is not None:
            self.spill.ack(batch.end_seq, batch.events)
        self._inflight = None
        self._changed.notify_all()

    def _spill_failed(self, batch: _Batch) -> bool:
        """After a memory batch failed: into the spill spool, then the outbox, unless the spool holds
        newer events already (then it is retried first, from memory). True when it was spilled."""
        with self._changed:
            spill = self.spill
            if spill is None or (self._spilling and spill.unsent > 0):
                return False
            self._inflight = None
            self._spill_or_fail(batch.texts, "")
            self._spilling = False  # _start_spilling reports, and moves the outbox after this batch
            self._start_spilling("%s is down" % self.transport.name)
            return True

    def _fail_locked(self, batch: _Batch, why: str) -> None:
        self._failed += len(batch.texts)
        if batch.source == _MEMORY:
            self._left_memory += len(batch.texts)
        self._changed.notify_all()
        self._report(CaptureError("failed", "%d events not delivered via %s: %s" % (len(batch.texts), self.transport.name, why), len(batch.texts)))

    def _fail(self, batch: _Batch, why: str) -> None:
        with self._changed:
            self._inflight = None
            self._fail_locked(batch, why)

    def _give_up_batch(self, batch: _Batch) -> None:
        """Shutdown's time is up while a batch waits for its next try: a memory batch goes to the
        spill spool (or is counted as failed); a spool batch stays where it is."""
        with self._changed:
            self._inflight = None
            if batch.source == _SPOOL:
                self._changed.notify_all()
                return
            if self.spill is not None:
                self._spill_or_fail(batch.texts, "")
                self._changed.notify_all()
                return
            self._fail_locked(batch, "shutdown's timeout passed")

    def _report(self, error: CaptureError) -> None:
        try:
            self.on_error(error)
        except Exception:  # a throwing handler must not break the export loop
            _log.exception("provml capture error handler raised")


class _Backoff:
    """Exponential back-off with jitter; ``new_step`` tells when a failure starts a longer wait."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.delay = initial
        self.retry_at = 0.0
        self.failing_since: Optional[float] = None
        self.new_step = False
        self._failures = 0
        self._reported_delay = -1.0

    def failed(self) -> None:
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
            self.delay = self.initial
        else:
            self.delay = min(self.maximum, self.delay * 2)
        self._failures += 1
        # a report when the wait grows, then every 64th failure at the longest wait
        self.new_step = self.delay != self._reported_delay or self._failures % 64 == 0
        self._reported_delay = self.delay
        self.retry_at = now + self.delay * (0.5 + random.random() / 2)

    def succeeded(self) -> None:
        self.failing_since = None
        self.delay = self.initial
        self.retry_at = 0.0
        self._failures = 0
        self._reported_delay = -1.0
