"""What both examples share: the command line, the client from it, and synthetic seismic-like tiles."""

import argparse
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_SPEC = os.path.join(REPO_ROOT, "schemas", "examples", "seismic-training.json")


def parse_args(description, epochs=3, learning_rate=0.5):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--spec", default=DEFAULT_SPEC, help="prospective spec (JSON); default: the demo's seismic-training spec")
    p.add_argument("--setting", default="F", choices=list("ABCDEF"), help="capture setting (AGENT.md); default F: offline spool")
    p.add_argument("--spool-dir", default=os.path.join(REPO_ROOT, ".data", "python-example", "spool"), help="spool for C/F")
    p.add_argument("--socket", default=None, help="the agent's Unix socket for B/E (default PROVML_AGENT_SOCKET)")
    p.add_argument("--http-url", default=None, help="ingest URL for A/D, or the agent's HTTP fallback for B/E")
    p.add_argument("--spill-dir", default=None,
                   help="online settings: where events wait while the agent or ingest is down (default: a temporary directory); "
                        "what an earlier run left there is sent first")
    p.add_argument("--model-dir", default=os.path.join(REPO_ROOT, ".data", "python-example", "models"))
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--tiles", type=int, default=512, help="training tiles")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=learning_rate)
    p.add_argument("--hidden-units", type=int, default=16)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--run-id", default=None, help="workflow execution id (default: generated)")
    return p.parse_args()


def make_client(args):
    import provml_client as provml

    return provml.init(
        args.spec,
        args.setting,
        spool_dir=args.spool_dir if args.setting in "CF" else None,
        socket_path=args.socket,
        http_url=args.http_url,
        spill_dir=args.spill_dir if args.setting not in "CF" else None,
        context={"example": os.path.basename(__import__("sys").argv[0])},
    )


def finish(client, run, args):
    """Shuts the client down (at most 5 s, also with the ingest down), prints what was delivered and
    returns the exit status: 0 when every event was delivered (or, offline, written to the spool)."""
    result = client.shutdown()
    where = "written to the spool" if client.setting in ("C", "F") else "delivered"
    print("captured %d events (setting %s, workflow execution %s): %d %s, %d rejected, %d dropped, %d spooled"
          % (client.stats.enqueued, client.setting, run.id, result.delivered, where, result.rejected,
             result.dropped, result.spooled))
    if client.stats.recovered:
        print("(%d of the delivered events were left in the spill spool by an earlier run)" % client.stats.recovered)
    if result.undeclared or result.invalid:
        print("dropped at the capture call: %d values with names the spec does not declare, %d invalid values"
              % (result.undeclared, result.invalid))
    if client.setting in ("C", "F"):
        print("offline spool: %s — publish it with: npm run provml -- replay %s" % (args.spool_dir, args.spool_dir))
    elif result.spooled:
        print("the ingest was not reachable: %d events wait in %s (rerun with --spill-dir %s to send them, or "
              "npm run provml -- replay %s)" % (result.spooled, result.spool_path, result.spool_path, result.spool_path))
    return 0 if result else 1


def synthetic_tiles(n, size=8, seed=0):
    """``n`` tiles of ``size``×``size`` amplitudes with a label: 0 = flat reflectors (horizontal layers),
    1 = dipping reflectors (inclined layers), plus noise: a two-facies toy version of seismic tiles."""
    rng = random.Random(seed)
    tiles = []
    for _ in range(n):
        label = rng.randrange(2)
        freq = rng.uniform(0.6, 1.4)
        dip = 0.0 if label == 0 else rng.choice((-1, 1)) * rng.uniform(0.5, 1.0)
        phase = rng.uniform(0, 2 * math.pi)
        tile = [
            math.sin(freq * (y + dip * x) + phase) + rng.gauss(0, 0.3)
            for y in range(size)
            for x in range(size)
        ]
        tiles.append((tile, label))
    return tiles


def file_uri(path):
    return "file://" + os.path.abspath(path)
