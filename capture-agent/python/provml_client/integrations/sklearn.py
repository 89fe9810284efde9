"""scikit-learn: ``fit``, ``partial_fit`` and cross-validation captured with no spec to write.

    from provml_client.integrations.sklearn import Captured
    clf = Captured(LogisticRegression(C=0.5), setting="D", http_url="http://127.0.0.1:7071")
    clf.fit(X, y, validation_data=(X_val, y_val))

Each ``fit`` is one run: a training whose hyperparameters are the estimator's ``get_params()``, one
epoch (the fit, with one batch) whose measures are ``loss`` (log loss for a classifier with
``predict_proba``, else mean squared error for a regressor) and ``accuracy`` (classifiers) or ``r2``
(regressors) on the training data, and the fitted estimator, pickled, as its model; with
``validation_data``, a validation of that model (``val_loss``, ``val_accuracy``/``val_r2``).
Each ``partial_fit`` call is one epoch of a run that goes on until ``end()`` (or the next
``fit``). :func:`cross_validate` captures a training, a model and a validation per fold.
The training set is ``training_set=`` or a URI of the data's content (:func:`dataset_uri`).
Imports scikit-learn.
"""

import pickle
import time
from typing import Any, Dict, Optional, Tuple

from sklearn.base import clone, is_classifier, is_regressor
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score
from sklearn.model_selection import check_cv

from .._capture import Client
from ._autorun import AutoRun, dataset_uri


def measures(estimator: Any, X: Any, y: Any) -> Dict[str, float]:
    """``loss`` and ``accuracy`` (classifier) or ``r2`` (regressor) of a fitted estimator on (X, y)."""
    out: Dict[str, float] = {}
    if y is None:
        return out
    if is_classifier(estimator):
        if hasattr(estimator, "predict_proba"):
            try:
                out["loss"] = float(log_loss(y, estimator.predict_proba(X), labels=getattr(estimator, "classes_", None)))
            except (AttributeError, ValueError):  # predict_proba not available for this configuration
                pass
        out["accuracy"] = float(accuracy_score(y, estimator.predict(X)))
    elif is_regressor(estimator):
        p = estimator.predict(X)
        out["loss"] = float(mean_squared_error(y, p))
        out["r2"] = float(r2_score(y, p))
    return out


def _save(estimator: Any) -> Any:
    def save(path: str) -> None:
        with open(path, "wb") as f:
            pickle.dump(estimator, f)

    return save


def _fit_epoch(r: AutoRun, estimator: Any, index: int, X: Any, y: Any, fit: Any, validation_data: Optional[Tuple[Any, Any]]) -> None:
    """Epoch ``index``: one batch (the fit call), the measures on (X, y) and the pickled model; then
    a validation of that model on ``validation_data``. A fit that raises ends the training failed."""
    r.epoch_begin(index)
    r.batch_begin(0)
    try:
        fit()
    except BaseException:
        r.end(status="failed")
        raise
    r.batch_end()
    r.epoch_end(measures(estimator, X, y), _save(estimator), ".pkl")
    if validation_data is not None:
        Xv, yv = validation_data
        vs = r.validation_set or dataset_uri(Xv, yv)
        r.validation({"val_" + k: v for k, v in measures(estimator, Xv, yv).items()}, validation_set=vs)


class Captured:
    """Wraps an estimator: ``fit`` and ``partial_fit`` are captured, everything else is the
    estimator's (``predict``, ``score``, attributes). Options as :class:`AutoRun`; ``workflow``
    defaults to ``sklearn-<estimator class>``."""

    def __init__(self, estimator: Any, workflow: Optional[str] = None, client: Optional[Client] = None, **options: Any) -> None:
        self.estimator = estimator
        #: The recorder: ``recorder.client`` is the capture client, ``recorder.run`` the last run.
        self.recorder = AutoRun(workflow or "sklearn-" + type(estimator).__name__, client, **options)
        self._epochs = 0

    @property
    def client(self) -> Client:
        return self.recorder.client

    def __getattr__(self, name: str) -> Any:
        if name in ("estimator", "recorder", "_epochs"):
            raise AttributeError(name)
        return getattr(self.estimator, name)

    def fit(self, X: Any, y: Any = None, *, training_set: Optional[str] = None, validation_data: Optional[Tuple[Any, Any]] = None, **fit_params: Any) -> "Captured":
        """Fits the estimator as one captured run (a run ``partial_fit`` left open ends first)."""
        r = self.recorder
        r.start(self.estimator.get_params(deep=False), training_set or r.training_set or dataset_uri(X, y))
        self._epochs = 0
        _fit_epoch(r, self.estimator, 0, X, y, lambda: self.estimator.fit(X, y, **fit_params), validation_data)
        r.end()
        return self

    def partial_fit(self, X: Any, y: Any = None, *, training_set: Optional[str] = None, validation_data: Optional[Tuple[Any, Any]] = None, **fit_params: Any) -> "Captured":
        """One epoch of a run that goes on until ``end()``; the first call starts it (its training
        set: ``training_set``, or the content URI of this call's data)."""
        r = self.recorder
        if r.training is None:
            r.start(self.estimator.get_params(deep=False), training_set or r.training_set or dataset_uri(X, y))
            self._epochs = 0
        _fit_epoch(r, self.estimator, self._epochs, X, y, lambda: self.estimator.partial_fit(X, y, **fit_params), validation_data)
        self._epochs += 1
        return self

    def end(self) -> None:
        """Ends the run ``partial_fit`` calls made (its ``final_*`` outputs: the last epoch's measures)."""
        self.recorder.end()


def cross_validate(estimator: Any, X: Any, y: Any = None, *, groups: Any = None, cv: Any = 5, workflow: Optional[str] = None,
                   client: Optional[Client] = None, training_set: Optional[str] = None, **options: Any) -> Dict[str, Any]:
    """Cross-validation as one captured run: per fold, a training (a clone of ``estimator``, its
    ``get_params()`` and the ``fold`` number as hyperparameters, its part of the data as training
    set) with its epoch and model, and a validation on the held-out part (``val_loss``,
    ``val_accuracy``/``val_r2``). Options as :class:`AutoRun`. Returns ``{"test_<measure>": [per
    fold], "fit_time": [...], "estimator": [...]}`` (sklearn's ``cross_validate`` names)."""
    import numpy as np

    r = AutoRun(workflow or "sklearn-" + type(estimator).__name__, client, **options)
    X_all, y_all = np.asarray(X), None if y is None else np.asarray(y)
    out: Dict[str, Any] = {"fit_time": [], "estimator": []}
    for fold, (train, held_out) in enumerate(check_cv(cv, y, classifier=is_classifier(estimator)).split(X_all, y_all, groups)):
        est = clone(estimator)
        Xt, yt = X_all[train], None if y_all is None else y_all[train]
        Xv, yv = X_all[held_out], None if y_all is None else y_all[held_out]
        r.start(dict(est.get_params(deep=False), fold=fold), training_set or dataset_uri(Xt, yt), new_run=fold == 0)
        started = time.perf_counter()
        _fit_epoch(r, est, 0, Xt, yt, lambda: est.fit(Xt, yt), (Xv, yv))
        out["fit_time"].append(time.perf_counter() - started)
        r.end()
        for k, v in measures(est, Xv, yv).items():
            out.setdefault("test_" + k, []).append(v)
        out["estimator"].append(est)
    return out
