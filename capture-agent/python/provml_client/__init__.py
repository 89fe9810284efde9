"""PROV-ML capture client for Python trainers (standard library only).

    import provml_client as provml

    client = provml.init("spec.json", setting="E", socket_path="/var/spool/provml/agent.sock")
    with client.workflow_execution() as run, run.task("training", values={"learning_rate": 1e-3}) as training:
        for epoch in training.epochs(10):
            for batch, (x, y) in epoch.batches(loader):
                ...
                batch.set("batch_loss", loss.item())
            epoch.set("loss", mean_loss)
    client.shutdown()

The caller's thread only builds an event and appends it to a queue; a daemon thread batches and
sends (capture-agent/AGENT.md has the protocols and the spool format).
"""

import atexit
import os
import weakref
from typing import Any, Callable, Dict, Mapping, Optional

from ._capture import Client, TaskRun, WorkflowRun, now_micros
from ._context import collect_execution_context
from ._processor import BatchProcessor, CaptureError, Stats
from ._spec import CompiledSpec, SpecError, SpecInput, compile_spec
from .transports import (
    DiscardTransport,
    FallbackTransport,
    HttpTransport,
    MemoryTransport,
    RejectedError,
    RetryableError,
    SpoolTransport,
    Transport,
    UnixSocketTransport,
)

__all__ = [
    "init",
    "Client",
    "WorkflowRun",
    "TaskRun",
    "Stats",
    "CaptureError",
    "SpecError",
    "SETTINGS",
    "resolve_setting",
    "collect_execution_context",
    "compile_spec",
    "now_micros",
    "Transport",
    "UnixSocketTransport",
    "HttpTransport",
    "FallbackTransport",
    "SpoolTransport",
    "MemoryTransport",
    "DiscardTransport",
    "RetryableError",
    "RejectedError",
]
__version__ = "0.1.0"

#: Events per export of the settings with a large queue (D, E, F), as the TypeScript library's default.
DEFAULT_LARGE_QUEUE = 512

#: The paper's capture settings (Fig. 5; capture-agent/AGENT.md): queue size, diskful, online.
SETTINGS: Dict[str, Dict[str, Any]] = {
    "A": {"queue_size": 1, "diskful": False, "online": True},
    "B": {"queue_size": 1, "diskful": True, "online": True},
    "C": {"queue_size": 1, "diskful": True, "online": False},
    "D": {"queue_size": DEFAULT_LARGE_QUEUE, "diskful": False, "online": True},
    "E": {"queue_size": DEFAULT_LARGE_QUEUE, "diskful": True, "online": True},
    "F": {"queue_size": DEFAULT_LARGE_QUEUE, "diskful": True, "online": False},
}


def resolve_setting(
    setting: Optional[str] = None,
    queue_size: Optional[int] = None,
    diskful: Optional[bool] = None,
    online: Optional[bool] = None,
    env: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """The queue size, disk and publishing of a setting letter, with explicit options over it.

    Without a letter and without options: ``PROVML_CAPTURE_SETTING`` or E (queue 512, diskful via the
    sidecar's socket, online). A letter with a conflicting explicit option is an error.
    """
    explicit = {"queue_size": queue_size, "diskful": diskful, "online": online}
    if setting is None and all(v is None for v in explicit.values()):
        setting = (os.environ if env is None else env).get("PROVML_CAPTURE_SETTING") or "E"
    out = {"setting": None, "queue_size": DEFAULT_LARGE_QUEUE, "diskful": True, "online": True}
    if setting is not None:
        key = setting.strip().upper()
        if key not in SETTINGS:
            raise ValueError("setting must be one of A–F, got %r" % setting)
        out.update(SETTINGS[key], setting=key)
        if queue_size is not None:
            if (SETTINGS[key]["queue_size"] == 1) != (queue_size == 1) or (queue_size != 1 and queue_size < 50):
                raise ValueError("setting %s has queue size %s, not %d" % (key, "1" if SETTINGS[key]["queue_size"] == 1 else "≥ 50", queue_size))
        for k in ("diskful", "online"):
            if explicit[k] is not None and explicit[k] != SETTINGS[key][k]:
                raise ValueError("setting %s has %s=%s" % (key, k, SETTINGS[key][k]))
    for k, v in explicit.items():
        if v is not None:
            out[k] = v
    if out["queue_size"] < 1:
        raise ValueError("queue_size must be >= 1")
    if not out["online"] and not out["diskful"]:
        raise ValueError("offline capture is diskful: it writes a spool that `provml replay` publishes later")
    return out


_live_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


@atexit.register
def _shutdown_all() -> None:
    for c in list(_live_clients):
        try:
            c.shutdown()
        except Exception:  # at exit, one client's failure must not stop the others
            pass


def _after_fork_in_child() -> None:
    # the background thread does not exist in a forked child (e.g. a DataLoader worker): events
    # captured there are dropped and counted; call init() in the child to capture from it
    for c in list(_live_clients):
        c._processor._forked()
    _live_clients.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def init(
    spec: SpecInput,
    setting: Optional[str] = None,
    *,
    queue_size: Optional[int] = None,
    diskful: Optional[bool] = None,
    online: Optional[bool] = None,
    socket_path: Optional[str] = None,
    http_url: Optional[str] = None,
    spool_dir: Optional[str] = None,
    transport: Optional[Transport] = None,
    max_queue_size: int = 65536,
    overflow: str = "block",
    flush_interval: float = 0.2,
    retry_initial: float = 0.1,
    retry_max: float = 5.0,
    retry_deadline: Optional[float] = None,
    timeout: float = 30.0,
    fsync: str = "batch",
    fsync_interval: float = 0.2,
    segment_bytes: int = 16 * 1024 * 1024,
    max_spool_bytes: int = 1024 * 1024 * 1024,
    spool_full: str = "reject",
    on_error: Optional[Callable[[Exception], None]] = None,
    context: Optional[Mapping[str, str]] = None,
    env: Optional[Mapping[str, str]] = None,
    strict: bool = True,
    shutdown_timeout: float = 30.0,
    register_atexit: bool = True,
) -> Client:
    """Checks the spec and returns a capture client whose background thread is running.

    Settings (the paper's A–F, capture-agent/AGENT.md): ``setting`` or ``queue_size`` (events per
    export: 1, or 50 and more), ``diskful`` and ``online``. Where events go:

    - online + diskful: the sidecar's Unix socket ``socket_path`` (default ``PROVML_AGENT_SOCKET``, or
      ``<spool_dir>/agent.sock``), falling back to ``http_url`` (the sidecar's HTTP port) when given;
    - online + diskless: ``http_url`` (default ``PROVML_INGEST_URL``), an ingest that publishes
      directly (``POST /v1/events``);
    - offline: the spool directory ``spool_dir`` (default ``PROVML_SPOOL_DIR``), written in the
      AGENT.md format; ``npm run provml -- replay <dir>`` publishes it later;
    - ``transport``: any Transport (tests, benchmarks).

    The queue: at most ``max_queue_size`` events wait; when full, ``overflow`` is ``block`` (the
    caller waits for room) or ``drop`` (dropped, counted in ``stats.dropped`` and reported).
    A partial batch is exported after ``flush_interval`` s. Failed exports are retried with
    exponential backoff (``retry_initial`` … ``retry_max`` s, jittered) until ``retry_deadline``
    s (None: until shutdown), then counted as failed and reported. ``on_error`` receives every
    CaptureError (default: logged to the ``provml_client`` logger); it runs on the background thread.

    Spool options (offline): ``fsync`` (batch|interval|never), ``fsync_interval``, ``segment_bytes``,
    ``max_spool_bytes`` and ``spool_full`` (reject|drop-oldest).

    ``strict``: check value and data reference names against the spec on the caller's side, so a
    typo raises at once instead of getting a whole batch refused by the agent.
    """
    compiled = compile_spec(spec)
    env_map = os.environ if env is None else env
    s = resolve_setting(setting, queue_size, diskful, online, env_map)
    if transport is None:
        transport = _make_transport(
            compiled, s, env_map, socket_path, http_url, spool_dir, timeout,
            dict(
                fsync=fsync,
                fsync_interval=fsync_interval,
                segment_bytes=segment_bytes,
                max_bytes=max_spool_bytes,
                full_policy=spool_full,
            ),
        )
    processor = BatchProcessor(
        transport,
        batch_size=s["queue_size"],
        max_queue_size=max(max_queue_size, s["queue_size"]),
        overflow=overflow,
        flush_interval=flush_interval,
        retry_initial=retry_initial,
        retry_max=retry_max,
        retry_deadline=retry_deadline,
        on_error=on_error,
    )
    ctx = collect_execution_context(env_map)
    if context:
        ctx.update({str(k): str(v) for k, v in context.items()})
    client = Client(compiled, processor, ctx, strict=strict, setting=s["setting"], shutdown_timeout=shutdown_timeout)
    if register_atexit:
        _live_clients.add(client)
    return client


def _make_transport(
    compiled: CompiledSpec,
    s: Dict[str, Any],
    env: Mapping[str, str],
    socket_path: Optional[str],
    http_url: Optional[str],
    spool_dir: Optional[str],
    timeout: float,
    spool_options: Dict[str, Any],
) -> Transport:
    spec = compiled.spec
    if not s["online"]:
        directory = spool_dir or env.get("PROVML_SPOOL_DIR")
        if not directory:
            raise ValueError("offline capture (settings C, F) needs spool_dir (or PROVML_SPOOL_DIR)")
        return SpoolTransport(directory, spec, **spool_options)
    if s["diskful"]:
        path = socket_path or env.get("PROVML_AGENT_SOCKET")
        if not path and spool_dir:
            path = os.path.join(spool_dir, "agent.sock")
        url = http_url or env.get("PROVML_AGENT_URL")
        if path and url:
            return FallbackTransport(UnixSocketTransport(path, spec, timeout), HttpTransport(url, spec, timeout))
        if path:
            return UnixSocketTransport(path, spec, timeout)
        if url:
            return HttpTransport(url, spec, timeout)
        raise ValueError(
            "online diskful capture (settings B, E) sends to the sidecar: give socket_path "
            "(or PROVML_AGENT_SOCKET) and/or http_url (or PROVML_AGENT_URL)"
        )
    url = http_url or env.get("PROVML_INGEST_URL")
    if not url:
        raise ValueError("online diskless capture (settings A, D) needs http_url (or PROVML_INGEST_URL) of an ingest")
    return HttpTransport(url, spec, timeout)
