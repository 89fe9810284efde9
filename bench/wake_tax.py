"""The wake-up tax (issue #21), the Python twin of bench/wake-tax.ts: a capture ``end`` + ``begin`` pair
and, apart, a fixed piece of plain code (JSON of a small dict), each timed back to back ("hot") and as
the first thing after a 5 ms sleep ("after a wait"); the client in setting F. Prints one JSON line.

    python3 bench/wake_tax.py [--n 3000] [--wait-ms 5]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fig5_python as loop  # noqa: E402

sys.path.insert(0, os.path.join(loop.ROOT, "capture-agent", "python"))
import provml_client as provml  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--wait-ms", type=float, default=5.0)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="wake-tax-")
    client = provml.init(loop.SPEC, "F", env={}, register_atexit=False, queue_size=50, spool_dir=os.path.join(d, "s"))
    epoch = client.workflow_execution().begin("training").begin("epoch", values={"epoch": 0})
    now = time.perf_counter
    state = {"batch": epoch.begin("batch")}

    def pair(i):
        state["batch"].end(values={"loss": i / 7.0})
        state["batch"] = epoch.begin("batch")

    def plain(i):
        return len(json.dumps({"step": i, "loss": i / 7.0, "tag": "x"}))

    def timed(f, wait):
        xs = []
        for i in range(args.n):
            if wait:
                time.sleep(args.wait_ms / 1000.0)
            t = now()
            f(i)
            xs.append(now() - t)
        s = sorted(xs[args.n // 2 :])
        return round(s[len(s) // 2] * 1e6, 2)

    result = {
        "captureHotUs": timed(pair, False),
        "captureAfterWaitUs": timed(pair, True),
        "plainHotUs": timed(plain, False),
        "plainAfterWaitUs": timed(plain, True),
        "waitMs": args.wait_ms,
        "n": args.n,
    }
    client.shutdown(30)
    shutil.rmtree(d, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
