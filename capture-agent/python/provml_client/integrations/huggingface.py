"""A Hugging Face ``TrainerCallback`` that captures ``Trainer.train`` with no spec to write.

    from provml_client.integrations.huggingface import ProvmlCallback
    cb = ProvmlCallback(setting="D", http_url="http://127.0.0.1:7071", training_set="file:///data/train.npz")
    Trainer(model, args, train_dataset=train, eval_dataset=val, callbacks=[cb]).train()

Each ``train`` is one run: a training whose hyperparameters are the ``TrainingArguments`` that shape
it (``learning_rate``, ``epochs`` (``num_train_epochs``), ``batch_size``
(``per_device_train_batch_size``), ``weight_decay``, ``warmup_steps``, ``seed``, ``optimizer``,
``lr_scheduler``, …); an epoch per epoch with the training logs of that epoch (``loss``, the last
logged) and the model (``save_pretrained``, else its ``state_dict``) as its model; a batch per step;
a validation of each epoch's model with the ``eval_*`` metrics as ``val_*``; the last measures as
``final_*`` outputs. Imports ``transformers``.
"""

import os
from typing import Any, Dict, Optional

from transformers import TrainerCallback

from .._capture import Client
from ._autorun import AutoRun, default_workflow

#: TrainingArguments recorded as hyperparameters, under these names.
ARGUMENTS = {
    "learning_rate": "learning_rate",
    "num_train_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
    "weight_decay": "weight_decay",
    "warmup_steps": "warmup_steps",
    "warmup_ratio": "warmup_ratio",
    "max_steps": "max_steps",
    "seed": "seed",
    "optim": "optimizer",
    "lr_scheduler_type": "lr_scheduler",
    "max_grad_norm": "max_grad_norm",
}
#: Log entries that are not measures.
_NOT_MEASURES = frozenset(["epoch", "step", "total_flos", "train_loss", "learning_rate", "train_runtime", "train_samples_per_second", "train_steps_per_second"])


class ProvmlCallback(TrainerCallback):  # type: ignore[misc]
    """Captures each ``Trainer.train`` as a run; options as :class:`AutoRun` (``workflow`` default
    ``huggingface-<script name>``, :func:`default_workflow`)."""

    def __init__(self, workflow: Optional[str] = None, client: Optional[Client] = None, *, batches: bool = True, **options: Any) -> None:
        #: The recorder: ``recorder.client`` is the capture client, ``recorder.run`` the last run.
        self.recorder = AutoRun(workflow or default_workflow("huggingface"), client, **options)
        self.batches = batches
        self._epoch = 0
        self._step = 0
        self._logs: Dict[str, Any] = {}
        self._model: Any = None
        self._open = False  # an epoch ended by the trainer whose logs and evaluation may still come

    @property
    def client(self) -> Client:
        return self.recorder.client

    def _close_epoch(self) -> None:
        if not self._open:
            return
        self._open = False
        logs, self._logs = self._logs, {}
        model = self._model

        def save(path: str) -> None:
            if hasattr(model, "save_pretrained"):
                model.save_pretrained(path)
            else:
                import torch

                os.makedirs(path, exist_ok=True)
                torch.save(model.state_dict(), os.path.join(path, "model.pt"))

        self.recorder.epoch_end(logs, save if model is not None else None)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        hp = {name: getattr(args, arg) for arg, name in ARGUMENTS.items() if hasattr(args, arg)}
        hp = {k: (v.value if hasattr(v, "value") else v) for k, v in hp.items()}  # enums by their value
        if hp.get("max_steps", 0) <= 0:
            hp.pop("max_steps", None)
        self._model = model
        self._epoch = 0
        self.recorder.start(hp)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._close_epoch()
        self.recorder.epoch_begin(self._epoch)
        self._epoch += 1
        self._step = 0
        self._open = True

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.batches and self.recorder.epoch is not None:
            self.recorder.batch_begin(self._step)  # its index in the epoch
            self._step += 1

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.batches:
            self.recorder.batch_end()

    def on_log(self, args: Any, state: Any, control: Any, logs: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        for k, v in (logs or {}).items():
            if k not in _NOT_MEASURES and not k.startswith("eval_"):
                self._logs[k[len("train_"):] if k.startswith("train_") else k] = v

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        for k, v in (metrics or {}).items():
            if k.startswith("eval_") and k[5:] not in ("runtime", "samples_per_second", "steps_per_second", "epoch"):
                self._logs["val_" + k[5:]] = v

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._close_epoch()
        self.recorder.end()
