"""The sidecar's socket protocol (AGENT.md) against a fake agent, and the HTTP fallback."""

import json
import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import provml_client as provml
from conftest import wait_until
from fakes import FakeAgent, hang_up, invalid_lines, spool_full


@pytest.fixture
def sock_path():
    # AF_UNIX paths are limited to ~107 bytes: pytest's tmp_path can be longer
    d = tempfile.mkdtemp(prefix="pvml")
    yield os.path.join(d, "agent.sock")
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)


def make(spec, setting="E", **kw):
    errors = []
    kw.setdefault("env", {"PROVML_SPILL_DIR": os.path.join(tempfile.mkdtemp(prefix="pvml-spill-"), "spill")})
    kw.setdefault("retry_initial", 0.01)
    kw.setdefault("retry_max", 0.05)
    c = provml.init(spec, setting, on_error=errors.append, register_atexit=False, **kw)
    return c, errors


def train(client, epochs=2, batches=3):
    with client.workflow_execution() as run, run.task("training", values={"learning_rate": 0.1}) as t:
        for epoch in t.epochs(epochs):
            for batch, _ in epoch.batches(range(batches)):
                batch.set("batch_loss", 0.5)
            epoch.set("loss", 0.4)
    return 2 + epochs * 2 + epochs * batches * 2


def test_batches_are_ndjson_envelopes_ended_by_an_empty_line(sock_path, small_spec):
    agent = FakeAgent(sock_path)
    try:
        c, errors = make(small_spec, "E", socket_path=sock_path, queue_size=50)
        n = train(c)
        assert c.shutdown(20)
        assert agent.envelopes[0] == {"spec": small_spec}  # the spec leads the first batch
        assert all(list(e) == ["event"] for e in agent.envelopes[1:])
        assert len(agent.events) == n and errors == []
        assert agent.connections == 1
    finally:
        agent.close()


def test_setting_b_sends_each_event_as_its_own_batch(sock_path, small_spec):
    agent = FakeAgent(sock_path)
    try:
        c, _ = make(small_spec, "B", socket_path=sock_path)
        n = train(c, 1, 2)
        assert c.shutdown(20)
        assert [len(b) for b in agent.batches] == [2] + [1] * (n - 1)  # spec + first event, then one each
        assert len(agent.events) == n
    finally:
        agent.close()


def test_spool_full_is_retried_until_accepted(sock_path, small_spec):
    agent = FakeAgent(sock_path, [spool_full, spool_full])
    try:
        c, errors = make(small_spec, "E", socket_path=sock_path)
        n = train(c)
        assert c.shutdown(20)
        assert len(agent.events) == n
        assert c.stats.retries == 2 and c.stats.failed == 0
        assert any(e.kind == "retrying" and "spool full" in str(e) for e in errors)
    finally:
        agent.close()


def test_invalid_lines_are_reported_and_the_rest_resent(sock_path, small_spec):
    # line 1 is the spec; lines 3 and 4 are the 2nd and 3rd events
    agent = FakeAgent(sock_path, [invalid_lines(3, 4)])
    try:
        c, errors = make(small_spec, "E", socket_path=sock_path)
        n = train(c)
        r = c.shutdown(20)
        assert not r and (r.rejected, r.delivered, r.dropped) == (2, n - 2, 0)  # the result owns up to it
        assert len(agent.events) == n - 2
        assert c.stats.rejected == 2
        assert any(e.kind == "rejected" and e.count == 2 for e in errors)
    finally:
        agent.close()


def test_agent_down_at_start_then_up_loses_nothing(sock_path, small_spec):
    c, errors = make(small_spec, "E", socket_path=sock_path)
    n = train(c)
    assert not c.flush(0.3)  # nobody listens yet
    agent = FakeAgent(sock_path)
    try:
        assert c.flush(20)
        assert len(agent.events) == n and agent.envelopes[0] == {"spec": small_spec}
        assert c.stats.failed == 0 and c.stats.retries > 0
        c.shutdown(20)
    finally:
        agent.close()


def test_a_connection_lost_mid_batch_reconnects_and_resends_the_spec(sock_path, small_spec):
    agent = FakeAgent(sock_path, [None, hang_up])
    try:
        c, _ = make(small_spec, "E", socket_path=sock_path, queue_size=50)
        run = c.workflow_execution()
        run.begin("training").end()
        assert c.flush(20)
        run.begin("training").end()
        assert c.flush(20)
        assert c.shutdown(20)
        assert agent.connections == 2
        assert sum(1 for e in agent.envelopes if "spec" in e) == 2
        assert len(agent.events) == 4
    finally:
        agent.close()


class _Ingest(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/workflows":
            self.send_response(201)
            out = b'{"workflow":"small","tasks":3}'
        else:
            lines = [json.loads(l) for l in body.decode().splitlines() if l]
            type(self).received.extend(lines)
            self.send_response(202)
            out = json.dumps({"accepted": len(lines)}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_ingest():
    _Ingest.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ingest)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % server.server_address[1], _Ingest.received
    server.shutdown()
    server.server_close()


def test_falls_back_to_http_when_the_socket_is_missing(sock_path, small_spec, fake_ingest):
    url, received = fake_ingest
    c, _ = make(small_spec, "E", socket_path=sock_path, http_url=url)
    n = train(c)
    assert c.shutdown(20)
    assert len(received) == n and c.stats.failed == 0
    assert all("eventId" in e for e in received)  # HTTP carries events, not envelopes


def test_setting_d_posts_ndjson_events(small_spec, fake_ingest):
    url, received = fake_ingest
    c, _ = make(small_spec, "D", http_url=url)
    n = train(c)
    assert c.shutdown(20)
    assert len(received) == n
