"""Workflow runs and task runs: the capture calls a trainer makes. Mirrors capture-agent/src/Capture.ts."""

import itertools
import json
import math
import os
import re
import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from ._processor import BatchProcessor, Stats
from ._spec import CompiledSpec

#: What a value may be: a boolean, a finite number, a string, or a list of finite numbers.
CaptureValue = Union[bool, int, float, str, Sequence[Union[int, float]]]
#: Data references: ``{name: uri}``, or a list of ``{"name", "uri", "store"?}`` dicts or ``(name, uri[, store])`` tuples.
DataRefsInput = Union[Mapping[str, str], Sequence[Any]]

MAX_STRING = 65536
MAX_ARRAY = 100000
_EMPTY_VALUES: Dict[str, Any] = {}
_EMPTY_REFS: List[Dict[str, Any]] = []
_EMPTY_CONTEXT: Dict[str, str] = {}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_BAD_IRI = re.compile(r'[\s<>"{}|\\^`\x00-\x1f]')
_time_ns = time.time_ns
_json_str = json.JSONEncoder(ensure_ascii=False).encode
_json_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def now_micros() -> int:
    """Microseconds since the Unix epoch."""
    return _time_ns() // 1000


def _nonfinite(v: float) -> str:
    # NaN and infinities are not JSON numbers: a diverged loss is kept as a string, not an error
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


def _coerce(name: str, v: Any) -> Any:
    """Values of other types: sequences, numpy/torch scalars and arrays (anything with tolist/__float__)."""
    if hasattr(v, "tolist") and not isinstance(v, (list, tuple)):
        v = v.tolist()  # numpy and torch: scalars give numbers, arrays give lists
        if isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else _nonfinite(v)
    if isinstance(v, (list, tuple)):
        if len(v) > MAX_ARRAY:
            raise ValueError("value '%s': at most %d numbers in an array, got %d" % (name, MAX_ARRAY, len(v)))
        out = []
        for x in v:
            if type(x) is bool or not isinstance(x, (int, float)):
                if hasattr(x, "__float__") and not isinstance(x, (str, bytes, bool)):
                    x = float(x)
                else:
                    raise TypeError("value '%s': an array may hold numbers only, got %r" % (name, x))
            if isinstance(x, float) and not math.isfinite(x):
                raise ValueError("value '%s': array element %r is not a finite number" % (name, x))
            out.append(x)
        return out
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, str):
        return str(v)
    if hasattr(v, "__index__"):
        return int(v.__index__())
    if isinstance(v, (int, float)) or hasattr(v, "__float__"):
        f = float(v)
        return f if math.isfinite(f) else _nonfinite(f)
    raise TypeError(
        "value '%s' must be a bool, a number, a string or a list of numbers, not %s" % (name, type(v).__name__)
    )


class Client:
    """A capture session for one workflow spec. Create with ``provml_client.init``."""

    def __init__(
        self,
        compiled: CompiledSpec,
        processor: BatchProcessor,
        context: Dict[str, str],
        strict: bool = True,
        setting: Optional[str] = None,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self._compiled = compiled
        self._processor = processor
        #: Execution context attached to top-level task begins.
        self.context = dict(context)
        self.strict = strict
        #: The capture setting (A–F) this client was created with, when one applies.
        self.setting = setting
        self.shutdown_timeout = shutdown_timeout
        self._prefix = os.urandom(6).hex()  # as secrets.token_hex(6), without importing secrets (hmac, hashlib)
        self._counter = itertools.count()
        self._pid = os.getpid()

    @property
    def workflow(self) -> str:
        """The workflow id of the spec."""
        return self._compiled.workflow

    @property
    def spec(self) -> Dict[str, Any]:
        return self._compiled.spec

    @property
    def stats(self) -> Stats:
        """Counters of the background queue (enqueued, exported, dropped, rejected, failed, …)."""
        return self._processor.stats

    @property
    def transport(self) -> Any:
        return self._processor.transport

    def workflow_execution(self, id: Optional[str] = None) -> "WorkflowRun":
        """Starts a workflow execution; ``id`` defaults to ``<workflow>-<time>-<random>``."""
        if id is None:
            id = "%s-%s-%s%x" % (self.workflow, _base36(int(time.time() * 1000)), self._prefix, next(self._counter))
        return WorkflowRun(self, id)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until everything captured so far has been exported (or reported); False on timeout."""
        return self._processor.flush(timeout)

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Flushes (for at most ``timeout`` s, default ``shutdown_timeout``), stops the background
        thread and closes the transport. Idempotent; also run at interpreter exit. True when every
        event was delivered."""
        return self._processor.shutdown(self.shutdown_timeout if timeout is None else timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    # -- internal -----------------------------------------------------------------------------

    def _next_id(self, kind: str) -> str:
        return "%s.%s%x" % (self._prefix, kind, next(self._counter))

    def _assert_task(self, task: str) -> None:
        if task not in self._compiled.tasks:
            raise ValueError(
                "unknown task '%s' in workflow '%s' (declared tasks: %s)"
                % (task, self.workflow, ", ".join(sorted(self._compiled.tasks)))
            )

    def _values(self, task: str, values: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
        """A checked copy of ``values`` (the caller may reuse its dict)."""
        if not values:
            return _EMPTY_VALUES
        allowed = self._compiled.value_names[task] if self.strict else None
        out = {}
        for k, v in values.items():
            t = type(v)
            if t is float:
                if v - v != 0.0:  # NaN or an infinity
                    v = _nonfinite(v)
            elif t is int or t is bool:
                pass
            elif t is str:
                if len(v) > MAX_STRING:
                    raise ValueError("value '%s': strings are limited to %d characters" % (k, MAX_STRING))
            else:
                v = _coerce(k, v)
            if allowed is not None and k not in allowed:
                self._undeclared(task, k)
            out[k] = v
        return out

    def _undeclared(self, task: str, name: str) -> None:
        if name in self._compiled.ref_names[task]:
            raise ValueError("'%s' of task '%s' is a reference: pass it in data_refs" % (name, task))
        raise ValueError(
            "value '%s' is not declared by task '%s' of workflow '%s' (declared: %s)"
            % (name, task, self.workflow, ", ".join(sorted(self._compiled.value_names[task])) or "none")
        )

    def _refs(self, task: str, refs: Optional[DataRefsInput]) -> List[Dict[str, Any]]:
        if not refs:
            return _EMPTY_REFS
        if isinstance(refs, Mapping):
            items: Iterable[Any] = [(n, u, None) for n, u in refs.items()]
        else:
            items = refs
        out = []
        for r in items:
            if isinstance(r, Mapping):
                name, uri, store = r.get("name"), r.get("uri"), r.get("store")
            else:
                r = tuple(r)
                name, uri, store = r[0], r[1], (r[2] if len(r) > 2 else None)
            if not isinstance(name, str) or not isinstance(uri, str):
                raise TypeError("a data reference needs a name and a uri (strings), got %r" % (r,))
            if not _SCHEME.match(uri) or _BAD_IRI.search(uri) or len(uri) > 8192:
                raise ValueError(
                    "data reference '%s': %r is not an absolute URI (scheme, no spaces or <>\"{}|\\^`)" % (name, uri)
                )
            if store is not None and (not isinstance(store, str) or not store):
                raise ValueError("data reference '%s': store must be a non-empty string or None" % name)
            if self.strict and name not in self._compiled.ref_names[task]:
                if name in self._compiled.value_names[task]:
                    raise ValueError("'%s' of task '%s' is a value, not a reference: pass it in values" % (name, task))
                raise ValueError(
                    "data reference '%s' is not declared by task '%s' (declared: %s)"
                    % (name, task, ", ".join(sorted(self._compiled.ref_names[task])) or "none")
                )
            out.append({"name": name, "uri": uri, "store": store})
        return out


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = digits[r] + s
        if n == 0:
            return s


class WorkflowRun:
    """One execution of the workflow: the root of its task executions (and the Kafka key).

    As a context manager, its exit ends the top-level task runs still open: as failed when an
    exception leaves the block, else as finished.
    """

    def __init__(self, client: Client, id: str) -> None:
        self.client = client
        #: The workflow execution id.
        self.id = id
        self._open: Dict[int, TaskRun] = {}  # top-level task runs not yet ended
        proc = client._processor
        self._enqueue = proc.enqueue
        self._prefix = client._prefix
        self._counter = client._counter
        self._workflow = client.workflow
        # the background thread formats events with this template (ids and task ids are safe to embed)
        esc = lambda x: _json_str(x).replace("%", "%%")  # noqa: E731
        p = client._prefix
        self._template = (
            '{"eventId":"' + p + '.e%x","workflow":' + esc(client.workflow)
            + ',"workflowExecution":' + esc(id)
            + ',"task":"%s","taskExecution":"' + p + '.t%x","parentTaskExecution":%s,"phase":"%s","time":%d'
            + ',"values":%s,"dataRefs":%s,"status":%s,"context":%s}'
        )
        self._parent_template = '"' + p + '.t%x"'
        self._context_json = _json_compact(client.context)

    def begin(
        self, task: str, values: Optional[Mapping[str, Any]] = None, data_refs: Optional[DataRefsInput] = None
    ) -> "TaskRun":
        """Begins a top-level task execution (``with run.begin("training") as t:`` ends it too)."""
        t = self._begin(task, None, values, data_refs)
        self._open[t._n] = t
        return t

    #: ``with run.task("training", values=…) as training:`` reads better in a with statement.
    task = begin

    def end_open(self, status: str = "finished") -> None:
        """Ends every top-level task run still open (and their open loops)."""
        for t in list(self._open.values())[::-1]:
            t.end(status=status)

    def __enter__(self) -> "WorkflowRun":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end_open("failed" if exc_type is not None else "finished")

    def _begin(
        self,
        task: str,
        parent: Optional[int],
        values: Optional[Mapping[str, Any]],
        data_refs: Optional[DataRefsInput],
    ) -> "TaskRun":
        c = self.client
        if task not in c._compiled.tasks:
            c._assert_task(task)
        te = next(self._counter)
        # the event as the background thread's encoder reads it (_processor.encode_event)
        self._enqueue(
            (
                self,
                next(self._counter),
                task,
                te,
                parent,
                "begin",
                _time_ns(),
                c._values(task, values) if values else _EMPTY_VALUES,
                c._refs(task, data_refs) if data_refs else _EMPTY_REFS,
                None,
            )
        )
        return TaskRun(self, task, te, parent)


class TaskRun:
    """One execution of a task. Children with ``begin``/``task``, loops with ``epochs``/``batches``;
    ``end`` (or leaving its ``with`` block) closes it: failed when an exception left the block."""

    __slots__ = ("run", "task", "_n", "_parent", "index", "_ended", "_values", "_refs", "_loops")

    def __init__(self, run: WorkflowRun, task: str, n: int, parent: Optional[int]) -> None:
        self.run = run
        #: Task id from the spec.
        self.task = task
        self._n = n
        self._parent = parent
        #: The loop index, for task runs made by ``epochs``/``batches``/``epoch``/``batch``.
        self.index: Optional[int] = None
        self._ended = False
        self._values: Optional[Dict[str, Any]] = None
        self._refs: Optional[List[Any]] = None
        self._loops: Optional[List["_Loop"]] = None

    @property
    def id(self) -> str:
        """Unique id of this task execution (the ``taskExecution`` of its events)."""
        return "%s.t%x" % (self.run._prefix, self._n)

    @property
    def parent(self) -> Optional[str]:
        """The enclosing task execution's id, or None for a top-level task."""
        return None if self._parent is None else "%s.t%x" % (self.run._prefix, self._parent)

    @property
    def ended(self) -> bool:
        return self._ended

    def set(self, name: str, value: CaptureValue) -> "TaskRun":
        """Records a value for the end event (e.g. the loss, computed inside the block)."""
        if self._values is None:
            self._values = {}
        self._values[name] = value
        return self

    def update(self, values: Mapping[str, CaptureValue]) -> "TaskRun":
        """Records several values for the end event."""
        if self._values is None:
            self._values = {}
        self._values.update(values)
        return self

    def add_data_ref(self, name: str, uri: str, store: Optional[str] = None) -> "TaskRun":
        """Records a data reference for the end event (e.g. the model file written)."""
        if self._refs is None:
            self._refs = []
        self._refs.append((name, uri, store))
        return self

    def begin(
        self, task: str, values: Optional[Mapping[str, Any]] = None, data_refs: Optional[DataRefsInput] = None
    ) -> "TaskRun":
        """Begins a child task execution."""
        return self.run._begin(task, self._n, values, data_refs)

    def child(
        self, task: str, values: Optional[Mapping[str, Any]] = None, data_refs: Optional[DataRefsInput] = None
    ) -> "TaskRun":
        """Same as ``begin``; reads better as ``with training.child("validation") as v:``."""
        return self.run._begin(task, self._n, values, data_refs)

    def end(
        self,
        values: Optional[Mapping[str, Any]] = None,
        data_refs: Optional[DataRefsInput] = None,
        status: str = "finished",
    ) -> None:
        """Ends this task execution (a second call is ignored). Loops still open end first."""
        if self._ended:
            return
        if status != "finished" and status != "failed":
            raise ValueError("status must be 'finished' or 'failed'")
        self._ended = True
        if self._loops:
            for loop in self._loops[::-1]:
                loop.close(status)
            self._loops = None
        v = values
        if self._values is not None:
            v = dict(self._values)
            if values:
                v.update(values)
        run = self.run
        c = run.client
        r = c._refs(self.task, data_refs) if data_refs else _EMPTY_REFS
        if self._refs is not None:
            r = c._refs(self.task, self._refs) + r
        run._enqueue(
            (
                run,
                next(run._counter),
                self.task,
                self._n,
                self._parent,
                "end",
                _time_ns(),
                c._values(self.task, v) if v else _EMPTY_VALUES,
                r,
                status,
            )
        )
        if self._parent is None:
            run._open.pop(self._n, None)

    def fail(self, values: Optional[Mapping[str, Any]] = None, data_refs: Optional[DataRefsInput] = None) -> None:
        """Ends this task execution as failed."""
        self.end(values, data_refs, "failed")

    def __enter__(self) -> "TaskRun":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.end(status="failed" if exc_type is not None else "finished")

    # -- loops --------------------------------------------------------------------------------

    def epochs(self, n: int, task: str = "epoch", start: int = 0, index: Optional[str] = "epoch") -> Iterator["TaskRun"]:
        """``for epoch in training.epochs(10):`` — one child task run per epoch.

        Each begins before its loop body and ends (finished) when the next is requested or the loop
        is over. After ``break`` or an exception, the open one ends when this task run ends (as
        failed when an exception ended it). ``index`` names the value that carries the epoch number
        (sent on begin when the task declares it); ``epoch.index`` holds it too.
        """
        return _Loop(self, task, range(start, start + n), index, False, start)

    def batches(
        self, iterable: Iterable[Any], task: str = "batch", start: int = 0, index: Optional[str] = "batch_index"
    ) -> Iterator[Tuple["TaskRun", Any]]:
        """``for batch, (x, y) in epoch.batches(loader):`` — one child task run per item.

        The task run begins once the item has been fetched (data loading is not inside it) and ends
        when the next item is requested; ``batch.set("batch_loss", loss.item())`` records outputs.
        """
        return _Loop(self, task, iterable, index, True, start)

    def epoch(self, i: int, task: str = "epoch", index: Optional[str] = "epoch") -> "TaskRun":
        """``with training.epoch(i) as e:`` — one child task run carrying the epoch number."""
        return self._indexed(task, i, index)

    def batch(self, i: int, task: str = "batch", index: Optional[str] = "batch_index") -> "TaskRun":
        """``with epoch.batch(i) as b:`` — one child task run carrying the batch number."""
        return self._indexed(task, i, index)

    def _indexed(self, task: str, i: int, index: Optional[str]) -> "TaskRun":
        c = self.run.client
        c._assert_task(task)
        values = {index: i} if index is not None and index in c._compiled.value_names[task] else None
        t = self.run._begin(task, self._n, values, None)
        t.index = i
        return t


class _Loop:
    """The iterator behind ``epochs`` and ``batches``."""

    def __init__(self, parent: TaskRun, task: str, items: Iterable[Any], index: Optional[str], pairs: bool, start: int):
        c = parent.run.client
        c._assert_task(task)
        self._parent = parent
        self._task = task
        self._it = iter(items)
        self._index = index if index is not None and index in c._compiled.value_names[task] else None
        self._pairs = pairs
        self._i = start
        self._current: Optional[TaskRun] = None
        self._begin = parent.run._begin
        if parent._loops is None:
            parent._loops = []
        parent._loops.append(self)

    def __iter__(self) -> "_Loop":
        return self

    def __next__(self) -> Any:
        cur = self._current
        if cur is not None:
            self._current = None
            cur.end()
        try:
            item = next(self._it)
        except BaseException:
            self._detach()
            raise
        i = self._i
        self._i = i + 1
        t = self._begin(self._task, self._parent._n, {self._index: i} if self._index else None, None)
        t.index = i
        self._current = t
        return (t, item) if self._pairs else t

    def close(self, status: str = "finished") -> None:
        """Ends the task run of the current iteration, if one is open."""
        cur = self._current
        self._current = None
        if cur is not None:
            cur.end(status=status)
        self._detach()

    def _detach(self) -> None:
        loops = self._parent._loops
        if loops is not None and self in loops:
            loops.remove(self)
