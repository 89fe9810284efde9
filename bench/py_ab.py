"""Interleaved A/B of the Python client's capture cost in the Fig. 5 loop (issue #21), per thread.

Runs bench/fig5_python.py's loop (208 epochs x 35 batches = 14,978 events, a 5 ms GPU-like sleep per
batch, queue 50: the loop of bench/peers.ts's ``py`` contender) in fresh processes, interleaved and
rotated each repetition: the baseline (no capture), then the client of each tree given. A tree is
``.`` (this working tree) or a git revision (its ``bench/`` and ``capture-agent/python/`` are taken
with ``git archive`` into a temporary directory, so the revision's own loop and client run).

    python3 bench/py_ab.py --trees HEAD~1,. --reps 3                 # before/after, setting F
    python3 bench/py_ab.py --trees . --reps 3 --epochs 60 --profile  # + per-thread CPU and a cProfile
    python3 bench/py_ab.py --trees . --reps 1 --epochs 60 --split    # + where the client thread's CPU goes
    python3 bench/py_ab.py --help

Prints, per tree, the medians over its runs of: CPU µs/event over the baseline's median (all
threads; of which kernel; of which the trainer's thread), in-call µs/event over the baseline's, and
the CPU of each client thread (from /proc/self/task/<tid>/schedstat, ns on CPU) per event; every run
checks that every event was delivered. ``--md FILE`` appends the table, the command and ``uptime``.
``--split`` times the pieces of the client's background work in the loop (CPU of the calling thread,
``time.thread_time``, around the encoding of a batch, its framing, the write, the fdatasync, the wake-up
wait, ...): where the client threads' CPU goes, at the cost of a few µs of timing per batch.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _thread_cpu_ns():
    """{thread name: ns on CPU} of this process's Python threads (Linux)."""
    out = {}
    for t in threading.enumerate():
        try:
            with open("/proc/self/task/%d/schedstat" % t.native_id) as f:
                out[t.name] = int(f.read().split()[0])
        except (OSError, ValueError, TypeError):
            pass
    return out


def _split(tree, acc):
    """Wraps the pieces of the client's background work with thread-CPU timers (the pieces this tree has)."""
    sys.path.insert(0, os.path.join(tree, "capture-agent", "python"))
    from provml_client import _processor as P
    from provml_client import spool as S
    from provml_client import transports as T

    def timed(f, key):
        def w(*a, **k):
            t = time.thread_time()
            try:
                return f(*a, **k)
            finally:
                acc[key] = acc.get(key, 0.0) + time.thread_time() - t

        return w

    for owner, name, key in (
        (P.BatchProcessor, "_encode_batch", "encode a batch (JSON of each event)"),
        (P.BatchProcessor, "_attempt", "send a batch (transport.send and its bookkeeping)"),
        (T.SpoolTransport, "send", "of which transport.send"),
        (T, "frame_texts", "of which framing (frame_texts)"),
        (S.SpoolWriter, "_write", "of which write()"),
        (S, "_datasync", "of which fdatasync()"),
        (P.BatchProcessor, "_collect_child_drops", "read the fork pipe"),
    ):
        if hasattr(owner, name):
            setattr(owner, name, timed(getattr(owner, name), key))
    if not hasattr(S, "_datasync"):
        import types

        S.os = types.SimpleNamespace(**vars(os))  # this module's os only
        S.os.fsync = timed(os.fsync, "of which fsync()")
    return timed


def worker(args):
    sys.dont_write_bytecode = True  # no bench/__pycache__ left in the tree
    sys.path.insert(0, os.path.join(args.tree, "bench"))
    import fig5_python as loop

    if args.fsync:  # a diagnostic: the client's spool fsync policy (batch|interval|never)
        sys.path.insert(0, os.path.join(args.tree, "capture-agent", "python"))
        import functools

        import provml_client

        provml_client.init = functools.partial(provml_client.init, fsync=args.fsync)
    wait_ms = args.wait_ms
    loop.training_loop(1, 10000, loop.NoCapture(), min(wait_ms, 1.0))  # warm-up, as fig5_python.py
    client = None
    if args.setting == "baseline":
        hooks = loop.NoCapture()
    else:
        ns = argparse.Namespace(setting=args.setting, queue=args.queue, spool_dir=os.path.join(args.dir, "spool"),
                                http_url=args.http_url, socket=args.socket)
        acc = {}
        timed = _split(args.tree, acc) if args.split else None
        client, hooks = loop.provml_hooks(ns)
        if timed is not None:
            w = client._processor._wake
            key = "wait for the trainer's wake-up (and the GIL)"
            if hasattr(w, "__dict__"):  # a threading.Event
                w.wait = timed(w.wait, key)
            else:
                type(w).wait = timed(type(w).wait, key)
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
    before = _thread_cpu_ns()
    if prof is not None:
        prof.enable()
    result = loop.training_loop(args.epochs, 10000, hooks, wait_ms)
    if prof is not None:
        prof.disable()
    after = _thread_cpu_ns()
    result["threads"] = {k: (after[k] - before.get(k, 0)) / 1e6 for k in after}
    result["events"] = loop.events_of(args.epochs) if client is not None else 0
    if client is not None and args.split:
        result["split"] = {k: v * 1e3 for k, v in acc.items()}
    t = time.perf_counter()
    if client is not None:
        r = client.shutdown(120)
        result["delivered"] = r.delivered
    result["drainMs"] = (time.perf_counter() - t) * 1000
    if prof is not None:
        import pstats

        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    print(json.dumps(result), flush=True)


def extract(rev, into):
    d = os.path.join(into, rev.replace("/", "_").replace("~", "-"))
    os.makedirs(d)
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev, "bench/fig5_python.py", "capture-agent/python/provml_client"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", d], input=archive, check=True)
    return d


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", default=".", help="comma-separated: '.' (this tree) or git revisions")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=208)
    ap.add_argument("--wait-ms", type=float, default=5.0)
    ap.add_argument("--queue", type=int, default=50)
    ap.add_argument("--setting", default="F")
    ap.add_argument("--http-url")
    ap.add_argument("--socket")
    ap.add_argument("--fsync", help="the spool's fsync policy (batch, the default; interval; never): a diagnostic")
    ap.add_argument("--split", action="store_true", help="time the pieces of the client's background work")
    ap.add_argument("--profile", action="store_true", help="cProfile of the trainer's thread, to stderr")
    ap.add_argument("--md", help="append the results to this Markdown file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    tmp = tempfile.mkdtemp(prefix="py-ab-")
    try:
        trees = []
        for t in args.trees.split(","):
            trees.append((t, ROOT if t == "." else extract(t, tmp)))
        contenders = [("baseline", ROOT, "baseline")] + [(name, path, args.setting) for name, path in trees]
        runs = {name: [] for name, _, _ in contenders}
        load0 = open("/proc/loadavg").read().split()[:3]
        for rep in range(args.reps):
            order = contenders[rep % len(contenders):] + contenders[: rep % len(contenders)]
            for name, path, setting in order:
                d = tempfile.mkdtemp(dir=tmp)
                cmd = [sys.executable, os.path.join(HERE, "py_ab.py"), "--worker", "--tree", path, "--dir", d,
                       "--setting", setting, "--epochs", str(args.epochs), "--wait-ms", str(args.wait_ms),
                       "--queue", str(args.queue)]
                if args.fsync and setting != "baseline":
                    cmd += ["--fsync", args.fsync]
                for k in ("http_url", "socket"):
                    if getattr(args, k):
                        cmd += ["--" + k.replace("_", "-"), getattr(args, k)]
                if args.profile and setting != "baseline":
                    cmd.append("--profile")
                if args.split and setting != "baseline":
                    cmd.append("--split")
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.stderr.write(p.stderr)
                    raise SystemExit("%s failed" % name)
                if args.profile:
                    sys.stderr.write(p.stderr)
                r = json.loads(p.stdout.strip().splitlines()[-1])
                if setting != "baseline" and r.get("delivered") != r["events"]:
                    raise SystemExit("%s: %s of %s events delivered" % (name, r.get("delivered"), r["events"]))
                runs[name].append(r)
                shutil.rmtree(d, ignore_errors=True)
                sys.stderr.write("rep %d %s: cpu %.0f ms (main %.0f, sys %.0f), calls %.1f ms, threads %s\n" % (
                    rep + 1, name, r["cpuMs"], r["cpuMainMs"], r["cpuSystemMs"], r["callMs"],
                    {k: round(v, 1) for k, v in r["threads"].items()}))
        load1 = open("/proc/loadavg").read().split()[:3]
        base = runs["baseline"]
        bm = {k: median([r[k] for r in base]) for k in ("cpuMs", "cpuSystemMs", "cpuMainMs", "callMs")}
        lines = ["| tree | CPU µs/event, all threads (runs) | of which kernel | of which trainer thread | client threads (µs/event each) | in-call µs/event | drain ms |",
                 "|---|---:|---:|---:|---|---:|---:|"]
        for name, _, setting in contenders[1:]:
            rs = runs[name]
            ev = rs[0]["events"]
            per = lambda k: (median([r[k] for r in rs]) - bm[k]) * 1000 / ev  # noqa: E731
            each = ", ".join("%.1f" % ((r["cpuMs"] - bm["cpuMs"]) * 1000 / ev) for r in rs)
            names = sorted({k for r in rs for k in r["threads"] if k != "MainThread"})
            th = "; ".join("%s %.2f" % (k, median([r["threads"].get(k, 0) for r in rs]) * 1000 / ev) for k in names)
            lines.append("| %s | **%.1f** (%s) | %.1f | %.1f | %s | %.2f | %.1f |" % (
                name, per("cpuMs"), each, per("cpuSystemMs"), per("cpuMainMs"), th or "–", per("callMs"),
                median([r["drainMs"] for r in rs])))
        if args.split:
            lines += ["", "| tree | piece of the client's background work | CPU µs/event (median) |", "|---|---|---:|"]
            for name, _, setting in contenders[1:]:
                rs = runs[name]
                for k in sorted({k for r in rs for k in r.get("split", {})}):
                    v = median([r["split"].get(k, 0.0) for r in rs]) * 1000 / rs[0]["events"]
                    lines.append("| %s | %s | %.2f |" % (name, k, v))
        cmdline = "python3 bench/py_ab.py " + " ".join(sys.argv[1:])
        text = "\n".join(lines)
        print(text)
        print("load average (1, 5, 15 min) at the start %s, at the end %s" % (", ".join(load0), ", ".join(load1)))
        if args.md:
            with open(args.md, "a") as f:
                f.write("\n`%s` (%d events per run, setting %s, %d runs each; load average %s at the start, %s at the end):\n\n%s\n" % (
                    cmdline, ev, args.setting, args.reps, ", ".join(load0), ", ".join(load1), text))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
