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

The caller's thread only builds an event and appends it to a queue; background threads batch and
send, and keep what the transport cannot take in a local spill spool until it is back
(capture-agent/AGENT.md has the protocols and the spool format). Capture never raises into the
training for a name the spec does not declare (unless ``strict=True``) and never waits for a full
queue or a dead transport.
"""

import atexit
import json
import logging
import os
import weakref
from typing import Any, Callable, Dict, Mapping, Optional

from ._capture import Client, TaskRun, WorkflowRun, now_micros
from ._context import collect_execution_context
from ._draft import DRAFT_ENV, draft_client
from ._distributed import Distributed, detect_distributed, resolve_capture_ranks
from ._errors import CaptureError
from ._processor import BatchProcessor
from ._spec import CompiledSpec, SpecError, SpecInput, compile_spec
from ._spill import SpillSpool, default_spill_dir
from ._stats import DeliveryResult, Stats
from .spool import SpoolLockedError
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
    "DeliveryResult",
    "CaptureError",
    "SpecError",
    "SETTINGS",
    "resolve_setting",
    "collect_execution_context",
    "Distributed",
    "detect_distributed",
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
    explicit: Dict[str, Any] = {"queue_size": queue_size, "diskful": diskful, "online": online}
    if setting is None and all(v is None for v in explicit.values()):
        setting = (os.environ if env is None else env).get("PROVML_CAPTURE_SETTING") or "E"
    out: Dict[str, Any] = {"setting": None, "queue_size": DEFAULT_LARGE_QUEUE, "diskful": True, "online": True}
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
    # a forked child (e.g. a DataLoader worker) has none of the background threads: its capture
    # calls drop their events, counted in the parent's stats (_fork.py); the parent's clients are
    # not the child's to shut down at its exit. Call init() in the child to capture from it.
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
    overflow: str = "drop",
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
    strict: bool = False,
    shutdown_timeout: float = 5.0,
    spill: Optional[bool] = None,
    spill_dir: Optional[str] = None,
    register_atexit: bool = True,
    capture_ranks: Optional[str] = None,
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

    The queue: at most ``max_queue_size`` events wait; when full, ``overflow`` is ``drop`` (the
    default: dropped, counted in ``stats.dropped`` and reported) or ``block`` (the caller waits for
    room: a stalled transport then stalls training). A partial batch is exported after
    ``flush_interval`` s.

    Spill (online settings; ``spill=None`` means on unless the transport is a spool): when the
    transport fails or falls behind, batches go to a local spool, ``spill_dir`` (default
    ``PROVML_SPILL_DIR``, else a directory of this process's own under the temporary directory,
    made on the first spill and removed once drained), and are sent from there, oldest first, once
    it answers again; failed attempts are retried with exponential backoff (``retry_initial`` …
    ``retry_max`` s, jittered), reported once per back-off step. A ``spill_dir`` given explicitly
    is locked by this client (one at a time) and what an earlier process left in it is sent first.
    Without spill, failed batches are retried in memory until ``retry_deadline`` s (None: until
    shutdown), then counted as failed and reported.

    ``flush(timeout)`` and ``shutdown(timeout)`` return a ``DeliveryResult`` (delivered, rejected,
    dropped, spooled, spool_path, …; false when anything is not delivered). ``shutdown`` takes at
    most ``shutdown_timeout`` s (5), also at interpreter exit; what the transport did not take by
    then stays in the spill spool. ``on_error`` receives every CaptureError (default: logged to the
    ``provml_client`` logger); it runs on the background threads, except ``undeclared``/``invalid``
    reports, made at the capture call (once per name).

    Spool options (the offline spool, and the spill spool): ``fsync`` (batch|interval|never),
    ``fsync_interval``, ``segment_bytes``, ``max_spool_bytes`` and ``spool_full`` (reject|drop-oldest).

    ``strict``: a value, data reference or task name the spec does not declare (or a value the
    event contract does not allow) raises at the capture call. By default (False) it is dropped
    there, counted (``stats.undeclared``, ``stats.invalid``) and reported once per name: the rest of
    the call is captured and the training goes on.

    Distributed training (torchrun, srun, mpirun, PBS, LSF; see the README): each rank reads its
    rank, world size, job id and restart count from the environment; the workflow executions of
    ``workflow_execution()`` are the job's (one run, named alike on every rank) and each rank's task
    executions carry its rank. ``capture_ranks`` (default ``PROVML_CAPTURE_RANKS``, else ``all``):
    ``all`` ranks capture, or only rank ``zero`` (the others send nothing and need no transport).

    With ``PROVML_SPEC_DRAFT`` set (``provml spec init`` does), the client drafts a spec instead:
    it accepts every name, sends nothing and records the names it saw in that file (``_draft.py``).
    """
    env_map = os.environ if env is None else env
    if env_map.get(DRAFT_ENV):
        drafting = draft_client(spec, env_map[DRAFT_ENV], env_map, context)
        if register_atexit:
            _live_clients.add(drafting)
        return drafting
    compiled = compile_spec(spec)
    s = resolve_setting(setting, queue_size, diskful, online, env_map)
    ranks = resolve_capture_ranks(capture_ranks, env_map)
    distributed = detect_distributed(env_map)
    silent = distributed is not None and distributed.rank != 0 and ranks == "zero"
    if silent:
        transport, spill = DiscardTransport(), False
    spool_options: Dict[str, Any] = dict(
        fsync=fsync,
        fsync_interval=fsync_interval,
        segment_bytes=segment_bytes,
        max_bytes=max_spool_bytes,
        full_policy=spool_full,
    )
    if transport is None:
        transport = _make_transport(compiled, s, env_map, socket_path, http_url, spool_dir, timeout, spool_options)
    spill_spool = _make_spill(compiled, transport, env_map, spill, spill_dir, spool_options)
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
        spill=spill_spool,
    )
    ctx = collect_execution_context(env_map)
    if distributed is not None:
        ctx.update(distributed.context())
    if context:
        ctx.update({str(k): str(v) for k, v in context.items()})
    client = Client(
        compiled,
        processor,
        ctx,
        strict=strict,
        setting=s["setting"],
        shutdown_timeout=shutdown_timeout,
        distributed=distributed,
        silent=silent,
    )
    if register_atexit:
        _live_clients.add(client)
    return client


def _make_spill(
    compiled: CompiledSpec,
    transport: Transport,
    env: Mapping[str, str],
    spill: Optional[bool],
    spill_dir: Optional[str],
    spool_options: Dict[str, Any],
) -> Optional[SpillSpool]:
    """The spill spool of an online transport (None for a spool transport, or with ``spill=False``).
    An explicit directory is opened at once: its LOCK is ours, what it holds is sent first."""
    if spill is None:
        spill = not isinstance(transport, SpoolTransport)
    if not spill:
        return None
    directory = spill_dir or env.get("PROVML_SPILL_DIR")
    owned = not directory
    if not directory:
        directory = default_spill_dir(compiled.workflow, os.urandom(4).hex())
    spec_record = ('{"spec":%s}' % json.dumps(compiled.spec, separators=(",", ":"), ensure_ascii=False)).encode("utf-8")
    s = SpillSpool(
        directory,
        spec_record,
        owned,
        segment_bytes=spool_options["segment_bytes"],
        max_bytes=spool_options["max_bytes"],
        full_policy=spool_options["full_policy"],
        fsync=spool_options["fsync"],
        fsync_interval=spool_options["fsync_interval"],
    )
    if not owned:
        try:
            s.open()
        except SpoolLockedError as e:  # another live client spills there: this one gets its own
            logging.getLogger("provml_client").warning("provml capture: %s; spilling to a directory of this process's own instead", e)
            return _make_spill(compiled, transport, {}, True, None, spool_options)
    return s


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
