"""The Python twin of bench/fig5-loop.ts: the paper's Fig. 5 training loop (35 batches per epoch,
begin/end per batch, epoch and training), one run per process. Each batch's compute is a GPU-like wait
(``--compute wait``, the default: ``time.sleep``, which releases the GIL as a CUDA sync does in PyTorch,
so the client's background thread runs meanwhile) or a calibrated CPU busy-loop (``--compute busy``).

Driven by ``node --import tsx bench/fig5.ts --lang python`` (which starts the ingest and the agent on
the real broker and writes bench/results/fig5-python.md) and by bench/peers.ts (``--peer``, in
bench/peers_python.py). Prints one JSON line: loopMs, callMs, yieldMs, events, drainMs.

    python3 bench/fig5_python.py --calibrate 1000            # iterations for 1000 µs of compute
    python3 bench/fig5_python.py --setting D --epochs 12 --compute wait --wait-ms 20 --http-url URL
    python3 bench/fig5_python.py --setting D --epochs 208 --compute busy --iterations N --http-url URL
"""

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCHES_PER_EPOCH = 35

#: The same spec as FIG5_SPEC in bench/fig5-loop.ts.
SPEC = {
    "workflow": "fig5-training",
    "phase": "learning",
    "tasks": [
        {
            "id": "training",
            "stage": "training",
            "inputs": [
                {"name": "learning_rate", "semantics": "hyperparameter"},
                {"name": "epochs", "semantics": "hyperparameter"},
                {"name": "training_set", "semantics": "dataset-reference"},
            ],
        },
        {
            "id": "epoch",
            "parent": "training",
            "inputs": [{"name": "epoch", "semantics": "model-hyperparameter"}],
            "outputs": [
                {"name": "loss", "semantics": "evaluation-measure"},
                {"name": "model", "semantics": "model-reference"},
            ],
        },
        {"id": "batch", "parent": "epoch", "outputs": [{"name": "loss", "semantics": "output-value"}]},
    ],
}


def events_of(epochs):
    return 2 + epochs * (2 + 2 * BATCHES_PER_EPOCH)


def busy_work(iterations):
    """The stand-in for a batch's compute: fixed work (integer mixing), not fixed time."""
    x = 0x9E3779B9
    for i in range(iterations):
        x = ((x ^ (x >> 15)) * 0x2C1B3C6D + i) & 0xFFFFFFFF
    return x


def calibrate(micros):
    probe = 200000
    busy_work(probe)
    rates = []
    for _ in range(7):
        t = time.perf_counter()
        busy_work(probe)
        rates.append(probe / ((time.perf_counter() - t) * 1e6))
    rates.sort()
    return max(1, round(rates[3] * micros))


class NoCapture:
    """Hooks of the baseline: every call does nothing (same loop, same timing calls)."""

    def begin(self, *a, **k):
        return self

    def end(self, *a, **k):
        pass


def training_loop(epochs, iterations, hooks, wait_ms=None):
    """Runs the loop; ``hooks`` is a provml_client WorkflowRun-like object (``begin``/``end``) or a peer's.

    ``wait_ms`` set: each batch sleeps that long (GPU-like wait); else ``busy_work(iterations)``.
    Returns loopMs, callMs (inside capture calls), yieldMs (time in the per-batch wait; 0 with the
    busy-loop, whose background work runs on its own thread during the loop), cpuMs (CPU time of the
    process, all threads).
    """
    now = time.perf_counter
    sleep = time.sleep
    wait_s = None if wait_ms is None else wait_ms / 1000.0
    waited = 0.0
    call = 0.0
    sink = 0
    cpu0 = time.process_time()
    main0 = time.thread_time()
    sys0 = os.times().system
    started = now()
    t = now()
    training = hooks.begin(
        "training",
        values={"learning_rate": 0.001, "epochs": epochs},
        data_refs={"training_set": "file:///data/seismic/train.npz"},
    )
    call += now() - t
    for e in range(epochs):
        t = now()
        epoch = training.begin("epoch", values={"epoch": e})
        call += now() - t
        epoch_loss = 0.0
        for b in range(BATCHES_PER_EPOCH):
            t = now()
            batch = epoch.begin("batch")
            call += now() - t
            if wait_s is None:
                x = busy_work(iterations)
            else:
                y = now()
                sleep(wait_s)
                waited += now() - y
                x = ((e * BATCHES_PER_EPOCH + b + 1) * 0x9E3779B1) & 0xFFFFFFFF
            sink ^= x
            loss = x / 4294967296.0
            epoch_loss += loss
            t = now()
            batch.end(values={"loss": loss})
            call += now() - t
        t = now()
        epoch.end(values={"loss": epoch_loss / BATCHES_PER_EPOCH}, data_refs={"model": "file:///models/fig5/epoch-%d.pt" % e})
        call += now() - t
    t = now()
    training.end()
    call += now() - t
    loop = now() - started
    cpu = time.process_time() - cpu0
    main = time.thread_time() - main0
    if sink == -1:
        print(sink)
    return {
        "loopMs": loop * 1000,
        "callMs": call * 1000,
        "yieldMs": waited * 1000,
        "cpuMs": cpu * 1000,
        "cpuSystemMs": (os.times().system - sys0) * 1000,  # of cpuMs, in the kernel (writes, fsync)
        "cpuMainMs": main * 1000,  # of cpuMs, the trainer's thread (the rest: the client's threads)
        "startCpuMs": cpu0 * 1000,  # before the loop: interpreter, imports, warm-up, init
    }


def provml_hooks(args):
    """This project's Python client with one of the settings A–F."""
    sys.path.insert(0, os.path.join(ROOT, "capture-agent", "python"))
    import provml_client as provml

    s = args.setting
    opts = dict(env={}, register_atexit=False, on_error=lambda e: sys.stderr.write("capture error: %s\n" % e))
    if s in ("D", "E", "F"):
        opts["queue_size"] = args.queue
    if s in ("A", "D"):
        opts["http_url"] = args.http_url
    elif s in ("B", "E"):
        opts["socket_path"] = args.socket
    else:
        opts["spool_dir"] = args.spool_dir
    client = provml.init(SPEC, s, **opts)
    return client, client.workflow_execution()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calibrate", type=float)
    ap.add_argument("--setting", default="baseline")
    ap.add_argument("--epochs", type=int, default=208)
    ap.add_argument("--iterations", type=int, default=10000)
    ap.add_argument("--compute", choices=("wait", "busy"), default="wait")
    ap.add_argument("--wait-ms", type=float, default=20.0)
    ap.add_argument("--queue", type=int, default=512)
    ap.add_argument("--socket")
    ap.add_argument("--http-url")
    ap.add_argument("--spool-dir")
    args = ap.parse_args()
    if args.calibrate is not None:
        print(calibrate(args.calibrate))
        return
    wait_ms = args.wait_ms if args.compute == "wait" else None
    training_loop(1, args.iterations, NoCapture(), None if wait_ms is None else min(wait_ms, 1.0))  # warm-up
    client = None
    if args.setting == "baseline":
        hooks = NoCapture()
    else:
        client, hooks = provml_hooks(args)
    result = training_loop(args.epochs, args.iterations, hooks, wait_ms)
    result["events"] = 0 if client is None else events_of(args.epochs)
    t = time.perf_counter()
    if client is not None:
        ok = client.shutdown(120)
        st = client.stats
        if not ok or st.failed or st.dropped or st.exported != st.enqueued:
            sys.stderr.write("setting %s: not all delivered: %r\n" % (args.setting, st))
    result["drainMs"] = (time.perf_counter() - t) * 1000
    result["setting"] = args.setting
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
