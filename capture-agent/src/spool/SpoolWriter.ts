/** The spool's one writer: appends batches of records to segments, fsyncs per policy, enforces the cap, owns the `published` cursor. */
import { closeSync, fchmodSync, fdatasync, fsyncSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger, SpoolFullError, type CaptureEvent, type Logger } from '@provml/schemas';
import { recoverSpool, type SegmentInfo, type SpoolPosition } from './recoverSpool.ts';
import { acquireLock, fsyncDir, readPublished, releaseLock, writePublished } from './spoolFiles.ts';
import {
  encodeEnvelopes,
  encodeEventRecords,
  encodeRecord,
  RECORD_HEADER_BYTES,
  segmentName,
  type SpoolEnvelope,
} from './spoolFormat.ts';

/** Segments hold captured data: readable and writable by the spool's owner only. */
const SEGMENT_MODE = 0o600;

/** When appended records are forced to disk. */
export type FsyncPolicy = 'batch' | 'interval' | 'never';
/** What happens when unpublished data reaches `maxBytes`. */
export type CapPolicy = 'reject' | 'drop-oldest';

/** Settings of a spool (defaults from AGENT.md). */
export interface SpoolOptions {
  /** `batch` (default): fsync before an append resolves; `interval`: every `fsyncIntervalMs`; `never`. */
  fsync?: FsyncPolicy;
  /** Default 200. */
  fsyncIntervalMs?: number;
  /** A new segment starts when the current one reaches this size. Default 16 MiB. */
  segmentBytes?: number;
  /** Cap on unpublished bytes. Default 1 GiB. */
  maxBytes?: number;
  /** Default `reject` (nothing lost; the writer retries). */
  policy?: CapPolicy;
  /**
   * How often at most the `published` cursor is made durable (its file fsynced, then the segments
   * below it deleted), ms. Between two, every advance still writes the file (atomically, without
   * fsync): a crash of the process resends nothing, one of the machine at most this long of records.
   * Default 1000; 0: durable at every advance (two fsyncs per publish step).
   */
  publishedSyncMs?: number;
  logger?: Logger;
}

/** Counters of a spool, read by metrics. */
export interface SpoolStats {
  appendedRecords: number;
  appendedBatches: number;
  rejectedBatches: number;
  droppedRecords: number;
  /** Records passed over because recovery moved them to `corrupt/`. */
  corruptTails: number;
  corruptBytes: number;
  tornBytes: number;
  /** Unpublished records and bytes. */
  depthRecords: number;
  depthBytes: number;
  /** Seconds since the oldest unpublished record was appended (0 when none). */
  lagSeconds: number;
  /** The `published` cursor and the next sequence number. */
  published: number;
  next: number;
}

/**
 * Records this writer appended, still in memory: what a publisher in the same process sends without
 * reading them back from disk (`SpoolWriter.appended`).
 */
export interface AppendedRecords {
  /** The payload (UTF-8 JSON of one envelope) of each record, from sequence `first` on. */
  payloads: Buffer[];
  first: number;
  /** Where the record after the last one lies. */
  end: SpoolPosition;
  /**
   * Every payload is a valid envelope, its event or spec valid: written by `appendEvents` (events
   * the capture library built and checked) or `appendPayloads` (lines the agent validated).
   */
  checked: boolean;
  /**
   * The event each record holds, as the writer was given it (checked and normalised by whoever
   * validated it: the capture library, the agent's ingest), where known; aligned with `payloads`.
   * A publisher sends these instead of parsing and validating the payloads again.
   */
  events: (CaptureEvent | undefined)[];
}

/** Bytes of appended batches kept in memory for the publisher at most (older ones are read from disk). */
const HANDOFF_BYTES = 4 << 20;

/** Appends to one spool directory; holds its LOCK until `close()`. Create with `SpoolWriter.open`. */
export class SpoolWriter {
  private fd: number | undefined;
  private activeBytes = 0;
  private durable: number;
  private syncing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The `published` cursor as last written to its file (what a restart resumes from). */
  private persisted: number;
  private persistedAt = 0;
  private persistTimer: NodeJS.Timeout | undefined;
  /** Batches appended and not yet taken by `appended()`, oldest first, and their bytes. */
  private handoff: {
    bytes: Buffer;
    sizes: readonly number[];
    first: number;
    end: SpoolPosition;
    checked: boolean;
    events: readonly (CaptureEvent | undefined)[] | undefined;
  }[] = [];
  private handoffBytes = 0;
  /** Whether a publisher in this process takes appended batches (`keepAppended()`; none offline). */
  private handoffWanted = false;
  /** (end sequence, append time) of recent batches, for the publish lag. */
  private marks: { end: number; at: number }[] = [];
  private readonly stats_ = { appendedRecords: 0, appendedBatches: 0, rejectedBatches: 0, droppedRecords: 0 };
  private readonly fsync: FsyncPolicy;
  private readonly segmentBytes: number;
  private readonly maxBytes: number;
  private readonly policy: CapPolicy;
  private readonly publishedSyncMs: number;

  private constructor(
    /** The spool directory. */
    readonly dir: string,
    private readonly segments: SegmentInfo[],
    private next: number,
    private published: number,
    private publishedPos: SpoolPosition,
    private readonly recovery: { corruptTails: number; corruptBytes: number; tornBytes: number },
    options: SpoolOptions,
  ) {
    this.fsync = options.fsync ?? 'batch';
    this.segmentBytes = options.segmentBytes ?? 16 << 20;
    this.maxBytes = options.maxBytes ?? 1 << 30;
    this.policy = options.policy ?? 'reject';
    this.publishedSyncMs = options.publishedSyncMs ?? 1000;
    this.persisted = published;
    this.durable = next;
    if (next > 0) this.marks.push({ end: next, at: Date.now() });
    if (this.fsync === 'interval') {
      this.timer = setInterval(
        () => void this.syncTo(this.next).catch(() => undefined),
        options.fsyncIntervalMs ?? 200,
      );
      this.timer.unref();
    }
  }

  /**
   * Takes the LOCK (a stale one is taken over), recovers torn tails and corrupt records and opens
   * the spool for appending.
   * @throws SpoolLockedError when a live process holds the LOCK
   */
  static open(dir: string, options: SpoolOptions = {}): SpoolWriter {
    const logger = options.logger ?? silentLogger;
    mkdirSync(dir, { recursive: true });
    const lock = acquireLock(dir);
    if (lock.tookOver) logger.warn('took over a stale spool lock', { dir, pid: lock.previousPid });
    try {
      const published = readPublished(dir);
      const r = recoverSpool(dir, published);
      if (r.tornBytes > 0) logger.warn('truncated a torn write', { dir, bytes: r.tornBytes });
      if (r.corruptTails > 0)
        logger.error('moved corrupt records to corrupt/', {
          dir,
          segments: r.corruptTails,
          bytes: r.corruptBytes,
        });
      const last = r.segments[r.segments.length - 1];
      const next = Math.max(published, last === undefined ? 0 : last.first + last.count);
      const writer = new SpoolWriter(dir, r.segments, next, published, r.publishedPosition, r, options);
      if (last !== undefined && last.first + last.count === next && last.bytes < writer.segmentBytes) {
        writer.fd = openSync(join(dir, 'segments', segmentName(last.first)), 'a', SEGMENT_MODE);
        fchmodSync(writer.fd, SEGMENT_MODE); // a segment written before segments were private
        writer.activeBytes = last.bytes;
      }
      return writer;
    } catch (error) {
      releaseLock(dir);
      throw error;
    }
  }

  /** Sequence numbers below this are on disk per the fsync policy: what a publisher may send. */
  get durableEnd(): number {
    return this.fsync === 'never' ? this.next : this.durable;
  }

  /** The `published` cursor and where its record lies. */
  get publishedPosition(): SpoolPosition {
    return this.publishedPos;
  }

  /** Counters for metrics. */
  get stats(): SpoolStats {
    const depthRecords = this.segments.reduce(
      (n, s) => n + Math.max(0, s.first + s.count - Math.max(s.first, this.published)),
      0,
    );
    const depthBytes = this.depthBytes();
    const oldest = this.marks.find((m) => m.end > this.published);
    return {
      ...this.stats_,
      ...this.recovery,
      depthRecords,
      depthBytes,
      lagSeconds: oldest === undefined || depthRecords === 0 ? 0 : (Date.now() - oldest.at) / 1000,
      published: this.published,
      next: this.next,
    };
  }

  private depthBytes(): number {
    let n = 0;
    for (const s of this.segments)
      if (s.first + s.count > this.published)
        n += s.bytes - (s.first === this.publishedPos.segment ? this.publishedPos.offset : 0);
    return n;
  }

  /** Appends envelopes as one batch. See `appendPayloads`. */
  append(envelopes: readonly SpoolEnvelope[]): Promise<{ first: number; count: number }> {
    const { bytes, sizes } = encodeEnvelopes(envelopes);
    return this.appendRecords(bytes, sizes, false);
  }

  /** Appends capture events as one batch of event envelopes (the capture library's hot path). See `appendPayloads`. */
  appendEvents(events: readonly CaptureEvent[]): Promise<{ first: number; count: number }> {
    const { bytes, sizes } = encodeEventRecords(events);
    return this.appendRecords(bytes, sizes, true, events);
  }

  /**
   * Appends UTF-8 JSON payloads (already-validated envelopes) as one batch; `events`: the event of
   * each payload as validated (undefined for other records), for the publisher of this process.
   */
  appendPayloads(
    payloads: readonly Buffer[],
    events?: readonly (CaptureEvent | undefined)[],
  ): Promise<{ first: number; count: number }> {
    const records = payloads.map(encodeRecord);
    return this.appendRecords(
      records.length === 1 ? records[0]! : Buffer.concat(records),
      records.map((r) => r.length),
      true,
      events,
    );
  }

  /**
   * Appends framed records (`bytes`: consecutive records of `sizes` bytes each), resolving once
   * they are durable per the fsync policy.
   * @throws SpoolFullError (retriable) when the cap holds and the policy is `reject`; nothing was kept
   */
  private async appendRecords(
    bytes: Buffer,
    sizes: readonly number[],
    checked: boolean,
    events?: readonly (CaptureEvent | undefined)[],
  ): Promise<{ first: number; count: number }> {
    if (this.closed) throw new Error(`spool ${this.dir} is closed`);
    const total = bytes.length;
    if (this.depthBytes() + total > this.maxBytes) {
      if (this.policy === 'drop-oldest') while (this.dropOldest(total));
      if (this.depthBytes() + total > this.maxBytes) {
        this.stats_.rejectedBatches++;
        throw new SpoolFullError(`spool ${this.dir} holds its cap of ${this.maxBytes} unpublished bytes`, {
          path: this.dir,
          depthBytes: this.depthBytes(),
        });
      }
    }
    const first = this.next;
    // [from, to): the bytes appended to the active segment and not yet written
    let from = 0;
    let to = 0;
    const writePending = (): void => {
      while (from < to) from += writeSync(this.fd!, bytes, from, to - from);
    };
    for (const size of sizes) {
      if (this.fd === undefined || (this.activeBytes > 0 && this.activeBytes + size > this.segmentBytes)) {
        writePending();
        this.rotate();
      }
      to += size;
      this.activeBytes += size;
      const seg = this.segments[this.segments.length - 1]!;
      seg.count++;
      seg.bytes += size;
      this.next++;
    }
    writePending();
    this.keepForPublisher(bytes, sizes, first, checked, events);
    this.stats_.appendedRecords += sizes.length;
    this.stats_.appendedBatches++;
    // coarse marks (one per 100 ms) are enough for the lag gauge and keep this array short
    const now = Date.now();
    const lastMark = this.marks[this.marks.length - 1];
    if (lastMark === undefined || now - lastMark.at > 100) this.marks.push({ end: this.next, at: now });
    else lastMark.end = this.next;
    if (this.fsync === 'batch') await this.syncTo(this.next);
    return { first, count: sizes.length };
  }

  /** From now on keeps the batches appended for `appended()` (a publisher in this process calls it). */
  keepAppended(): void {
    this.handoffWanted = true;
  }

  /** Keeps a batch just written for the publisher of this process (the oldest go past HANDOFF_BYTES). */
  private keepForPublisher(
    bytes: Buffer,
    sizes: readonly number[],
    first: number,
    checked: boolean,
    events: readonly (CaptureEvent | undefined)[] | undefined,
  ): void {
    if (!this.handoffWanted) return; // offline (no publisher in this process): nothing kept
    const seg = this.segments[this.segments.length - 1]!;
    const end = { sequence: this.next, segment: seg.first, offset: this.activeBytes };
    this.handoff.push({ bytes, sizes, first, end, checked, events });
    this.handoffBytes += bytes.length;
    while (this.handoffBytes > HANDOFF_BYTES && this.handoff.length > 0)
      this.handoffBytes -= this.handoff.shift()!.bytes.length;
  }

  /**
   * The records appended by this writer from `sequence` on, durable per the fsync policy, whole
   * batches up to about `maxRecords`, taken from memory: undefined when they are not all there
   * (after a restart, a backlog past HANDOFF_BYTES, records dropped under the cap, a batch not yet
   * durable): then read them from disk. Batches before `sequence` are forgotten. Kept only after
   * `keepAppended()`.
   */
  appended(sequence: number, maxRecords: number): AppendedRecords | undefined {
    while (this.handoff.length > 0 && this.handoff[0]!.end.sequence <= sequence)
      this.handoffBytes -= this.handoff.shift()!.bytes.length;
    const limit = this.durableEnd;
    const head = this.handoff[0];
    if (head === undefined || head.first !== sequence || head.end.sequence > limit) return undefined;
    const out: AppendedRecords = { payloads: [], first: sequence, end: head.end, checked: true, events: [] };
    for (const b of this.handoff) {
      if (
        b.end.sequence > limit ||
        (out.payloads.length > 0 && out.payloads.length + b.sizes.length > maxRecords)
      )
        break;
      let offset = 0;
      for (const [i, size] of b.sizes.entries()) {
        out.payloads.push(b.bytes.subarray(offset + RECORD_HEADER_BYTES, offset + size));
        out.events.push(b.events?.[i]);
        offset += size;
      }
      out.end = b.end;
      out.checked &&= b.checked;
    }
    return out;
  }

  /** Closes the active segment (fsynced) and starts a new one named after the next sequence number. */
  private rotate(): void {
    if (this.fd !== undefined) {
      if (this.fsync !== 'never') fsyncSync(this.fd);
      closeSync(this.fd);
      this.durable = this.next;
    }
    this.fd = openSync(join(this.dir, 'segments', segmentName(this.next)), 'a', SEGMENT_MODE);
    this.activeBytes = 0;
    this.segments.push({ first: this.next, count: 0, bytes: 0 });
    fsyncDir(join(this.dir, 'segments'));
  }

  /** Group commit: one fdatasync covers every append made before it started. */
  private async syncTo(target: number): Promise<void> {
    while (this.durable < target && this.fd !== undefined) {
      this.syncing ??= (async () => {
        const upTo = this.next;
        const fd = this.fd!;
        await new Promise<void>((resolve, reject) =>
          fdatasync(fd, (e) => (e && fd === this.fd ? reject(e) : resolve())),
        );
        this.durable = Math.max(this.durable, upTo);
      })().finally(() => (this.syncing = undefined));
      await this.syncing;
    }
  }

  /** Deletes the oldest segment holding unpublished records (policy `drop-oldest`); false if none can go. */
  private dropOldest(incoming: number): boolean {
    if (this.depthBytes() + incoming <= this.maxBytes) return false;
    const i = this.segments.findIndex((s) => s.first + s.count > this.published);
    const s = this.segments[i];
    if (s === undefined) return false;
    if (i === this.segments.length - 1 && this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    const dropped = s.first + s.count - Math.max(s.first, this.published);
    this.segments.splice(i, 1);
    rmSync(join(this.dir, 'segments', segmentName(s.first)), { force: true });
    this.stats_.droppedRecords += dropped;
    const after = this.segments[i];
    this.setPublished(
      after === undefined
        ? { sequence: this.next, segment: this.next, offset: 0 }
        : { sequence: after.first, segment: after.first, offset: 0 },
    );
    return true;
  }

  /**
   * Advances the `published` cursor after the broker acknowledged every record before
   * `position.sequence`. Going backwards is ignored. Every advance writes the cursor file
   * (atomically); it is made durable (fsync of the file and the directory) at most once per
   * `publishedSyncMs` (and at `close()`), and segments wholly below the cursor are deleted only then.
   * A crash of the process therefore resends nothing: the kernel holds the file it wrote. A crash of
   * the machine finds the cursor as last made durable (or an earlier one) and sends again what was
   * acknowledged after it, at most `publishedSyncMs` of records — the spool's promise (at least once:
   * a record may be sent twice, never lost; AGENT.md); the processor maps a repeated event to the
   * same triples (IRIs from its ids), which the store holds once. Nothing below a durable cursor is
   * deleted, so no record is lost either way. (Issue #21: the two fsyncs per publish step were the
   * largest part of setting E's kernel time in the trainer's process.)
   */
  markPublished(position: SpoolPosition): void {
    if (position.sequence <= this.published || this.closed) return;
    this.published = position.sequence;
    this.publishedPos = position;
    const wait = this.persistedAt + this.publishedSyncMs - Date.now();
    if (wait <= 0) this.persistPublished();
    else {
      writePublished(this.dir, this.published, false);
      this.persistTimer ??= setTimeout(() => {
        this.persistTimer = undefined;
        if (!this.closed) this.persistPublished();
      }, wait).unref();
    }
  }

  /** Writes the `published` cursor file (atomically, fsynced) and deletes the segments wholly below it. */
  private persistPublished(): void {
    if (this.persistTimer !== undefined) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    this.persistedAt = Date.now();
    if (this.persisted === this.published) return;
    writePublished(this.dir, this.published);
    this.persisted = this.published;
    let deleted = false;
    while (this.segments.length > 1 && this.segments[0]!.first + this.segments[0]!.count <= this.persisted) {
      rmSync(join(this.dir, 'segments', segmentName(this.segments.shift()!.first)), { force: true });
      deleted = true;
    }
    if (deleted) fsyncDir(join(this.dir, 'segments'));
    this.marks = this.marks.filter((m) => m.end > this.published);
  }

  /** Moves the cursor and writes it at once (records dropped under the cap). */
  private setPublished(position: SpoolPosition): void {
    this.published = position.sequence;
    this.publishedPos = position;
    this.persistPublished();
  }

  /** Forces everything appended to disk. */
  async flush(): Promise<void> {
    if (this.fsync !== 'never') await this.syncTo(this.next);
  }

  /** Flushes, closes the active segment and releases the LOCK. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush().catch(() => undefined);
    if (this.persisted !== this.published) this.persistPublished();
    clearTimeout(this.persistTimer);
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    releaseLock(this.dir);
  }
}
