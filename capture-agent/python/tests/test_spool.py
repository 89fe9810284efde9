"""The spool writer against capture-agent/AGENT.md: record framing, CRCs, segments, LOCK, recovery, cap."""

import json
import os
import struct
import subprocess
import sys
import zlib

import pytest

import provml_client as provml
from conftest import in_ci
from provml_client import spool
from provml_client.spool import SpoolFullError, SpoolLockedError, SpoolWriter

# the same golden bytes as capture-agent/test/spool/spoolFormat.test.ts (TypeScript)
GOLDEN = "00000019ae57cc757b2273706563223a7b22776f726b666c6f77223a2277227d7d"


def verify_spool(directory):
    """An independent reader: walks every segment, checks each length and CRC-32, returns the payloads."""
    out = []
    seg_dir = os.path.join(directory, "segments")
    expected_first = None
    for name in sorted(os.listdir(seg_dir)):
        assert name.endswith(".seg") and len(name) == 24 and name[:20].isdigit(), name
        first = int(name[:20])
        if expected_first is not None:
            assert first == expected_first, "segment %s does not continue the sequence" % name
        with open(os.path.join(seg_dir, name), "rb") as f:
            data = f.read()
        pos, n = 0, 0
        while pos < len(data):
            length, crc = struct.unpack(">II", data[pos : pos + 8])
            payload = data[pos + 8 : pos + 8 + length]
            assert 1 <= length <= 1048576 and len(payload) == length, "bad length at %s:%d" % (name, pos)
            assert zlib.crc32(payload) == crc, "bad CRC at %s:%d" % (name, pos)
            out.append(payload)
            pos += 8 + length
            n += 1
        expected_first = first + n
    return out


def test_golden_bytes_of_one_record():
    payload = json.dumps({"spec": {"workflow": "w"}}, separators=(",", ":")).encode()
    assert spool.encode_record(payload).hex() == GOLDEN
    assert spool.scan_segment(bytes.fromhex(GOLDEN)) == ([payload], len(payload) + 8)


def test_record_limits():
    with pytest.raises(spool.RecordTooLargeError):
        spool.encode_record(b"")
    with pytest.raises(spool.RecordTooLargeError):
        spool.encode_record(b"x" * (1048576 + 1))
    assert len(spool.encode_record(b"x" * 1048576)) == 1048576 + 8


def test_segment_names_sort_in_order():
    assert spool.segment_name(0) == "00000000000000000000.seg"
    assert spool.segment_name(4096) == "00000000000000004096.seg"


def test_writer_appends_readable_records_and_holds_the_lock(tmp_path):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d)
    with open(os.path.join(d, "LOCK")) as f:
        assert f.read().split("\n")[0] == str(os.getpid())
    assert w.append([b'{"event":{"a":1}}', b'{"event":{"a":2}}']) == 0
    assert w.append([b'{"event":{"a":3}}']) == 2
    w.close()
    assert not os.path.exists(os.path.join(d, "LOCK"))
    assert not os.path.exists(os.path.join(d, "published"))  # the cursor is the publisher's
    assert verify_spool(d) == [b'{"event":{"a":1}}', b'{"event":{"a":2}}', b'{"event":{"a":3}}']
    assert list(spool.read_spool(d)) == list(enumerate(verify_spool(d)))


def test_segments_are_private(tmp_path):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d, segment_bytes=60)
    w.append([b'{"event":{"n":1}}', b'{"event":{"n":2}}', b'{"event":{"n":3}}'])
    w.close()
    names = os.listdir(os.path.join(d, "segments"))
    assert len(names) > 1
    assert {oct(os.stat(os.path.join(d, "segments", n)).st_mode & 0o777) for n in names} == {"0o600"}


def test_segment_rollover_never_splits_a_record(tmp_path):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d, segment_bytes=100)
    payloads = [('{"event":{"i":%d,"pad":"%s"}}' % (i, "x" * 20)).encode() for i in range(10)]
    w.append(payloads[:3])
    for p in payloads[3:]:
        w.append([p])
    w.close()
    names = sorted(os.listdir(os.path.join(d, "segments")))
    assert len(names) > 3
    firsts = [int(n[:20]) for n in names]
    assert firsts[0] == 0 and firsts == sorted(firsts)
    for n in names:
        assert os.path.getsize(os.path.join(d, "segments", n)) <= 100
    assert verify_spool(d) == payloads


def test_reopen_continues_the_sequence(tmp_path):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d, segment_bytes=60)
    w.append([b'{"event":{"n":1}}', b'{"event":{"n":2}}', b'{"event":{"n":3}}'])
    w.close()
    w = SpoolWriter(d, segment_bytes=60)
    assert w.next_seq == 3
    assert w.append([b'{"event":{"n":4}}']) == 3
    w.close()
    assert [json.loads(p)["event"]["n"] for p in verify_spool(d)] == [1, 2, 3, 4]


def test_a_live_lock_is_refused_and_a_stale_one_taken_over(tmp_path):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d)
    with pytest.raises(SpoolLockedError):
        SpoolWriter(d)  # this process holds it
    w.close()
    # a live other process
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with open(os.path.join(d, "LOCK"), "w") as f:
            f.write("%d\n" % sleeper.pid)
        with pytest.raises(SpoolLockedError, match=str(sleeper.pid)):
            SpoolWriter(d)
    finally:
        sleeper.kill()
        sleeper.wait()
    # now its pid is dead: stale, taken over
    w = SpoolWriter(d)
    with open(os.path.join(d, "LOCK")) as f:
        assert f.read().split("\n")[0] == str(os.getpid())
    w.close()


# skipped only off CI on systems without /proc (process start times are read from /proc/<pid>/stat)
@pytest.mark.skipif(not os.path.exists("/proc/self/stat") and not in_ci(), reason="needs Linux /proc")
def test_a_lock_naming_a_live_pid_of_another_boot_or_start_is_stale(tmp_path):
    d = str(tmp_path / "spool")
    os.makedirs(d)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        start = spool._process_start(sleeper.pid)
        boot = spool._boot_id()
        lock = os.path.join(d, "LOCK")
        # the pid runs, but it is another process than the one that wrote the lock
        for stale in ("boot=another-boot start=%s" % start, "boot=%s start=1" % boot):
            with open(lock, "w") as f:
                f.write("%d\n%s\n" % (sleeper.pid, stale))
            SpoolWriter(d).close()
        # the process that wrote it still runs: refused
        with open(lock, "w") as f:
            f.write("%d\nboot=%s start=%s\n" % (sleeper.pid, boot, start))
        with pytest.raises(SpoolLockedError, match=str(sleeper.pid)):
            SpoolWriter(d)
    finally:
        sleeper.kill()
        sleeper.wait()
    # our own pid in a lock this process does not hold: an earlier process had our pid
    with open(os.path.join(d, "LOCK"), "w") as f:
        f.write("%d\n" % os.getpid())
    SpoolWriter(d).close()


def test_torn_tail_of_the_last_segment_is_truncated(tmp_path):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d)
    w.append([b'{"event":{"n":1}}', b'{"event":{"n":2}}'])
    w.close()
    seg = os.path.join(d, "segments", spool.segment_name(0))
    good = os.path.getsize(seg)
    with open(seg, "ab") as f:
        f.write(spool.encode_record(b'{"event":{"n":3}}')[:-4])  # a crash mid-write
    w = SpoolWriter(d)
    assert w.truncated_bytes > 0 and os.path.getsize(seg) == good and w.next_seq == 2
    w.append([b'{"event":{"n":3}}'])
    w.close()
    assert [json.loads(p)["event"]["n"] for p in verify_spool(d)] == [1, 2, 3]


def test_bad_crc_in_an_earlier_segment_moves_the_rest_to_corrupt(tmp_path):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d, segment_bytes=60)
    w.append([b'{"event":{"n":1}}', b'{"event":{"n":2}}'])  # 2 × 25 bytes: one segment
    w.append([b'{"event":{"n":3}}'])  # rolls over
    w.close()
    first = os.path.join(d, "segments", spool.segment_name(0))
    data = bytearray(open(first, "rb").read())
    data[-2] ^= 0xFF  # corrupt the second record's payload
    open(first, "wb").write(bytes(data))
    w = SpoolWriter(d, segment_bytes=60)
    assert w.corrupt == 1
    w.close()
    assert os.listdir(os.path.join(d, "corrupt")) == ["%s.25.corrupt" % spool.segment_name(0)]
    assert spool.read_segment(first)[0] == [b'{"event":{"n":1}}']


def test_cap_reject_keeps_nothing_and_drop_oldest_counts(tmp_path):
    d = str(tmp_path / "reject")
    w = SpoolWriter(d, segment_bytes=60, max_bytes=80)
    w.append([b'{"event":{"n":1}}', b'{"event":{"n":2}}'])
    with pytest.raises(SpoolFullError):
        w.append([b'{"event":{"n":3}}', b'{"event":{"n":4}}'])
    assert w.next_seq == 2
    w.close()
    assert len(verify_spool(d)) == 2

    d = str(tmp_path / "drop")
    w = SpoolWriter(d, segment_bytes=60, max_bytes=80, full_policy="drop-oldest")
    w.append([b'{"event":{"n":1}}', b'{"event":{"n":2}}'])
    w.append([b'{"event":{"n":3}}'])
    w.append([b'{"event":{"n":4}}'])
    assert w.dropped == 2
    w.close()
    assert [(seq, json.loads(p)["event"]["n"]) for seq, p in spool.read_spool(d)] == [(2, 3), (3, 4)]
    assert spool.read_published(d) == 2  # moved past what was dropped
    # a batch that cannot fit even after dropping everything is refused
    w = SpoolWriter(d, segment_bytes=60, max_bytes=80, full_policy="drop-oldest")
    with pytest.raises(SpoolFullError):
        w.append([b'{"event":{"n":%d}}' % i for i in range(5)])
    w.close()


def test_drop_oldest_may_take_the_active_segment(tmp_path):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d, segment_bytes=1000, max_bytes=60, full_policy="drop-oldest")
    w.append([b'{"event":{"n":1}}', b'{"event":{"n":2}}'])  # 50 bytes in the one (active) segment
    w.append([b'{"event":{"n":3}}'])
    assert w.dropped == 2 and spool.read_published(d) == 2
    w.append([b'{"event":{"n":4}}'])
    w.close()
    assert [(seq, json.loads(p)["event"]["n"]) for seq, p in spool.read_spool(d)] == [(2, 3), (3, 4)]
    assert sorted(os.listdir(os.path.join(d, "segments"))) == [spool.segment_name(2)]


def test_a_writer_numbers_on_from_a_published_cursor_past_its_last_record(tmp_path):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d)
    w.append([b'{"event":{"n":1}}'])
    w.close()
    with open(os.path.join(d, "published"), "w") as f:
        f.write("7\n")  # a tail lost with fsync: never, after it had been published
    w = SpoolWriter(d)
    assert w.append([b'{"event":{"n":8}}']) == 7
    w.close()
    assert spool.segment_name(7) in os.listdir(os.path.join(d, "segments"))


def test_fsync_policies_write_the_same_bytes(tmp_path):
    for policy in ("batch", "interval", "never"):
        d = str(tmp_path / policy)
        w = SpoolWriter(d, fsync=policy)
        w.append([b'{"event":{"n":1}}'])
        w.close()
        assert verify_spool(d) == [b'{"event":{"n":1}}']
    with pytest.raises(ValueError):
        SpoolWriter(str(tmp_path / "x"), fsync="sometimes")


def test_offline_setting_f_writes_spec_then_events(tmp_path, seismic_spec):
    d = str(tmp_path / "spool")
    c = provml.init(seismic_spec, "F", spool_dir=d, env={}, register_atexit=False)
    assert c.setting == "F"
    with c.workflow_execution("run-1") as run, run.task("training", values={"learning_rate": 0.1}) as t:
        for epoch in t.epochs(2):
            for batch, _ in epoch.batches(range(3)):
                batch.set("batch_loss", 0.5)
    assert c.shutdown(30)
    records = [json.loads(p) for p in verify_spool(d)]
    assert list(records[0]) == ["spec"] and records[0]["spec"] == seismic_spec
    events = [r["event"] for r in records[1:]]
    assert all(list(r) == ["event"] for r in records[1:])
    assert len(events) == 2 + 4 + 12
    assert len({e["eventId"] for e in events}) == len(events)
    assert not os.path.exists(os.path.join(d, "LOCK"))  # released at shutdown


def test_offline_setting_c_exports_each_event_on_its_own(tmp_path, small_spec):
    d = str(tmp_path / "spool")
    c = provml.init(small_spec, "C", spool_dir=d, env={}, fsync="never", register_atexit=False)
    with c.workflow_execution() as run, run.task("training"):
        pass
    assert c.shutdown(30)
    assert c.stats.batches == 2 and c.stats.exported == 2
    assert len(verify_spool(d)) == 3


def test_offline_init_fails_on_a_locked_spool(tmp_path, small_spec):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d)
    try:
        with pytest.raises(SpoolLockedError):
            provml.init(small_spec, "F", spool_dir=d, register_atexit=False)
    finally:
        w.close()


def test_the_typescript_reader_agrees_when_available(tmp_path, small_spec):
    """Cross-language: the agent's own scanner (capture-agent/src/spool/spoolFormat.ts) reads our spool."""
    from conftest import REPO_ROOT, in_ci

    fmt = os.path.join(REPO_ROOT, "capture-agent", "src", "spool", "spoolFormat.ts")
    tsx = os.path.join(REPO_ROOT, "node_modules", "tsx")
    if not (os.path.exists(fmt) and os.path.isdir(tsx)):
        if in_ci():
            pytest.fail("CI=true: the TypeScript spool format or node_modules (npm ci) is missing")
        pytest.skip("needs capture-agent/src/spool/spoolFormat.ts and node_modules (run npm ci)")
    d = str(tmp_path / "spool")
    c = provml.init(small_spec, "F", spool_dir=d, env={}, segment_bytes=2000, register_atexit=False)
    with c.workflow_execution() as run, run.task("training") as t:
        for epoch in t.epochs(3):
            for batch, _ in epoch.batches(range(4)):
                batch.set("note", "é ✓")
    assert c.shutdown(30)
    script = (
        "import { readdirSync, readFileSync } from 'node:fs';"
        "import { scanRecords, decodeEnvelope } from './capture-agent/src/spool/spoolFormat.ts';"
        "const dir = process.argv[1] + '/segments'; let n = 0, kinds = {};"
        "for (const f of readdirSync(dir).sort()) { const s = scanRecords(readFileSync(dir + '/' + f));"
        " if (s.stop !== 'complete') throw new Error(f + ': ' + s.stop);"
        " for (const r of s.records) { const e = decodeEnvelope(r.payload); kinds[e.kind] = (kinds[e.kind] ?? 0) + 1; n++; } }"
        "console.log(JSON.stringify({ n, kinds }));"
    )
    out = subprocess.run(
        ["node", "--import", "tsx", "--input-type=module", "-e", script, d],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"n": 1 + 2 + 6 + 24, "kinds": {"spec": 1, "event": 32}}


def _segment_bytes(directory):
    seg_dir = os.path.join(directory, "segments")
    return [(n, open(os.path.join(seg_dir, n), "rb").read()) for n in sorted(os.listdir(seg_dir))]


@pytest.mark.parametrize("segment_bytes", [100, 16 * 1024 * 1024])
def test_a_batch_framed_in_one_pass_writes_the_bytes_of_record_by_record(tmp_path, segment_bytes):
    # issue #21: frame_texts + append_framed (one encoding, one write) against encode_record + append
    batches = [
        ['{"i":%d,"pad":"%s"}' % (i, "x" * (i % 7)) for i in range(12)],
        ['{"i":12,"note":"é → ✓"}', '{"i":13}'],  # non-ASCII: framed record by record
        ['{"i":14}'],
    ]
    one, each = str(tmp_path / "one"), str(tmp_path / "each")
    a, b = SpoolWriter(one, segment_bytes=segment_bytes), SpoolWriter(each, segment_bytes=segment_bytes)
    for texts in batches:
        data, sizes = spool.frame_texts(texts, '{"event":', "}")
        assert sizes == [len(spool.encode_record(('{"event":%s}' % t).encode())) for t in texts]
        first_a = a.append_framed(data, sizes)
        first_b = b.append([('{"event":%s}' % t).encode() for t in texts])
        assert first_a == first_b
    assert a.next_seq == b.next_seq == 15
    a.close()
    b.close()
    assert _segment_bytes(one) == _segment_bytes(each)
    segments = len(_segment_bytes(one))
    assert segments == 1 if segment_bytes > 1000 else segments > 3  # the small segments rolled over
    assert [json.loads(p)["event"]["i"] for p in verify_spool(one)] == list(range(15))


def test_a_framed_batch_over_the_cap_or_the_record_limit_writes_nothing(tmp_path):
    d = str(tmp_path / "spool")
    w = SpoolWriter(d, segment_bytes=60, max_bytes=80)
    w.append_framed(*spool.frame_texts(['{"n":1}', '{"n":2}'], '{"event":', "}"))
    with pytest.raises(SpoolFullError):
        w.append_framed(*spool.frame_texts(['{"n":3}', '{"n":4}'], '{"event":', "}"))
    assert w.next_seq == 2
    assert spool.frame_texts([], '{"event":', "}") == (b"", [])
    assert w.append_framed(b"", []) == 2 and w.next_seq == 2  # an empty batch writes nothing
    with pytest.raises(spool.RecordTooLargeError):
        spool.frame_texts(['{"n":5}', '"%s"' % ("x" * 1048576)], '{"event":', "}")
    w.close()
    assert len(verify_spool(d)) == 2


def test_the_spool_transport_rejects_only_the_events_over_the_record_limit(tmp_path, small_spec):
    from provml_client import RejectedError
    from provml_client.transports import SpoolTransport

    t = SpoolTransport(str(tmp_path / "spool"), small_spec)
    t.send(['{"n":1}'])  # the spec record, then the event
    with pytest.raises(RejectedError) as e:
        t.send(['{"n":2}', '"%s"' % ("x" * 1048576), '{"n":3}'])
    assert e.value.indexes == [1]
    t.send(['{"n":2}', '{"n":3}'])
    t.close()
    assert [json.loads(p) for p in verify_spool(str(tmp_path / "spool"))][1:] == [{"event": {"n": n}} for n in (1, 2, 3)]
