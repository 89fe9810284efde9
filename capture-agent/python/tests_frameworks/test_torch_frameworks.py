"""The PyTorch Lightning and Hugging Face integrations against the real frameworks and the real
services (`provml embedded`), each capturing full runs with no spec written by the test;
/v1/models/best and Q3–Q5 answer on them. torch, lightning and transformers (with accelerate) take
about 5.7 GB installed, too much for CI's default run: these tests run with `npm run
test:frameworks`, in an environment that has them. Without them they skip, with the reason; under
CI=true they fail instead."""

import math
import os

import pytest

import provml_client as provml
from conftest import wait_until
from provml_client.integrations import training_spec
from test_examples import check_snippet_delivers, readme_snippets
from test_integrations import PID, _preparation, best_or_none, stack  # noqa: F401 (a fixture)
from test_integrations import need as need_installed
from test_real_services import embedded_stack  # noqa: F401 (a fixture)


def need(module):
    return need_installed(module, "torch lightning transformers accelerate")


def _data(torch):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 4, generator=g)
    y = (x.sum(dim=1) > 2).long()
    return x, y


def _check_views(api, training_set, inline, val_loss, last_loss, runs, epochs, batches):
    """/v1/models/best by val_loss, Q3 (the least loss), Q4 (batches per epoch) and Q5 (final losses)."""
    best_lr = min(val_loss, key=val_loss.get)
    assert wait_until(lambda: len(api.models(training_set)) == runs * epochs and best_or_none(api, training_set) is not None,
                      timeout=60, interval=0.5)
    b = best_or_none(api, training_set)
    assert math.isclose(b["value"], val_loss[best_lr], rel_tol=1e-5)
    assert math.isclose(b["hyperparameters"]["learning_rate"], best_lr, rel_tol=1e-6)
    assert os.path.exists(b["uri"][len("file://"):])
    q3 = api.catalog("q3", trainingSet=training_set)
    assert {r["name"] for r in q3 if r["kind"] == "hyperparameter"} >= {"learning_rate", "epochs", "batch_size"}
    assert any(r["kind"] == "evaluation" and r["name"] == "loss" for r in q3)
    q4 = api.catalog("q4", trainingSet=training_set)
    assert len(q4) == runs * epochs and all(int(r["batches"]) == batches for r in q4)
    assert wait_until(lambda: len(api.catalog("q5", inlineStart=inline[0], inlineEnd=inline[1])) == runs, timeout=60, interval=0.5)
    q5 = api.catalog("q5", inlineStart=inline[0], inlineEnd=inline[1])
    assert sorted(float(r["finalLoss"]) for r in q5) == pytest.approx(sorted(last_loss.values()), rel=1e-5)


def test_lightning_callback_with_no_spec(stack, tmp_path):  # noqa: F811 (the fixture imported above)
    torch = need("torch")
    pl = need("lightning").pytorch
    from torch.utils.data import DataLoader, TensorDataset

    from provml_client.integrations.lightning import ProvmlCallback

    class Classifier(pl.LightningModule):
        def __init__(self, lr, batch_size):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))

        def training_step(self, batch, i):
            loss = torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch, i):
            self.log("val_loss", torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1]))

        def test_step(self, batch, i):
            self.log("test_loss", torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    ingest, api = stack
    training_set = "file:///data/lightning-%d.npz" % PID
    inline = (8000 + PID % 1000, 8031 + PID % 1000)
    _preparation(ingest, inline, training_set, "lightning")
    x, y = _data(torch)
    errors = []
    client = provml.init(training_spec("lightning-e2e"), "D", http_url=ingest, on_error=errors.append, register_atexit=False)
    val_loss, last_loss = {}, {}
    for lr in (0.01, 0.5):
        torch.manual_seed(1)
        cb = ProvmlCallback(client=client, model_dir=str(tmp_path), training_set=training_set)
        trainer = pl.Trainer(max_epochs=2, callbacks=[cb], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")
        module = Classifier(lr, 16)
        losses = []

        class Record(pl.Callback):  # what the trainer computed, to compare with what the views answer
            def on_train_epoch_end(self, trainer, pl_module):
                losses.append((float(trainer.callback_metrics["train_loss"]), float(trainer.callback_metrics["val_loss"])))

        trainer.callbacks.append(Record())
        trainer.fit(module, DataLoader(TensorDataset(x[:72], y[:72]), batch_size=16), DataLoader(TensorDataset(x[72:], y[72:]), batch_size=24))
        val_loss[lr] = min(v for _, v in losses)
        last_loss[lr] = losses[-1][0]
        (tested,) = trainer.test(module, DataLoader(TensorDataset(x[72:], y[72:]), batch_size=24), verbose=False)
    result = client.shutdown(60)
    assert result and result.undeclared == 0, errors
    _check_views(api, training_set, inline, val_loss, last_loss, runs=2, epochs=2, batches=5)
    tests = api.sparql('SELECT ?v ?m WHERE { ?t provml:executesTask/rdfs:label "test" ; prov:used ?m ; provml:hasOutputValue ?o . '
                       '?o provml:valueName "loss" ; prov:value ?v . ?t provml:partOfExecution ?w . ?w rdfs:label ?l . '
                       'FILTER(STRSTARTS(?l, "lightning-e2e")) }')
    assert len(tests) == 2 and any(math.isclose(r["v"], tested["test_loss"], rel_tol=1e-5) for r in tests)
    assert all(r["m"].endswith(".ckpt") for r in tests)  # the test used the last epoch's checkpoint


def test_hugging_face_trainer_callback_with_no_spec(stack, tmp_path):  # noqa: F811 (the fixture imported above)
    torch = need("torch")
    need("transformers")
    need("accelerate")
    from transformers import Trainer, TrainingArguments

    from provml_client.integrations.huggingface import ProvmlCallback

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))

        def forward(self, x, labels=None):
            logits = self.net(x)
            return {"loss": torch.nn.functional.cross_entropy(logits, labels), "logits": logits}

    ingest, api = stack
    training_set = "file:///data/huggingface-%d.npz" % PID
    inline = (9000 + PID % 1000, 9031 + PID % 1000)
    _preparation(ingest, inline, training_set, "huggingface")
    x, y = _data(torch)
    train = [{"x": x[i], "labels": y[i]} for i in range(72)]
    val = [{"x": x[i], "labels": y[i]} for i in range(72, 96)]
    errors = []
    client = provml.init(training_spec("huggingface-e2e"), "D", http_url=ingest, on_error=errors.append, register_atexit=False)
    val_loss, last_loss = {}, {}
    for lr in (0.01, 0.5):
        torch.manual_seed(1)
        args = TrainingArguments(output_dir=str(tmp_path / ("out-%s" % lr)), num_train_epochs=2, per_device_train_batch_size=16,
                                 per_device_eval_batch_size=24, learning_rate=lr, eval_strategy="epoch", logging_strategy="epoch",
                                 save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True)
        cb = ProvmlCallback(client=client, model_dir=str(tmp_path), training_set=training_set)
        trainer = Trainer(model=Classifier(), args=args, train_dataset=train, eval_dataset=val, callbacks=[cb])
        trainer.train()
        history = trainer.state.log_history
        val_loss[lr] = min(h["eval_loss"] for h in history if "eval_loss" in h)
        last_loss[lr] = [h["loss"] for h in history if "loss" in h][-1]
    result = client.shutdown(60)
    assert result and result.undeclared == 0, errors
    _check_views(api, training_set, inline, val_loss, last_loss, runs=2, epochs=2, batches=5)


@pytest.mark.parametrize("index", range(len(readme_snippets(torch=True))))
def test_the_readme_torch_snippets_run(index, tmp_path):
    check_snippet_delivers(readme_snippets(torch=True)[index], tmp_path)
