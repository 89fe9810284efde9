"""provml_client.query against the real services: runs captured through `provml embedded`'s HTTP ingest,
read back through its query API (SPARQL and the REST views); the bearer token against a `provml
query-api` that asks for one. Skipped with a reason when the project's node dependencies are missing;
under CI=true a missing piece fails instead."""

import datetime
import math
import os
import subprocess

import pytest

import provml_client as provml
from conftest import REPO_ROOT, SEISMIC_SPEC_PATH, in_ci, wait_until
from provml_client import query
from test_real_services import CLI, _free_port, _get, _node_ready, _stop, embedded_stack  # noqa: F401 (a fixture)

SET = "file:///data/seismic/query-train.npz"
#: Learning rate → validation loss per epoch of each run captured.
RUNS = {0.1: [0.9, 0.5, 0.6], 0.01: [0.8, 0.7, 0.3], 0.001: [0.95, 0.9, 0.85]}


def _run_id(lr):
    return "py-query-%s-%d" % (str(lr).replace(".", "_"), os.getpid())


def _model(lr, e):
    return "file:///models/py-query/%s/e%d.pt" % (_run_id(lr), e)


@pytest.fixture(scope="module")
def captured(embedded_stack):  # noqa: F811 (the fixture imported above)
    """Three training runs through the real ingest; the query client of the stack."""
    ingest_url, query_url = embedded_stack
    errors = []
    c = provml.init(SEISMIC_SPEC_PATH, "D", http_url=ingest_url, on_error=errors.append, register_atexit=False)
    for lr, val_losses in RUNS.items():
        with c.workflow_execution(_run_id(lr)) as run, run.task(
            "training",
            values={"learning_rate": lr, "epochs": len(val_losses), "batch_size": 16},
            data_refs={"training_set": SET},
        ) as t:
            for epoch in t.epochs(len(val_losses)):
                for batch, _ in epoch.batches(range(2)):
                    batch.set("batch_loss", 1.0 / (epoch.index + 1))
                epoch.update({"loss": val_losses[epoch.index] + 0.1, "accuracy": 0.5}).add_data_ref(
                    "model", _model(lr, epoch.index))
                with t.child("validation", data_refs={"model": _model(lr, epoch.index)}) as v:
                    v.set("val_loss", val_losses[epoch.index])
            t.set("final_loss", val_losses[-1])
    assert c.shutdown(60), errors
    api = query.connect(query_url)

    def stored():  # every run ended (its last events in the store too) and every model there
        runs = _mine(api.runs(hp={"batch_size": 16}))
        return (len(runs) == len(RUNS) and all(r["status"] == "finished" and "final_loss" in r["outputs"] for r in runs)
                and len(api.models(SET)) == sum(len(v) for v in RUNS.values()))

    assert wait_until(stored, timeout=60, interval=0.5)
    return api


def _mine(rows):
    return [r for r in rows if "/py-query-" in r["training"]]


def test_select_answers_typed_python_values(captured):
    rows = captured.sparql(
        """SELECT ?run ?lr ?started WHERE {
             ?t provml:executesTask/rdfs:label "training" ; prov:startedAtTime ?started ;
                provml:partOfExecution ?w . ?w rdfs:label ?run .
             ?t ?has ?v . ?v a provml:LearningHyperParameterSetting ; provml:valueName "learning_rate" ; prov:value ?lr .
           } ORDER BY ?lr"""
    )
    mine = [r for r in rows if r["run"].startswith("py-query-")]
    assert [r["lr"] for r in mine] == sorted(RUNS)
    assert all(isinstance(r["lr"], float) and isinstance(r["run"], str) for r in mine)
    assert all(isinstance(r["started"], datetime.datetime) and r["started"].tzinfo is not None for r in mine)
    count = captured.sparql('SELECT (COUNT(?v) AS ?n) WHERE { ?v provml:valueName "val_loss" }')
    assert isinstance(count[0]["n"], int) and count[0]["n"] >= sum(len(v) for v in RUNS.values())


def test_ask_answers_a_bool_and_construct_n_triples(captured):
    assert captured.sparql("ASK { ?m a provml:ModelReferenceValue }") is True
    assert captured.sparql('ASK { ?x provml:valueName "no-such-measure" }') is False
    text = captured.sparql(
        'CONSTRUCT { ?w rdfs:label ?l } WHERE { ?w a provml:WorkflowExecution ; rdfs:label ?l . FILTER(STRSTARTS(?l, "py-query-")) }'
    )
    assert isinstance(text, str)
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == len(RUNS)
    assert all(line.endswith(" .") and "<http://www.w3.org/2000/01/rdf-schema#label>" in line for line in lines)
    assert {_run_id(lr) for lr in RUNS} == {line.split('"')[1] for line in lines}


def test_views_answer_the_runs_models_and_best_model(captured):
    runs = _mine(captured.runs(hp={"batch_size": 16}))
    assert sorted(r["hyperparameters"]["learning_rate"] for r in runs) == sorted(RUNS)
    for r in runs:
        assert r["trainingSet"] == SET
        assert r["outputs"]["final_loss"] == RUNS[r["hyperparameters"]["learning_rate"]][-1]
    assert _mine(captured.runs(hp={"learning_rate": 0.01}))[0]["outputs"]["final_loss"] == 0.3

    best = captured.best_model(SET, measure="val_loss")
    assert best["uri"] == _model(0.01, 2) and best["value"] == 0.3
    assert best["hyperparameters"]["learning_rate"] == 0.01
    worst = captured.best_model(SET, measure="val_loss", direction="max")
    assert worst["uri"] == _model(0.001, 0) and worst["value"] == 0.95

    models = captured.models(SET)
    assert len(models) == sum(len(v) for v in RUNS.values())
    executions = captured.executions(status="finished")
    assert {_run_id(lr) for lr in RUNS} <= {e["workflowExecution"].rsplit("/", 1)[-1] for e in executions}

    training = next(r["training"] for r in runs if r["hyperparameters"]["learning_rate"] == 0.1)
    epochs = captured.timing(execution=training)
    assert [e["batches"] for e in epochs] == [2, 2, 2]
    curves = captured.measures([r["training"] for r in runs], measure="val_loss")
    by_training = {s["training"]: [p["value"] for p in s["points"]] for s in curves["series"]}
    assert {r["training"]: RUNS[r["hyperparameters"]["learning_rate"]] for r in runs} == by_training
    assert "val_loss" in {m["name"] for m in curves["measures"]}

    back = captured.lineage(best["model"])
    assert SET in {n["id"] for n in back["nodes"]}
    q3 = captured.catalog("q3", trainingSet=SET)
    assert any(row["name"] == "learning_rate" and float(row["value"]) == 0.01 for row in q3)


def test_dataframes_where_pandas_is_installed(captured):
    try:
        import pandas  # noqa: F401
    except ImportError:
        if in_ci():
            pytest.fail("CI=true: pandas is missing (pip install pandas)")
        pytest.skip("pandas is not installed (pip install pandas)")
    frame = captured.runs(hp={"batch_size": 16}, dataframe=True)
    frame = frame[frame["training"].str.contains("/py-query-")]
    assert len(frame) == len(RUNS)
    assert sorted(frame["hyperparameters.learning_rate"]) == sorted(RUNS)
    assert set(frame["outputs.final_loss"]) == {v[-1] for v in RUNS.values()}
    rows = captured.sparql('SELECT ?name ?value WHERE { ?v provml:valueName ?name ; prov:value ?value . FILTER(?name = "val_loss") }',
                           dataframe=True)
    assert list(rows.columns) == ["name", "value"] and len(rows) >= 9
    points = captured.measures(list(frame["training"]), measure="loss", dataframe=True)
    assert len(points) == sum(len(v) for v in RUNS.values())
    assert math.isclose(points["value"].min(), 0.4)


def test_errors_are_typed(captured):
    with pytest.raises(query.QueryError) as bad:
        captured.best_model("not an iri")
    assert bad.value.status == 400 and bad.value.code == "invalid-parameter" and not bad.value.retriable
    with pytest.raises(query.QueryError) as missing:
        captured.best_model(SET, measure="no_such_measure")
    assert missing.value.status == 404 and missing.value.code == "not-found"
    with pytest.raises(query.QueryError) as refused:
        captured.sparql("INSERT DATA { <urn:a> <urn:b> <urn:c> }")
    assert refused.value.status == 403 and refused.value.code == "read-only"
    with pytest.raises(query.QueryError) as gone:
        query.connect("http://127.0.0.1:%d" % _free_port(), timeout=2).runs()
    assert gone.value.status == 0 and gone.value.retriable


def test_the_bearer_token_reaches_a_query_api_that_asks_for_one():
    _node_ready()
    token = "py-query-token-0123456789abcdef"
    port = _free_port()
    env = dict(os.environ, PROVML_STORE="oxigraph-embedded", PROVML_QUERY_TOKENS=token, PROVML_LIVE="false",
               PROVML_HTTP_HOST="127.0.0.1", PROVML_HTTP_PORT=str(port))
    proc = subprocess.Popen(["node", "--import", "tsx", CLI, "query-api"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port

    def up():
        try:
            return _get(url + "/healthz") is not None
        except OSError:
            return proc.poll() is not None

    try:
        assert wait_until(up, timeout=90, interval=0.25) and proc.poll() is None, "provml query-api did not start"
        assert query.connect(url, token=token).sparql("ASK {}") is True
        assert query.connect(url, token=token).runs() == []
        for wrong, code in ((None, "unauthorized"), ("not-the-token-0123456789", "invalid-token")):
            with pytest.raises(query.QueryError) as refused:
                query.connect(url, token=wrong).runs()
            assert refused.value.status == 401 and refused.value.code == code
    finally:
        _stop(proc)


def test_typed_values_follow_the_datatype():
    xsd = query.PREFIXES["xsd"]
    lit = lambda value, datatype=None: dict(type="literal", value=value, **({"datatype": xsd + datatype} if datatype else {}))  # noqa: E731
    assert query.typed_value(lit("42", "integer")) == 42
    assert query.typed_value(lit("1.0E-2", "double")) == 0.01
    assert math.isnan(query.typed_value(lit("NaN", "double")))
    assert query.typed_value(lit("-INF", "double")) == float("-inf")
    assert query.typed_value(lit("true", "boolean")) is True
    assert query.typed_value(lit("0", "boolean")) is False
    t = query.typed_value(lit("2026-12-06T23:10:15.123456789Z", "dateTime"))
    assert t == datetime.datetime(2026, 12, 6, 23, 10, 15, 123456, tzinfo=datetime.timezone.utc)
    assert query.typed_value(lit("2026-12-06T23:10:15.5+01:00", "dateTime")).utcoffset() == datetime.timedelta(hours=1)
    assert query.typed_value(lit("not a number", "integer")) == "not a number"
    assert query.typed_value(lit("plain")) == "plain"
    assert query.typed_value({"type": "uri", "value": "urn:x"}) == "urn:x"
    assert query.typed_value({"type": "bnode", "value": "b0"}) == "_:b0"
