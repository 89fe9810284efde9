"""The JSON text of capture events, built on the background thread from what the capture calls queue."""

from typing import Any, Callable, Dict

_INF = float("inf")
#: JSON text of value names seen (bounded): a batch's loss is encoded without the json module's per-call setup.
_KEY_JSON: Dict[str, str] = {}


def encode_values(values: Dict[str, Any], encode: Callable[[Any], str]) -> str:
    """``encode(values)``, with a fast path for the common case of a few numbers (a loss, an epoch):
    the same text as the json encoder (``float.__repr__``, ``int.__repr__``); anything else, NaN and
    infinities included (which the encoder refuses), goes through ``encode``."""
    parts = []
    for k, v in values.items():
        t = type(v)
        if t is float:
            if v != v or v == _INF or v == -_INF:
                return encode(values)
            text = float.__repr__(v)
        elif t is int:
            text = int.__repr__(v)
        else:
            return encode(values)
        kj = _KEY_JSON.get(k)
        if kj is None:
            if type(k) is not str:
                return encode(values)
            kj = encode(k)
            if len(_KEY_JSON) < 4096:
                _KEY_JSON[k] = kj
        parts.append(kj + ":" + text)
    return "{" + ",".join(parts) + "}"


def encode_event(e: Any, encode: Callable[[Any], str]) -> str:
    """The JSON text of an event as the capture calls queue it (see WorkflowRun._begin, TaskRun.end):
    (run, event number, task, task execution number, parent number or None, phase, time in ns,
    values, data references, status)."""
    run, eid, task, te, parent, phase, t_ns, values, refs, status = e
    return run._template % (
        eid,
        task,
        te,
        "null" if parent is None else run._parent_template % parent,
        phase,
        t_ns // 1000,
        encode_values(values, encode) if values else "{}",
        encode(refs) if refs else "[]",
        "null" if status is None else '"%s"' % status,
        run._context_json if parent is None and phase == "begin" else "{}",
    )
