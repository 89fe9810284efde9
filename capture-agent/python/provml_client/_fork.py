"""Events captured in a forked child process (a DataLoader worker), counted where the parent sees them.

A forked child has none of its parent's background threads, and writing into the parent's
connections or spool from a second process would corrupt them, so the child's capture calls drop
their events. Each drop is written as a 4-byte count to a pipe the parent created before the fork
(writes of at most PIPE_BUF bytes are atomic, so children never interleave); the parent adds what
it reads to ``Stats.dropped`` (and ``Stats.child_dropped``) and reports it. Both ends are
non-blocking: a child never waits for its parent, and a count that does not fit in a full pipe is
carried over to the child's next write.

The pipe is made lazily, in the parent just before its first fork (``os.register_at_fork``): a client
whose process never forks has none, and its background thread reads nothing (issue #21: a read of an
empty pipe per batch, raising ``BlockingIOError``, cost about 40 µs of CPU per batch). Once a fork has
happened, the export thread reads it at most every ``CHECK_INTERVAL`` s; ``stats``, ``flush`` and
``shutdown`` read it at once.
"""

import os
import struct
import threading
import weakref
from typing import Any, Optional

_COUNT = struct.Struct("<I")
_READ_BYTES = 65536  # a multiple of the message size
#: Seconds between two reads of the pipe by the export thread, once a fork happened.
CHECK_INTERVAL = 0.25


class ForkedDrops:
    """The pipe between a client's process and the processes forked from it."""

    def __init__(self) -> None:
        self._r: Optional[int] = None
        self._w: Optional[int] = None
        self._closed = False
        self._lock = threading.Lock()
        self._rest = b""
        self._pending = 0  # in a child: drops not written yet (the pipe was full)
        #: In the parent: events the children reported dropped so far.
        self.count = 0

    @property
    def active(self) -> bool:
        """Whether the pipe exists (this process forked since the client started)."""
        return self._r is not None

    def before_fork(self) -> None:
        """In the parent, just before a fork: makes the pipe the first time."""
        if self._r is not None or self._closed:
            return
        try:
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            self._r, self._w = r, w
        except (OSError, AttributeError):  # no pipes (or no os.set_blocking): children drop uncounted
            pass

    def after_fork_in_child(self) -> None:
        """In the child: a fresh lock (the parent's may have been held by another thread)."""
        self._lock = threading.Lock()
        self._pending = 0
        self._rest = b""
        self.count = 0

    def child_dropped(self, n: int = 1) -> None:
        """In a child: tells the parent about ``n`` more dropped events (never blocks)."""
        w = self._w
        if w is None:
            return
        self._pending += n
        try:
            os.write(w, _COUNT.pack(min(self._pending, 0xFFFFFFFF)))
            self._pending = 0
        except OSError:  # full (EAGAIN), or the parent closed it: kept for the next write
            pass

    def collect(self) -> int:
        """In the parent: reads what the children wrote; returns how many drops were new."""
        r = self._r
        if r is None:
            return 0
        new = 0
        with self._lock:
            while True:
                try:
                    data = os.read(r, _READ_BYTES)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if not data:
                    break
                data = self._rest + data
                whole = len(data) - len(data) % _COUNT.size
                for (n,) in _COUNT.iter_unpack(data[:whole]):
                    new += n
                self._rest = data[whole:]
            self.count += new
        return new

    def close(self) -> None:
        """In the parent, after a last ``collect``: children forked later drop uncounted."""
        with self._lock:
            self._closed = True
            for fd in (self._r, self._w):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._r = self._w = None


#: Every live processor of this process, whatever its atexit registration: after a fork, the child's
#: copies must know they are in a child.
_processors: "weakref.WeakSet[Any]" = weakref.WeakSet()


def track(processor: Any) -> None:
    """Registers a processor whose ``_forked()`` runs in forked children."""
    _processors.add(processor)


def _before_fork() -> None:
    for p in list(_processors):
        p._forks.before_fork()


def _after_fork_in_child() -> None:
    for p in list(_processors):
        p._forked()
    _processors.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
