"""One background thread when the spool is the sink (issue #21): the export thread sends itself.

The offline settings (C, F) write the client's own spool: a local transport without a spill spool, so
the processor runs no sender thread (``BatchProcessor.inline_send``). The behaviours of the two-thread
processor hold with one: batching, retries with back-off, the retry deadline, rejections, overflow,
flush, shutdown's bound and give-up, order, fork safety and durability (a SIGKILL after a flush that
reported the events delivered loses none of them: each batch is fsynced before it counts as delivered).
"""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import provml_client as provml
from conftest import PKG_ROOT, wait_until
from fakes import ScriptedTransport
from provml_client import RejectedError, RetryableError
from provml_client._processor import BatchProcessor
from provml_client.spool import read_spool


class LocalScripted(ScriptedTransport):
    """A scripted transport that says it is local: the processor sends from its export thread."""

    local = True


def make(spec, transport, setting="D", **kw):
    errors = []
    kw.setdefault("env", {})
    kw.setdefault("retry_initial", 0.01)
    kw.setdefault("retry_max", 0.05)
    c = provml.init(spec, setting, transport=transport, on_error=errors.append, register_atexit=False, spill=False, **kw)
    assert c._processor.inline_send
    return c, errors


def emit(client, n, task="training"):
    run = client.workflow_execution()
    for _ in range(n // 2):
        run.begin(task).end()


def new_threads(before):
    return sorted(t.name for t in threading.enumerate() if t not in before)


def test_setting_f_runs_one_background_thread_and_online_settings_two(tmp_path, small_spec):
    before = set(threading.enumerate())
    c = provml.init(small_spec, "F", spool_dir=str(tmp_path / "f"), env={}, register_atexit=False)
    assert c._processor.inline_send
    assert new_threads(before) == ["provml-capture"]
    c.shutdown(20)
    before = set(threading.enumerate())
    online = provml.init(small_spec, "D", transport=ScriptedTransport(), env={}, register_atexit=False, spill=False)
    assert not online._processor.inline_send  # the transport is not local: it may wait on a peer
    assert new_threads(before) == ["provml-capture", "provml-capture-send"]
    online.shutdown(20)
    with pytest.raises(ValueError):
        BatchProcessor(LocalScripted(), spill=object(), inline_send=True)  # type: ignore[arg-type]


def test_full_batches_in_order(small_spec):
    t = LocalScripted()
    c, errors = make(small_spec, t, queue_size=50, flush_interval=30)
    emit(c, 200)
    assert wait_until(lambda: len(t.accepted_events) == 200)
    assert [len(b) for b in t.accepted] == [50, 50, 50, 50]
    ids = [int(e["eventId"].rsplit(".e", 1)[1], 16) for e in t.accepted_events]
    assert ids == sorted(ids)
    assert c.shutdown(20) and errors == []


def test_flush_sends_a_partial_batch_at_once(small_spec):
    t = LocalScripted()
    c, _ = make(small_spec, t, flush_interval=60)
    emit(c, 6)
    started = time.monotonic()
    r = c.flush(20)
    assert r and r.delivered == 6 and time.monotonic() - started < 2
    c.shutdown(20)


def test_retryable_errors_are_retried_with_backoff_until_accepted(small_spec):
    t = LocalScripted([RetryableError("disk full")] * 4)
    c, errors = make(small_spec, t)
    emit(c, 10)
    assert wait_until(lambda: c.stats.exported == 10)
    assert c.flush(20)
    assert len(t.attempts) == 5 and len(t.accepted_events) == 10
    assert c.stats.retries == 4 and c.stats.failed == 0
    assert errors[0].kind == "retrying"
    c.shutdown(20)


def test_giving_up_after_the_retry_deadline_is_counted_and_reported(small_spec):
    t = LocalScripted([RetryableError("disk full")] * 1000)
    c, errors = make(small_spec, t, retry_deadline=0.2)
    emit(c, 10)
    assert wait_until(lambda: c.stats.failed == 10)
    r = c.flush(20)
    assert (r.dropped, r.delivered, r.pending) == (10, 0, 0) and not r
    failed = [e for e in errors if e.kind == "failed"]
    assert failed and failed[0].count == 10 and "disk full" in str(failed[0])
    c.shutdown(20)


def test_shutdown_gives_up_after_its_timeout_and_reports(small_spec):
    t = LocalScripted([RetryableError("disk full")] * 100000)
    c, errors = make(small_spec, t)
    emit(c, 10)
    started = time.monotonic()
    r = c.shutdown(0.3)
    assert time.monotonic() - started < 0.3 + 0.25
    assert not r and r.dropped == 10 and r.spooled == 0
    assert c.stats.failed == 10
    assert any(e.kind == "failed" and e.count == 10 for e in errors)


def test_shutdown_abandons_a_send_that_does_not_return(small_spec):
    gate = threading.Event()

    class Stuck(LocalScripted):
        def send(self, events):
            gate.wait(20)
            super().send(events)

    t = Stuck()
    c, errors = make(small_spec, t)
    emit(c, 10)
    started = time.monotonic()
    r = c.shutdown(0.3)
    assert time.monotonic() - started < 0.3 + 0.25
    assert not r and r.dropped + r.pending == 10 and r.delivered == 0
    gate.set()  # the send returns later: ignored, the transport closed by the thread that was stuck
    assert wait_until(lambda: t.closed == 1)
    assert c.stats.exported == 0


def test_rejected_events_are_reported_and_the_rest_resent(small_spec):
    t = LocalScripted([RejectedError("bad lines", indexes=[1, 3])])
    c, errors = make(small_spec, t)
    emit(c, 6)
    r = c.flush(20)
    assert (r.rejected, r.delivered, r.pending, r.timed_out) == (2, 4, 0, False) and not r
    assert len(t.attempts) == 2 and len(t.attempts[1]) == 4
    assert [e for e in errors if e.kind == "rejected"][0].count == 2
    c.shutdown(20)


def test_overflow_block_waits_for_room_and_loses_nothing(small_spec):
    t = LocalScripted(delay=0.01)
    c, errors = make(small_spec, t, queue_size=50, max_queue_size=50, overflow="block")
    emit(c, 1000)
    assert c.flush(30)
    s = c.stats
    assert s.exported == 1000 and s.dropped == 0 and s.blocked > 0
    assert len({e["eventId"] for e in t.accepted_events}) == 1000
    c.shutdown(20)
    assert errors == []


def test_overflow_drop_counts_while_the_send_is_slow(small_spec):
    gate = threading.Event()

    class Stuck(LocalScripted):
        def send(self, events):
            gate.wait(20)
            super().send(events)

    t = Stuck()
    c, errors = make(small_spec, t, queue_size=50, max_queue_size=100, flush_interval=0.01)
    emit(c, 400)
    assert c.stats.dropped >= 400 - 100 - 50  # the queue and the one batch being sent were kept
    assert c._processor._wake._tokens.qsize() <= 2  # each drop wakes the thread; the wake-ups do not pile up
    gate.set()
    r = c.flush(20)
    s = c.stats
    assert not r and r.pending == 0 and s.exported + s.dropped == 400
    c.shutdown(20)
    assert sum(e.count for e in errors if e.kind == "dropped") == s.dropped


def test_threads_capturing_at_once_lose_nothing_with_the_real_spool(tmp_path, small_spec):
    d = str(tmp_path / "f")
    c = provml.init(small_spec, "F", spool_dir=d, env={}, register_atexit=False, queue_size=50,
                    max_queue_size=200, overflow="block")
    threads = [threading.Thread(target=emit, args=(c, 2000)) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    r = c.shutdown(30)
    assert r and r.delivered == 8000
    events = [json.loads(p)["event"] for _, p in read_spool(d) if p.startswith(b'{"event"')]
    assert len({e["eventId"] for e in events}) == 8000


def _fork_child_captures(client_run, conn):  # pragma: no cover - runs in the forked child
    client_run.begin("training").end()
    conn.send("done")
    os._exit(0)


def test_a_forked_child_drops_and_counts_and_the_parent_spool_stays_whole(tmp_path, small_spec):
    if not hasattr(os, "fork"):
        # only where the OS has no fork (Windows): every CI machine here is Linux, and CI=true never skips
        assert os.environ.get("CI") != "true", "os.fork is missing under CI=true"
        pytest.skip("no os.fork on this platform")
    d = str(tmp_path / "f")
    c = provml.init(small_spec, "F", spool_dir=d, env={}, register_atexit=False)
    run = c.workflow_execution()
    run.begin("training").end()
    assert not c._processor._forks.active  # no pipe (and no read of it per batch) until a fork
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork with threads
        p = ctx.Process(target=_fork_child_captures, args=(run, child))
        p.start()
    assert parent.recv() == "done"
    p.join(20)
    assert c._processor._forks.active
    run.begin("training").end()
    r = c.shutdown(20)
    assert r.delivered == 4 and c.stats.child_dropped == 2
    events = [json.loads(p)["event"] for _, p in read_spool(d) if p.startswith(b'{"event"')]
    assert len(events) == 4 and len({e["eventId"] for e in events}) == 4


_KILLED_CHILD = r"""
import json, sys, time
sys.path.insert(0, %(pkg)r)
import provml_client as provml
spec = json.loads(%(spec)r)
c = provml.init(spec, "F", spool_dir=%(dir)r, env={}, register_atexit=False, queue_size=50, flush_interval=60)
run = c.workflow_execution()
for i in range(%(n)d // 2):
    run.begin("training").end()
r = c.flush(20)
print(json.dumps({"delivered": r.delivered}), flush=True)
time.sleep(60)
"""


def test_a_sigkill_after_a_flush_loses_none_of_the_flushed_events(tmp_path, small_spec):
    d = str(tmp_path / "f")
    n = 130  # two full batches and a partial one
    code = _KILLED_CHILD % {"pkg": PKG_ROOT, "spec": json.dumps(small_spec), "dir": d, "n": n}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()  # type: ignore[union-attr]
        assert json.loads(line) == {"delivered": n}
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(20)
    assert p.returncode == -signal.SIGKILL
    events = [json.loads(payload)["event"] for _, payload in read_spool(d) if payload.startswith(b'{"event"')]
    assert len(events) == n
    ids = [int(e["eventId"].rsplit(".e", 1)[1], 16) for e in events]
    assert ids == sorted(ids)
