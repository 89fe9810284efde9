"""CPU of one wake-up of the Python client's export thread (issue #21): threading.Event against the
client's _Wake (a C SimpleQueue of tokens), in one process, interleaved.

A trainer-like thread sleeps (--sleep-us) and sets the wake-up; the background thread waits for it
(with the timeout the export thread uses) and clears it, as the export thread does once per batch.
Prints, per kind and round, the CPU (time.thread_time) per cycle of each thread; the trainer's
includes its sleep system call.

    python3 bench/py_wake_cycle.py                      # 4 rounds of 2,000 cycles each kind
    python3 bench/py_wake_cycle.py --cycles 5000 --rounds 6 --sleep-us 500
"""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "capture-agent", "python"))
from provml_client._processor import _Wake  # noqa: E402


def cycle(kind, n, sleep_s):
    w = threading.Event() if kind == "Event" else _Wake()
    done = threading.Event()
    bg_cpu = [0.0]

    def background():
        c0 = time.thread_time()
        for _ in range(n):
            w.wait(0.2)
            w.clear()
        bg_cpu[0] = time.thread_time() - c0
        done.set()

    t = threading.Thread(target=background)
    t.start()
    c0 = time.thread_time()
    for _ in range(n):
        time.sleep(sleep_s)
        w.set()
    trainer = time.thread_time() - c0
    done.wait()
    t.join()
    return bg_cpu[0] / n * 1e6, trainer / n * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--sleep-us", type=float, default=500.0)
    args = ap.parse_args()
    res = {"Event": [], "_Wake": []}
    for r in range(args.rounds):
        for kind in (("Event", "_Wake") if r % 2 == 0 else ("_Wake", "Event")):
            res[kind].append(cycle(kind, args.cycles, args.sleep_us / 1e6))
    print("| wake-up | background thread CPU µs/cycle (rounds) | trainer thread CPU µs/cycle (rounds) |")
    print("|---|---|---|")
    for kind, rs in res.items():
        bg = sorted(x[0] for x in rs)
        tr = sorted(x[1] for x in rs)
        print("| %s | %.1f median (%s) | %.1f median (%s) |" % (
            kind, bg[len(bg) // 2], ", ".join("%.1f" % x[0] for x in rs), tr[len(tr) // 2], ", ".join("%.1f" % x[1] for x in rs)))
    print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    main()
