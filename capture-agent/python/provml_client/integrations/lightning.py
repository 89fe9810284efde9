"""A PyTorch Lightning callback that captures ``Trainer.fit`` (and ``test``) with no spec to write.

    from provml_client.integrations.lightning import ProvmlCallback
    cb = ProvmlCallback(setting="D", http_url="http://127.0.0.1:7071", training_set="file:///data/train.npz")
    lightning.Trainer(max_epochs=3, callbacks=[cb]).fit(module, train_loader, val_loader)

Each ``fit`` is one run: a training whose hyperparameters are the module's ``hparams``
(``save_hyperparameters()``), the first optimizer's ``learning_rate``, ``optimizer`` and ``epochs``
(``max_epochs``); an epoch per epoch with the metrics logged for it (``self.log``; a ``train_`` or
``train/`` prefix is dropped, so ``train_loss`` is the epoch's ``loss``) and its checkpoint
(``trainer.save_checkpoint``, ``.ckpt``) as its model; a batch per step (``batch_loss`` from
``training_step``'s loss); a validation of each epoch's model with the ``val_*`` metrics; the last
measures as ``final_*`` outputs. ``trainer.test`` after it is a ``test`` of the last model.
Imports Lightning (``lightning``, else ``pytorch_lightning``).
"""

from typing import Any, Dict, Mapping, Optional

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the older package name
    from pytorch_lightning.callbacks import Callback  # type: ignore[no-redef]

from .._capture import Client
from ._autorun import AutoRun, default_workflow, safe_name


def _metrics(metrics: Mapping[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in metrics.items():
        name = safe_name(k)
        if name.startswith("train_"):
            name = name[len("train_"):]
        if name.endswith("_epoch"):  # on_step=True, on_epoch=True logs both: the epoch's mean
            name = name[: -len("_epoch")]
        elif name.endswith("_step"):
            continue
        out[name] = v.item() if hasattr(v, "item") else v
    return out


class ProvmlCallback(Callback):  # type: ignore[misc]
    """Captures each ``Trainer.fit`` as a run; options as :class:`AutoRun` (``workflow`` default
    ``lightning-<script name>``, :func:`default_workflow`)."""

    def __init__(self, workflow: Optional[str] = None, client: Optional[Client] = None, *, batches: bool = True, **options: Any) -> None:
        super().__init__()
        #: The recorder: ``recorder.client`` is the capture client, ``recorder.run`` the last run.
        self.recorder = AutoRun(workflow or default_workflow("lightning"), client, **options)
        self.batches = batches

    @property
    def client(self) -> Client:
        return self.recorder.client

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        hp: Dict[str, Any] = dict(getattr(pl_module, "hparams", {}) or {})
        if trainer.max_epochs is not None and trainer.max_epochs >= 0:
            hp["epochs"] = trainer.max_epochs
        self._hp = hp

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        hp = dict(self._hp)
        if trainer.optimizers:
            opt = trainer.optimizers[0]
            hp["optimizer"] = type(opt).__name__
            if opt.param_groups and "lr" in opt.param_groups[0]:
                hp["learning_rate"] = opt.param_groups[0]["lr"]
        self.recorder.start(hp)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self.recorder.epoch_begin(trainer.current_epoch)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self.batches:
            self.recorder.batch_begin(batch_idx)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.batches:
            loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
            self.recorder.batch_end({"loss": loss} if loss is not None else None)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        # the epoch's validation ran before this hook: its val_* metrics are among the callback metrics
        self.recorder.epoch_end(_metrics(trainer.callback_metrics), trainer.save_checkpoint, ".ckpt")

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.recorder.end()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.recorder.end(status="failed")

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        measures = {k[len("test_"):] if k.startswith("test_") else k: v for k, v in _metrics(trainer.callback_metrics).items()}
        self.recorder.test(measures)
