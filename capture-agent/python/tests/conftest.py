"""Shared fixtures: the package from this checkout, the demo's seismic spec, a small spec."""

import json
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(os.path.dirname(PKG_ROOT))
if PKG_ROOT not in sys.path:  # run from a checkout without `pip install -e`
    sys.path.insert(0, PKG_ROOT)

SEISMIC_SPEC_PATH = os.path.join(REPO_ROOT, "schemas", "examples", "seismic-training.json")

SMALL_SPEC = {
    "workflow": "small",
    "phase": "learning",
    "tasks": [
        {
            "id": "training",
            "stage": "training",
            "inputs": [
                {"name": "learning_rate", "semantics": "hyperparameter"},
                {"name": "training_set", "semantics": "dataset-reference"},
            ],
            "outputs": [{"name": "final_loss", "semantics": "evaluation-measure"}],
        },
        {
            "id": "epoch",
            "parent": "training",
            "outputs": [
                {"name": "epoch", "semantics": "model-hyperparameter"},
                {"name": "loss", "semantics": "evaluation-measure"},
                {"name": "model", "semantics": "model-reference"},
            ],
        },
        {
            "id": "batch",
            "parent": "epoch",
            "inputs": [{"name": "batch_index", "semantics": "parameter"}],
            "outputs": [
                {"name": "batch_loss", "semantics": "output-value"},
                {"name": "weights", "semantics": "output-value"},
                {"name": "note", "semantics": "output-value"},
                {"name": "ok", "semantics": "output-value"},
            ],
        },
    ],
}


@pytest.fixture
def small_spec():
    return json.loads(json.dumps(SMALL_SPEC))


@pytest.fixture
def seismic_spec():
    with open(SEISMIC_SPEC_PATH, encoding="utf-8") as f:
        return json.load(f)


def _memory_client(spec, **kw):
    import provml_client as provml

    errors = []
    client = provml.init(
        spec, "D", transport=provml.MemoryTransport(), env={}, on_error=errors.append, register_atexit=False, **kw
    )
    client.errors = errors  # type: ignore[attr-defined]
    return client


@pytest.fixture
def memory_client(small_spec):
    """A client (the default, not strict) whose events land in memory, shut down after the test."""
    client = _memory_client(small_spec)
    yield client
    client.shutdown(20)


@pytest.fixture
def strict_client(small_spec):
    """As memory_client, with strict=True: mistakes raise at the capture call."""
    client = _memory_client(small_spec, strict=True)
    yield client
    client.shutdown(20)


def events_of(client, timeout=20.0):
    """Flushes and returns the events a MemoryTransport client captured so far."""
    r = client.flush(timeout)
    assert not r.timed_out and r.pending == 0 and r.spooled == 0, r
    return client.transport.events


def wait_until(predicate, timeout=20.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
