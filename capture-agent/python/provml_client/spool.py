"""The spool format of capture-agent/AGENT.md: segment files of length+CRC-framed JSON envelopes.

``SpoolWriter`` is what the client uses in the offline settings (C and F) to write the spool itself,
and for its spill spool (events an online transport could not take, ``_spill.py``);
``read_spool`` and ``read_segment`` read one back (tests, tools). The ``published`` cursor belongs
to the publisher (``provml agent`` / ``provml replay``, or the client draining its spill spool
through ``mark_published``): the writer itself only moves it past segments the ``drop-oldest``
policy deleted (AGENT.md).

Segment files are written unbuffered (one ``write`` per batch): a process forked while a batch is
being written holds no copy of buffered bytes that it could flush into the file later. A batch is made
durable with one ``fdatasync`` (``fsync`` where the OS has none): the data and the file size, not the
times. ``frame_texts`` frames a batch of JSON texts in one pass (one UTF-8 encoding of the whole batch,
one CRC per record over a slice of it), ``SpoolWriter.append_framed`` writes it with one ``write``.
"""

import errno
import os
import shutil
import struct
import time
import zlib
from typing import Any, BinaryIO, Iterator, List, Optional, Sequence, Tuple

_HEADER = struct.Struct(">II")
_pack_header = _HEADER.pack
_crc32 = zlib.crc32
HEADER_BYTES = _HEADER.size
#: Makes a segment's data durable: its bytes and size (the times need no journal commit).
_datasync = getattr(os, "fdatasync", os.fsync)
#: Largest payload of one record (AGENT.md).
MAX_RECORD_BYTES = 1048576
DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
SEGMENT_SUFFIX = ".seg"
FSYNC_POLICIES = ("batch", "interval", "never")
FULL_POLICIES = ("reject", "drop-oldest")


class SpoolError(Exception):
    """A spool cannot be opened or written."""


class SpoolLockedError(SpoolError):
    """Another live process holds the spool's LOCK."""


class SpoolFullError(SpoolError):
    """The spool reached its cap under the ``reject`` policy; nothing of the batch was written."""


class RecordTooLargeError(SpoolError):
    """One payload is larger than MAX_RECORD_BYTES."""


def encode_record(payload: bytes) -> bytes:
    """One record: u32 BE length, u32 BE CRC-32 of the payload, the payload."""
    n = len(payload)
    if n < 1 or n > MAX_RECORD_BYTES:
        raise RecordTooLargeError("a record payload must be 1 … %d bytes, got %d" % (MAX_RECORD_BYTES, n))
    return _HEADER.pack(n, zlib.crc32(payload) & 0xFFFFFFFF) + payload


def frame_texts(texts: Sequence[str], prefix: str = "", suffix: str = "") -> Tuple[bytes, List[int]]:
    """The records of payloads ``prefix + text + suffix`` (UTF-8), framed back to back as
    ``encode_record`` frames each, and the size of each framed record. One encoding of the whole batch
    and one CRC per record over a slice of it when the batch is ASCII (the usual case: ids, numbers,
    names); record by record otherwise. Raises RecordTooLargeError (before anything is written) when a
    payload is out of range."""
    if not texts:
        return b"", []
    whole = prefix + (suffix + prefix).join(texts) + suffix
    data = whole.encode("utf-8")
    if len(data) != len(whole):  # non-ASCII somewhere: the character counts are not byte counts
        records = [encode_record((prefix + t + suffix).encode("utf-8")) for t in texts]
        return b"".join(records), [len(r) for r in records]
    extra = len(prefix) + len(suffix)
    view = memoryview(data)
    parts: List[Any] = []
    sizes: List[int] = []
    pos = 0
    for t in texts:
        n = len(t) + extra
        if n > MAX_RECORD_BYTES or n < 1:
            raise RecordTooLargeError("a record payload must be 1 … %d bytes, got %d" % (MAX_RECORD_BYTES, n))
        payload = view[pos : pos + n]
        parts.append(_pack_header(n, _crc32(payload)))
        parts.append(payload)
        sizes.append(n + HEADER_BYTES)
        pos += n
    return b"".join(parts), sizes


def segment_name(seq: int) -> str:
    """The file name of the segment whose first record has sequence number ``seq``."""
    return "%020d%s" % (seq, SEGMENT_SUFFIX)


def scan_segment(data: bytes) -> Tuple[List[bytes], int]:
    """The valid records at the start of ``data`` and the byte offset where they end.

    Stops at the first record whose length is out of range or runs past the end, or whose CRC
    does not match: nothing after a bad record can be trusted.
    """
    out: List[bytes] = []
    pos, end = 0, len(data)
    while pos + HEADER_BYTES <= end:
        n, crc = _HEADER.unpack_from(data, pos)
        if n < 1 or n > MAX_RECORD_BYTES or pos + HEADER_BYTES + n > end:
            break
        payload = data[pos + HEADER_BYTES : pos + HEADER_BYTES + n]
        if zlib.crc32(payload) & 0xFFFFFFFF != crc:
            break
        out.append(payload)
        pos += HEADER_BYTES + n
    return out, pos


def read_segment(path: str) -> Tuple[List[bytes], int, int]:
    """(payloads, valid bytes, file size) of one segment file."""
    with open(path, "rb") as f:
        data = f.read()
    records, valid = scan_segment(data)
    return records, valid, len(data)


def list_segments(directory: str) -> List[Tuple[int, str]]:
    """(first sequence number, path) of each segment, in order."""
    seg_dir = os.path.join(directory, "segments")
    try:
        names = os.listdir(seg_dir)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        stem = name[: -len(SEGMENT_SUFFIX)]
        if name.endswith(SEGMENT_SUFFIX) and len(stem) == 20 and stem.isdigit():
            out.append((int(stem), os.path.join(seg_dir, name)))
    out.sort()
    return out


def read_spool(directory: str) -> Iterator[Tuple[int, bytes]]:
    """Every valid record of a spool as (sequence number, payload), in order."""
    for first, path in list_segments(directory):
        records, _, _ = read_segment(path)
        for i, payload in enumerate(records):
            yield first + i, payload


def read_published(directory: str) -> int:
    """The ``published`` cursor (0 when absent)."""
    try:
        with open(os.path.join(directory, "published"), encoding="ascii") as f:
            return int(f.read().strip() or "0")
    except FileNotFoundError:
        return 0


def _write_published(directory: str, seq: int) -> None:
    """Replaces the ``published`` cursor atomically (tmp, fsync, rename, fsync the directory)."""
    tmp = os.path.join(directory, "published.tmp-%d" % os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % seq)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(directory, "published"))
    _fsync_dir(directory)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM  # exists, owned by someone else
    return True


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read().decode("ascii", "replace")
    except OSError:
        return None


def _boot_id() -> Optional[str]:
    """The id of the running boot (Linux), None where the OS does not say."""
    text = _read_text("/proc/sys/kernel/random/boot_id")
    return text.strip() or None if text is not None else None


def _process_start(pid: int) -> Optional[str]:
    """When process ``pid`` started, in clock ticks after boot (field 22 of /proc/<pid>/stat)."""
    stat = _read_text("/proc/%d/stat" % pid)
    if stat is None:
        return None
    fields = stat[stat.rfind(")") + 2 :].split(" ")
    return fields[19] if len(fields) > 19 else None


def _format_lock(pid: int) -> str:
    """LOCK text: the pid on the first line, then ``boot=… start=…`` (as capture-agent/src/spool/spoolFiles.ts)."""
    extra = []
    boot, start = _boot_id(), _process_start(pid)
    if boot is not None:
        extra.append("boot=%s" % boot)
    if start is not None:
        extra.append("start=%s" % start)
    return "%d\n%s" % (pid, " ".join(extra) + "\n" if extra else "")


def _parse_lock(text: str) -> Optional[Tuple[int, Optional[str], Optional[str]]]:
    """(pid, boot, start) of LOCK text, None when it names no pid."""
    first, _, rest = text.partition("\n")
    try:
        pid = int(first.strip())
    except ValueError:
        return None
    if pid <= 0:
        return None
    fields = dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)
    return pid, fields.get("boot") or None, fields.get("start") or None


#: Spool directories whose LOCK this process holds.
_HELD = set()  # type: set


def _owner_alive(owner: Tuple[int, Optional[str], Optional[str]], directory: str) -> bool:
    """Whether the LOCK's writer still runs: our own pid only if this process holds the lock (else an
    earlier process had it: PID 1 of a restarted container), another boot or a gone or reused pid
    (started at another time than recorded) is stale."""
    pid, boot, start = owner
    if pid == os.getpid():
        return directory in _HELD
    current_boot = _boot_id()
    if boot is not None and current_boot is not None and boot != current_boot:
        return False
    if not _pid_alive(pid):
        return False
    if start is None:
        return True
    now = _process_start(pid)
    return now is None or now == start


def _private(path: str, flags: int) -> int:
    """Opens segments mode 0600: they hold captured data (AGENT.md)."""
    return os.open(path, flags, 0o600)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class SpoolWriter:
    """Appends envelopes to a spool directory it holds the LOCK of.

    Not thread-safe: the client's one background thread is its only caller.
    """

    def __init__(
        self,
        directory: str,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: str = "batch",
        fsync_interval: float = 0.2,
        max_bytes: int = DEFAULT_MAX_BYTES,
        full_policy: str = "reject",
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError("fsync must be one of %s" % ", ".join(FSYNC_POLICIES))
        if full_policy not in FULL_POLICIES:
            raise ValueError("full_policy must be one of %s" % ", ".join(FULL_POLICIES))
        if segment_bytes < HEADER_BYTES + 1:
            raise ValueError("segment_bytes is too small")
        self.directory = os.path.abspath(directory)
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.max_bytes = max_bytes
        self.full_policy = full_policy
        #: Records whose segment was deleted by the drop-oldest policy.
        self.dropped = 0
        #: Records found corrupt in earlier segments on open (moved to corrupt/).
        self.corrupt = 0
        #: Bytes of a torn write truncated from the last segment on open.
        self.truncated_bytes = 0
        self._seg_dir = os.path.join(self.directory, "segments")
        os.makedirs(self._seg_dir, exist_ok=True)
        self._lock_path = os.path.join(self.directory, "LOCK")
        self._pid = os.getpid()
        self._acquire_lock()
        self._file: Optional[BinaryIO] = None
        self._last_sync = time.monotonic()
        self._dirty = False
        try:
            self._recover()
        except BaseException:
            self._release_lock()
            raise

    # -- lock -----------------------------------------------------------------------------------

    def _acquire_lock(self) -> None:
        """Creates LOCK exclusively with our pid, boot id and start time; a LOCK whose writer is not
        running (``_owner_alive``), or that is unreadable, is removed and the creation tried again.
        A live holder, this process included, is an error (as capture-agent/src/spool/spoolFiles.ts)."""
        for _ in range(3):
            try:
                fd = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = _parse_lock(_read_text(self._lock_path) or "")
                if owner is not None and _owner_alive(owner, self.directory):
                    raise SpoolLockedError(
                        "spool %s is locked by live process %d" % (self.directory, owner[0])
                    ) from None
                try:
                    os.unlink(self._lock_path)  # stale: its process is gone
                except FileNotFoundError:
                    pass
                continue
            try:
                os.write(fd, _format_lock(self._pid).encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(self.directory)
            _HELD.add(self.directory)
            return
        raise SpoolLockedError("could not take the LOCK of %s" % self.directory)

    def _lock_holder(self) -> Optional[int]:
        owner = _parse_lock(_read_text(self._lock_path) or "")
        return None if owner is None else owner[0]

    def _release_lock(self) -> None:
        if self.directory not in _HELD:
            return
        _HELD.discard(self.directory)
        if self._lock_holder() == self._pid:
            try:
                os.unlink(self._lock_path)
            except FileNotFoundError:
                pass

    # -- recovery -------------------------------------------------------------------------------

    def _recover(self) -> None:
        published = read_published(self.directory)
        self._published = published
        segments = list_segments(self.directory)
        self._bytes = 0
        self._segments: List[Tuple[int, str, int]] = []  # (first seq, path, size)
        last_end = 0
        for k, (first, path) in enumerate(segments):
            records, valid, size = read_segment(path)
            if valid < size:
                if k == len(segments) - 1:
                    self.truncated_bytes += size - valid  # a torn write
                else:  # kept for inspection, as the agent does
                    corrupt_dir = os.path.join(self.directory, "corrupt")
                    os.makedirs(corrupt_dir, exist_ok=True)
                    with open(path, "rb") as f:
                        f.seek(valid)
                        rest = f.read()
                    target = os.path.join(corrupt_dir, "%s.%d.corrupt" % (os.path.basename(path), valid))
                    with open(target, "wb") as f:
                        f.write(rest)
                        f.flush()
                        os.fsync(f.fileno())
                    self.corrupt += 1
                with open(path, "r+b") as f:
                    f.truncate(valid)
                    os.fsync(f.fileno())
                size = valid
            if first + len(records) > published:  # segments wholly below `published` are the publisher's to delete
                self._bytes += size
            self._segments.append((first, path, size))
            last_end = first + len(records)
        self._next_seq = max(published, last_end)
        if segments and last_end == self._next_seq and self._segments[-1][2] < self.segment_bytes:
            self._file = open(self._segments[-1][1], "ab", buffering=0, opener=_private)
            os.chmod(self._segments[-1][1], 0o600)  # a segment written before segments were private
            self._seg_size = self._segments[-1][2]
        else:
            self._open_segment(self._next_seq)

    def _open_segment(self, seq: int) -> None:
        path = os.path.join(self._seg_dir, segment_name(seq))
        self._file = open(path, "ab", buffering=0, opener=_private)
        self._seg_size = 0
        self._segments.append((seq, path, 0))
        _fsync_dir(self._seg_dir)

    # -- writing --------------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """Sequence number the next record gets."""
        return self._next_seq

    @property
    def size_bytes(self) -> int:
        """Bytes in the spool's segments (published or not: the writer does not read the cursor)."""
        return self._bytes

    def append(self, payloads: Sequence[bytes]) -> int:
        """Appends records (all or, with SpoolFullError, none); returns the first one's sequence number.

        Raises RecordTooLargeError (nothing written) when one payload is over the limit.
        """
        if self._file is None:
            raise SpoolError("spool writer is closed")
        records = [encode_record(p) for p in payloads]
        total = sum(len(r) for r in records)
        if self._bytes + total > self.max_bytes:
            if self.full_policy == "drop-oldest":
                self._drop_oldest(total)
            if self._bytes + total > self.max_bytes:  # reject, or a batch too large even so
                raise SpoolFullError(
                    "spool %s holds its cap (%d + %d of %d unpublished bytes)" % (self.directory, self._bytes, total, self.max_bytes)
                )
        first_seq = self._next_seq
        chunk: List[bytes] = []
        chunk_bytes = 0
        for r in records:
            if self._seg_size + chunk_bytes + len(r) > self.segment_bytes and self._seg_size + chunk_bytes > 0:
                self._write(chunk, chunk_bytes)
                chunk, chunk_bytes = [], 0
                self._roll()
            chunk.append(r)
            chunk_bytes += len(r)
            self._next_seq += 1
        if chunk:
            self._write(chunk, chunk_bytes)
        self._dirty = True
        if self.fsync == "batch":
            self.sync()
        elif self.fsync == "interval" and time.monotonic() - self._last_sync >= self.fsync_interval:
            self.sync()
        else:
            self._file.flush()  # type: ignore[union-attr]
        return first_seq

    def append_framed(self, data: bytes, sizes: Sequence[int]) -> int:
        """Appends records framed already (``frame_texts``: ``data`` holds them back to back, ``sizes``
        their framed sizes): all or, with SpoolFullError, none, as ``append``, with one ``write`` when
        they fit in the current segment. Returns the first one's sequence number."""
        if self._file is None:
            raise SpoolError("spool writer is closed")
        total = len(data)
        if self._bytes + total > self.max_bytes:
            if self.full_policy == "drop-oldest":
                self._drop_oldest(total)
            if self._bytes + total > self.max_bytes:
                raise SpoolFullError(
                    "spool %s holds its cap (%d + %d of %d unpublished bytes)" % (self.directory, self._bytes, total, self.max_bytes)
                )
        first_seq = self._next_seq
        if not sizes:
            return first_seq
        if self._seg_size + total <= self.segment_bytes:
            self._write([data], total)
            self._next_seq += len(sizes)
        else:  # rolls over: split at record boundaries, as ``append``
            view = memoryview(data)
            start = pos = 0
            for n in sizes:
                if self._seg_size + (pos - start) + n > self.segment_bytes and self._seg_size + (pos - start) > 0:
                    if pos > start:
                        self._write([view[start:pos]], pos - start)
                    start = pos
                    self._roll()
                pos += n
                self._next_seq += 1
            if pos > start:
                self._write([view[start:pos]], pos - start)
        self._dirty = True
        if self.fsync == "batch":
            self.sync()
        elif self.fsync == "interval" and time.monotonic() - self._last_sync >= self.fsync_interval:
            self.sync()
        return first_seq

    def _write(self, chunk: List[Any], n: int) -> None:
        data = memoryview(chunk[0] if len(chunk) == 1 else b"".join(chunk))
        while data:  # an unbuffered write may be partial
            written = self._file.write(data)  # type: ignore[union-attr]
            data = data[written or 0 :]
        self._seg_size += n
        self._bytes += n
        first, path, _ = self._segments[-1]
        self._segments[-1] = (first, path, self._seg_size)

    def start_segment(self) -> None:
        """Closes the current segment and starts a new one at ``next_seq`` (unless it is empty)."""
        if self._file is not None and self._seg_size > 0:
            self._roll()

    def _roll(self) -> None:
        f = self._file
        f.flush()  # type: ignore[union-attr]
        if self.fsync != "never":
            _datasync(f.fileno())  # type: ignore[union-attr]
        f.close()  # type: ignore[union-attr]
        self._open_segment(self._next_seq)

    def _drop_oldest(self, needed: int) -> None:
        """Deletes the oldest segments until ``needed`` more bytes fit, counting their records as
        dropped and moving ``published`` past them (AGENT.md); the active segment is closed first
        when it is the one to go."""
        dropped_to = None
        while self._bytes + needed > self.max_bytes and self._segments and self._bytes > 0:
            first, path, size = self._segments.pop(0)
            if not self._segments:  # the active one: close it, start a new one after it
                self._file.close()  # type: ignore[union-attr]
                self._file = None
                end = self._next_seq
            else:
                end = self._segments[0][0]
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            if end > self._published:
                self._bytes -= size
                self.dropped += end - max(first, self._published)
                dropped_to = end
                self._published = end
            if self._file is None:
                self._open_segment(self._next_seq)
        if dropped_to is not None:
            _write_published(self.directory, dropped_to)
        _fsync_dir(self._seg_dir)

    @property
    def published(self) -> int:
        """The ``published`` cursor as this writer knows it (its own moves included)."""
        return self._published

    @property
    def segments(self) -> List[Tuple[int, str, int]]:
        """(first sequence number, path, bytes written) of each segment, oldest first."""
        return list(self._segments)

    def mark_published(self, seq: int) -> None:
        """For a publisher in this process (the client draining its spill spool): records ``seq`` as
        the first record not yet acknowledged, replacing ``published`` atomically, and deletes the
        segments wholly below it, the active one excepted (AGENT.md)."""
        if seq <= self._published:
            return
        if seq > self._next_seq:
            raise ValueError("cannot publish past the last record (%d > %d)" % (seq, self._next_seq))
        before = self._published
        self._published = seq
        _write_published(self.directory, seq)
        deleted = False
        while len(self._segments) > 1 and self._segments[1][0] <= seq:
            _, path, size = self._segments.pop(0)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            if self._segments[0][0] > before:  # counted as unpublished until now (see _recover)
                self._bytes -= size
            deleted = True
        if deleted:
            _fsync_dir(self._seg_dir)

    def sync(self) -> None:
        """Flushes and fsyncs the current segment."""
        if self._file is None:
            return
        self._file.flush()  # type: ignore[union-attr]
        if self.fsync != "never" and self._dirty:
            _datasync(self._file.fileno())  # type: ignore[union-attr]
        self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Fsyncs (unless ``never``), closes and releases the LOCK. Idempotent."""
        if self._file is None:
            return
        try:
            self._file.flush()  # type: ignore[union-attr]
            if self.fsync != "never":
                _datasync(self._file.fileno())  # type: ignore[union-attr]
            self._file.close()  # type: ignore[union-attr]
        finally:
            self._file = None
            self._release_lock()


def remove_spool(directory: str) -> None:
    """Deletes a spool directory (tests and tools)."""
    shutil.rmtree(directory, ignore_errors=True)
