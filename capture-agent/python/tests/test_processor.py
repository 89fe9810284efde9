"""The queue and background threads: batching, flush, overflow policies, retries, never losing silently.

(Spilling to the local spool and the bounded exit, against real sockets: test_delivery.py.)"""

import json
import os
import tempfile
import threading
import time

import pytest

import provml_client as provml
from conftest import wait_until
from fakes import ScriptedTransport
from provml_client import RejectedError, RetryableError


def make(spec, transport, setting="D", **kw):
    errors = []
    kw.setdefault("env", {})
    kw.setdefault("retry_initial", 0.01)
    kw.setdefault("retry_max", 0.05)
    if kw.get("spill", True) and "spill_dir" not in kw:  # a spill spool of the test's own
        kw["spill_dir"] = os.path.join(tempfile.mkdtemp(prefix="pvml-spill-"), "spill")
    c = provml.init(spec, setting, transport=transport, on_error=errors.append, register_atexit=False, **kw)
    return c, errors


def emit(client, n, task="training"):
    run = client.workflow_execution()
    for _ in range(n // 2):
        run.begin(task).end()


def test_queue_size_1_exports_every_event_on_its_own(small_spec):
    t = ScriptedTransport()
    c, errors = make(small_spec, t, "A")
    emit(c, 10)
    assert c.flush(20)
    assert [len(b) for b in t.accepted] == [1] * 10
    c.shutdown(20)
    assert errors == []


def test_queue_size_50_exports_full_batches(small_spec):
    t = ScriptedTransport()
    c, _ = make(small_spec, t, "D", queue_size=50, flush_interval=30)
    emit(c, 200)
    assert wait_until(lambda: len(t.accepted_events) == 200)
    assert [len(b) for b in t.accepted] == [50, 50, 50, 50]
    c.shutdown(20)


def test_a_partial_batch_waits_for_the_flush_interval(small_spec):
    t = ScriptedTransport()
    c, _ = make(small_spec, t, "D", queue_size=50, flush_interval=0.3)
    emit(c, 4)
    time.sleep(0.05)
    assert t.accepted == []
    assert wait_until(lambda: len(t.accepted_events) == 4, timeout=20)
    c.shutdown(20)


def test_flush_exports_a_partial_batch_at_once(small_spec):
    t = ScriptedTransport()
    c, _ = make(small_spec, t, "D", flush_interval=60)
    emit(c, 6)
    started = time.monotonic()
    assert c.flush(20)
    assert time.monotonic() - started < 2
    assert len(t.accepted_events) == 6
    s = c.stats
    assert (s.enqueued, s.exported, s.queue_depth) == (6, 6, 0)
    c.shutdown(20)


def test_the_caller_does_not_wait_for_a_slow_transport(small_spec):
    t = ScriptedTransport(delay=0.5)
    c, _ = make(small_spec, t, "A")
    started = time.perf_counter()
    emit(c, 20)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.4, "20 capture calls took %.3f s behind a 0.5 s transport" % elapsed
    r = c.shutdown(0.1)  # what is left stays in the spill spool, counted and reported
    assert r.delivered + r.spooled == 20 and r.dropped == 0 and not r


def test_overflow_drop_counts_and_reports_once_per_burst(small_spec):
    gate = threading.Event()

    class Stuck(ScriptedTransport):
        def send(self, events):
            gate.wait(20)
            super().send(events)

    t = Stuck()
    # without a spill spool, to see the overflow policy itself (the default is drop)
    c, errors = make(small_spec, t, "D", queue_size=50, max_queue_size=100, flush_interval=0.01, spill=False)
    emit(c, 400)
    dropped = c.stats.dropped
    # at most the queue, the sender's outbox and one batch in flight were kept
    assert dropped >= 400 - 100 - c._processor.outbox_limit - 50
    gate.set()
    r = c.flush(20)
    assert not r.timed_out and r.pending == 0 and not r  # falsy: events were dropped
    s = c.stats
    assert s.exported + s.dropped == 400 and r.delivered == s.exported and r.dropped == s.dropped
    c.shutdown(20)
    drops = [e for e in errors if e.kind == "dropped"]
    assert drops and sum(e.count for e in drops) == s.dropped
    assert len(drops) < 10  # reported in bursts, not once per event


def test_overflow_block_waits_for_room_and_loses_nothing(small_spec):
    t = ScriptedTransport(delay=0.01)
    c, errors = make(small_spec, t, "D", queue_size=50, max_queue_size=50, overflow="block", spill=False)
    emit(c, 1000)
    assert c.flush(30)
    s = c.stats
    assert s.exported == 1000 and s.dropped == 0 and s.blocked > 0
    assert len(t.accepted_events) == 1000
    assert len({e["eventId"] for e in t.accepted_events}) == 1000
    c.shutdown(20)
    assert [e for e in errors if e.kind != "retrying"] == []


def test_retryable_errors_are_retried_with_backoff_until_accepted(small_spec):
    t = ScriptedTransport([RetryableError("agent down")] * 4)
    c, errors = make(small_spec, t, "D")
    emit(c, 10)
    r = c.flush(20)  # returns at the first failed attempt: the transport is down, the events spilled
    assert not r and not r.timed_out and r.spooled + r.delivered == 10 and r.pending == 0
    assert wait_until(lambda: c.stats.exported == 10)
    assert c.flush(20)
    assert len(t.attempts) == 5 and len(t.accepted_events) == 10
    assert c.stats.retries == 4 and c.stats.failed == 0
    assert errors[0].kind == "retrying"  # the first retry is reported, so an outage is visible
    c.shutdown(20)


def test_without_spill_giving_up_after_the_deadline_is_counted_and_reported(small_spec):
    t = ScriptedTransport([RetryableError("agent down")] * 1000)
    c, errors = make(small_spec, t, "D", retry_deadline=0.2, spill=False)
    emit(c, 10)
    assert wait_until(lambda: c.stats.failed == 10)
    r = c.flush(20)
    assert (r.dropped, r.delivered, r.pending) == (10, 0, 0) and not r
    assert c.stats.failed == 10 and c.stats.exported == 0
    failed = [e for e in errors if e.kind == "failed"]
    assert failed and failed[0].count == 10 and "agent down" in str(failed[0])
    c.shutdown(20)


def test_without_spill_shutdown_gives_up_after_its_timeout_and_reports(small_spec):
    t = ScriptedTransport([RetryableError("agent down")] * 100000)
    c, errors = make(small_spec, t, "D", spill=False)
    emit(c, 10)
    started = time.monotonic()
    r = c.shutdown(0.3)
    assert time.monotonic() - started < 0.3 + 0.25
    assert not r and r.dropped == 10 and r.spooled == 0 and r.spool_path is None
    assert c.stats.failed == 10
    assert any(e.kind == "failed" and e.count == 10 for e in errors)


def test_with_spill_shutdown_keeps_what_is_left_in_the_spool(small_spec):
    t = ScriptedTransport([RetryableError("agent down")] * 100000)
    c, errors = make(small_spec, t, "D")
    emit(c, 10)
    started = time.monotonic()
    r = c.shutdown(0.3)
    assert time.monotonic() - started < 0.3 + 0.25
    assert not r and (r.spooled, r.dropped, r.delivered) == (10, 0, 0) and os.path.isdir(r.spool_path)
    assert c.stats.failed == 0 and c.stats.spilled == 10
    assert any(e.kind == "spilling" and r.spool_path in str(e) for e in errors)


def test_rejected_events_are_reported_and_the_rest_resent(small_spec):
    t = ScriptedTransport([RejectedError("bad lines", indexes=[1, 3])])
    c, errors = make(small_spec, t, "D")
    emit(c, 6)
    r = c.flush(20)
    assert (r.rejected, r.delivered, r.pending, r.timed_out) == (2, 4, 0, False) and not r
    assert len(t.attempts) == 2 and len(t.attempts[1]) == 4
    assert c.stats.rejected == 2 and c.stats.exported == 4
    rejected = [e for e in errors if e.kind == "rejected"]
    assert rejected and rejected[0].count == 2
    c.shutdown(20)


def test_a_rejection_without_lines_rejects_the_batch(small_spec):
    t = ScriptedTransport([RejectedError("all bad")])
    c, errors = make(small_spec, t, "D")
    emit(c, 4)
    r = c.flush(20)
    assert (r.rejected, r.delivered, r.pending) == (4, 0, 0) and not r
    assert c.stats.rejected == 4 and c.stats.exported == 0
    r = c.shutdown(20)
    assert not r and r.rejected == 4  # shutdown owns up to the rejection too


def test_a_throwing_error_handler_does_not_stop_the_thread(small_spec):
    t = ScriptedTransport([RetryableError("x")])

    def handler(e):
        raise RuntimeError("handler bug")

    c = provml.init(small_spec, "D", transport=t, on_error=handler, env={}, retry_initial=0.01, register_atexit=False)
    emit(c, 4)
    assert wait_until(lambda: c.stats.exported == 4)
    assert c.flush(20)
    assert len(t.accepted_events) == 4
    c.shutdown(20)


def test_shutdown_is_idempotent_and_later_events_are_dropped_and_counted(small_spec):
    t = ScriptedTransport()
    c, errors = make(small_spec, t, "D")
    run = c.workflow_execution()
    run.begin("training").end()
    r = c.shutdown(20)
    assert r and r.delivered == 2
    assert c.shutdown(20) is r
    assert t.closed == 1
    run.begin("training")
    assert c.stats.dropped == 1
    assert any(e.kind == "dropped" for e in errors)
    assert len(t.accepted_events) == 2


def test_threads_capturing_at_once_lose_nothing(small_spec):
    t = ScriptedTransport()
    # overflow=block: this is about threads, not the overflow policy (a queue of 200 fills at once)
    c, _ = make(small_spec, t, "D", queue_size=50, max_queue_size=200, overflow="block")
    threads = [threading.Thread(target=emit, args=(c, 2000)) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert c.flush(30)
    ids = [e["eventId"] for e in t.accepted_events]
    assert len(ids) == 8000 == len(set(ids))
    c.shutdown(20)


def test_settings_table_and_conflicts():
    r = provml.resolve_setting
    assert r("a") == {"setting": "A", "queue_size": 1, "diskful": False, "online": True}
    assert r("F", queue_size=64)["queue_size"] == 64
    assert r(queue_size=10, diskful=False) == {"setting": None, "queue_size": 10, "diskful": False, "online": True}
    with pytest.raises(ValueError):
        r("A", queue_size=50)
    with pytest.raises(ValueError):
        r("D", queue_size=10)
    with pytest.raises(ValueError):
        r("C", online=True)
    with pytest.raises(ValueError):
        r("G")
    with pytest.raises(ValueError, match="offline capture is diskful"):
        r(online=False, diskful=False)


def test_init_picks_the_transport_of_each_setting(tmp_path, small_spec):
    sock = str(tmp_path / "agent.sock")
    cases = {
        "A": (dict(http_url="http://127.0.0.1:7071"), provml.HttpTransport),
        "D": (dict(http_url="http://127.0.0.1:7071"), provml.HttpTransport),
        "B": (dict(socket_path=sock), provml.UnixSocketTransport),
        "E": (dict(socket_path=sock, http_url="http://127.0.0.1:7072"), provml.FallbackTransport),
        "C": (dict(spool_dir=str(tmp_path / "c")), provml.SpoolTransport),
        "F": (dict(spool_dir=str(tmp_path / "f")), provml.SpoolTransport),
    }
    for setting, (kw, cls) in cases.items():
        c = provml.init(small_spec, setting, env={}, register_atexit=False, **kw)
        try:
            assert isinstance(c.transport, cls), setting
            assert c._processor.batch_size == (1 if setting in "ABC" else 512)
        finally:
            c.shutdown(0.5)
    with pytest.raises(ValueError, match="socket_path"):
        provml.init(small_spec, "E", env={}, register_atexit=False)
    with pytest.raises(ValueError, match="http_url"):
        provml.init(small_spec, "D", env={}, register_atexit=False)
    with pytest.raises(ValueError, match="spool_dir"):
        provml.init(small_spec, "F", env={}, register_atexit=False)
    # the environment names the endpoints too
    c = provml.init(small_spec, env={"PROVML_CAPTURE_SETTING": "B", "PROVML_AGENT_SOCKET": sock}, register_atexit=False)
    assert c.setting == "B" and isinstance(c.transport, provml.UnixSocketTransport)
    c.shutdown(0.5)


def test_a_batch_that_fails_after_newer_events_spilled_still_arrives_first(small_spec):
    gate = threading.Event()

    class StuckThenDown(ScriptedTransport):
        """The first send hangs until the gate opens, then fails; later sends are accepted."""

        def send(self, events):
            if not self.attempts:
                self.attempts.append(list(events))
                gate.wait(20)
                raise RetryableError("connection reset")
            super().send(events)

    t = StuckThenDown()
    c, errors = make(small_spec, t, "D", queue_size=50, max_queue_size=200, flush_interval=0.01)
    run = c.workflow_execution()
    for i in range(150):  # 300 events: one batch in flight, the outbox full, the queue past half
        run.begin("training", values={"learning_rate": float(i)}).end()
        time.sleep(0.0002)
    assert wait_until(lambda: c.stats.spilled > 0)  # the export thread spilled instead of waiting
    gate.set()  # the stuck batch fails now: it is older than what is spooled, so it is retried first
    r = c.shutdown(20)
    assert r.rejected == 0 and r.spooled == 0 and r.pending == 0 and r.delivered + r.dropped == 300
    assert r.delivered == c.stats.enqueued and c.stats.spilled > 0
    # the stuck batch, retried from memory, was the first accepted: nothing newer overtook it
    assert [e["eventId"] for e in t.accepted[0]] == [json.loads(x)["eventId"] for x in t.attempts[0]]
    rates = [e["values"]["learning_rate"] for e in t.accepted_events if e["phase"] == "begin"]
    assert rates == sorted(rates) and rates[0] == 0.0  # in capture order
