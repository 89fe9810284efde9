"""The PyTorch example's loop without PyTorch: a small two-layer network in plain Python trained on
synthetic seismic-like tiles, every epoch, batch and validation captured with provml_client.

    python3 capture-agent/python/examples/train_stdlib.py                 # setting F: offline spool
    npm run provml -- replay .data/python-example/spool                    # publish it later
    python3 capture-agent/python/examples/train_stdlib.py --setting E --socket .data/agent/spool/agent.sock
"""

import json
import math
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from a checkout
from _common import file_uri, finish, make_client, parse_args, synthetic_tiles  # noqa: E402


class TinyNet:
    """inputs → tanh hidden layer → sigmoid: the probability of dipping reflectors."""

    def __init__(self, n_in, hidden, seed):
        rng = random.Random(seed)
        self.w1 = [[rng.gauss(0, 1 / math.sqrt(n_in)) for _ in range(n_in)] for _ in range(hidden)]
        self.b1 = [0.0] * hidden
        self.w2 = [rng.gauss(0, 1 / math.sqrt(hidden)) for _ in range(hidden)]
        self.b2 = 0.0

    def forward(self, x):
        h = [math.tanh(sum(w * v for w, v in zip(row, x)) + b) for row, b in zip(self.w1, self.b1)]
        z = sum(w * v for w, v in zip(self.w2, h)) + self.b2
        return h, 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

    def step(self, batch, lr):
        """One SGD step on a batch; returns its mean cross-entropy and accuracy."""
        g1 = [[0.0] * len(self.w1[0]) for _ in self.w1]
        gb1 = [0.0] * len(self.b1)
        g2 = [0.0] * len(self.w2)
        gb2 = 0.0
        loss = correct = 0.0
        for x, y in batch:
            h, p = self.forward(x)
            loss -= math.log(max(p if y else 1 - p, 1e-12))
            correct += (p >= 0.5) == bool(y)
            d = p - y
            gb2 += d
            for j, hj in enumerate(h):
                g2[j] += d * hj
                dh = d * self.w2[j] * (1 - hj * hj)
                gb1[j] += dh
                row = g1[j]
                for k, v in enumerate(x):
                    row[k] += dh * v
        n = len(batch)
        for j in range(len(self.w1)):
            self.b1[j] -= lr * gb1[j] / n
            self.w2[j] -= lr * g2[j] / n
            row, grow = self.w1[j], g1[j]
            for k in range(len(row)):
                row[k] -= lr * grow[k] / n
        self.b2 -= lr * gb2 / n
        return loss / n, correct / n

    def evaluate(self, data):
        loss = correct = 0.0
        for x, y in data:
            _, p = self.forward(x)
            loss -= math.log(max(p if y else 1 - p, 1e-12))
            correct += (p >= 0.5) == bool(y)
        return loss / len(data), correct / len(data)

    def save(self, path):
        with open(path, "w") as f:
            json.dump({"w1": self.w1, "b1": self.b1, "w2": self.w2, "b2": self.b2}, f)


def main():
    args = parse_args("Train a tiny network on synthetic seismic tiles (standard library only), captured with provml_client")
    train = synthetic_tiles(args.tiles, seed=args.seed)
    val = synthetic_tiles(max(64, args.tiles // 4), seed=args.seed + 1)
    os.makedirs(args.model_dir, exist_ok=True)
    net = TinyNet(len(train[0][0]), args.hidden_units, args.seed)
    rng = random.Random(args.seed)

    client = make_client(args)
    with client.workflow_execution(args.run_id) as run, run.task(
        "training",
        values={
            "learning_rate": args.learning_rate,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "hidden_units": args.hidden_units,
            "seed": args.seed,
        },
        data_refs={"training_set": "synthetic://seismic-tiles/train?seed=%d&n=%d" % (args.seed, args.tiles)},
    ) as training:
        for epoch in training.epochs(args.epochs):
            rng.shuffle(train)
            batches = [train[i : i + args.batch_size] for i in range(0, len(train), args.batch_size)]
            losses, accs = [], []
            for batch, data in epoch.batches(batches):
                loss, acc = net.step(data, args.learning_rate)
                batch.set("batch_loss", loss)
                losses.append(loss)
                accs.append(acc)
            model_path = os.path.join(args.model_dir, "model-epoch-%d.json" % epoch.index)
            net.save(model_path)
            epoch.update({"loss": sum(losses) / len(losses), "accuracy": sum(accs) / len(accs)})
            epoch.add_data_ref("model", file_uri(model_path), "local")
            with training.child(
                "validation",
                data_refs={
                    "validation_set": "synthetic://seismic-tiles/val?seed=%d" % (args.seed + 1),
                    "model": file_uri(model_path),
                },
            ) as validation:
                val_loss, val_acc = net.evaluate(val)
                validation.update({"val_loss": val_loss, "val_accuracy": val_acc})
            print("epoch %d  loss %.4f  accuracy %.3f  val_loss %.4f  val_accuracy %.3f"
                  % (epoch.index, sum(losses) / len(losses), sum(accs) / len(accs), val_loss, val_acc))
        training.update({"final_loss": val_loss, "final_accuracy": val_acc})
    return finish(client, run, args)


if __name__ == "__main__":
    sys.exit(main())
