"""A small PyTorch CNN (CPU is fine) trained on synthetic seismic-like tiles, every epoch, batch and
validation captured with provml_client. Needs torch (`pip install torch`); the capture client itself
needs nothing beyond the standard library.

    python3 capture-agent/python/examples/train_pytorch.py                 # setting F: offline spool
    npm run provml -- replay .data/python-example/spool                     # publish it later
    python3 capture-agent/python/examples/train_pytorch.py --setting E --socket .data/agent/spool/agent.sock
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # run from a checkout
from _common import file_uri, finish, make_client, parse_args, synthetic_tiles  # noqa: E402

try:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
except ImportError:
    sys.exit("this example needs PyTorch: pip install torch (CPU wheels: --index-url https://download.pytorch.org/whl/cpu)")


def tensors(tiles, size=8):
    x = torch.tensor([t for t, _ in tiles], dtype=torch.float32).reshape(-1, 1, size, size)
    y = torch.tensor([label for _, label in tiles], dtype=torch.long)
    return TensorDataset(x, y)


def make_model(hidden):
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 2),
    )


def main():
    args = parse_args("Train a small CNN on synthetic seismic tiles with PyTorch, captured with provml_client", learning_rate=0.01)
    torch.manual_seed(args.seed)
    train = DataLoader(tensors(synthetic_tiles(args.tiles, seed=args.seed)), batch_size=args.batch_size, shuffle=True)
    val = DataLoader(tensors(synthetic_tiles(max(64, args.tiles // 4), seed=args.seed + 1)), batch_size=256)
    model = make_model(args.hidden_units)
    opt = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    os.makedirs(args.model_dir, exist_ok=True)

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
            model.train()
            total, correct, loss_sum = 0, 0, 0.0
            for batch, (x, y) in epoch.batches(train):
                opt.zero_grad()
                logits = model(x)
                loss = loss_fn(logits, y)
                loss.backward()
                opt.step()
                batch.set("batch_loss", loss.item())  # .item(): a float; the capture call only enqueues it
                loss_sum += loss.item() * len(y)
                correct += int((logits.argmax(1) == y).sum())
                total += len(y)
            model_path = os.path.join(args.model_dir, "model-epoch-%d.pt" % epoch.index)
            torch.save(model.state_dict(), model_path)
            epoch.update({"loss": loss_sum / total, "accuracy": correct / total})
            epoch.add_data_ref("model", file_uri(model_path), "local")
            with training.child(
                "validation",
                data_refs={"validation_set": "synthetic://seismic-tiles/val?seed=%d" % (args.seed + 1), "model": file_uri(model_path)},
            ) as validation, torch.no_grad():
                model.eval()
                vt, vc, vl = 0, 0, 0.0
                for x, y in val:
                    logits = model(x)
                    vl += loss_fn(logits, y).item() * len(y)
                    vc += int((logits.argmax(1) == y).sum())
                    vt += len(y)
                validation.update({"val_loss": vl / vt, "val_accuracy": vc / vt})
            print("epoch %d  loss %.4f  accuracy %.3f  val_loss %.4f  val_accuracy %.3f"
                  % (epoch.index, loss_sum / total, correct / total, vl / vt, vc / vt))
        training.update({"final_loss": vl / vt, "final_accuracy": vc / vt})
    return finish(client, run, args)


if __name__ == "__main__":
    sys.exit(main())
