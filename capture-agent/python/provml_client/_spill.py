"""The spill spool: where an online client keeps the events its transport cannot take right now.

When the agent or the ingest is down (or behind), the client writes the batches here instead of
holding them in memory or waiting, and sends them from here, oldest first, once the transport
answers again. The directory is an ordinary spool of capture-agent/AGENT.md (the spec first, then
``{"event":…}`` envelopes; ``published`` is the first record not yet acknowledged by the receiver),
so what is left at exit can be drained by the next client given the same ``spill_dir`` or published
with ``provml replay``.

Not thread-safe: the processor calls it under its lock.
"""

import os
import shutil
import struct
import tempfile
import zlib
from typing import BinaryIO, List, Optional, Sequence, Tuple

from .spool import HEADER_BYTES, MAX_RECORD_BYTES, SpoolWriter

_HEADER = struct.Struct(">II")
_EVENT_PREFIX = b'{"event":'
#: Bytes read from a segment at a time while draining.
READ_CHUNK = 1 << 20


def default_spill_dir(workflow: str, tag: str) -> str:
    """A directory of this process's own: ``<tmp>/provml-spill/<workflow>-<pid>-<tag>``."""
    return os.path.join(tempfile.gettempdir(), "provml-spill", "%s-%d-%s" % (workflow, os.getpid(), tag))


class SpillSpool:
    """A spool directory written by the processor's export thread and drained by its sender."""

    def __init__(
        self,
        directory: str,
        spec_record: bytes,
        owned: bool,
        segment_bytes: int = 16 * 1024 * 1024,
        max_bytes: int = 1024 * 1024 * 1024,
        full_policy: str = "reject",
        fsync: str = "batch",
        fsync_interval: float = 0.2,
    ) -> None:
        #: The spool directory (created on the first spill, or at open).
        self.path = os.path.abspath(directory)
        #: True when the client made up the directory (removed once drained).
        self.owned = owned
        self._spec_record = spec_record
        self._options = dict(
            segment_bytes=segment_bytes, max_bytes=max_bytes, full_policy=full_policy, fsync=fsync, fsync_interval=fsync_interval
        )
        self._writer: Optional[SpoolWriter] = None
        self._file: Optional[BinaryIO] = None
        self._file_path = ""
        self._rseq = 0  # sequence number of the next record to read
        self._roff = 0  # its byte offset in the segment being read
        self._rseg = -1  # first sequence number of that segment
        self._dropped_seen = 0
        #: Events written and not yet acknowledged (drained, or dropped by the cap).
        self.unsent = 0
        #: Events found unsent in the directory when it was opened (an earlier process's).
        self.recovered = 0
        #: Events the ``drop-oldest`` cap deleted before they were sent.
        self.dropped = 0

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    @property
    def next_seq(self) -> int:
        """The sequence number the next record written gets."""
        return self._writer.next_seq if self._writer is not None else 0

    def open(self) -> None:
        """Takes the LOCK (SpoolLockedError when a live process holds it), recovers, counts what an
        earlier process left unsent and writes the spec (specs are idempotent)."""
        if self._writer is not None:
            return
        os.makedirs(self.path, exist_ok=True)
        w = SpoolWriter(self.path, **self._options)  # type: ignore[arg-type]
        self._writer = w
        self._rseq = w.published
        self._rseg = -1
        self._dropped_seen = w.dropped
        left = self._count_events_from(self._rseq)
        self.recovered += left
        self.unsent += left
        w.append([self._spec_record])

    def set_spec(self, spec_record: bytes) -> None:
        """A later version of the spec (names declared at run time): written now when the spool is
        open, so that it comes before the events that use them, and at the head of a later open."""
        self._spec_record = spec_record
        if self._writer is not None:
            self._writer.append([spec_record])

    def _count_events_from(self, seq: int) -> int:
        n = 0
        for first, path, size in self._writer.segments:  # type: ignore[union-attr]
            if size == 0:
                continue
            with open(path, "rb") as f:
                data = f.read(size)
            pos, s = 0, first
            while pos + HEADER_BYTES <= len(data):
                length, _ = _HEADER.unpack_from(data, pos)
                if s >= seq and data.startswith(_EVENT_PREFIX, pos + HEADER_BYTES):
                    n += 1
                pos += HEADER_BYTES + length
                s += 1
        return n

    def write(self, texts: Sequence[str]) -> None:
        """Appends events (all, or none with a SpoolError: full under ``reject``, too large, disk)."""
        if self._writer is None:
            self.open()
        w = self._writer
        w.append([('{"event":%s}' % t).encode("utf-8") for t in texts])  # type: ignore[union-attr]
        self.unsent += len(texts)
        if w.dropped != self._dropped_seen:  # type: ignore[union-attr]
            # drop-oldest deleted unsent segments: what they held is lost, reading goes on after them
            lost = w.dropped - self._dropped_seen  # type: ignore[union-attr]
            self._dropped_seen = w.dropped  # type: ignore[union-attr]
            lost = min(lost, self.unsent - len(texts))
            self.dropped += lost
            self.unsent -= lost
            if self._rseq < w.published:  # type: ignore[union-attr]
                self._close_reader()
                self._rseq = w.published  # type: ignore[union-attr]
                self._rseg = -1

    def read(self, max_events: int, max_bytes: int = 4 * 1024 * 1024) -> Tuple[List[str], int]:
        """The next unsent events (their JSON texts, oldest first; other envelopes are passed over)
        and the sequence number after the last record read (to ``ack`` once they are delivered)."""
        w = self._writer
        out: List[str] = []
        if w is None:
            return out, self._rseq
        total = 0
        while len(out) < max_events and total < max_bytes and self._rseq < w.next_seq:
            if not self._position(w):
                break
            size = self._segment_size(w)
            if self._roff >= size:  # this segment is read: the next one starts at _rseq
                self._close_reader()
                self._rseg = -1
                continue
            self._file.seek(self._roff)  # type: ignore[union-attr]
            data = self._file.read(min(READ_CHUNK, size - self._roff))  # type: ignore[union-attr]
            pos = 0
            while pos + HEADER_BYTES <= len(data) and len(out) < max_events and total < max_bytes:
                length, crc = _HEADER.unpack_from(data, pos)
                if length < 1 or length > MAX_RECORD_BYTES:
                    raise ValueError("spill spool %s: bad record length at %d" % (self._file_path, self._roff + pos))
                if pos + HEADER_BYTES + length > len(data):
                    if pos == 0 and len(data) == min(READ_CHUNK, size - self._roff) < HEADER_BYTES + length:
                        # one record larger than the chunk: read it whole
                        self._file.seek(self._roff)  # type: ignore[union-attr]
                        data = self._file.read(HEADER_BYTES + length)  # type: ignore[union-attr]
                        if len(data) < HEADER_BYTES + length:
                            raise ValueError("spill spool %s: truncated at %d" % (self._file_path, self._roff))
                        continue
                    break
                payload = data[pos + HEADER_BYTES : pos + HEADER_BYTES + length]
                if zlib.crc32(payload) & 0xFFFFFFFF != crc:
                    raise ValueError("spill spool %s: CRC mismatch at %d" % (self._file_path, self._roff + pos))
                if payload.startswith(_EVENT_PREFIX) and payload.endswith(b"}"):
                    text = payload[len(_EVENT_PREFIX) : -1].decode("utf-8")
                    out.append(text)
                    total += len(text)
                pos += HEADER_BYTES + length
                self._rseq += 1
            self._roff += pos
            if pos == 0:
                break
        return out, self._rseq

    def _position(self, w: SpoolWriter) -> bool:
        """Opens the segment holding record ``_rseq`` (skipping records before it)."""
        if self._rseg >= 0 and self._file is not None:
            return True
        segments = w.segments
        k = 0
        for i, (first, _, _) in enumerate(segments):
            if first <= self._rseq:
                k = i
        if not segments:
            return False
        first, path, size = segments[k]
        self._close_reader()
        self._file = open(path, "rb")
        self._file_path = path
        self._rseg = first
        self._roff = 0
        s = first
        if s < self._rseq:  # skip to _rseq
            data = self._file.read(size)
            pos = 0
            while s < self._rseq and pos + HEADER_BYTES <= len(data):
                length, _ = _HEADER.unpack_from(data, pos)
                pos += HEADER_BYTES + length
                s += 1
            self._roff = pos
            if s < self._rseq:  # records missing (a corrupt tail moved away): go on after them
                self._rseq = s
        return True

    def _segment_size(self, w: SpoolWriter) -> int:
        for first, _, size in w.segments:
            if first == self._rseg:
                return size
        return 0

    def skip_unreadable(self) -> int:
        """After a read error (a segment truncated or damaged behind the writer's back): reading goes
        on after the last record written; returns how many unsent events are given up."""
        lost = self.unsent
        self.unsent = 0
        self._close_reader()
        self._rseg = -1
        if self._writer is not None:
            self._writer.start_segment()  # what comes next is written, and read, from a fresh file
            self._rseq = self._writer.next_seq
            self._writer.mark_published(self._rseq)
        return lost

    def ack(self, seq: int, events: int) -> None:
        """The records before ``seq`` (``events`` of them events) were delivered or rejected."""
        if self._writer is not None:
            self._writer.mark_published(seq)
        self.unsent = max(0, self.unsent - events)

    def _close_reader(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
        self._file = None

    def close(self) -> None:
        """Closes the files and releases the LOCK; a drained spool is removed (the directory when
        the client made it up, else its segments and cursor)."""
        self._close_reader()
        w = self._writer
        if w is None:
            return
        self._writer = None
        drained = self.unsent == 0  # every event sent (a spec record may be left: specs are idempotent)
        w.close()
        if not drained:
            return
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(self.path))  # <tmp>/provml-spill, when it is empty
            except OSError:
                pass
            return
        for _, path, _ in w.segments:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        try:
            os.unlink(os.path.join(self.path, "published"))
        except FileNotFoundError:
            pass
