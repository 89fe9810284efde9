"""Workflow runs and task runs: the capture calls a trainer makes. Mirrors capture-agent/src/Capture.ts."""

import itertools
import json
import os
import threading
import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from ._distributed import Distributed
from ._processor import BatchProcessor
from ._spec import INPUT_SEMANTICS, SEMANTICS, CompiledSpec, SpecError, compile_spec
from ._stats import DeliveryResult, Stats
from ._validate import EMPTY_REFS as _EMPTY_REFS
from ._validate import EMPTY_VALUES as _EMPTY_VALUES
from ._validate import Checker, DataRefsInput, Undeclared

#: What a value may be: a boolean, a finite number, a string, or a list of finite numbers.
CaptureValue = Union[bool, int, float, str, Sequence[Union[int, float]]]

_time_ns = time.time_ns
_json_str = json.JSONEncoder(ensure_ascii=False).encode
_json_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def now_micros() -> int:
    """Microseconds since the Unix epoch."""
    return _time_ns() // 1000


class Client:
    """A capture session for one workflow spec. Create with ``provml_client.init``."""

    def __init__(
        self,
        compiled: CompiledSpec,
        processor: BatchProcessor,
        context: Dict[str, str],
        strict: bool = False,
        setting: Optional[str] = None,
        shutdown_timeout: float = 5.0,
        distributed: Optional[Distributed] = None,
        silent: bool = False,
    ) -> None:
        self._compiled = compiled
        self._processor = processor
        #: Execution context attached to top-level task begins.
        self.context = dict(context)
        #: Names and values are checked at the capture call: mistakes raise there with ``strict``,
        #: else they are dropped, counted (``stats.undeclared``, ``stats.invalid``) and reported once.
        self.strict = strict
        self._check = Checker(compiled, strict, processor._report)
        processor.mistakes = self._check
        #: The capture setting (A–F) this client was created with, when one applies.
        self.setting = setting
        self.shutdown_timeout = shutdown_timeout
        self._prefix = os.urandom(6).hex()  # as secrets.token_hex(6), without importing secrets (hmac, hashlib)
        self._counter = itertools.count()
        self._pid = os.getpid()
        #: The distributed job this process is a rank of (None outside one): its workflow executions
        #: are the job's, named alike by every rank, and its context carries the rank.
        self.distributed = distributed
        #: True on a rank other than 0 with ``capture_ranks="zero"``: its capture calls send nothing.
        self.silent = silent
        self._executions = 0
        self._declaring = threading.Lock()

    @property
    def workflow(self) -> str:
        """The workflow id of the spec."""
        return self._compiled.workflow

    @property
    def spec(self) -> Dict[str, Any]:
        return self._compiled.spec

    @property
    def stats(self) -> Stats:
        """Counters of the capture (enqueued, exported, dropped, rejected, failed, spilled, spooled,
        undeclared, invalid, …)."""
        return self._processor.stats

    @property
    def transport(self) -> Any:
        return self._processor.transport

    def declared(self, task: str, name: str) -> bool:
        """Whether the spec (as extended so far) declares ``name`` for ``task``."""
        c = self._compiled
        return task in c.tasks and (name in c.value_names[task] or name in c.ref_names[task])

    def declare(self, task: str, names: Mapping[str, str], io: Optional[str] = None) -> bool:
        """Extends the spec at run time: declares each ``{name: semantics}`` of ``names`` for
        ``task`` (a task the spec declares) that it does not declare yet; True when it changed.

        The new spec version is a superset of the one before. The transport sends it before the
        next batch (``POST /v1/workflows``, a spec envelope on the agent's socket, a spec record in
        the spool and in the spill spool), so it reaches the ingest and the processor before any
        event that uses a name it added: call ``declare`` before capturing values with those names.
        A name is an input (``io="inputs"``) or an output (``"outputs"``); by default hyperparameters,
        parameters, dataset references and characteristics are inputs, the rest outputs. A name
        declared already is left as the spec declares it. Raises ``SpecError`` for a name that is
        not an identifier (letters, digits and ``. _ ~ : -``) or a semantics not in the contract.
        """
        if all(self.declared(task, n) for n in names):
            return False
        with self._declaring:
            c = self._compiled
            if task not in c.tasks:
                raise SpecError("cannot declare names for task '%s': the spec does not declare it" % task, [])
            new = [(n, sem) for n, sem in names.items() if n not in c.value_names[task] and n not in c.ref_names[task]]
            if not new:
                return False
            spec = json.loads(json.dumps(c.spec))
            entry = next(t for t in spec["tasks"] if t.get("id") == task)
            for n, sem in new:
                if sem not in SEMANTICS:
                    raise SpecError("invalid semantics for '%s'" % n, [(n, "one of %s" % ", ".join(sorted(SEMANTICS)))])
                side = io or ("inputs" if sem in INPUT_SEMANTICS else "outputs")
                if side not in ("inputs", "outputs"):
                    raise ValueError("io must be 'inputs' or 'outputs', got %r" % io)
                entry.setdefault(side, []).append({"name": n, "semantics": sem})
            compiled = compile_spec(spec)
            self._compiled = compiled
            self._check.compiled = compiled
            self._processor.set_spec(compiled.spec)
            return True

    def workflow_execution(self, id: Optional[str] = None) -> "WorkflowRun":
        """Starts a workflow execution; ``id`` defaults to ``<workflow>-<time>-<random>``, or, in a
        distributed job, to the job's: ``<workflow>-<launcher>-<job id>`` (``-2``, ``-3``, … for the
        second and later executions of the process), the same on every rank."""
        n = self._executions
        self._executions = n + 1
        if id is None and self.distributed is not None:
            id = self.distributed.workflow_execution(self.workflow, n)
        if id is None:
            id = "%s-%s-%s%x" % (self.workflow, _base36(int(time.time() * 1000)), self._prefix, next(self._counter))
        return WorkflowRun(self, id)

    def flush(self, timeout: Optional[float] = None) -> DeliveryResult:
        """Waits until everything captured so far is delivered, or the transport proved down (the
        events are then in the spill spool), or ``timeout`` s (default ``shutdown_timeout``) passed.
        Returns the delivery counts; true when everything captured so far was delivered."""
        return self._processor.flush(self.shutdown_timeout if timeout is None else timeout)

    def shutdown(self, timeout: Optional[float] = None) -> DeliveryResult:
        """Delivers what is queued for at most ``timeout`` s (default ``shutdown_timeout``, 5 s),
        leaves what the transport did not take in the spill spool, stops the background threads and
        closes the transport. Idempotent; also run at interpreter exit. Returns the delivery counts
        (delivered, rejected, dropped, spooled, spool_path, …): false when anything was rejected,
        dropped or not delivered yet."""
        return self._processor.shutdown(self.shutdown_timeout if timeout is None else timeout)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    # -- internal -----------------------------------------------------------------------------

    def _next_id(self, kind: str) -> str:
        return "%s.%s%x" % (self._prefix, kind, next(self._counter))


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
        if c.silent:
            return self._void(task, parent)
        if task not in c._compiled.tasks:
            c._check.task(task)  # strict: raises; else reported once and counted
            return self._void(task, parent)
        te = next(self._counter)
        check = c._check
        # the event as the background thread's encoder reads it (_encode.encode_event)
        self._enqueue(
            (
                self,
                next(self._counter),
                task,
                te,
                parent,
                "begin",
                _time_ns(),
                check.values(task, values) if values else _EMPTY_VALUES,
                check.refs(task, data_refs) if data_refs else _EMPTY_REFS,
                None,
            )
        )
        return TaskRun(self, task, te, parent)

    def _void(self, task: str, parent: Optional[int]) -> "TaskRun":
        """A task run that sends nothing: its task (or an ancestor's) is not in the spec. Its calls,
        children and loops work as usual, so the training goes on."""
        t = TaskRun(self, task, next(self._counter), parent)
        t._void = True
        return t

    def _void_child(self, task: str, parent: int) -> "TaskRun":
        if self.client.silent:  # capture_ranks="zero" on another rank: nothing to report either
            return self._void(task, parent)
        if task in self.client._compiled.tasks:  # declared, under an undeclared parent: dropped too
            self.client._check.drop("undeclared", task, task, Undeclared("task '%s' runs under an undeclared task" % task))
        else:
            self.client._check.task(task, strict=False)
        return self._void(task, parent)


class TaskRun:
    """One execution of a task. Children with ``begin``/``task``, loops with ``epochs``/``batches``;
    ``end`` (or leaving its ``with`` block) closes it: failed when an exception left the block."""

    __slots__ = ("run", "task", "_n", "_parent", "index", "_ended", "_values", "_refs", "_loops", "_void")

    def __init__(self, run: WorkflowRun, task: str, n: int, parent: Optional[int]) -> None:
        self.run = run
        #: Task id from the spec.
        self.task = task
        self._n = n
        self._parent = parent
        #: The loop index, for task runs made by ``epochs``/``batches``/``epoch``/``batch``.
        self.index: Optional[int] = None
        self._ended = False
        self._values: Optional[Dict[str, Any]] = None  # checked already
        self._refs: Optional[List[Dict[str, Any]]] = None  # checked already
        self._loops: Optional[List["_Loop"]] = None
        self._void = False  # its task (or an ancestor's) is not in the spec: nothing is sent

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
        """Records a value for the end event (e.g. the loss, computed inside the block). The name and
        value are checked here: a name the spec does not declare is dropped and reported once (raises
        with ``strict``)."""
        if self._void:
            return self
        ok, v = self.run.client._check.value(self.task, name, value)
        if ok:
            if self._values is None:
                self._values = {}
            self._values[name] = v
        return self

    def update(self, values: Mapping[str, CaptureValue]) -> "TaskRun":
        """Records several values for the end event (checked here, as ``set``)."""
        if self._void or not values:
            return self
        checked = self.run.client._check.values(self.task, values)
        if self._values is None:
            self._values = dict(checked)
        else:
            self._values.update(checked)
        return self

    def add_data_ref(
        self, name: str, uri: str, store: Optional[str] = None, digest: Union[None, bool, str] = None
    ) -> "TaskRun":
        """Records a data reference for the end event (e.g. the model file written); checked here.
        ``digest``: its content digest (``sha256:<64 hex>``), or True to compute it now from the local
        file a ``file:`` URI names; one that cannot be had is dropped and counted (``invalid``)."""
        if self._void:
            return self
        refs = self.run.client._check.refs(self.task, [(name, uri, store, digest)])
        if refs:
            if self._refs is None:
                self._refs = []
            self._refs.extend(refs)
        return self

    def begin(
        self, task: str, values: Optional[Mapping[str, Any]] = None, data_refs: Optional[DataRefsInput] = None
    ) -> "TaskRun":
        """Begins a child task execution."""
        if self._void:
            return self.run._void_child(task, self._n)
        return self.run._begin(task, self._n, values, data_refs)

    def child(
        self, task: str, values: Optional[Mapping[str, Any]] = None, data_refs: Optional[DataRefsInput] = None
    ) -> "TaskRun":
        """Same as ``begin``; reads better as ``with training.child("validation") as v:``."""
        if self._void:
            return self.run._void_child(task, self._n)
        return self.run._begin(task, self._n, values, data_refs)

    def end(
        self,
        values: Optional[Mapping[str, Any]] = None,
        data_refs: Optional[DataRefsInput] = None,
        status: str = "finished",
    ) -> None:
        """Ends this task execution (a second call is ignored). Loops still open end first.

        ``values`` and ``data_refs`` are checked here. With ``strict``, a mistake in them raises
        ``ValueError``/``TypeError`` *after* the end event was queued (status ``failed``, with the
        valid values): a raise never leaves the task execution open.
        """
        if self._ended:
            return
        if status != "finished" and status != "failed":
            raise ValueError("status must be 'finished' or 'failed'")
        self._ended = True
        if self._loops:
            for loop in self._loops[::-1]:
                loop.close(status)
            self._loops = None
        run = self.run
        if self._void:
            if self._parent is None:
                run._open.pop(self._n, None)
            return
        check = run.client._check
        error: Optional[Exception] = None
        try:
            v = check.values(self.task, values) if values else _EMPTY_VALUES
            r = check.refs(self.task, data_refs) if data_refs else _EMPTY_REFS
        except (TypeError, ValueError) as e:  # strict: end it anyway, then raise
            error = e
            status = "failed"
            v = check.values(self.task, values, strict=False, quiet=True) if values else _EMPTY_VALUES
            r = check.refs(self.task, data_refs, strict=False, quiet=True) if data_refs else _EMPTY_REFS
        if self._values is not None:
            merged = dict(self._values)
            merged.update(v)
            v = merged
        if self._refs is not None:
            r = self._refs + r
        run._enqueue((run, next(run._counter), self.task, self._n, self._parent, "end", _time_ns(), v, r, status))
        if self._parent is None:
            run._open.pop(self._n, None)
        if error is not None:
            raise error

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
        names = c._compiled.value_names.get(task, ())
        t = self.begin(task, {index: i} if index is not None and index in names else None)
        t.index = i
        return t


class _Loop:
    """The iterator behind ``epochs`` and ``batches``."""

    def __init__(self, parent: TaskRun, task: str, items: Iterable[Any], index: Optional[str], pairs: bool, start: int):
        c = parent.run.client
        if task not in c._compiled.tasks and c.strict:
            c._check.task(task)  # raises; without strict each iteration's run is dropped and counted
        self._parent = parent
        self._task = task
        self._it = iter(items)
        self._index = index if index is not None and index in c._compiled.value_names.get(task, ()) else None
        self._pairs = pairs
        self._i = start
        self._current: Optional[TaskRun] = None
        run = parent.run
        self._begin: Any = (lambda task, n, values, refs: run._void_child(task, n)) if parent._void else run._begin
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
