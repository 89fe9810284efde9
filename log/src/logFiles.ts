/**
 * The embedded log on disk: one spool (capture-agent's segment format and writer: length + CRC-32
 * records in numbered segments, fsync per batch with group commit, torn tails truncated on open) per
 * topic partition, and one more for the consumer groups' committed offsets.
 *
 * A log record is one spool record, or several consecutive ones when it is larger than a spool
 * record may be (1 MiB): its offset is the sequence number of its first piece, so offsets may skip
 * numbers, as they do in Kafka.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  MAX_PAYLOAD_BYTES,
  SpoolReader,
  SpoolWriter,
  listSegments,
  type SpoolPosition,
} from '@provml/capture-agent';
import { silentLogger, type Logger } from '@provml/schemas';

/** A record as kept on disk. */
export interface StoredRecord {
  /** Offset of the record (sequence number of its first piece). */
  offset: number;
  /** Offset just past the record (its last piece + 1). */
  next: number;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  timestamp: number;
}

/** What is appended: a record without its position. */
export type NewRecord = Omit<StoredRecord, 'offset' | 'next'>;

const FORMAT_VERSION = 1;
/** Bytes of a piece's own header: one flag byte (1 = more pieces follow). */
const PIECE_HEADER = 1;
const PIECE_BODY = MAX_PAYLOAD_BYTES - PIECE_HEADER;

/** Encodes a record: version, timestamp, key, headers, value. */
export function encodeStored(r: NewRecord): Buffer {
  const key = r.key === null ? undefined : Buffer.from(r.key, 'utf8');
  const headers = Object.entries(r.headers).map(
    ([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const,
  );
  let size = 1 + 8 + 4 + (key?.length ?? 0) + 2 + r.value.length;
  for (const [k, v] of headers) size += 2 + k.length + 4 + v.length;
  const out = Buffer.allocUnsafe(size);
  let o = out.writeUInt8(FORMAT_VERSION, 0);
  o = out.writeDoubleBE(r.timestamp, o);
  o = out.writeInt32BE(key === undefined ? -1 : key.length, o);
  if (key !== undefined) o += key.copy(out, o);
  o = out.writeUInt16BE(headers.length, o);
  for (const [k, v] of headers) {
    o = out.writeUInt16BE(k.length, o);
    o += k.copy(out, o);
    o = out.writeUInt32BE(v.length, o);
    o += v.copy(out, o);
  }
  r.value.copy(out, o);
  return out;
}

/** Decodes what {@link encodeStored} wrote. @throws RangeError on a malformed record */
export function decodeStored(buf: Buffer): NewRecord {
  if (buf.readUInt8(0) !== FORMAT_VERSION) throw new RangeError(`unknown log record version ${buf[0]}`);
  let o = 1;
  const timestamp = buf.readDoubleBE(o);
  o += 8;
  const keyLength = buf.readInt32BE(o);
  o += 4;
  let key: string | null = null;
  if (keyLength >= 0) {
    key = buf.toString('utf8', o, o + keyLength);
    o += keyLength;
  }
  const count = buf.readUInt16BE(o);
  o += 2;
  const headers: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const kl = buf.readUInt16BE(o);
    const k = buf.toString('utf8', o + 2, o + 2 + kl);
    o += 2 + kl;
    const vl = buf.readUInt32BE(o);
    headers[k] = buf.toString('utf8', o + 4, o + 4 + vl);
    o += 4 + vl;
  }
  if (o > buf.length) throw new RangeError('truncated log record');
  return { key, value: buf.subarray(o), headers, timestamp };
}

/** Cuts an encoded record into spool payloads: a flag byte (1 = more follow), then up to ~1 MiB. */
function pieces(encoded: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < encoded.length || out.length === 0; at += PIECE_BODY) {
    const body = encoded.subarray(at, at + PIECE_BODY);
    const piece = Buffer.allocUnsafe(PIECE_HEADER + body.length);
    piece[0] = at + PIECE_BODY < encoded.length ? 1 : 0;
    body.copy(piece, PIECE_HEADER);
    out.push(piece);
  }
  return out;
}

/** One partition's spool: appends, reads from an offset, and forgets what every group has read. */
export class PartitionFiles {
  private nextSequence: number;
  private released: number;
  private readonly reader: SpoolReader;

  private constructor(
    readonly dir: string,
    private readonly writer: SpoolWriter,
  ) {
    this.nextSequence = writer.stats.next;
    this.released = writer.stats.published;
    this.reader = new SpoolReader(dir);
  }

  /** Opens (creating, recovering a torn tail) the spool of one partition. */
  static open(dir: string, logger: Logger = silentLogger): PartitionFiles {
    return new PartitionFiles(
      dir,
      SpoolWriter.open(dir, { fsync: 'batch', maxBytes: Number.MAX_SAFE_INTEGER, logger }),
    );
  }

  /** The next offset to be given. */
  get end(): number {
    return this.nextSequence;
  }

  /**
   * Appends records (written before this returns; on disk, fsynced, when `durable` resolves) and
   * gives each its offset and the offset after it.
   */
  append(records: readonly NewRecord[]): { offsets: number[]; nexts: number[]; durable: Promise<void> } {
    const payloads: Buffer[] = [];
    const offsets: number[] = [];
    const nexts: number[] = [];
    for (const r of records) {
      const ps = pieces(encodeStored(r));
      offsets.push(this.nextSequence + payloads.length);
      payloads.push(...ps);
      nexts.push(this.nextSequence + payloads.length);
    }
    this.nextSequence += payloads.length;
    // the spool writes synchronously and resolves after the fsync of the batch (group commit)
    const durable = this.writer.appendPayloads(payloads).then(() => undefined);
    return { offsets, nexts, durable };
  }

  /**
   * Reads whole records from `from` on (up to `limit`, default the current end), about `maxBytes`
   * at a time. Synchronous reads of the segment files; the caller decides how often to yield.
   */
  *read(from: number, maxBytes = 4 << 20, limit = this.nextSequence): Generator<StoredRecord[]> {
    let pos = this.positionOf(from);
    let parts: Buffer[] = [];
    let first = -1;
    for (;;) {
      const read = this.reader.read(pos, { maxBytes, maxRecords: 100_000, limit });
      if (read.records.length === 0 && read.skipped === 0) return;
      if (read.skipped > 0) {
        parts = [];
        first = -1;
      }
      pos = read.next;
      const out: StoredRecord[] = [];
      for (const r of read.records) {
        if (first < 0) first = r.sequence;
        parts.push(r.payload.subarray(PIECE_HEADER));
        if (r.payload[0] === 1) continue;
        const whole = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        parts = [];
        const offset = first;
        first = -1;
        // a record cut by a bad piece before `from` (or corrupt) is passed over
        if (offset < from) continue;
        try {
          out.push({ ...decodeStored(whole), offset, next: r.sequence + 1 });
        } catch {
          // CRC-checked, so only a bug writes this; nothing to deliver
        }
      }
      if (out.length > 0) yield out;
    }
  }

  private positionOf(sequence: number): SpoolPosition {
    const segments = listSegments(this.dir);
    if (sequence === 0 || segments[0] === undefined || sequence <= segments[0])
      return segments[0] === undefined
        ? { sequence, segment: sequence, offset: 0 }
        : { sequence: segments[0], segment: segments[0], offset: 0 };
    return this.reader.positionOf(sequence);
  }

  /** Lets the spool delete segments wholly below `offset` (every group has committed past them). */
  release(offset: number): void {
    if (offset <= this.released) return;
    this.released = offset;
    this.writer.markPublished({ sequence: offset, segment: offset, offset: 0 });
  }

  /** Flushes and closes the partition (releases its lock). */
  close(): Promise<void> {
    return this.writer.close();
  }
}

/** A group's committed position on one partition, as persisted. */
interface OffsetEntry {
  g: string;
  t: string;
  p: number;
  o: number;
}

/** Appends after this many commits write a snapshot of every position and drop older segments. */
const SNAPSHOT_EVERY = 10_000;

/**
 * The consumer groups' committed offsets: an append-only spool of commits (not fsynced: a commit
 * always follows the fsync of the output it covers, so what is on disk never runs ahead of it; a
 * lost commit only makes a group read a batch again), compacted into a snapshot on open and every
 * 10,000 commits.
 */
export class OffsetFiles {
  readonly positions = new Map<string, OffsetEntry>();
  private sinceSnapshot = 0;

  private constructor(
    private readonly writer: SpoolWriter,
    private readonly logger: Logger,
  ) {}

  /** A commit that could not be written: the group will read the batch again after a restart. */
  private readonly onError = (error: unknown): void =>
    this.logger.error('could not write a committed offset', { error });

  static open(dir: string, logger: Logger = silentLogger): OffsetFiles {
    const writer = SpoolWriter.open(dir, {
      fsync: 'never',
      segmentBytes: 1 << 20,
      maxBytes: Number.MAX_SAFE_INTEGER,
      logger,
    });
    const files = new OffsetFiles(writer, logger);
    const reader = new SpoolReader(dir);
    let pos = writer.publishedPosition;
    for (;;) {
      const read = reader.read(pos, { maxRecords: 100_000 });
      if (read.records.length === 0 && read.skipped === 0) break;
      pos = read.next;
      for (const r of read.records) {
        try {
          for (const e of JSON.parse(r.payload.toString('utf8')) as OffsetEntry[]) files.set(e);
        } catch {
          // unreadable commit: the group re-reads from an earlier one
        }
      }
    }
    files.snapshot();
    return files;
  }

  private static key(group: string, topic: string, partition: number): string {
    return `${group}\u0000${topic}\u0000${partition}`;
  }

  private set(e: OffsetEntry): void {
    this.positions.set(OffsetFiles.key(e.g, e.t, e.p), e);
  }

  /** The committed position of a group on a partition, if it ever committed. */
  get(group: string, topic: string, partition: number): number | undefined {
    return this.positions.get(OffsetFiles.key(group, topic, partition))?.o;
  }

  /** Records a commit (written before this returns). */
  commit(group: string, topic: string, partition: number, offset: number): void {
    const e = { g: group, t: topic, p: partition, o: offset };
    this.set(e);
    this.writer.appendPayloads([Buffer.from(JSON.stringify([e]))]).catch(this.onError);
    if (++this.sinceSnapshot >= SNAPSHOT_EVERY) this.snapshot();
  }

  /** Writes every position as one record and lets the spool drop the segments before it. */
  private snapshot(): void {
    this.sinceSnapshot = 0;
    const all = [...this.positions.values()];
    // each record stays under the spool's record limit
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length || chunks.length === 0; i += 5000)
      chunks.push(Buffer.from(JSON.stringify(all.slice(i, i + 5000))));
    const first = this.writer.stats.next;
    this.writer.appendPayloads(chunks).catch(this.onError);
    this.writer.markPublished({ sequence: first, segment: first, offset: 0 });
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}

/** How a topic is kept, written next to its partitions. */
export interface TopicMeta {
  partitions: number;
  compacted: boolean;
}

/** The directory of a topic under the log's directory. */
export const topicDir = (root: string, topic: string): string =>
  join(root, 'topics', encodeURIComponent(topic));

/** Writes a topic's description (once, when the topic is created). */
export function writeTopicMeta(root: string, topic: string, meta: TopicMeta): void {
  const dir = topicDir(root, topic);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'topic.json'), `${JSON.stringify(meta)}\n`);
}

/** The topics found under the log's directory. */
export function readTopics(root: string): Map<string, TopicMeta> {
  const found = new Map<string, TopicMeta>();
  const dir = join(root, 'topics');
  if (!existsSync(dir)) return found;
  for (const name of readdirSync(dir)) {
    try {
      const meta = JSON.parse(readFileSync(join(dir, name, 'topic.json'), 'utf8')) as TopicMeta;
      if (Number.isInteger(meta.partitions) && meta.partitions > 0)
        found.set(decodeURIComponent(name), { partitions: meta.partitions, compacted: meta.compacted });
    } catch {
      // not a topic directory
    }
  }
  return found;
}

/** Bytes of every file under `dir` (0 when it does not exist). */
export function directoryBytes(dir: string): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    const path = join(dir, name);
    try {
      const s = statSync(path);
      total += s.isDirectory() ? directoryBytes(path) : s.size;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}
