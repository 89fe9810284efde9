"""One run of the Fig. 5 loop (bench/fig5_python.py) captured by a peer library, for bench/peers.ts.

Peers: ``provlake`` (the paper's own library, offline: its managed persister writing to a file, no
server), ``flowcept`` (its Redis message queue; a Redis server the driver started), ``mlflow`` (async
metric logging to a local SQLite store), ``provml`` (this project's client, setting F: its own spool) and
``baseline`` (no capture). Prints the JSON line of fig5_python.py plus ``calls``: capture calls made.

    .cache/bench-venv/bin/python bench/peers_python.py --peer flowcept --epochs 208 --iterations N \
        --dir /tmp/x --redis-port 6390
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fig5_python as loop  # noqa: E402


class Counted:
    calls = 0
    delivered = None


class ProvLakeTask:
    """ProvLake's ProvTask per begin, its end per end (the workflow object ends the run)."""

    def __init__(self, pl, persister, workflow, task, values, data_refs):
        args = dict(values or {})
        args.update(data_refs or {})
        self.task = pl.ProvTask(persister, task, prov_workflow=workflow, input_args=args)
        self.task.begin()
        self.pl, self.persister, self.workflow = pl, persister, workflow
        Counted.calls += 2  # the constructor's generate request and begin

    def begin(self, task, values=None, data_refs=None):
        return ProvLakeTask(self.pl, self.persister, self.workflow, task, values, data_refs)

    def end(self, values=None, data_refs=None):
        out = dict(values or {})
        out.update(data_refs or {})
        self.task.end(out)
        Counted.calls += 1


def provlake_hooks(args):
    import provlake
    from provlake import capture as pl

    persister = provlake.ProvLake.get_persister(
        log_dir=args.dir, should_send_to_file=True, service_url=None, bag_size=args.queue, log_level="error"
    )
    workflow = pl.ProvWorkflow(persister, "fig5-training").begin()

    class Root:
        def begin(self, task, values=None, data_refs=None):
            return ProvLakeTask(pl, persister, workflow, task, values, data_refs)

    def close():
        workflow.end()  # closes the persister: flushes the bag to the file

    return Root(), close


class FlowceptTaskRun:
    def __init__(self, FlowceptTask, task, parent, values, data_refs):
        used = dict(values or {})
        used.update(data_refs or {})
        self.FlowceptTask = FlowceptTask
        self.t = FlowceptTask(activity_id=task, parent_task_id=parent, used=used)
        Counted.calls += 1

    def begin(self, task, values=None, data_refs=None):
        return FlowceptTaskRun(self.FlowceptTask, task, self.t.get_id(), values, data_refs)

    def end(self, values=None, data_refs=None):
        gen = dict(values or {})
        gen.update(data_refs or {})
        self.t.end(generated=gen)
        Counted.calls += 1


def flowcept_hooks(args):
    settings = os.path.join(args.dir, "flowcept-settings.yaml")
    with open(settings, "w") as f:
        f.write(
            """log: {log_file_level: disable, log_stream_level: disable}
project: {db_flush_mode: online, enrich_messages: false, replace_non_json_serializable: false, dump_buffer: {enabled: false}}
telemetry_capture: {}
instrumentation: {enabled: true}
experiment: {user: bench}
mq: {enabled: true, type: redis, host: 127.0.0.1, port: %d, channel: interception, buffer_size: %d, insertion_buffer_time_secs: 1}
kv_db: {enabled: false}
web_server: {max_label_length: 30}
sys_metadata: {}
extra_metadata: {}
db_buffer: {}
databases: {mongodb: {enabled: false}, lmdb: {enabled: false}}
adapters: {}
agent: {}
"""
            % (args.redis_port, args.queue)
        )
    os.environ["FLOWCEPT_SETTINGS_PATH"] = settings
    from flowcept import Flowcept, FlowceptTask

    fc = Flowcept(workflow_name="fig5-training", start_persistence=False, check_safe_stops=False).start()

    class Root:
        def begin(self, task, values=None, data_refs=None):
            return FlowceptTaskRun(FlowceptTask, task, None, values, data_refs)

    return Root(), fc.stop


def mlflow_hooks(args):
    """MLflow has no task begin/end: params at training begin, a metric per batch end and per epoch end."""
    import mlflow

    # MLflow 3 refuses its file store by default ("maintenance mode"); its recommended local store is SQLite
    mlflow.set_tracking_uri("sqlite:///" + os.path.join(args.dir, "mlflow.db"))
    mlflow.set_experiment("fig5")
    run = mlflow.start_run()
    step = [0]

    class Batch:
        def end(self, values=None, data_refs=None):
            mlflow.log_metric("batch_loss", values["loss"], step=step[0], synchronous=False)
            step[0] += 1
            Counted.calls += 1

    class Epoch:
        def __init__(self, e):
            self.e = e

        def begin(self, task, values=None, data_refs=None):
            return Batch()

        def end(self, values=None, data_refs=None):
            mlflow.log_metrics({"loss": values["loss"]}, step=self.e, synchronous=False)
            Counted.calls += 1

    class Training:
        def begin(self, task, values=None, data_refs=None):
            return Epoch(values["epoch"])

        def end(self, values=None, data_refs=None):
            pass

    class Root:
        def begin(self, task, values=None, data_refs=None):
            p = dict(values or {})
            p.update(data_refs or {})
            mlflow.log_params(p, synchronous=False)
            Counted.calls += 1
            return Training()

    def close():
        mlflow.flush_async_logging()
        mlflow.end_run()

    del run
    return Root(), close


def provml_hooks(args):
    """This project's client: setting F (its own spool), or D/E through a ``provml agent`` (HTTP/socket)."""
    ns = argparse.Namespace(
        setting=args.setting,
        queue=args.queue,
        spool_dir=os.path.join(args.dir, "spool"),
        http_url=args.http_url,
        socket=args.socket,
    )
    client, run = loop.provml_hooks(ns)

    def close():
        Counted.delivered = client.shutdown(120).delivered

    return run, close


PEERS = {"provlake": provlake_hooks, "flowcept": flowcept_hooks, "mlflow": mlflow_hooks, "provml": provml_hooks}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", default="baseline")
    ap.add_argument("--epochs", type=int, default=208)
    ap.add_argument("--iterations", type=int, default=10000)
    ap.add_argument("--compute", choices=("wait", "busy"), default="wait")
    ap.add_argument("--wait-ms", type=float, default=20.0)
    ap.add_argument("--queue", type=int, default=50)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--redis-port", type=int, default=6379)
    ap.add_argument("--setting", default="F", help="provml: F (own spool), D (--http-url) or E (--socket)")
    ap.add_argument("--http-url")
    ap.add_argument("--socket")
    args = ap.parse_args()
    wait_ms = args.wait_ms if args.compute == "wait" else None
    loop.training_loop(1, args.iterations, loop.NoCapture(), None if wait_ms is None else min(wait_ms, 1.0))  # warm-up
    close = None
    if args.peer == "baseline":
        hooks = loop.NoCapture()
    else:
        hooks, close = PEERS[args.peer](args)
    result = loop.training_loop(args.epochs, args.iterations, hooks, wait_ms)
    result["events"] = 0 if close is None else loop.events_of(args.epochs)
    result["calls"] = Counted.calls if args.peer != "provml" else result["events"]
    t = time.perf_counter()
    if close is not None:
        close()
    result["drainMs"] = (time.perf_counter() - t) * 1000
    result["setting"] = args.peer
    if Counted.delivered is not None:
        result["delivered"] = Counted.delivered
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
    os._exit(0)  # peers leave non-daemon threads behind


if __name__ == "__main__":
    main()
