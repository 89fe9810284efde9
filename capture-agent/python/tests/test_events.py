"""Event building: the exact JSON form of schemas/src/CaptureEvent.ts, ids, times, nesting, status."""

import json
import os
import time

import pytest

import provml_client as provml
from conftest import events_of

KEYS = [
    "eventId",
    "workflow",
    "workflowExecution",
    "task",
    "taskExecution",
    "parentTaskExecution",
    "phase",
    "time",
    "values",
    "dataRefs",
    "status",
    "context",
]


def test_begin_and_end_events_have_the_contract_fields(memory_client):
    run = memory_client.workflow_execution("wf-1")
    before = time.time_ns() // 1000
    t = run.begin("training", values={"learning_rate": 0.01}, data_refs={"training_set": "file:///data/train.npz"})
    t.end(values={"final_loss": 0.25})
    after = time.time_ns() // 1000
    begin, end = events_of(memory_client)
    assert list(begin) == KEYS and list(end) == KEYS
    assert begin["workflow"] == "small" and begin["workflowExecution"] == "wf-1"
    assert begin["task"] == "training" and begin["phase"] == "begin" and begin["status"] is None
    assert begin["parentTaskExecution"] is None
    assert begin["values"] == {"learning_rate": 0.01}
    assert begin["dataRefs"] == [{"name": "training_set", "uri": "file:///data/train.npz", "store": None}]
    assert end["phase"] == "end" and end["status"] == "finished" and end["values"] == {"final_loss": 0.25}
    assert begin["taskExecution"] == end["taskExecution"] == t.id
    assert begin["eventId"] != end["eventId"]
    # microseconds since the epoch, integers, in order
    assert isinstance(begin["time"], int) and before <= begin["time"] <= end["time"] <= after


def test_context_only_on_top_level_begins(small_spec):
    c = provml.init(
        small_spec,
        "D",
        transport=provml.MemoryTransport(),
        env={"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "gpu[01-02]", "CUDA_VISIBLE_DEVICES": "0,1"},
        context={"experiment": "exp-7"},
        register_atexit=False,
    )
    try:
        with c.workflow_execution() as run, run.task("training") as t, t.child("epoch"):
            pass
        evs = events_of(c)
        ctx = evs[0]["context"]
        assert ctx["pid"] == str(os.getpid()) and ctx["host"] and ctx["runtime"].startswith("python ")
        assert ctx["scheduler"] == "slurm" and ctx["jobId"] == "4242" and ctx["nodes"] == "gpu[01-02]"
        assert ctx["gpus"] == "0,1" and ctx["experiment"] == "exp-7"
        assert all(e["context"] == {} for e in evs[1:])
    finally:
        c.shutdown(20)


def test_no_scheduler_context_without_job_variables():
    ctx = provml.collect_execution_context({})
    assert "jobId" not in ctx and "scheduler" not in ctx and "gpus" not in ctx


def test_ids_are_unique_and_parents_link(memory_client):
    run = memory_client.workflow_execution()
    assert run.id.startswith("small-")
    with run.task("training") as t:
        with t.child("epoch") as e:
            with e.batch(0) as b:
                b.set("batch_loss", 1.5)
    evs = events_of(memory_client)
    assert len({e["eventId"] for e in evs}) == len(evs) == 6
    by_task = {(e["task"], e["phase"]): e for e in evs}
    assert by_task[("epoch", "begin")]["parentTaskExecution"] == t.id
    assert by_task[("batch", "begin")]["parentTaskExecution"] == e.id
    assert by_task[("batch", "begin")]["values"] == {"batch_index": 0}
    assert by_task[("batch", "end")]["values"] == {"batch_loss": 1.5}
    assert b.parent == e.id and e.parent == t.id and t.parent is None
    # ends come child first
    order = [(x["task"], x["phase"]) for x in evs]
    assert order == [
        ("training", "begin"),
        ("epoch", "begin"),
        ("batch", "begin"),
        ("batch", "end"),
        ("epoch", "end"),
        ("training", "end"),
    ]


def test_two_clients_never_share_ids(small_spec):
    a = provml.init(small_spec, "D", transport=provml.MemoryTransport(), env={}, register_atexit=False)
    b = provml.init(small_spec, "D", transport=provml.MemoryTransport(), env={}, register_atexit=False)
    try:
        for c in (a, b):
            c.workflow_execution("same").begin("training").end()
        ids = [e["eventId"] for c in (a, b) for e in events_of(c)]
        ids += [e["taskExecution"] for c in (a, b) for e in events_of(c)]
        assert len(set(ids)) == 6
    finally:
        a.shutdown(20)
        b.shutdown(20)


def test_exception_in_context_manager_ends_failed_and_reraises(memory_client):
    run = memory_client.workflow_execution()
    with pytest.raises(RuntimeError, match="boom"):
        with run.task("training") as t:
            with t.child("epoch"):
                raise RuntimeError("boom")
    evs = events_of(memory_client)
    ends = [e for e in evs if e["phase"] == "end"]
    assert [(e["task"], e["status"]) for e in ends] == [("epoch", "failed"), ("training", "failed")]


def test_keyboard_interrupt_is_a_failure_too(memory_client):
    run = memory_client.workflow_execution()
    with pytest.raises(KeyboardInterrupt):
        with run.task("training"):
            raise KeyboardInterrupt
    assert events_of(memory_client)[-1]["status"] == "failed"


def test_explicit_begin_end_and_fail(memory_client):
    run = memory_client.workflow_execution()
    t = run.begin("training")
    e = t.begin("epoch")
    e.fail(values={"loss": 9.0})
    t.end(status="finished")
    t.end()  # a second end is ignored
    evs = events_of(memory_client)
    assert [(x["task"], x["phase"], x["status"]) for x in evs] == [
        ("training", "begin", None),
        ("epoch", "begin", None),
        ("epoch", "end", "failed"),
        ("training", "end", "finished"),
    ]
    assert evs[2]["values"] == {"loss": 9.0}
    with pytest.raises(ValueError):
        run.begin("training").end(status="done")


def test_set_and_add_data_ref_merge_into_the_end_event(memory_client):
    run = memory_client.workflow_execution()
    with run.task("training") as t:
        e = t.begin("epoch")
        e.set("loss", 0.5).add_data_ref("model", "file:///models/e0.pt", "lustre")
        e.end(values={"epoch": 0})
    end = [x for x in events_of(memory_client) if x["task"] == "epoch" and x["phase"] == "end"][0]
    assert end["values"] == {"loss": 0.5, "epoch": 0}
    assert end["dataRefs"] == [{"name": "model", "uri": "file:///models/e0.pt", "store": "lustre"}]


def test_values_of_every_kind_and_coercion(memory_client):
    class NumpyLikeScalar:
        def __float__(self):
            return 2.5

    class NumpyLikeArray:
        def tolist(self):
            return [1.0, 2.0]

    run = memory_client.workflow_execution()
    with run.task("training") as t, t.child("epoch") as e:
        e.batch(0).end(values={"batch_loss": 1, "ok": True, "note": "é ✓ \"quoted\"", "weights": [1, 2.5, -3]})
        e.batch(1).end(values={"batch_loss": NumpyLikeScalar(), "weights": NumpyLikeArray()})
        e.batch(2).end(values={"batch_loss": float("nan"), "weights": (1, 2)})
        e.batch(3).end(values={"batch_loss": float("inf")})
    ends = [x["values"] for x in events_of(memory_client) if x["task"] == "batch" and x["phase"] == "end"]
    assert ends[0] == {"batch_loss": 1, "ok": True, "note": "é ✓ \"quoted\"", "weights": [1, 2.5, -3]}
    assert type(ends[0]["ok"]) is bool
    assert ends[1] == {"batch_loss": 2.5, "weights": [1.0, 2.0]}
    # non-finite numbers are not JSON: a diverged loss is kept as a string
    assert ends[2] == {"batch_loss": "NaN", "weights": [1, 2]}
    assert ends[3] == {"batch_loss": "Infinity"}


def test_the_values_dict_is_copied(memory_client):
    run = memory_client.workflow_execution()
    values = {"learning_rate": 0.1}
    run.begin("training", values=values).end()
    values["learning_rate"] = 99.0
    assert events_of(memory_client)[0]["values"] == {"learning_rate": 0.1}


BAD_VALUES = [
    ({"batch_loss": object()}, TypeError, "invalid"),
    ({"weights": [1, "x"]}, TypeError, "invalid"),
    ({"weights": [1, float("nan")]}, ValueError, "invalid"),
    ({"note": "x" * 70000}, ValueError, "invalid"),
    ({"undeclared": 1}, ValueError, "undeclared"),
]


@pytest.mark.parametrize("values, error, kind", BAD_VALUES)
def test_strict_raises_at_the_call_and_still_ends_the_task(strict_client, values, error, kind):
    run = strict_client.workflow_execution()
    with run.task("training") as t, t.child("epoch") as e:
        b = e.batch(0)
        with pytest.raises(error):
            b.end(values=dict(values, batch_loss=0.5) if "batch_loss" not in values else values)
        assert b.ended
    evs = events_of(strict_client)
    batch_end = [x for x in evs if x["task"] == "batch" and x["phase"] == "end"]
    # the raise did not leave the batch open: it ended as failed, with the valid values
    assert len(batch_end) == 1 and batch_end[0]["status"] == "failed"
    assert "undeclared" not in batch_end[0]["values"]
    if "batch_loss" not in values:
        assert batch_end[0]["values"]["batch_loss"] == 0.5


@pytest.mark.parametrize("values, error, kind", BAD_VALUES)
def test_strict_set_raises_at_set_and_the_with_block_ends_the_task(strict_client, values, error, kind):
    run = strict_client.workflow_execution()
    (name, value), = values.items()
    with pytest.raises(error):
        with run.task("training") as t, t.child("epoch") as e, e.batch(0) as b:
            b.set("batch_loss", 0.5)
            b.set(name, value)  # raises here, at the call …
            pytest.fail("not reached")
    evs = events_of(strict_client)
    # … and every task run still ends (failed: an exception left the blocks)
    ends = [(x["task"], x["status"]) for x in evs if x["phase"] == "end"]
    assert ends == [("batch", "failed"), ("epoch", "failed"), ("training", "failed")]
    assert [x["values"] for x in evs if x["task"] == "batch" and x["phase"] == "end"] == [{"batch_loss": 0.5}]


@pytest.mark.parametrize("values, error, kind", BAD_VALUES)
def test_by_default_a_mistake_costs_only_that_value(memory_client, values, error, kind):
    run = memory_client.workflow_execution()
    (name, value), = values.items()
    with run.task("training") as t, t.child("epoch") as e:
        for i in range(3):
            with e.batch(i) as b:
                b.set(name, value)  # reported at this call, the first time only; never raises
                b.set("ok", True)
            e.batch(10 + i).end(values=dict([(name, value), ("ok", False)]))
    evs = events_of(memory_client)
    ends = [x for x in evs if x["task"] == "batch" and x["phase"] == "end"]
    assert len(ends) == 6 and all(x["status"] == "finished" for x in ends)
    assert [x["values"] for x in ends] == [{"ok": True}, {"ok": False}] * 3
    s = memory_client.stats
    assert getattr(s, kind) == 6 and s.rejected == 0 and s.exported == len(evs)
    reports = [x for x in memory_client.errors if x.kind == kind]
    assert len(reports) == 1 and name in str(reports[0]) and "dropped" in str(reports[0])
    r = memory_client.flush(20)
    assert getattr(r, kind) == 6 and not r  # the result owns up to what was dropped
    assert r.delivered == len(evs) and r.dropped == 0


def test_a_mistake_is_reported_at_the_call_that_made_it(memory_client):
    run = memory_client.workflow_execution()
    t = run.begin("training")
    e = t.begin("epoch")
    assert memory_client.errors == []
    e.set("los", 0.1)  # a typo of "loss"
    assert [x.kind for x in memory_client.errors] == ["undeclared"]
    assert "value 'los' is not declared by task 'epoch'" in str(memory_client.errors[0])
    assert "loss" in str(memory_client.errors[0])  # the declared names are listed
    e.update({"los": 0.2, "loss": 0.2})
    e.add_data_ref("modle", "file:///m.pt")
    assert [x.kind for x in memory_client.errors] == ["undeclared", "undeclared"]
    e.end()
    t.end()
    end = [x for x in events_of(memory_client) if x["task"] == "epoch" and x["phase"] == "end"][0]
    assert end["values"] == {"loss": 0.2} and end["dataRefs"] == []
    assert memory_client.stats.undeclared == 3


def test_the_values_dict_is_copied(memory_client):
    run = memory_client.workflow_execution()
    values = {"learning_rate": 0.1}
    run.begin("training", values=values).end()
    values["learning_rate"] = 99.0
    assert events_of(memory_client)[0]["values"] == {"learning_rate": 0.1}


def test_strict_names_references_and_unknown_tasks(strict_client):
    run = strict_client.workflow_execution()
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        run.begin("nope")
    with pytest.raises(ValueError, match="is a reference: pass it in data_refs"):
        run.begin("training", values={"training_set": "file:///x"})
    with pytest.raises(ValueError, match="is a value, not a reference"):
        run.begin("training", data_refs={"learning_rate": "file:///x"})
    with pytest.raises(ValueError, match="not an absolute URI"):
        run.begin("training", data_refs={"training_set": "relative/path with space"})
    with pytest.raises(ValueError, match="not declared"):
        run.begin("training", data_refs=[{"name": "other", "uri": "s3://b/k"}])
    t = run.begin("training")
    with pytest.raises(ValueError, match="unknown task 'epok'"):
        t.epochs(2, task="epok")
    t.end()
    # nothing was begun by the calls that raised
    run.begin("training", data_refs=[("training_set", "s3://bucket/train", "s3")]).end()
    evs = events_of(strict_client)
    assert len(evs) == 4
    assert evs[2]["dataRefs"] == [{"name": "training_set", "uri": "s3://bucket/train", "store": "s3"}]


def test_by_default_names_references_and_unknown_tasks_are_dropped(memory_client):
    run = memory_client.workflow_execution()
    run.begin("training", values={"training_set": "file:///x", "learning_rate": 0.1},
              data_refs={"learning_rate": "file:///x", "training_set": "relative path", "other": "s3://b/k"}).end()
    with run.task("training") as t:
        with t.child("nope") as ghost:  # a task the spec does not declare: nothing is sent …
            ghost.set("loss", 1.0)
            with ghost.child("epoch") as e:  # … nor for its children
                e.set("loss", 1.0)
        for epoch in t.epochs(2, task="epok"):  # the loop still runs
            epoch.set("loss", 0.1)
        assert epoch.index == 1
    evs = events_of(memory_client)
    assert [(x["task"], x["phase"]) for x in evs] == [("training", "begin"), ("training", "end")] * 2
    assert evs[0]["values"] == {"learning_rate": 0.1} and evs[0]["dataRefs"] == []
    s = memory_client.stats
    # training_set as a value, learning_rate and other as references, nope, epoch under nope, 2 × epok
    assert s.undeclared == 3 + 1 + 1 + 2 and s.invalid == 1
    kinds = sorted((x.kind, str(x).split(":")[0]) for x in memory_client.errors)
    assert len(kinds) == 6, kinds  # once per name: 4 names + 'nope' + 'epok'; the epoch under nope is silent


def test_epoch_and_batch_loops(memory_client):
    run = memory_client.workflow_execution()
    with run.task("training") as t:
        seen = []
        for epoch in t.epochs(2):
            for batch, item in epoch.batches(["a", "b", "c"]):
                seen.append((epoch.index, batch.index, item))
                batch.set("batch_loss", 0.1)
            epoch.set("loss", 0.2)
    assert seen == [(0, 0, "a"), (0, 1, "b"), (0, 2, "c"), (1, 0, "a"), (1, 1, "b"), (1, 2, "c")]
    evs = events_of(memory_client)
    assert len(evs) == 2 + 2 * 2 + 6 * 2
    epochs = [e for e in evs if e["task"] == "epoch"]
    assert [(e["phase"], e["values"]) for e in epochs] == [
        ("begin", {"epoch": 0}),
        ("end", {"loss": 0.2}),
        ("begin", {"epoch": 1}),
        ("end", {"loss": 0.2}),
    ]
    # every batch is inside its epoch: begin … end before the epoch ends
    order = [(e["task"], e["phase"]) for e in evs]
    assert order[:4] == [("training", "begin"), ("epoch", "begin"), ("batch", "begin"), ("batch", "end")]
    assert order[7:9] == [("batch", "end"), ("epoch", "end")]
    assert all(e["status"] == "finished" for e in evs if e["phase"] == "end")


def test_loop_index_is_left_out_when_the_spec_does_not_declare_it(small_spec):
    spec = dict(small_spec)
    spec["tasks"] = [dict(t) for t in small_spec["tasks"]]
    spec["tasks"][1]["outputs"] = []
    c = provml.init(spec, "D", transport=provml.MemoryTransport(), env={}, register_atexit=False)
    try:
        with c.workflow_execution() as run, run.task("training") as t:
            for _ in t.epochs(1, start=5):
                pass
        ev = [e for e in events_of(c) if e["task"] == "epoch"][0]
        assert ev["values"] == {}
    finally:
        c.shutdown(20)


def test_exception_inside_loops_fails_the_open_runs(memory_client):
    run = memory_client.workflow_execution()
    with pytest.raises(ZeroDivisionError):
        with run.task("training") as t:
            for epoch in t.epochs(3):
                for batch, i in epoch.batches(range(5)):
                    if epoch.index == 1 and i == 2:
                        1 / 0
    evs = events_of(memory_client)
    ends = [(e["task"], e["status"]) for e in evs if e["phase"] == "end"]
    # epoch 0 and its batches finished; batch 2 of epoch 1, epoch 1 and training failed
    assert ends[-3:] == [("batch", "failed"), ("epoch", "failed"), ("training", "failed")]
    assert ends.count(("epoch", "finished")) == 1
    begins = sum(1 for e in evs if e["phase"] == "begin")
    assert begins == len(ends)  # nothing left open


def test_break_ends_the_open_epoch_as_finished_with_its_parent(memory_client):
    run = memory_client.workflow_execution()
    with run.task("training") as t:
        for epoch in t.epochs(10):
            if epoch.index == 1:
                break  # early stopping
    evs = events_of(memory_client)
    ends = [(e["task"], e["status"]) for e in evs if e["phase"] == "end"]
    assert ends == [("epoch", "finished"), ("epoch", "finished"), ("training", "finished")]


def test_workflow_run_exit_ends_open_top_level_tasks(memory_client):
    with pytest.raises(ValueError):
        with memory_client.workflow_execution() as run:
            run.begin("training")
            raise ValueError("x")
    evs = events_of(memory_client)
    assert [(e["phase"], e["status"]) for e in evs] == [("begin", None), ("end", "failed")]


def test_events_are_valid_json_with_awkward_workflow_execution_ids(memory_client):
    run = memory_client.workflow_execution('run "%s" \\ é')
    run.begin("training").end()
    texts = [json.dumps(e) for e in events_of(memory_client)]
    assert json.loads(texts[0])["workflowExecution"] == 'run "%s" \\ é'


def test_spec_checks_at_init():
    with pytest.raises(provml.SpecError, match="phase"):
        provml.init({"workflow": "w", "tasks": [{"id": "t"}]}, "D", transport=provml.MemoryTransport())
    with pytest.raises(provml.SpecError, match="unknown parent"):
        provml.init(
            {"workflow": "w", "phase": "learning", "tasks": [{"id": "t", "parent": "x"}]},
            "D",
            transport=provml.MemoryTransport(),
        )


def test_spec_from_a_json_file(tmp_path, seismic_spec):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(seismic_spec))
    c = provml.init(str(path), "D", transport=provml.MemoryTransport(), env={}, register_atexit=False)
    try:
        assert c.workflow == "seismic-training"
    finally:
        c.shutdown(20)


def test_the_issues_typo_in_a_validation_block(seismic_spec, caplog):
    """Issue #14 item 4: a typo in a metric name, the default client (its default error handler)."""
    c = provml.init(seismic_spec, "D", transport=provml.MemoryTransport(), env={}, register_atexit=False)
    try:
        with caplog.at_level("WARNING", logger="provml_client"):
            with c.workflow_execution() as run, run.task("training", values={"learning_rate": 0.1}) as training:
                for epoch in training.epochs(3):
                    with training.child("validation", data_refs={"model": "file:///m%d.pt" % epoch.index}) as v:
                        v.update({"val_loss": 0.3, "val_acc": 0.9})  # "val_acc": not in the spec
        # logged once, at the call, though the typo ran three times; the training went on
        warnings = [r for r in caplog.records if "val_acc" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
        assert "val_accuracy" in warnings[0].getMessage()  # the declared names are listed
        evs = events_of(c)
        ends = [e for e in evs if e["task"] == "validation" and e["phase"] == "end"]
        assert [(e["status"], e["values"]) for e in ends] == [("finished", {"val_loss": 0.3})] * 3
        assert c.stats.undeclared == 3
    finally:
        c.shutdown(20)


def test_the_issues_typo_with_strict_raises_at_the_call_and_ends_the_validation(seismic_spec):
    c = provml.init(seismic_spec, "D", transport=provml.MemoryTransport(), env={}, strict=True, register_atexit=False)
    try:
        run = c.workflow_execution()
        training = run.begin("training")
        with pytest.raises(ValueError, match="'val_acc' is not declared by task 'validation'"):
            with training.child("validation") as v:
                v.set("val_loss", 0.3)
                v.set("val_acc", 0.9)  # raises here …
        training.end()
        evs = events_of(c)
        # … and the validation execution is not left open
        assert [(e["task"], e["phase"], e["status"]) for e in evs] == [
            ("training", "begin", None),
            ("validation", "begin", None),
            ("validation", "end", "failed"),
            ("training", "end", "finished"),
        ]
        assert evs[2]["values"] == {"val_loss": 0.3}
    finally:
        c.shutdown(20)
