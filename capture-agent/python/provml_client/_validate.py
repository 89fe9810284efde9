"""Names and values checked at the capture call, against the spec and the event contract.

A name the spec does not declare for the task (a typo in a metric name), a value the contract does
not allow (an object, a NaN inside an array, a string over 65,536 characters) or a data reference
that is not an absolute URI is dealt with at the call that used it:

- by default (``strict=False``) it is dropped, counted (``Stats.undeclared`` / ``Stats.invalid``)
  and reported once per name to the error handler; the rest of the call goes through, so the ingest
  never refuses an event for it and the correctly named values in that event are kept;
- with ``strict=True`` the call raises ``ValueError`` / ``TypeError`` there.
"""

import math
import re
import threading
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from ._digest import DIGEST, file_digest
from ._errors import CaptureError
from ._spec import CompiledSpec

#: Data references: ``{name: uri}``, or a list of ``{"name", "uri", "store"?, "digest"?}`` dicts or
#: ``(name, uri[, store[, digest]])`` tuples; ``digest`` is ``sha256:<64 hex>`` or True (computed
#: from the local file a ``file:`` URI names).
DataRefsInput = Union[Mapping[str, str], Sequence[Any]]

MAX_STRING = 65536
MAX_ARRAY = 100000
EMPTY_VALUES: Dict[str, Any] = {}
EMPTY_REFS: List[Dict[str, Any]] = []
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_BAD_IRI = re.compile(r'[\s<>"{}|\\^`\x00-\x1f]')


class Undeclared(ValueError):
    """A name the spec does not declare (raised in strict mode; reported as ``undeclared`` otherwise)."""


def nonfinite(v: float) -> str:
    # NaN and infinities are not JSON numbers: a diverged loss is kept as a string, not an error
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


def coerce(name: str, v: Any) -> Any:
    """Values of other types: sequences, numpy/torch scalars and arrays (anything with tolist/__float__)."""
    if hasattr(v, "tolist") and not isinstance(v, (list, tuple)):
        v = v.tolist()  # numpy and torch: scalars give numbers, arrays give lists
        if isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else nonfinite(v)
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
        if len(v) > MAX_STRING:
            raise ValueError("value '%s': strings are limited to %d characters" % (name, MAX_STRING))
        return str(v)
    if hasattr(v, "__index__"):
        return int(v.__index__())
    if isinstance(v, (int, float)) or hasattr(v, "__float__"):
        f = float(v)
        return f if math.isfinite(f) else nonfinite(f)
    raise TypeError(
        "value '%s' must be a bool, a number, a string or a list of numbers, not %s" % (name, type(v).__name__)
    )


class Checker:
    """Checks capture calls against a compiled spec; counts and reports (once per name) what it drops."""

    def __init__(self, compiled: CompiledSpec, strict: bool, report: Callable[[CaptureError], None]) -> None:
        self.compiled = compiled
        self.strict = strict
        self._report = report
        self._seen: Set[Tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        #: Values, data references and task runs dropped because the spec does not declare their name.
        self.undeclared = 0
        #: Values and data references dropped because the contract does not allow them.
        self.invalid = 0

    # -- what happens to a mistake ------------------------------------------------------------

    def _mistake(self, kind: str, task: str, name: str, error: Exception, strict: Optional[bool], quiet: bool) -> None:
        """Raises ``error`` in strict mode; else counts it and reports it the first time for this name."""
        if self.strict if strict is None else strict:
            raise error
        with self._lock:
            if kind == "undeclared":
                self.undeclared += 1
            else:
                self.invalid += 1
            key = (kind, task, name)
            first = key not in self._seen
            if first and len(self._seen) < 10000:
                self._seen.add(key)
        if first and not quiet:
            self._report(
                CaptureError(kind, "%s: dropped (strict=False; later uses of '%s' in task '%s' are dropped and counted without a report)" % (error, name, task), 1, error)
            )

    def drop(self, kind: str, task: str, name: str, error: Exception) -> None:
        """Counts and reports a mistake the caller already dealt with (raised, in strict mode)."""
        self._mistake(kind, task, name, error, False, True)

    # -- tasks ----------------------------------------------------------------------------------

    def task(self, task: str, strict: Optional[bool] = None) -> bool:
        """Whether the spec declares ``task``; in strict mode an undeclared one raises."""
        if task in self.compiled.tasks:
            return True
        c = self.compiled
        self._mistake(
            "undeclared",
            task,
            task,
            Undeclared("unknown task '%s' in workflow '%s' (declared tasks: %s)" % (task, c.workflow, ", ".join(sorted(c.tasks)))),
            strict,
            False,
        )
        return False

    # -- values ---------------------------------------------------------------------------------

    def _undeclared_value(self, task: str, name: Any) -> Exception:
        c = self.compiled
        if name in c.ref_names[task]:
            return Undeclared("'%s' of task '%s' is a reference: pass it in data_refs" % (name, task))
        return Undeclared(
            "value '%s' is not declared by task '%s' of workflow '%s' (declared: %s)"
            % (name, task, c.workflow, ", ".join(sorted(c.value_names[task])) or "none")
        )

    def value(self, task: str, name: str, v: Any, strict: Optional[bool] = None) -> Tuple[bool, Any]:
        """(True, the value as sent) or, when it is dropped, (False, None)."""
        if name not in self.compiled.value_names[task]:
            self._mistake("undeclared", task, str(name), self._undeclared_value(task, name), strict, False)
            return False, None
        t = type(v)
        if t is float:
            if v - v != 0.0:  # NaN or an infinity
                v = nonfinite(v)
            return True, v
        if t is int or t is bool:
            return True, v
        if t is str and len(v) <= MAX_STRING:
            return True, v
        try:
            return True, coerce(name, v)
        except (TypeError, ValueError) as e:
            self._mistake("invalid", task, name, e, strict, False)
            return False, None

    def values(
        self, task: str, values: Optional[Mapping[str, Any]], strict: Optional[bool] = None, quiet: bool = False
    ) -> Dict[str, Any]:
        """A checked copy of ``values`` (the caller may reuse its dict), without what is dropped."""
        if not values:
            return EMPTY_VALUES
        allowed = self.compiled.value_names[task]
        out = {}
        for k, v in values.items():
            if k not in allowed:
                self._mistake("undeclared", task, str(k), self._undeclared_value(task, k), strict, quiet)
                continue
            t = type(v)
            if t is float:
                if v - v != 0.0:  # NaN or an infinity
                    v = nonfinite(v)
            elif t is int or t is bool:
                pass
            elif t is not str or len(v) > MAX_STRING:
                try:
                    v = coerce(k, v)
                except (TypeError, ValueError) as e:
                    self._mistake("invalid", task, k, e, strict, quiet)
                    continue
            out[k] = v
        return out

    # -- data references ------------------------------------------------------------------------

    def refs(
        self, task: str, refs: Optional[DataRefsInput], strict: Optional[bool] = None, quiet: bool = False
    ) -> List[Dict[str, Any]]:
        """Checked data references as the event carries them, without what is dropped."""
        if not refs:
            return EMPTY_REFS
        if isinstance(refs, Mapping):
            items: Iterable[Any] = [(n, u, None) for n, u in refs.items()]
        else:
            items = refs
        c = self.compiled
        out = []
        for r in items:
            if isinstance(r, Mapping):
                name, uri, store, digest = r.get("name"), r.get("uri"), r.get("store"), r.get("digest")
            else:
                try:
                    r = tuple(r)
                    name, uri = r[0], r[1]
                    store = r[2] if len(r) > 2 else None
                    digest = r[3] if len(r) > 3 else None
                except (TypeError, IndexError):
                    name, uri, store, digest = None, None, None, None
            if not isinstance(name, str) or not isinstance(uri, str):
                self._mistake(
                    "invalid", task, str(name), TypeError("a data reference needs a name and a uri (strings), got %r" % (r,)), strict, quiet
                )
                continue
            if name not in c.ref_names[task]:
                if name in c.value_names[task]:
                    e: Exception = Undeclared("'%s' of task '%s' is a value, not a reference: pass it in values" % (name, task))
                else:
                    e = Undeclared(
                        "data reference '%s' is not declared by task '%s' (declared: %s)"
                        % (name, task, ", ".join(sorted(c.ref_names[task])) or "none")
                    )
                self._mistake("undeclared", task, name, e, strict, quiet)
                continue
            if not _SCHEME.match(uri) or _BAD_IRI.search(uri) or len(uri) > 8192:
                self._mistake(
                    "invalid",
                    task,
                    name,
                    ValueError("data reference '%s': %r is not an absolute URI (scheme, no spaces or <>\"{}|\\^`)" % (name, uri)),
                    strict,
                    quiet,
                )
                continue
            if store is not None and (not isinstance(store, str) or not store):
                self._mistake(
                    "invalid", task, name, ValueError("data reference '%s': store must be a non-empty string or None" % name), strict, quiet
                )
                continue
            ref = {"name": name, "uri": uri, "store": store}
            if digest is not None:
                d = self._digest(task, name, uri, digest, strict, quiet)
                if d is not None:
                    ref["digest"] = d
            out.append(ref)
        return out

    def _digest(self, task: str, name: str, uri: str, digest: Any, strict: Optional[bool], quiet: bool) -> Optional[str]:
        """The digest to send (``digest=True``: computed from the file), or None when it cannot be had:
        an ``invalid`` mistake that costs only the digest (the reference is sent without it)."""
        if digest is True:
            try:
                return file_digest(uri)
            except (OSError, ValueError) as e:
                why = "its digest cannot be computed: %s" % e
        elif isinstance(digest, str) and DIGEST.match(digest):
            return digest
        else:
            why = "digest must be True or sha256: and 64 lowercase hex digits, not %r" % (digest,)
        self._mistake("invalid", task, name, ValueError("data reference '%s': %s" % (name, why)), strict, quiet)
        return None
