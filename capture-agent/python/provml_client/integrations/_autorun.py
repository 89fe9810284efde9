"""One training run as the integrations record it: the template's tasks, names declared as they appear."""

import hashlib
import math
import os
import re
import sys
from typing import Any, Callable, Dict, Mapping, Optional

from .._capture import Client, TaskRun, WorkflowRun
from ._template import training_spec

_UNSAFE = re.compile(r"[^A-Za-z0-9._~:-]")


def safe_name(name: Any) -> str:
    """A spec name for a framework's name: characters outside letters, digits and ``. _ ~ : -``
    become ``_`` (Lightning's ``train/loss`` is ``train_loss``), and a name that does not start
    with a letter or digit gets an ``x`` before it. At most 200 characters."""
    s = _UNSAFE.sub("_", str(name))
    if not s or not s[0].isalnum():
        s = "x" + s
    return s[:200]


def default_workflow(framework: str) -> str:
    """``<framework>-<script name>`` (``keras-train_mnist`` for ``python train_mnist.py``), or the
    framework's name alone outside a script (``python -c``, a notebook): runs of one script share a
    workflow, and so, as a rule, the names they declare (README: Names declared at run time)."""
    stem = os.path.splitext(os.path.basename(sys.argv[0] if sys.argv else ""))[0]
    if not stem or stem in ("-c", "-m", "__main__", "ipykernel_launcher") or not stem[0].isalnum():
        return framework
    return safe_name("%s-%s" % (framework, stem))


def hyperparameter_value(v: Any) -> Any:
    """A hyperparameter as the event contract carries it, or None to leave it out: numbers, booleans
    and strings as they are; a list or tuple of numbers as a list; None and non-finite numbers left
    out; anything else (an object, a callable, a dict) by its ``repr``, at most 200 characters."""
    if v is None:
        return None
    if isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:  # numpy / jax / torch scalars
        return hyperparameter_value(v.item())
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return [x for x in v] if all(math.isfinite(x) for x in v) else repr(v)[:200]
    return repr(v)[:200]


def _number(v: Any) -> Optional[float]:
    """A measure as a float (numpy, jax and torch scalars included), or None when it is not a number."""
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f


def dataset_uri(*arrays: Any) -> str:
    """A URI naming data by its content: ``urn:provml:dataset:sha256:<hex>`` of the arrays' shapes,
    dtypes and bytes (numpy arrays, or anything ``numpy.asarray`` takes). The same data gives the
    same URI, so runs on it are found together (``/v1/models/best``, Q3, Q4)."""
    import numpy as np  # the frameworks that call this bring numpy

    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            continue
        arr = np.ascontiguousarray(np.asarray(a))
        h.update(("%s%s" % (arr.dtype.str, arr.shape)).encode("ascii"))
        h.update(arr.tobytes())
    return "urn:provml:dataset:sha256:" + h.hexdigest()


class AutoRun:
    """Records training runs with the template's tasks, declaring names as they appear.

    ``client``: a client whose spec is a :func:`training_spec` (or any spec declaring its tasks);
    without one, a client is started with ``training_spec(workflow)`` and ``init_options`` (``setting``,
    ``http_url``, ``socket_path``, ``spool_dir``, …, as ``provml_client.init``). ``model_dir``: where
    model files go, ``<model_dir>/<run id>/`` (default ``PROVML_MODEL_DIR``, else ``./provml-models``); ``save_models=False``
    writes none (the runs then have no model references). ``hyperparameters``: more to record with
    those the framework reports (a batch size it does not report, a seed).
    """

    def __init__(
        self,
        workflow: str,
        client: Optional[Client] = None,
        *,
        run_id: Optional[str] = None,
        training_set: Optional[str] = None,
        validation_set: Optional[str] = None,
        test_set: Optional[str] = None,
        model_dir: Optional[str] = None,
        save_models: bool = True,
        hyperparameters: Optional[Mapping[str, Any]] = None,
        **init_options: Any,
    ) -> None:
        if client is None:
            import provml_client

            client = provml_client.init(training_spec(workflow), **init_options)
        elif init_options:
            raise TypeError("give a client or its init options, not both: %s" % ", ".join(sorted(init_options)))
        self.client = client
        self.run_id = run_id
        self.training_set = training_set
        self.validation_set = validation_set
        self.test_set = test_set
        self.model_dir = os.path.abspath(model_dir or os.environ.get("PROVML_MODEL_DIR") or os.path.join(os.getcwd(), "provml-models"))
        self.save_models = save_models
        self.hyperparameters = dict(hyperparameters or {})
        #: The workflow execution of the current (or last) run.
        self.run: Optional[WorkflowRun] = None
        #: Its training task run while it is open.
        self.training: Optional[TaskRun] = None
        self.epoch: Optional[TaskRun] = None
        self.batch: Optional[TaskRun] = None
        #: The URI of the last model file written.
        self.model_uri: Optional[str] = None
        self._final: Dict[str, float] = {}
        self._trainings = 0  # of the current run: model files of its later trainings are named apart

    # -- names ----------------------------------------------------------------------------------

    def _values(self, task: str, values: Mapping[str, Any], semantics: str, prefix: str = "") -> Dict[str, Any]:
        """The numbers of ``values`` under spec names (``prefix`` + safe name), declared for ``task``."""
        out: Dict[str, Any] = {}
        for k, v in values.items():
            f = _number(v)
            if f is not None:
                name = safe_name(k)
                out[name if name.startswith(prefix) else prefix + name] = f
        if out:
            self.client.declare(task, {k: semantics for k in out})
        return out

    # -- the run --------------------------------------------------------------------------------

    def start(
        self, hyperparameters: Optional[Mapping[str, Any]] = None, training_set: Optional[str] = None, new_run: bool = True
    ) -> TaskRun:
        """Begins a run (a workflow execution) and its training, with the hyperparameters (the
        framework's, then ``self.hyperparameters``), declared as they appear. A training still open
        ends first. ``new_run=False``: another training in the current run (a cross-validation fold)."""
        if self.training is not None:
            self.end()
        hp: Dict[str, Any] = {}
        for k, v in list((hyperparameters or {}).items()) + list(self.hyperparameters.items()):
            value = hyperparameter_value(v)
            if value is not None:
                hp[safe_name(k)] = value
        if hp:
            self.client.declare("training", {k: "hyperparameter" for k in hp})
        if new_run or self.run is None:
            run_id, self.run_id = self.run_id, None  # an explicit id names the first run only
            self.run = self.client.workflow_execution(run_id)
            self._trainings = 0
        self._trainings += 1
        ts = training_set or self.training_set
        self._final = {}
        self.training = self.run.begin("training", values=hp, data_refs={"training_set": ts} if ts else None)
        return self.training

    def epoch_begin(self, index: int) -> TaskRun:
        """Begins epoch ``index`` of the training (its number is the ``epoch`` output)."""
        if self.training is None:
            self.start()
        self.end_epoch()
        self.epoch = self.training.epoch(index)  # type: ignore[union-attr]
        return self.epoch

    def batch_begin(self, index: int) -> TaskRun:
        if self.epoch is None:
            self.epoch_begin(0)
        self.batch_end()
        self.batch = self.epoch.batch(index)  # type: ignore[union-attr]
        return self.batch

    def batch_end(self, values: Optional[Mapping[str, Any]] = None) -> None:
        """Ends the open batch with its values (as output values named ``batch_<name>``)."""
        b, self.batch = self.batch, None
        if b is not None:
            b.end(values=self._values("batch", values or {}, "output-value", "batch_"))

    def model_path(self, name: str) -> str:
        """Where a model file of the current run goes: ``<model_dir>/<run id>/<name>``."""
        directory = os.path.join(self.model_dir, safe_name(self.run.id if self.run else "run"))
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, name)

    def epoch_end(self, logs: Optional[Mapping[str, Any]] = None, save_model: Optional[Callable[[str], None]] = None, suffix: str = "") -> None:
        """Ends the open epoch: its measures (``val_*`` ones go to a validation of its model, the
        rest to the epoch), and, with ``save_model`` and ``save_models``, the model file
        ``save_model(path)`` writes, as the epoch's ``model`` output."""
        self.batch_end()
        e, self.epoch = self.epoch, None
        if e is None:
            return
        logs = {safe_name(k): v for k, v in (logs or {}).items()}
        own = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k: v for k, v in logs.items() if k.startswith("val_")}
        measures = self._values("epoch", own, "evaluation-measure")
        uri = None
        if save_model is not None and self.save_models:
            n = "epoch-%d%s" % (e.index or 0, suffix)
            path = self.model_path(n if self._trainings <= 1 else "training-%d-%s" % (self._trainings, n))
            save_model(path)
            uri = "file://" + path
            self.model_uri = uri
        e.end(values=measures, data_refs={"model": uri} if uri else None)
        self._final.update(measures)
        if val:
            self.validation(val, uri)

    def end_epoch(self) -> None:
        """Ends an epoch left open (without measures)."""
        if self.epoch is not None:
            self.epoch_end()

    def validation(self, measures: Mapping[str, Any], model_uri: Optional[str] = None, validation_set: Optional[str] = None) -> None:
        """A validation of the training (of ``model_uri``, default the last model) with its measures."""
        if self.training is None:
            return
        values = self._values("validation", measures, "evaluation-measure")
        refs = {}
        if model_uri or self.model_uri:
            refs["model"] = model_uri or self.model_uri
        if validation_set or self.validation_set:
            refs["validation_set"] = validation_set or self.validation_set
        self.training.child("validation", values=None, data_refs=refs or None).end(values=values)
        self._final.update(values)

    def test(self, measures: Mapping[str, Any], model_uri: Optional[str] = None, test_set: Optional[str] = None) -> None:
        """A test (top-level task of the run) of ``model_uri`` (default the last model) with its measures."""
        if self.run is None:
            self.run = self.client.workflow_execution(self.run_id)
            self.run_id = None
        values = self._values("test", measures, "evaluation-measure")
        refs = {}
        if model_uri or self.model_uri:
            refs["model"] = model_uri or self.model_uri
        if test_set or self.test_set:
            refs["test_set"] = test_set or self.test_set
        self.run.begin("test", data_refs=refs or None).end(values=values)

    def end(self, status: str = "finished", final: Optional[Mapping[str, Any]] = None) -> None:
        """Ends the training: its outputs are ``final_<measure>`` of the last epoch's and
        validation's measures (and ``final``'s)."""
        self.end_epoch()
        t, self.training = self.training, None
        if t is None:
            return
        last = dict(self._final)
        last.update(final or {})
        values = self._values("training", {"final_" + k: v for k, v in last.items()}, "evaluation-measure")
        t.end(values=values, status=status)
