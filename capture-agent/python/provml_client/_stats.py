"""What the client tells about delivery: the queue's counters and the result of flush and shutdown."""

from typing import Any, Dict, Optional


class Stats:
    """Counters of the capture queue (a snapshot; read with ``Client.stats``). Events, unless noted:

    - ``enqueued``: captured and queued; ``exported``: accepted by the transport (directly or drained
      from the spill spool; in the offline settings C and F: written to their spool);
    - ``dropped``: lost before any delivery attempt: the queue was full (``overflow="drop"``), the
      client was shut down, they were captured in a forked child process (``child_dropped``, counted
      here too), or the spill spool's ``drop-oldest`` cap deleted them;
    - ``rejected``: refused for good by the receiver (or not encodable);
    - ``failed``: given up after delivery attempts: without a spill spool (the offline settings, or
      ``spill=False``), after ``retry_deadline`` or shutdown's timeout; with one, when it could not be
      written (full under ``reject``, disk error);
    - ``spilled``: written to the spill spool because the transport was down or behind (cumulative);
      ``spooled``: of those, not yet delivered (nor rejected or dropped) now; ``recovered``: found
      unsent in an explicit ``spill_dir`` at ``init`` (an earlier process's), sent first and counted
      in ``exported`` when delivered;
    - ``undeclared`` and ``invalid``: values, data references and task runs dropped at the capture
      call (not events): their name is not in the spec, or their value is not one the contract
      allows; each kind of mistake is reported once per name;
    - ``blocked``: capture calls that waited for room (``overflow="block"``); ``batches``, ``retries``
      (failed delivery attempts), ``queue_depth``, ``last_export_ms``.
    """

    __slots__ = (
        "enqueued",
        "exported",
        "dropped",
        "rejected",
        "failed",
        "spilled",
        "spooled",
        "recovered",
        "undeclared",
        "invalid",
        "child_dropped",
        "blocked",
        "batches",
        "retries",
        "queue_depth",
        "last_export_ms",
    )

    enqueued: int
    exported: int
    dropped: int
    rejected: int
    failed: int
    spilled: int
    spooled: int
    recovered: int
    undeclared: int
    invalid: int
    child_dropped: int
    blocked: int
    batches: int
    retries: int
    queue_depth: int
    last_export_ms: float

    def __init__(self, **kw: Any) -> None:
        for k in self.__slots__:
            setattr(self, k, kw.get(k, 0))

    def as_dict(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return "Stats(%s)" % ", ".join("%s=%r" % kv for kv in self.as_dict().items())


class DeliveryResult:
    """What ``flush()`` and ``shutdown()`` return: counts since ``init`` (events, unless noted).

    - ``delivered``: accepted by the transport (the offline settings: written to their spool);
    - ``rejected``: refused for good by the receiver;
    - ``dropped``: lost: ``Stats.dropped`` + ``Stats.failed`` (queue full, after shutdown, in a
      forked child, spool cap or write errors, given up without a spill spool);
    - ``spooled``: kept in the spill spool ``spool_path``, not delivered yet: drained when the
      transport is back, by the next client with ``spill_dir=spool_path``, or with ``provml replay``;
    - ``spool_path``: that spill spool's directory while it holds events (else None); in the
      offline settings C and F, their spool, where ``delivered`` events were written;
    - ``pending``: still in memory when the call returned (a flush that timed out, or one that
      returned because the transport is down and there is no spill spool);
    - ``undeclared``, ``invalid``: values, data references and task runs dropped at the capture call;
    - ``timed_out``: the call returned because its timeout passed.

    True (``ok``) when everything captured was delivered: nothing rejected, dropped, spooled,
    pending, undeclared or invalid.
    """

    __slots__ = (
        "delivered",
        "rejected",
        "dropped",
        "spooled",
        "spool_path",
        "pending",
        "undeclared",
        "invalid",
        "timed_out",
    )

    def __init__(
        self,
        delivered: int = 0,
        rejected: int = 0,
        dropped: int = 0,
        spooled: int = 0,
        spool_path: Optional[str] = None,
        pending: int = 0,
        undeclared: int = 0,
        invalid: int = 0,
        timed_out: bool = False,
    ) -> None:
        self.delivered = delivered
        self.rejected = rejected
        self.dropped = dropped
        self.spooled = spooled
        self.spool_path = spool_path
        self.pending = pending
        self.undeclared = undeclared
        self.invalid = invalid
        self.timed_out = timed_out

    @property
    def ok(self) -> bool:
        """Everything captured was delivered, and nothing was lost on the way."""
        return not (
            self.rejected or self.dropped or self.spooled or self.pending or self.undeclared or self.invalid
        )

    @property
    def lost(self) -> int:
        """Events that will never be delivered: rejected + dropped."""
        return self.rejected + self.dropped

    def __bool__(self) -> bool:
        return self.ok

    def as_dict(self) -> Dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return "DeliveryResult(%s)" % ", ".join("%s=%r" % kv for kv in self.as_dict().items())
