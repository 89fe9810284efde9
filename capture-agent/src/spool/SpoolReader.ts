/** Reads records of a spool from a position on, in order, across segments (and over gaps left by recovery). */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { listSegments, type SpoolPosition } from './recoverSpool.ts';
import { MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES, scanRecords, segmentName } from './spoolFormat.ts';

/** One record read back with its sequence number. */
export interface SpoolRecord {
  sequence: number;
  payload: Buffer;
  /** Bytes on disk, header included. */
  size: number;
}

/** What one read returns. */
export interface SpoolRead {
  records: SpoolRecord[];
  /** Where the next read starts. */
  next: SpoolPosition;
  /** Sequence numbers passed over because no segment holds them (moved to `corrupt/`, or dropped). */
  skipped: number;
}

/** Limits of one read. */
export interface ReadLimits {
  /** Default 5000. */
  maxRecords?: number;
  /** Bytes read from disk at most (a single larger record is still read). Default 4 MiB. */
  maxBytes?: number;
  /** Sequence numbers from this one on are not returned (the writer's durable end). Default none. */
  limit?: number;
}

function readAt(path: string, offset: number, want: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const size = fstatSync(fd).size;
    const n = Math.max(0, Math.min(want, size - offset));
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const r = readSync(fd, buf, got, n - got, offset + got);
      if (r === 0) break;
      got += r;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** A reader of one spool directory. Stateless between calls: the caller keeps the position. */
export class SpoolReader {
  constructor(private readonly dir: string) {}

  /** The position of the spool's first record at or after `sequence`. */
  positionOf(sequence: number): SpoolPosition {
    const segs = listSegments(this.dir);
    const holder = [...segs].reverse().find((f) => f <= sequence);
    if (holder === undefined) {
      const first = segs[0];
      return first === undefined
        ? { sequence, segment: sequence, offset: 0 }
        : { sequence: first, segment: first, offset: 0 };
    }
    let pos: SpoolPosition = { sequence: holder, segment: holder, offset: 0 };
    while (pos.sequence < sequence) {
      const read = this.read(pos, { maxRecords: sequence - pos.sequence, maxBytes: 4 << 20 });
      if (read.records.length === 0 && read.skipped === 0) break;
      pos = read.next;
    }
    return pos;
  }

  /** Reads records from `from` on; an empty result means nothing (more) is there yet. */
  read(from: SpoolPosition, limits: ReadLimits = {}): SpoolRead {
    const maxRecords = Math.min(limits.maxRecords ?? 5000, (limits.limit ?? Infinity) - from.sequence);
    const maxBytes = Math.max(limits.maxBytes ?? 4 << 20, MAX_PAYLOAD_BYTES + RECORD_HEADER_BYTES);
    let pos = from;
    let skipped = 0;
    for (;;) {
      if (maxRecords <= 0) return { records: [], next: pos, skipped };
      const segs = listSegments(this.dir);
      const later = segs.find((f) => f > pos.segment);
      const buf = segs.includes(pos.segment)
        ? readAt(join(this.dir, 'segments', segmentName(pos.segment)), pos.offset, maxBytes)
        : undefined;
      if (buf === undefined) {
        // the segment is gone (deleted as published, or dropped): go on with the next one
        if (later === undefined) return { records: [], next: pos, skipped };
        skipped += Math.max(0, later - pos.sequence);
        pos = { sequence: Math.max(later, pos.sequence), segment: later, offset: 0 };
        continue;
      }
      const scan = scanRecords(buf, 0, maxRecords);
      const records = scan.records.map((r, i) => ({
        sequence: pos.sequence + i,
        payload: r.payload,
        size: r.size,
      }));
      const next = {
        sequence: pos.sequence + records.length,
        segment: pos.segment,
        offset: pos.offset + scan.end,
      };
      // the segment is finished when a later one exists and nothing (good) is left in this one
      const exhausted = scan.end === buf.length || scan.stop === 'bad-length' || scan.stop === 'bad-crc';
      if (records.length > 0 || later === undefined || !exhausted) return { records, next, skipped };
      skipped += Math.max(0, later - next.sequence);
      pos = { sequence: Math.max(later, next.sequence), segment: later, offset: 0 };
    }
  }
}
