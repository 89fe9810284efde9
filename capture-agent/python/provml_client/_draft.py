"""Drafting a spec (``provml spec init``): a lenient run that records every name it sees and sends nothing.

With ``PROVML_SPEC_DRAFT=<file>`` in the environment, ``init`` returns a client that accepts every
task, value and data reference, sends nothing, and at shutdown (also at interpreter exit) appends
one JSON line to that file: the workflow, the spec it was given (when it could be read) and, per
task in first-seen order, its parent task and the names it saw on begin (inputs) and on end
(outputs), values with their JSON types and references apart. ``provml spec init`` turns the lines
into a spec (app/src/cli/specDraft.ts: semantics are guessed there, once, for both clients).
"""

import json
import os
import threading
from typing import Any, Dict, Mapping, Optional, Sequence

from ._capture import Client
from ._context import collect_execution_context
from ._processor import BatchProcessor
from ._spec import CompiledSpec, SpecError, SpecInput, compile_spec
from .transports import Transport

#: The environment variable naming the draft file (set by ``provml spec init``).
DRAFT_ENV = "PROVML_SPEC_DRAFT"
#: The workflow id for a draft whose spec file does not exist yet (``provml spec init --workflow``).
WORKFLOW_ENV = "PROVML_SPEC_WORKFLOW"


class _Everything(frozenset):  # type: ignore[type-arg]
    """Contains every name: the draft client declares whatever the script uses."""

    def __contains__(self, item: object) -> bool:
        return True


_ALL = _Everything()


class _AllNames(dict):  # type: ignore[type-arg]
    """Every task declares every name."""

    def __missing__(self, key: str) -> _Everything:
        return _ALL

    def get(self, key: Any, default: Any = None) -> _Everything:
        return _ALL


def json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float) or v in ("NaN", "Infinity", "-Infinity"):
        return "number"
    if isinstance(v, list):
        return "array"
    return "string"


class DraftRecorder(Transport):
    """A transport that keeps the names (and value types) of the events it is given, and writes them
    as one JSON line to the draft file when closed."""

    name = "draft"

    def __init__(self, path: str, workflow: str, spec: Optional[Dict[str, Any]]) -> None:
        self.path = path
        self.workflow = workflow
        self.spec = spec
        self.tasks: Dict[str, Dict[str, Any]] = {}
        self._task_of: Dict[str, str] = {}  # task execution id → task id
        self._lock = threading.Lock()
        self._closed = False

    def send(self, events: Sequence[str]) -> None:
        with self._lock:
            for text in events:
                self._record(json.loads(text))

    def _record(self, e: Mapping[str, Any]) -> None:
        task = e["task"]
        self._task_of[e["taskExecution"]] = task
        t = self.tasks.get(task)
        if t is None:
            parent = e.get("parentTaskExecution")
            t = self.tasks[task] = {
                "id": task,
                "parent": self._task_of.get(parent) if parent else None,
                "executions": 0,
                "inputs": {},
                "outputs": {},
            }
        begin = e["phase"] == "begin"
        if begin:
            t["executions"] += 1
        seen, other = (t["inputs"], t["outputs"]) if begin else (t["outputs"], t["inputs"])
        for name, v in (e.get("values") or {}).items():
            if name not in other:
                seen.setdefault(name, {"name": name, "kind": "value", "types": []})
                if json_type(v) not in seen[name]["types"]:
                    seen[name]["types"].append(json_type(v))
        for r in e.get("dataRefs") or []:
            if r["name"] not in other:
                seen.setdefault(r["name"], {"name": r["name"], "kind": "reference", "uri": r["uri"]})

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            line = {
                "workflow": self.workflow,
                "spec": self.spec,
                "tasks": [
                    dict(t, inputs=list(t["inputs"].values()), outputs=list(t["outputs"].values()))
                    for t in self.tasks.values()
                ],
            }
        # one line per client, appended whole: several processes (ranks, workers) may draft at once
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def draft_client(spec: SpecInput, path: str, env: Mapping[str, str], context: Optional[Mapping[str, str]]) -> Client:
    """The lenient client of a draft run: the spec when it can be read (its names are kept), else a
    workflow named by ``PROVML_SPEC_WORKFLOW``."""
    base: Optional[Dict[str, Any]]
    try:
        base = compile_spec(spec).spec
    except (OSError, SpecError):
        base = None
    workflow = base["workflow"] if base else env.get(WORKFLOW_ENV) or "workflow"
    compiled = CompiledSpec({"workflow": workflow, "phase": "learning", "tasks": []}, _AllNames(), _AllNames())
    compiled.tasks = _ALL  # type: ignore[misc]
    recorder = DraftRecorder(path, workflow, base)
    processor = BatchProcessor(recorder, batch_size=512, flush_interval=0.5)
    ctx = collect_execution_context(env)
    if context:
        ctx.update({str(k): str(v) for k, v in context.items()})
    return Client(compiled, processor, ctx)

