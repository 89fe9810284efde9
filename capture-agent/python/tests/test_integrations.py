"""Names declared at run time (Client.declare) and the framework integrations (scikit-learn, Keras 3
with the JAX CPU backend) against the real services: `provml embedded`'s HTTP ingest, processor and
store, read back through its query API. Each integration captures full runs with no spec written by
the test; /v1/models/best and Q3–Q5 answer on them. Skipped with a reason where scikit-learn or
Keras/JAX is not installed (under CI=true a missing one fails instead)."""

import json
import math
import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is imported anywhere in this process

import pytest

import provml_client as provml
from conftest import SEISMIC_SPEC_PATH, _memory_client, events_of, in_ci, wait_until
from provml_client import query
from provml_client.integrations import dataset_uri, safe_name, training_spec
from test_real_services import embedded_stack  # noqa: F401 (a fixture)

PREP_SPEC_PATH = os.path.join(os.path.dirname(SEISMIC_SPEC_PATH), "seismic-preparation.json")
PID = os.getpid()


def need(module, install="scikit-learn keras jax"):
    """The module, or a skip with the reason (under CI=true, a failure) where it is not installed."""
    try:
        return __import__(module)
    except ImportError:
        if in_ci():
            pytest.fail("CI=true: %s is missing (pip install %s)" % (module, install))
        # skips only outside CI, where the optional framework is not installed; under CI=true it failed above
        pytest.skip("%s is not installed (pip install %s)" % (module, install))


def best_or_none(api, training_set, measure="val_loss"):
    """/v1/models/best, or None while the store has no model of the set yet (404)."""
    try:
        return api.best_model(training_set, measure=measure)
    except query.QueryError:
        return None


# -- names declared at run time -------------------------------------------------------------------


def test_declare_extends_the_spec_and_the_transport_gets_the_version_before_the_events_using_it():
    client = _memory_client(training_spec("declare-unit"))
    try:
        with client.workflow_execution() as run, run.task("training") as t:
            t.set("momentum", 0.9)  # not declared yet: dropped and counted
            assert client.declare("training", {"momentum": "hyperparameter", "f1": "evaluation-measure"}) is True
            assert client.declare("training", {"momentum": "hyperparameter"}) is False  # nothing new
            t.set("momentum", 0.9).set("f1", 0.5)
        events = events_of(client)
        assert events[-1]["values"] == {"momentum": 0.9, "f1": 0.5}
        assert client.stats.undeclared == 1
        (spec,) = client.transport.specs
        training = next(t for t in spec["tasks"] if t["id"] == "training")
        assert {"name": "momentum", "semantics": "hyperparameter"} in training["inputs"]
        assert {"name": "f1", "semantics": "evaluation-measure"} in training["outputs"]
        with pytest.raises(provml.SpecError):
            client.declare("training", {"train/loss": "evaluation-measure"})  # not an identifier
        with pytest.raises(provml.SpecError):
            client.declare("no-such-task", {"x": "parameter"})
    finally:
        client.shutdown(20)


def test_the_offline_spool_holds_the_new_spec_version_before_the_event_that_uses_it(tmp_path):
    from provml_client.spool import read_spool

    client = provml.init(training_spec("declare-spool"), "F", spool_dir=str(tmp_path / "s"), env={}, register_atexit=False)
    with client.workflow_execution() as run, run.task("training") as t:
        with t.epoch(0) as e:
            e.add_data_ref("model", "file:///models/e0.pt")
        client.flush(20)
        client.declare("epoch", {"f1": "evaluation-measure"})
        with t.epoch(1) as e:
            e.set("f1", 0.7)
    assert client.shutdown(20)
    records = [json.loads(payload) for _, payload in read_spool(str(tmp_path / "s"))]
    kinds = [("spec" if "spec" in r else "event") for r in records]
    first_f1 = next(i for i, r in enumerate(records) if "event" in r and "f1" in r["event"]["values"])
    specs = [i for i, k in enumerate(kinds) if k == "spec"]
    assert len(specs) == 2 and specs[0] == 0 and specs[1] < first_f1
    assert any(a["name"] == "f1" for t in records[specs[1]]["spec"]["tasks"] for a in t["outputs"])


def test_a_spill_spool_left_at_exit_holds_the_new_spec_version_before_the_event_that_uses_it(tmp_path):
    """With the transport down, events go to the spill spool; the version declared meanwhile is
    written there before the events after it, so `provml replay` of what is left publishes it first."""
    from fakes import ScriptedTransport
    from provml_client.spool import read_spool
    from provml_client.transports import RetryableError

    down = ScriptedTransport([RetryableError("down")] * 1000)
    spill = str(tmp_path / "spill")
    client = provml.init(training_spec("declare-spill"), "D", transport=down, spill_dir=spill, env={}, register_atexit=False,
                         on_error=lambda e: None, retry_initial=5.0)
    with client.workflow_execution() as run, run.task("training") as t:
        with t.epoch(0):
            pass
        client.flush(2)  # the transport failed: the events are in the spill spool
        client.declare("epoch", {"f1": "evaluation-measure"})
        with t.epoch(1) as e:
            e.set("f1", 0.7)
    r = client.shutdown(2)
    assert r.spooled == 6 and r.delivered == 0
    records = [json.loads(payload) for _, payload in read_spool(spill)]
    specs = [i for i, rec in enumerate(records) if "spec" in rec]
    first_f1 = next(i for i, rec in enumerate(records) if "event" in rec and "f1" in rec["event"]["values"])
    assert specs[0] == 0 and len(specs) == 2 and specs[1] < first_f1
    assert any(a["name"] == "f1" for task in records[specs[1]]["spec"]["tasks"] for a in task["outputs"])


def test_the_default_workflow_is_the_framework_and_the_script(monkeypatch):
    from provml_client.integrations import default_workflow

    monkeypatch.setattr("sys.argv", ["/home/me/train mnist.py", "--epochs", "3"])
    assert default_workflow("keras") == "keras-train_mnist"
    for outside in (["-c"], [""], [], ["/usr/lib/python3/site-packages/pytest/__main__.py"]):
        monkeypatch.setattr("sys.argv", outside)
        assert default_workflow("keras") == "keras"


def test_safe_names_and_content_uris():
    np = need("numpy")
    assert safe_name("train/loss") == "train_loss" and safe_name("_x") == "x_x" and safe_name("a b") == "a_b"
    a = np.arange(6).reshape(2, 3)
    assert dataset_uri(a) == dataset_uri(a.copy()) != dataset_uri(a.T)
    assert dataset_uri(a).startswith("urn:provml:dataset:sha256:")


@pytest.fixture(scope="module")
def stack(embedded_stack):  # noqa: F811 (the fixture imported above)
    ingest, query_url = embedded_stack
    return ingest, query.connect(query_url)


def test_a_name_declared_mid_run_is_kept_end_to_end(stack):
    ingest, api = stack
    errors = []
    client = provml.init(training_spec("declare-e2e"), "D", http_url=ingest, on_error=errors.append, register_atexit=False)
    run_id = "py-declare-%d" % PID
    with client.workflow_execution(run_id) as run, run.task("training", data_refs={"training_set": "file:///data/declare.npz"}) as t:
        with t.epoch(0) as e:
            e.add_data_ref("model", "file:///models/declare/e0.pt")
        client.flush(20)  # the first spec version and these events are in
        client.declare("epoch", {"f1": "evaluation-measure"})
        with t.epoch(1) as e:
            e.set("f1", 0.75).add_data_ref("model", "file:///models/declare/e1.pt")
    result = client.shutdown(60)
    assert result and result.rejected == 0, errors
    q = 'SELECT ?v WHERE { ?x provml:valueName "f1" ; prov:value ?v . ?x ^provml:hasOutputValue/provml:partOfExecution+ ?w . ?w rdfs:label "%s" }' % run_id
    assert wait_until(lambda: [r["v"] for r in api.sparql(q)] == [0.75], timeout=60, interval=0.5)
    best = api.best_model("file:///data/declare.npz", measure="f1", direction="max")
    assert best["uri"] == "file:///models/declare/e1.pt" and best["value"] == 0.75


# -- scikit-learn ------------------------------------------------------------------------------------


def test_scikit_learn_fit_and_cross_validation_with_no_spec(stack, tmp_path):
    need("sklearn")
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from provml_client.integrations.sklearn import Captured, cross_validate, measures

    ingest, api = stack
    X, y = make_classification(240, 6, random_state=1)
    train, val = (X[:180], y[:180]), (X[180:], y[180:])
    training_set = "file:///data/sklearn-%d.npz" % PID
    errors = []
    client = provml.init(training_spec("sklearn-e2e"), "D", http_url=ingest, on_error=errors.append, register_atexit=False)
    val_loss = {}
    for C in (0.01, 1.0, 100.0):
        clf = Captured(LogisticRegression(C=C, max_iter=500), client=client, model_dir=str(tmp_path), training_set=training_set)
        clf.fit(*train, validation_data=val)
        val_loss[C] = measures(clf.estimator, *val)["loss"]
        assert clf.score(*val) == measures(clf.estimator, *val)["accuracy"]  # the estimator's own methods pass through
    sgd = Captured(SGDClassifier(loss="log_loss", random_state=0), client=client, model_dir=str(tmp_path), training_set=training_set + "-sgd")
    for _ in range(3):
        sgd.partial_fit(*train, classes=[0, 1])
    sgd.end()
    cv = cross_validate(LogisticRegression(max_iter=500), X, y, cv=3, client=client, model_dir=str(tmp_path))
    assert len(cv["test_accuracy"]) == 3 and len(cv["estimator"]) == 3
    result = client.shutdown(60)
    assert result and result.undeclared == 0, errors

    best_C = min(val_loss, key=val_loss.get)
    best = lambda: best_or_none(api, training_set)  # noqa: E731
    assert wait_until(lambda: (best() or {}).get("hyperparameters", {}).get("C") == best_C and len(api.models(training_set)) == 3,
                      timeout=60, interval=0.5)
    b = best()
    assert math.isclose(b["value"], val_loss[best_C]) and b["uri"].startswith("file://" + str(tmp_path))
    assert os.path.exists(b["uri"][len("file://"):])  # the pickled estimator
    q3 = api.catalog("q3", trainingSet=training_set)
    assert {r["name"] for r in q3 if r["kind"] == "hyperparameter"} >= {"C", "max_iter", "penalty"}
    assert {r["name"] for r in q3 if r["kind"] == "evaluation"} >= {"loss", "accuracy", "val_loss"}
    q4 = api.catalog("q4", trainingSet=training_set)
    assert len(q4) == 3 and all(int(r["batches"]) == 1 for r in q4)  # one epoch (the fit) of one batch per run
    runs = [r for r in api.runs() if r["trainingSet"] == training_set + "-sgd"]
    assert len(runs) == 1 and len(api.timing(execution=runs[0]["training"])) == 3  # partial_fit: an epoch per call
    cv_runs = [r for r in api.runs() if "fold" in r["hyperparameters"]]
    assert sorted(r["hyperparameters"]["fold"] for r in cv_runs) == [0, 1, 2]


# -- Keras 3 (JAX backend) ---------------------------------------------------------------------------


def _preparation(ingest, inline, training_set, name="keras"):
    """A data preparation (the seismic one) that generated the training set from an inline range: Q5's way in."""
    c = provml.init(PREP_SPEC_PATH, "D", http_url=ingest, register_atexit=False)
    with c.workflow_execution("py-%s-prep-%d" % (name, PID)) as run:
        run.task("prepare", values={"inline_start": inline[0], "inline_end": inline[1]}).end(data_refs={"training_set": training_set})
    assert c.shutdown(60)


def test_keras_callback_with_no_spec(stack, tmp_path):
    keras = need("keras")
    need("jax")
    import numpy as np

    from provml_client.integrations.keras import ProvmlCallback

    assert keras.backend.backend() == "jax"
    ingest, api = stack
    training_set = "file:///data/keras-%d.npz" % PID
    inline = (7000 + PID % 1000, 7031 + PID % 1000)
    _preparation(ingest, inline, training_set)
    rng = np.random.default_rng(0)
    x = rng.random((96, 4)).astype("float32")
    y = (x.sum(axis=1) > 2).astype("int32")
    errors = []
    client = provml.init(training_spec("keras-e2e"), "D", http_url=ingest, on_error=errors.append, register_atexit=False)
    histories = {}
    for lr in (0.001, 0.05):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        cb = ProvmlCallback(client=client, model_dir=str(tmp_path), training_set=training_set, hyperparameters={"batch_size": 16})
        histories[lr] = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, callbacks=[cb], verbose=0).history
        test = model.evaluate(x, y, callbacks=[cb], verbose=0, return_dict=True)
    result = client.shutdown(60)
    assert result and result.undeclared == 0, errors

    val = {lr: min(h["val_loss"]) for lr, h in histories.items()}
    best_lr = min(val, key=val.get)
    best = lambda: best_or_none(api, training_set)  # noqa: E731
    assert wait_until(lambda: len(api.models(training_set)) == 6 and (best() or {}).get("hyperparameters", {}).get("learning_rate") is not None,
                      timeout=60, interval=0.5)
    b = best()
    assert math.isclose(b["value"], val[best_lr], rel_tol=1e-6) and math.isclose(b["hyperparameters"]["learning_rate"], best_lr, rel_tol=1e-6)
    assert b["uri"].endswith(".keras") and os.path.exists(b["uri"][len("file://"):])
    q3 = api.catalog("q3", trainingSet=training_set)
    least_loss = min(v for h in histories.values() for v in h["loss"])
    assert any(r["kind"] == "evaluation" and r["name"] == "loss" and math.isclose(float(r["value"]), least_loss, rel_tol=1e-6) for r in q3)
    assert {r["name"] for r in q3 if r["kind"] == "hyperparameter"} >= {"learning_rate", "epochs", "batch_size", "optimizer"}
    q4 = api.catalog("q4", trainingSet=training_set)
    assert len(q4) == 6 and all(int(r["batches"]) == 5 for r in q4)  # 72 training samples / 16 per batch
    assert wait_until(lambda: len(api.catalog("q5", inlineStart=inline[0], inlineEnd=inline[1])) == 2, timeout=60, interval=0.5)
    q5 = api.catalog("q5", inlineStart=inline[0], inlineEnd=inline[1])
    assert sorted(float(r["finalLoss"]) for r in q5) == sorted(h["loss"][-1] for h in histories.values())
    tests = api.sparql('SELECT ?v WHERE { ?t provml:executesTask/rdfs:label "test" ; provml:hasOutputValue ?o . '
                       '?o provml:valueName "accuracy" ; prov:value ?v . ?t provml:partOfExecution ?w . ?w rdfs:label ?l . '
                       'FILTER(STRSTARTS(?l, "keras-e2e")) }')
    assert len(tests) == 2 and test["accuracy"] in [r["v"] for r in tests]


@pytest.mark.agent
def test_a_name_declared_mid_run_reaches_the_real_agent_before_the_event_using_it():
    """Over the agent's socket the new spec version is an envelope before the events: the agent
    checks each event against the spec it knows, so it would refuse the batch otherwise."""
    from provml_client.spool import read_spool
    from test_real_services import real_agent

    with real_agent() as (spool_dir, sock):
        errors = []
        client = provml.init(training_spec("declare-agent"), "E", socket_path=sock, env={}, on_error=errors.append, register_atexit=False)
        with client.workflow_execution("py-declare-agent") as run, run.task("training") as t:
            with t.epoch(0):
                pass
            client.flush(20)
            client.declare("epoch", {"f1": "evaluation-measure"})
            with t.epoch(1) as e:
                e.set("f1", 0.75)
        result = client.shutdown(60)
        assert result and result.rejected == 0 and result.delivered == 6, errors
        records = [json.loads(p) for _, p in read_spool(spool_dir)]
        specs = [i for i, r in enumerate(records) if "spec" in r]
        first_f1 = next(i for i, r in enumerate(records) if "event" in r and "f1" in r["event"]["values"])
        assert len(specs) == 2 and specs[1] < first_f1
