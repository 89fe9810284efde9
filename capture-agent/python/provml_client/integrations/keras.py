"""A Keras 3 callback that captures ``fit`` (and ``evaluate``) with no spec to write.

    from provml_client.integrations.keras import ProvmlCallback
    cb = ProvmlCallback(setting="D", http_url="http://127.0.0.1:7071", training_set="file:///data/train.npz")
    model.fit(x, y, epochs=3, validation_split=0.2, callbacks=[cb])

Each ``fit`` is one run: a training with the optimizer's ``learning_rate``, ``optimizer``, ``epochs``
and ``steps_per_epoch`` (and ``hyperparameters=``) as hyperparameters, an epoch per epoch with its
logs (``loss``, the compiled metrics) and the model file (``model.save``, ``.keras``), a batch per
step (``batch_loss``, …), a validation of each epoch's model with the ``val_*`` logs, and the
last epoch's measures as ``final_*`` outputs. ``model.evaluate(…, callbacks=[cb])`` after it is a
``test`` of the last model. Imports Keras (any backend).
"""

from typing import Any, Dict, Mapping, Optional

import keras

from .._capture import Client
from ._autorun import AutoRun, default_workflow


class ProvmlCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Captures each ``fit`` as a run; options as :class:`AutoRun` (``workflow`` default ``keras-<script name>``)."""

    def __init__(self, workflow: Optional[str] = None, client: Optional[Client] = None, *, batches: bool = True, **options: Any) -> None:
        super().__init__()
        #: The recorder: ``recorder.client`` is the capture client, ``recorder.run`` the last run.
        self.recorder = AutoRun(workflow or default_workflow("keras"), client, **options)
        self.batches = batches
        self._fitting = False

    @property
    def client(self) -> Client:
        return self.recorder.client

    def _hyperparameters(self) -> Dict[str, Any]:
        hp: Dict[str, Any] = {}
        params = self.params or {}
        if params.get("epochs") is not None:
            hp["epochs"] = params["epochs"]
        if params.get("steps") is not None:
            hp["steps_per_epoch"] = params["steps"]
        opt = getattr(self.model, "optimizer", None)
        if opt is not None:
            hp["optimizer"] = type(opt).__name__
            try:
                hp["learning_rate"] = float(keras.ops.convert_to_numpy(opt.learning_rate))
            except (TypeError, ValueError, AttributeError):  # a schedule: its config instead
                pass
        return hp

    def on_train_begin(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._fitting = True
        self.recorder.start(self._hyperparameters())

    def on_epoch_begin(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        self.recorder.epoch_begin(epoch)

    def on_train_batch_begin(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        if self.batches:
            self.recorder.batch_begin(batch)

    def on_train_batch_end(self, batch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        if self.batches:
            self.recorder.batch_end({"loss": logs["loss"]} if logs and "loss" in logs else None)

    def on_epoch_end(self, epoch: int, logs: Optional[Mapping[str, Any]] = None) -> None:
        self.recorder.epoch_end(logs, self.model.save, ".keras")

    def on_train_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        self._fitting = False
        self.recorder.end()

    def on_test_end(self, logs: Optional[Mapping[str, Any]] = None) -> None:
        if not self._fitting and logs:  # validation inside fit comes as val_* in the epoch's logs
            self.recorder.test(logs)
