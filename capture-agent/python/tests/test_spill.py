"""The spill spool (_spill.py): written and drained in order, in the AGENT.md format, across processes."""

import json
import os

import pytest

import provml_client as provml
from fakes import ScriptedTransport
from provml_client import _spill
from provml_client._spill import SpillSpool
from provml_client.spool import read_published, read_spool
from provml_client.transports import RetryableError

SPEC = b'{"spec":{"workflow":"w"}}'


def ev(i, pad=0):
    return json.dumps({"eventId": "e%d" % i, "pad": "x" * pad})


def drain(s, max_events=1000):
    out = []
    while s.unsent:
        texts, end = s.read(max_events)
        out.extend(json.loads(t)["eventId"] for t in texts)
        s.ack(end, len(texts))
    return out


def test_written_in_order_read_in_order_and_acknowledged(tmp_path):
    s = SpillSpool(str(tmp_path / "spill"), SPEC, owned=False, segment_bytes=600, fsync="never")
    assert not s.is_open
    s.write([ev(i) for i in range(10)])  # opens it: the spec first
    s.write([ev(i) for i in range(10, 25)])
    assert s.is_open and s.unsent == 25
    records = [p for _, p in read_spool(s.path)]
    assert records[0] == SPEC and len(records) == 26  # a spool `provml replay` reads
    texts, end = s.read(7)
    assert [json.loads(t)["eventId"] for t in texts] == ["e%d" % i for i in range(7)]
    assert end == 8  # the spec record is passed over
    s.ack(end, len(texts))
    assert s.unsent == 18 and read_published(s.path) == 8
    assert drain(s, 5) == ["e%d" % i for i in range(7, 25)]
    # segments wholly published are deleted as the cursor passes them (the active one stays)
    assert len(os.listdir(os.path.join(s.path, "segments"))) == 1
    s.write([ev(99)])
    assert drain(s) == ["e99"]
    s.close()
    assert os.listdir(os.path.join(s.path, "segments")) == []  # a drained spool given by the user: emptied


def test_what_a_process_left_is_found_by_the_next_one(tmp_path):
    d = str(tmp_path / "spill")
    first = SpillSpool(d, SPEC, owned=False, fsync="never")
    first.write([ev(i) for i in range(6)])
    texts, end = first.read(2)
    first.ack(end, 2)
    first.close()  # not drained: kept, LOCK released
    assert os.path.exists(os.path.join(d, "segments"))
    second = SpillSpool(d, SPEC, owned=False, fsync="never")
    second.open()
    assert second.recovered == 4 and second.unsent == 4
    second.write([ev(6)])
    assert drain(second, 3) == ["e2", "e3", "e4", "e5", "e6"]
    second.close()


def test_an_owned_spool_is_removed_once_drained_and_kept_otherwise(tmp_path):
    s = SpillSpool(str(tmp_path / "mine" / "spill"), SPEC, owned=True)
    s.write([ev(1)])
    s.close()
    assert os.path.isdir(s.path)  # not drained: kept for the next client or `provml replay`
    s = SpillSpool(s.path, SPEC, owned=True)
    s.open()
    drain(s)
    s.close()
    assert not os.path.exists(s.path)


def test_a_record_larger_than_a_read_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(_spill, "READ_CHUNK", 64)
    s = SpillSpool(str(tmp_path / "spill"), SPEC, owned=False, fsync="never")
    s.write([ev(0), ev(1, pad=500), ev(2)])
    assert drain(s, 2) == ["e0", "e1", "e2"]
    s.close()


def test_drop_oldest_counts_what_it_deleted_and_reading_goes_on_after_it(tmp_path):
    s = SpillSpool(str(tmp_path / "spill"), SPEC, owned=False, segment_bytes=300, max_bytes=900,
                   full_policy="drop-oldest", fsync="never")
    for i in range(0, 40, 4):
        s.write([ev(j, pad=20) for j in range(i, i + 4)])
    assert s.dropped > 0 and s.unsent + s.dropped == 40
    got = drain(s)
    assert got == ["e%d" % i for i in range(40 - len(got), 40)]  # the newest, in order
    s.close()


def test_a_segment_damaged_behind_the_writers_back_is_skipped_not_spun_on(tmp_path):
    s = SpillSpool(str(tmp_path / "spill"), SPEC, owned=False, fsync="never")
    s.write([ev(i) for i in range(5)])
    seg = os.path.join(s.path, "segments", os.listdir(os.path.join(s.path, "segments"))[0])
    with open(seg, "r+b") as f:
        f.truncate(40)
    texts, end = s.read(10)
    assert texts == [] and end < s.next_seq
    assert s.skip_unreadable() == 5 and s.unsent == 0
    s.write([ev(9)])
    assert drain(s) == ["e9"]
    s.close()


def test_a_full_spill_spool_drops_and_counts_and_the_trainer_goes_on(tmp_path, small_spec):
    t = ScriptedTransport([RetryableError("down")] * 100000)
    errors = []
    c = provml.init(small_spec, "D", transport=t, env={}, spill_dir=str(tmp_path / "spill"), max_spool_bytes=2000,
                    retry_initial=0.01, retry_max=0.05, on_error=errors.append, register_atexit=False)
    run = c.workflow_execution()
    for _ in range(50):
        run.begin("training", values={"learning_rate": 0.1}).end()
    r = c.shutdown(0.5)
    assert r.delivered == 0 and r.spooled > 0 and r.dropped > 0 and r.spooled + r.dropped == 100
    assert any(e.kind == "failed" and "spill spool" in str(e) for e in errors)


def test_the_spill_spool_is_locked_by_one_client_and_another_gets_its_own(tmp_path, small_spec, caplog):
    d = str(tmp_path / "spill")
    a = provml.init(small_spec, "D", transport=ScriptedTransport(), env={}, spill_dir=d, register_atexit=False)
    with caplog.at_level("WARNING", logger="provml_client"):
        b = provml.init(small_spec, "D", transport=ScriptedTransport(), env={}, spill_dir=d, register_atexit=False)
    try:
        assert a._processor.spill.path == d and b._processor.spill.path != d
        assert any("locked" in r.getMessage() for r in caplog.records)
    finally:
        a.shutdown(5)
        b.shutdown(5)


def test_no_spill_spool_for_the_offline_settings(tmp_path, small_spec):
    c = provml.init(small_spec, "F", spool_dir=str(tmp_path / "f"), env={}, register_atexit=False)
    try:
        assert c._processor.spill is None
        c.workflow_execution().begin("training").end()
        r = c.shutdown(5)
        assert r and r.delivered == 2 and r.spool_path == str(tmp_path / "f")
    finally:
        c.shutdown(5)


@pytest.mark.parametrize("spill", [None, False])
def test_spill_is_on_for_online_transports_unless_turned_off(tmp_path, small_spec, spill):
    c = provml.init(small_spec, "D", http_url="http://127.0.0.1:1", env={}, spill=spill, register_atexit=False)
    try:
        assert (c._processor.spill is not None) == (spill is None)
        assert not os.path.exists(c._processor.spill.path) if spill is None else True  # made on the first spill
    finally:
        c.shutdown(0.2)
