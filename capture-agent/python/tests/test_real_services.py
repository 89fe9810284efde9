"""Against the real TypeScript services: the HTTP ingest (its zod validator and spec checks) and,
once it exists, the sidecar agent's Unix socket. Skipped with a reason when the project's node
dependencies or the agent are missing; under CI=true a missing piece fails instead."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest

import provml_client as provml
from conftest import REPO_ROOT, in_ci, wait_until

CLI = os.path.join(REPO_ROOT, "app", "src", "cli", "main.ts")
AGENT_SERVICE = os.path.join(REPO_ROOT, "capture-agent", "agent", "src", "agentService.ts")


def _need(condition, reason):
    if condition:
        return
    if in_ci():
        pytest.fail("CI=true: %s" % reason)
    pytest.skip(reason)


def _node_ready():
    _need(shutil.which("node") is not None, "node is not installed")
    _need(os.path.isdir(os.path.join(REPO_ROOT, "node_modules", "tsx")), "node_modules missing: run npm ci at the repository root")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def embedded_stack():
    """`provml embedded --no-demo`: the real HTTP ingest, processor and store in one process."""
    _node_ready()
    ingest, query = _free_port(), _free_port()
    out_dir = tempfile.mkdtemp(prefix="provml-py-")
    log = open(os.path.join(out_dir, "embedded.log"), "w+")
    proc = subprocess.Popen(
        ["node", "--import", "tsx", CLI, "embedded", "--no-demo", "--ingest-port", str(ingest), "--query-port", str(query), "--output-dir", out_dir,
         "--data-dir", os.path.join(out_dir, "data")],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def up():
        try:
            return _get("http://127.0.0.1:%d/healthz" % ingest) and _get("http://127.0.0.1:%d/healthz" % query)
        except OSError:
            return proc.poll() is not None

    try:
        wait_until(up, timeout=90, interval=0.25)
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail("provml embedded exited: %s" % log.read()[-3000:])
        yield "http://127.0.0.1:%d" % ingest, "http://127.0.0.1:%d" % query
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(out_dir, ignore_errors=True)


def _sparql_count(query_url, needle):
    q = 'SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } FILTER(CONTAINS(STR(?s), "%s")) }' % needle
    body = json.loads(_get(query_url + "/sparql?query=" + urllib.parse.quote(q), timeout=10))
    return int(body["results"]["bindings"][0]["n"]["value"])


@pytest.mark.ingest
def test_the_real_ingest_accepts_every_event_and_they_become_triples(embedded_stack, seismic_spec):
    ingest_url, query_url = embedded_stack
    errors = []
    c = provml.init(seismic_spec, "D", http_url=ingest_url, env={"SLURM_JOB_ID": "77"}, on_error=errors.append, register_atexit=False)
    run_id = "py-real-ingest-%d" % os.getpid()
    with c.workflow_execution(run_id) as run, run.task(
        "training",
        values={"learning_rate": 0.01, "epochs": 2, "batch_size": 8, "hidden_units": 16, "seed": 1},
        data_refs={"training_set": "file:///data/seismic/train.npz"},
    ) as t:
        for epoch in t.epochs(2):
            for batch, _ in epoch.batches(range(3)):
                batch.set("batch_loss", 0.5)
            epoch.update({"loss": 0.4, "accuracy": 0.8}).add_data_ref("model", "file:///models/e%d.pt" % epoch.index, "lustre")
        t.set("final_loss", float("nan"))  # kept as the string "NaN"
    assert c.shutdown(60), errors
    assert c.stats.exported == 2 + 4 + 12 and errors == []
    assert wait_until(lambda: _sparql_count(query_url, run_id) > 0, timeout=60, interval=0.5)


@pytest.mark.ingest
def test_the_readme_quickstart_runs_against_the_real_embedded_stack(embedded_stack, tmp_path):
    from test_examples import readme_snippets, run_snippet

    ingest_url, query_url = embedded_stack
    out = run_snippet(readme_snippets()[0], ingest_url, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    # every event delivered, none rejected, dropped or spooled: the result is true
    assert "DeliveryResult(delivered=62, rejected=0, dropped=0, spooled=0, " in out.stdout, out.stdout + out.stderr
    assert "undeclared=0, invalid=0" in out.stdout


@pytest.mark.ingest
def test_a_typo_costs_only_the_mistyped_value_at_the_real_ingest(embedded_stack, seismic_spec):
    ingest_url, query_url = embedded_stack
    errors = []
    # the default (not strict): the undeclared value is dropped at the call, never sent, so the
    # ingest accepts the event and the correctly named values in it
    c = provml.init(seismic_spec, "D", http_url=ingest_url, env={}, on_error=errors.append, register_atexit=False)
    run_id = "py-real-typo-%d" % os.getpid()
    run = c.workflow_execution(run_id)
    t = run.begin("training", values={"learning_rate": 0.1})
    e = t.begin("epoch")
    e.set("los", 0.5)  # reported here, once
    e.end(values={"loss": 0.4, "accuracy": 0.9})
    t.end()
    r = c.shutdown(60)
    assert (r.delivered, r.rejected, r.dropped, r.undeclared) == (4, 0, 0, 1), errors
    assert [e.kind for e in errors] == ["undeclared"] and "'los'" in str(errors[0])
    assert wait_until(lambda: _sparql_count(query_url, run_id) > 0, timeout=60, interval=0.5)


@pytest.mark.ingest
def test_a_content_digest_computed_by_the_client_reaches_the_store(embedded_stack, seismic_spec, tmp_path):
    """digest=True: the client hashes the local file; the ingest takes the digest (CaptureEvent v2)
    and the store holds it as the version's provml:contentDigest."""
    import hashlib

    ingest_url, query_url = embedded_stack
    model = tmp_path / "model.json"
    model.write_text('{"w": [3]}')
    digest = "sha256:" + hashlib.sha256(model.read_bytes()).hexdigest()
    c = provml.init(seismic_spec, "D", http_url=ingest_url, env={}, register_atexit=False)
    run_id = "py-real-digest-%d" % os.getpid()
    with c.workflow_execution(run_id) as run, run.task("training") as t:
        with t.child("epoch") as e:
            e.add_data_ref("model", "file://" + str(model), "local", digest=True)
    r = c.shutdown(60)
    assert r.ok, r
    q = 'SELECT ?v WHERE { ?v <https://w3id.org/provml/ns#contentDigest> "%s" FILTER(CONTAINS(STR(?v), "%s")) }' % (digest, run_id)

    def found():
        body = json.loads(_get(query_url + "/sparql?query=" + urllib.parse.quote(q), timeout=10))
        return len(body["results"]["bindings"]) == 1

    assert wait_until(found, timeout=60, interval=0.5)


@pytest.mark.ingest
def test_the_real_ingests_line_numbers_reject_exactly_the_bad_event(embedded_stack, seismic_spec):
    """The client never sends an undeclared name; a receiver that refuses an event anyway names its
    line, and the HTTP transport turns that into exactly that event's index."""
    ingest_url, _ = embedded_stack
    captured = provml.init(seismic_spec, "D", transport=provml.MemoryTransport(), env={}, register_atexit=False)
    run = captured.workflow_execution("py-real-reject-%d" % os.getpid())
    t = run.begin("training", values={"learning_rate": 0.1})
    t.begin("epoch").end()
    t.end()
    captured.shutdown(20)
    events = [dict(e) for e in captured.transport.events]
    events[2] = dict(events[2], values={"not_in_the_spec": 1})  # the epoch's end
    transport = provml.HttpTransport(ingest_url, seismic_spec, timeout=30)
    try:
        with pytest.raises(provml.RejectedError) as refused:
            transport.send([json.dumps(e) for e in events])
        assert refused.value.indexes == [2]
        assert "not_in_the_spec" in str(refused.value.issues)
        del events[2]
        transport.send([json.dumps(e) for e in events])  # the rest is accepted
    finally:
        transport.close()


SERVICE_CONFIG = os.path.join(REPO_ROOT, "service", "src", "ServiceConfig.ts")


def _agent_supports_socket():
    if not (os.path.exists(AGENT_SERVICE) and os.path.exists(SERVICE_CONFIG)):
        return False
    with open(SERVICE_CONFIG, encoding="utf-8") as f:
        return "PROVML_AGENT_SOCKET" in f.read()


@contextlib.contextmanager
def real_agent():
    """`provml agent` offline (spool only: no Kafka needed) with its Unix socket: (spool dir, socket path)."""
    _node_ready()
    _need(
        _agent_supports_socket(),
        "the sidecar agent with a spool and a Unix socket (capture-agent/agent/src/agentService.ts) is not in this checkout yet",
    )
    d = tempfile.mkdtemp(prefix="pvml")
    spool_dir = os.path.join(d, "spool")
    sock = os.path.join(spool_dir, "agent.sock")
    log = open(os.path.join(d, "agent.log"), "w+")
    env = dict(os.environ)
    env.update(
        PROVML_AGENT_SPOOL=spool_dir,
        PROVML_AGENT_SOCKET=sock,
        PROVML_AGENT_OFFLINE="true",  # spool only: no Kafka needed
        PROVML_HTTP_PORT=str(_free_port()),
        PROVML_AUTH_DISABLED="true",  # a local test agent on 127.0.0.1; access control is tested elsewhere
    )
    proc = subprocess.Popen(
        ["node", "--import", "tsx", CLI, "agent"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        if not wait_until(lambda: os.path.exists(sock) or proc.poll() is not None, timeout=60, interval=0.2) or proc.poll() is not None:
            log.seek(0)
            pytest.fail("the agent did not open %s: %s" % (sock, log.read()[-3000:]))
        yield spool_dir, sock
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.agent
def test_the_real_agent_spools_what_the_socket_sends(seismic_spec):
    """`provml agent` offline with a spool: events over the Unix socket end up as spool records."""
    from provml_client.spool import read_spool

    with real_agent() as (spool_dir, sock):
        errors = []
        c = provml.init(seismic_spec, "E", socket_path=sock, env={}, on_error=errors.append, register_atexit=False)
        with c.workflow_execution("py-real-agent") as run, run.task("training", values={"learning_rate": 0.1}) as t:
            for epoch in t.epochs(2):
                for batch, _ in epoch.batches(range(3)):
                    batch.set("batch_loss", 0.5)
        assert c.shutdown(60), errors
        assert c.stats.exported == 2 + 4 + 12 and errors == []
        # a typo costs only the mistyped value: it is never sent, the agent takes every event
        errors = []
        c = provml.init(seismic_spec, "E", socket_path=sock, env={}, on_error=errors.append, register_atexit=False)
        run = c.workflow_execution("py-real-agent-2")
        t = run.begin("training")
        t.begin("epoch", values={"not_in_the_spec": 1, "epoch": 0}).end()
        t.end()
        r = c.shutdown(60)
        assert (r.rejected, r.delivered, r.undeclared) == (0, 4, 1), errors
        records = [json.loads(p) for _, p in read_spool(spool_dir)]
        events = [r["event"] for r in records if "event" in r]
        assert any("spec" in r for r in records)
        assert len([e for e in events if e["workflowExecution"] == "py-real-agent"]) == 18
        agent_2 = [e for e in events if e["workflowExecution"] == "py-real-agent-2"]
        assert len(agent_2) == 4
        assert [e["values"] for e in agent_2 if e["task"] == "epoch" and e["phase"] == "begin"] == [{"epoch": 0}]


EXAMPLE = os.path.join(REPO_ROOT, "capture-agent", "python", "examples", "train_stdlib.py")


def _get_json(url, timeout=10.0):
    return json.loads(_get(url, timeout=timeout))


@pytest.mark.ingest
def test_two_runs_of_the_example_writing_the_same_model_files_stay_two_models(embedded_stack, tmp_path):
    """The issue's own reproduction: train_stdlib.py twice, as the README shows (setting D, HTTP),
    both runs overwriting the same model-epoch-N.json files with different learning rates. The best
    model by val_loss, in either direction, comes with the hyperparameters, epoch and evaluations of
    the run that wrote it, and /v1/models lists each run's models with that run's numbers only."""
    ingest, query = embedded_stack
    model_dir = tmp_path / "models"
    runs = {"py-a": 0.5, "py-b": 2.0}
    for run_id, lr in runs.items():
        done = subprocess.run(
            ["python3", EXAMPLE, "--setting", "D", "--http-url", ingest, "--run-id", run_id,
             "--learning-rate", str(lr), "--epochs", "2", "--tiles", "128", "--model-dir", str(model_dir),
             "--spill-dir", str(tmp_path / ("spill-" + run_id))],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    training_set = "synthetic://seismic-tiles/train?seed=42&n=128"

    def models():
        url = query + "/v1/models?" + urllib.parse.urlencode({"trainingSet": training_set})
        return _get_json(url)["models"]

    wait_until(lambda: len(models()) >= 4, timeout=30, interval=0.25)
    rows = models()
    # two runs x two epochs, all writing the same two paths: four models, two per file
    assert len(rows) == 4
    assert len({r["uri"] for r in rows}) == 2
    assert len({r["model"] for r in rows}) == 4
    by_training = {}
    for r in rows:
        by_training.setdefault(r["training"], []).append(r)
    assert len(by_training) == 2 and all(len(v) == 2 for v in by_training.values())

    for direction in ("min", "max"):
        url = query + "/v1/models/best?" + urllib.parse.urlencode(
            {"trainingSet": training_set, "measure": "val_loss", "direction": direction})
        best = _get_json(url)
        run_id = next(r for r in runs if ("/%s/" % r) in best["training"] or best["training"].split("/")[-2] == r
                      or r in best["training"])
        assert best["hyperparameters"]["learning_rate"] == runs[run_id], best
        assert best["modelHyperparameters"].get("epoch") in (0, 1), best
        mine = [r for r in rows if r["model"] == best["model"]]
        assert len(mine) == 1 and mine[0]["training"] == best["training"]
        assert mine[0]["evaluations"] == best["evaluations"]
