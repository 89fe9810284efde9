"""System metrics: CPU, RSS and GPU sampled on a background thread, recorded as declared output values.

    from provml_client.sysmetrics import SystemMetrics, declare_system_metrics

    client = provml.init(declare_system_metrics(spec, "epoch"), "D", http_url=...)
    with SystemMetrics(interval=0.5) as metrics:              # the sampler thread runs inside the block
        for epoch in training.epochs(10):
            ...
            epoch.update(metrics.read())                      # the window since the last read

or, at an interval without the trainer doing anything: ``SystemMetrics(interval=5, record=(training,
"system"))`` — every 5 s the sampler thread records one ``system`` task run under ``training``.

The trainer's thread never reads /proc or runs ``nvidia-smi``: the sampler thread does, and ``read()``
only swaps the window it has aggregated. Sources: CPU time from ``os.times()`` (all the process's
threads), RSS from psutil when installed, else ``/proc/self/statm``, else nothing; the GPU from pynvml
when installed, else ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits`` when on PATH, else
nothing (one info line on the ``provml_client`` logger).
"""

import atexit
import logging
import os
import shutil
import subprocess
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ._spec import load_spec

_log = logging.getLogger("provml_client")

#: The output values the sampler records, with their unit (declared by ``system_metric_outputs``).
METRICS: Tuple[Tuple[str, str, str], ...] = (
    ("sys_cpu_percent", "%", "CPU used by this process (all threads) over the window, in % of one core"),
    ("sys_rss_mib", "MiB", "Peak resident set size of this process over the window"),
    ("sys_gpu_utilization_percent", "%", "Mean GPU utilisation over the window (mean of the GPUs watched)"),
    ("sys_gpu_memory_mib", "MiB", "Peak GPU memory used over the window (sum of the GPUs watched)"),
)
_GPU_NAMES = ("sys_gpu_utilization_percent", "sys_gpu_memory_mib")
NVIDIA_SMI_QUERY = ["--query-gpu=index,utilization.gpu,memory.used", "--format=csv,noheader,nounits"]


def system_metric_outputs(gpu: bool = True) -> List[Dict[str, str]]:
    """The spec's output attributes for the system metrics (semantics ``output-value``, with units)."""
    return [
        {"name": n, "semantics": "output-value", "unit": u, "description": d}
        for n, u, d in METRICS
        if gpu or n not in _GPU_NAMES
    ]


def declare_system_metrics(spec: Any, task: str, parent: Optional[str] = None, gpu: bool = True) -> Dict[str, Any]:
    """A copy of ``spec`` (mapping, JSON text or file path) whose task ``task`` declares the system
    metrics as outputs. A task the spec lacks is added, under ``parent`` (required then): the task the
    interval mode records under."""
    s = load_spec(spec)
    tasks = s.setdefault("tasks", [])
    found = next((t for t in tasks if isinstance(t, dict) and t.get("id") == task), None)
    if found is None:
        if parent is None:
            raise ValueError("task '%s' is not in the spec: name the parent task to add it under" % task)
        found = {"id": task, "parent": parent, "description": "System metrics sampled by provml_client.sysmetrics"}
        tasks.append(found)
    outputs = found.setdefault("outputs", [])
    have = {a.get("name") for a in outputs if isinstance(a, dict)}
    outputs.extend(a for a in system_metric_outputs(gpu) if a["name"] not in have)
    return s


# -- probes (run on the sampler thread only) ---------------------------------------------------------


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, all threads."""
    t = os.times()
    return t.user + t.system


def rss_probe() -> Optional[Callable[[], Optional[float]]]:
    """A function returning this process's RSS in MiB, or None where neither psutil nor /proc is."""
    try:
        import psutil  # type: ignore[import-untyped]

        proc = psutil.Process()
        return lambda: proc.memory_info().rss / 1048576.0
    except ImportError:
        pass
    if os.path.exists("/proc/self/statm"):
        page = os.sysconf("SC_PAGE_SIZE")

        def statm() -> Optional[float]:
            with open("/proc/self/statm", "rb") as f:
                return int(f.read().split()[1]) * page / 1048576.0

        return statm
    return None


def parse_nvidia_smi(text: str, indexes: Optional[Sequence[int]] = None) -> List[Tuple[float, float]]:
    """(utilisation %, memory used MiB) per GPU from ``nvidia-smi --query-gpu=index,utilization.gpu,
    memory.used --format=csv,noheader,nounits``; GPUs not in ``indexes`` (when given) and fields that
    are not numbers (``[N/A]``, ``[Not Supported]``) are left out."""
    out = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            continue
        try:
            index, util, mem = int(parts[0]), float(parts[1]), float(parts[2])
        except ValueError:
            continue
        if indexes is None or index in indexes:
            out.append((util, mem))
    return out


def gpu_probe(indexes: Optional[Sequence[int]] = None, env: Optional[Mapping[str, str]] = None) -> Tuple[Optional[Callable[[], List[Tuple[float, float]]]], str]:
    """A function returning (utilisation %, memory used MiB) per watched GPU, and where it reads them:
    pynvml, else ``nvidia-smi`` on PATH; (None, why) where neither is."""
    try:
        import pynvml  # type: ignore[import-untyped]

        pynvml.nvmlInit()
        n = pynvml.nvmlDeviceGetCount()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(n) if indexes is None or i in indexes]

        def nvml() -> List[Tuple[float, float]]:
            return [
                (float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu), pynvml.nvmlDeviceGetMemoryInfo(h).used / 1048576.0)
                for h in handles
            ]

        return nvml, "pynvml"
    except Exception:  # not installed, or no driver: try nvidia-smi
        pass
    path = (env or os.environ).get("PATH")
    exe = shutil.which("nvidia-smi", path=path)
    if exe is None:
        return None, "no GPU metrics: pynvml is not installed and nvidia-smi is not on PATH"

    def smi() -> List[Tuple[float, float]]:
        done = subprocess.run([exe] + NVIDIA_SMI_QUERY, capture_output=True, text=True, timeout=10)
        return parse_nvidia_smi(done.stdout, indexes) if done.returncode == 0 else []

    return smi, "nvidia-smi"


# -- the sampler --------------------------------------------------------------------------------------


class _Window:
    """What the sampler aggregated since the last read."""

    __slots__ = ("t0", "cpu0", "t1", "cpu1", "rss", "gpu_util_sum", "gpu_util_n", "gpu_mem")

    def __init__(self, t: float, cpu: float) -> None:
        self.t0 = self.t1 = t
        self.cpu0 = self.cpu1 = cpu
        self.rss: Optional[float] = None
        self.gpu_util_sum = 0.0
        self.gpu_util_n = 0
        self.gpu_mem: Optional[float] = None

    def values(self) -> Dict[str, float]:
        out: Dict[str, float] = {}
        if self.t1 > self.t0:
            out["sys_cpu_percent"] = round(100.0 * (self.cpu1 - self.cpu0) / (self.t1 - self.t0), 2)
        if self.rss is not None:
            out["sys_rss_mib"] = round(self.rss, 2)
        if self.gpu_util_n:
            out["sys_gpu_utilization_percent"] = round(self.gpu_util_sum / self.gpu_util_n, 2)
        if self.gpu_mem is not None:
            out["sys_gpu_memory_mib"] = round(self.gpu_mem, 2)
        return out


_live: "weakref.WeakSet[SystemMetrics]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:  # registered after provml_client's own: runs before the clients shut down
    for m in list(_live):
        m.stop()


class SystemMetrics:
    """Samples CPU, RSS and GPU every ``interval`` s on a daemon thread (``start()`` … ``stop()``, or a
    ``with`` block; ``stop`` is idempotent and also runs at interpreter exit).

    ``read()`` returns the window since the previous read (CPU % over it, peak RSS, mean GPU
    utilisation, peak GPU memory) as the values ``declare_system_metrics`` declares: pass it to
    ``task_run.update``. ``record=(task_run, "task")``: the sampler thread itself records one child
    task run ``task`` of ``task_run`` per interval with those values (the trainer does nothing).
    ``gpu``: watch the GPUs (all, or the indexes given; False: none).
    """

    def __init__(
        self,
        interval: float = 1.0,
        record: Optional[Tuple[Any, str]] = None,
        gpu: Any = True,
        env: Optional[Mapping[str, str]] = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0 s")
        self.interval = interval
        self._record = record
        self._gpu_option = gpu
        self._env = env
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sampled = threading.Event()  # set after the sampler thread's first sample
        self._thread: Optional[threading.Thread] = None
        self._window: Optional[_Window] = None
        self._last: Dict[str, float] = {}
        #: Where the GPU values come from: "pynvml", "nvidia-smi" or None.
        self.gpu_source: Optional[str] = None
        #: Ids of the threads the probes ran on (the sampler's only: the trainer's thread never probes).
        self.probe_threads: "set[int]" = set()
        #: Samples taken, and windows recorded by the sampler thread (``record``).
        self.samples = 0
        self.recorded = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> "SystemMetrics":
        """Starts the sampler thread (once) and waits for its first sample (at most 2 s), so that the
        first ``read()`` has values even when the trainer's thread holds the GIL from the start."""
        with self._lock:
            if self._thread is not None:
                return self
            self._window = _Window(time.monotonic(), cpu_seconds())
            self._thread = threading.Thread(target=self._run, name="provml-sysmetrics", daemon=True)
        _live.add(self)
        self._thread.start()
        self._sampled.wait(2.0)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the sampler thread and waits for it (at most ``timeout`` s). Idempotent."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        _live.discard(self)

    @property
    def running(self) -> bool:
        t = self._thread
        return t is not None and t.is_alive()

    def __enter__(self) -> "SystemMetrics":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the trainer's side ----------------------------------------------------------------------

    def read(self) -> Dict[str, float]:
        """The values of the window since the previous read (no I/O: the sampler thread measured them);
        the latest values when no sample fell in the window; empty before the first sample."""
        with self._lock:
            w = self._window
            if w is None:
                return {}
            values = w.values()
            if values:
                self._window = _Window(w.t1, w.cpu1)
                self._last = values
                return values
            return dict(self._last)

    # -- the sampler thread ----------------------------------------------------------------------

    def _run(self) -> None:
        self.probe_threads.add(threading.get_ident())
        rss = rss_probe()
        gpu: Optional[Callable[[], List[Tuple[float, float]]]] = None
        if self._gpu_option is not False:
            indexes = None if self._gpu_option is True else list(self._gpu_option)
            gpu, source = gpu_probe(indexes, self._env)
            if gpu is None:
                _log.info("provml system metrics: %s", source)
            else:
                self.gpu_source = source
        while True:
            self._sample(rss, gpu)
            self._sampled.set()
            if self._record is not None and self.samples > 1:  # a window of one instant says nothing
                self._record_window()
            if self._stop.wait(self.interval):
                return

    def _sample(self, rss: Optional[Callable[[], Optional[float]]], gpu: Optional[Callable[[], List[Tuple[float, float]]]]) -> None:
        try:
            r = rss() if rss is not None else None
        except OSError:
            r = None
        g: List[Tuple[float, float]] = []
        if gpu is not None:
            try:
                g = gpu()
            except Exception as e:  # a GPU that went away or a hung nvidia-smi costs only the GPU values
                _log.debug("provml system metrics: GPU sample failed: %s", e)
        cpu, t = cpu_seconds(), time.monotonic()
        with self._lock:
            w = self._window
            assert w is not None
            w.t1, w.cpu1 = t, cpu
            if r is not None:
                w.rss = r if w.rss is None else max(w.rss, r)
            if g:
                w.gpu_util_sum += sum(u for u, _ in g) / len(g)
                w.gpu_util_n += 1
                used = sum(m for _, m in g)
                w.gpu_mem = used if w.gpu_mem is None else max(w.gpu_mem, used)
            self.samples += 1

    def _record_window(self) -> None:
        parent, task = self._record  # type: ignore[misc]
        if parent.ended or parent.run.client._processor._closing:  # its task or its client is over
            self._stop.set()
            return
        values = self.read()
        if not values:
            return
        with parent.child(task) as t:
            t.update(values)
        self.recorded += 1
