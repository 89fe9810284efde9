"""Content digests of data references (CaptureEvent v2): given, or computed on request from the
local file; a digest that cannot be had costs only the digest."""

import hashlib
import os

import pytest

import provml_client as provml
from provml_client._digest import file_digest


def _client(spec, **kw):
    return provml.init(spec, "D", transport=provml.MemoryTransport(), env={}, register_atexit=False, **kw)


def _uri(path):
    return "file://" + os.path.abspath(path)


def test_file_digest_is_the_sha256_of_the_file(tmp_path):
    p = tmp_path / "model.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)  # several chunks
    p.write_bytes(data)
    assert file_digest(_uri(p)) == "sha256:" + hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError):
        file_digest("s3://bucket/model.bin")


def test_digest_true_is_computed_at_the_call_and_a_given_one_is_sent(seismic_spec, tmp_path):
    p = tmp_path / "model.json"
    p.write_text('{"w": [1, 2]}')
    expected = "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
    given = "sha256:" + "0f" * 32
    c = _client(seismic_spec)
    run = c.workflow_execution("digest")
    t = run.begin("training", data_refs=[{"name": "training_set", "uri": "s3://data/train.npz", "digest": given}])
    e = t.begin("epoch")
    e.add_data_ref("model", _uri(p), "local", digest=True)
    e.end()
    t.end()
    r = c.shutdown(10)
    assert r.ok and r.invalid == 0, r
    events = c.transport.events
    assert events[0]["dataRefs"] == [{"name": "training_set", "uri": "s3://data/train.npz", "store": None, "digest": given}]
    model = [d for ev in events for d in ev["dataRefs"] if d["name"] == "model"]
    assert model == [{"name": "model", "uri": _uri(p), "store": "local", "digest": expected}]


def test_a_digest_that_cannot_be_had_costs_only_the_digest(seismic_spec, tmp_path):
    errors = []
    c = _client(seismic_spec, on_error=errors.append)
    t = c.workflow_execution("no-digest").begin("training", data_refs=[("training_set", "s3://data/train.npz", None, True)])
    e = t.begin("epoch")
    e.add_data_ref("model", _uri(tmp_path / "missing.pt"), digest=True)
    e.add_data_ref("model", _uri(tmp_path / "other.pt"), digest="md5:abc")
    e.end()
    t.end()
    r = c.shutdown(10)
    assert (r.delivered, r.invalid, r.ok) == (4, 3, False), r
    refs = [d for ev in c.transport.events for d in ev["dataRefs"]]
    assert len(refs) == 3 and all("digest" not in d for d in refs)
    assert [e.kind for e in errors] == ["invalid", "invalid"]  # once per name
    strict = _client(seismic_spec, strict=True)
    s = strict.workflow_execution("strict").begin("training")
    with pytest.raises(ValueError, match="digest"):
        s.begin("epoch").add_data_ref("model", _uri(tmp_path / "missing.pt"), digest=True)
    strict.shutdown(5)
