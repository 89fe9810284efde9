/**
 * An in-process partitioned log with offsets and consumer-group positions: the stand-in for Kafka on
 * one machine, in memory or durable (a data directory: every partition and the groups' positions on
 * disk, see logFiles.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock, releaseLock } from '@provml/capture-agent';
import { SpoolLockedError, silentLogger, type Logger } from '@provml/schemas';
import {
  OffsetFiles,
  PartitionFiles,
  directoryBytes,
  readTopics,
  topicDir,
  writeTopicMeta,
  type StoredRecord,
} from './logFiles.ts';
import { partitionFor } from './murmur2.ts';
import type {
  ConsumedRecord,
  ConsumerOptions,
  EventLog,
  LogConsumer,
  LogProducer,
  ProducedRecord,
  RecordBatch,
  TableReader,
  TopicOptions,
} from './ports.ts';

/**
 * The records still held of one partition, in offset order. Offsets are consecutive in memory; on
 * disk a record larger than a spool record takes several numbers, so `offsets` and `nexts` (the
 * offset after each record) are kept rather than computed.
 */
interface Partition {
  records: ConsumedRecord[];
  offsets: number[];
  nexts: number[];
  /** The next offset to be given. */
  end: number;
  files?: PartitionFiles;
}

interface Topic {
  name: string;
  partitions: Partition[];
  compacted: boolean;
  /** Groups that consume the topic: records all of them committed are released (not compacted topics). */
  groups: Set<string>;
}

/** Settings of the embedded log. */
export interface EmbeddedLogOptions {
  /** Partitions of a topic created by its first use. Default 4. */
  defaultPartitions?: number;
  /**
   * Release records of topics that are not compacted once every group consuming the topic has
   * committed past them, so a long-running process holds only what is in flight. A group that
   * subscribes later starts from what is still held. Default false (keep everything, as a broker
   * within its retention time).
   */
  releaseConsumed?: boolean;
  /**
   * Topics kept whole whatever the groups have read: in memory (an in-memory log), or on disk (a
   * durable log, which still releases them from memory). The embedded stack keeps the triples topic,
   * from which a store is rebuilt.
   */
  retainedTopics?: readonly string[];
  /**
   * Which groups' positions are persisted by a durable log. Others (a live feed with a fresh group id
   * per process) start a new process from what is held. Default: every group.
   */
  persistGroup?: (groupId: string) => boolean;
  logger?: Logger;
}

/** First index of `offsets` (ascending) at or after `offset`. */
function indexAt(offsets: readonly number[], offset: number): number {
  let lo = 0;
  let hi = offsets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (offsets[mid]! < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How often a durable log lets partitions drop segments every group has read. */
const RELEASE_INTERVAL_MS = 5_000;

/**
 * Keeps records per partition, with Kafka's offset semantics. One consumer per group (embedded mode
 * runs one of each service); positions are kept per group. `EmbeddedLog.open(dir)` makes it durable.
 */
export class EmbeddedLog implements EventLog {
  private readonly topics = new Map<string, Topic>();
  private readonly committed = new Map<string, number>();
  private readonly roundRobin = new Map<string, number>();
  private wakeups: (() => void)[] = [];

  private readonly defaultPartitions: number;
  private readonly releaseConsumed: boolean;
  private readonly retained: ReadonlySet<string>;
  private readonly persistGroup: (groupId: string) => boolean;
  private readonly logger: Logger;
  private dir: string | undefined;
  private offsets: OffsetFiles | undefined;
  private releaseTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: EmbeddedLogOptions = {}) {
    this.defaultPartitions = options.defaultPartitions ?? 4;
    this.releaseConsumed = options.releaseConsumed ?? false;
    this.retained = new Set(options.retainedTopics ?? []);
    this.persistGroup = options.persistGroup ?? (() => true);
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * A durable log in `dir` (created if missing): takes the directory's lock, recovers every
   * partition (a torn last write is cut off), reads the groups' positions, and holds in memory what
   * some group has not yet read (and compacted topics whole).
   * @throws SpoolLockedError when another live process holds the directory
   */
  static open(dir: string, options: EmbeddedLogOptions = {}): EmbeddedLog {
    const log = new EmbeddedLog(options);
    mkdirSync(dir, { recursive: true });
    try {
      acquireLock(dir);
    } catch (error) {
      if (!(error instanceof SpoolLockedError)) throw error;
      throw new SpoolLockedError(
        `the data directory ${dir} is in use by another live process (pid ${error.context.pid}): stop it, or give another --data-dir`,
        error.context,
      );
    }
    try {
      log.dir = dir;
      log.offsets = OffsetFiles.open(join(dir, 'offsets'), log.logger);
      for (const [name, meta] of readTopics(dir)) {
        const topic = log.addTopic(name, meta.partitions, meta.compacted);
        topic.partitions.forEach((p, i) => log.restorePartition(topic, p, i));
      }
      for (const { g, t, p, o } of log.offsets.positions.values())
        if (log.persistGroup(g)) log.committed.set(log.key(g, t, p), o);
    } catch (error) {
      releaseLock(dir);
      throw error;
    }
    log.releaseTimer = setInterval(() => log.releaseOnDisk(), RELEASE_INTERVAL_MS);
    log.releaseTimer.unref();
    return log;
  }

  /** Reads back what some persisted group has not committed yet (a compacted topic: everything). */
  private restorePartition(topic: Topic, p: Partition, index: number): void {
    const files = PartitionFiles.open(join(topicDir(this.dir!, topic.name), String(index)), this.logger);
    p.files = files;
    p.end = files.end;
    let from = 0;
    if (!topic.compacted) {
      const positions = [...this.offsets!.positions.values()]
        .filter((e) => e.t === topic.name && e.p === index && this.persistGroup(e.g))
        .map((e) => e.o);
      if (positions.length > 0) from = Math.min(...positions);
    }
    for (const batch of files.read(from)) for (const r of batch) this.hold(topic.name, index, p, r);
  }

  /** The data directory of a durable log (undefined in memory). */
  get dataDir(): string | undefined {
    return this.dir;
  }

  /** Bytes the log takes on disk (0 in memory). */
  diskBytes(): number {
    return this.dir === undefined ? 0 : directoryBytes(this.dir);
  }

  partitionCount(topic: string): Promise<number> {
    return Promise.resolve(this.topics.get(topic)?.partitions.length ?? 0);
  }

  ensureTopic(topic: string, partitions: number, options: TopicOptions = {}): Promise<void> {
    if (!this.topics.has(topic)) this.createTopic(topic, partitions, options.compacted ?? false);
    return Promise.resolve();
  }

  /** The next offset of every partition of a topic (its end offsets). */
  endOffsets(topic: string): number[] {
    return (this.topics.get(topic)?.partitions ?? []).map((p) => p.end);
  }

  /** The records still held in memory of a topic, partition by partition (for tests and tools). */
  records(topic: string): ConsumedRecord[] {
    return (this.topics.get(topic)?.partitions ?? []).flatMap((p) => p.records);
  }

  /**
   * Every record of a topic up to its current end (or `ends`, per partition), in batches of about
   * `batchBytes`: from disk in a durable log, from memory otherwise (complete for retained topics;
   * what is held for others). Yields to the event loop between batches.
   */
  async *readAll(
    topic: string,
    batchBytes = 4 << 20,
    ends?: readonly number[],
  ): AsyncGenerator<ConsumedRecord[]> {
    const t = this.topics.get(topic);
    if (t === undefined) return;
    for (const [index, p] of t.partitions.entries()) {
      const end = ends?.[index] ?? p.end;
      if (p.files !== undefined) {
        for (const batch of p.files.read(0, batchBytes, end)) {
          yield batch.map((r) => this.consumed(topic, index, r));
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        continue;
      }
      const records = p.records.slice(0, indexAt(p.offsets, end));
      let from = 0;
      while (from < records.length) {
        let bytes = 0;
        let to = from;
        while (to < records.length && (to === from || bytes < batchBytes))
          bytes += records[to++]!.value.length;
        yield records.slice(from, to);
        from = to;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  /** Records a group has not yet committed, over all partitions of a topic. */
  lag(groupId: string, topic: string): number {
    return this.endOffsets(topic).reduce((sum, end, p) => sum + end - this.position(groupId, topic, p), 0);
  }

  producer(): LogProducer {
    return {
      send: async (topic, records) => {
        await this.appendDurable(topic, records);
      },
    };
  }

  /**
   * Appends synchronously (visible to consumers at once); returns the offsets given. In a durable
   * log the records are written before this returns; {@link appendDurable} also waits for the fsync.
   */
  append(topic: string, records: readonly ProducedRecord[]): string[] {
    const { offsets, durable } = this.appendRecords(topic, records);
    durable?.catch((error: unknown) => this.logger.error('could not write to the log', { error, topic }));
    return offsets;
  }

  /** Appends and resolves once the records are on disk (fsynced; at once in memory). */
  async appendDurable(topic: string, records: readonly ProducedRecord[]): Promise<string[]> {
    const { offsets, durable } = this.appendRecords(topic, records);
    await durable;
    return offsets;
  }

  /**
   * Sets a group's positions on a topic (one per partition), as a commit would: for tools that
   * loaded a topic by other means (a store rebuilt from the triples topic).
   */
  commitOffsets(groupId: string, topic: string, positions: readonly number[]): void {
    const t = this.topics.get(topic) ?? this.createTopic(topic, this.defaultPartitions, false);
    positions.forEach((offset, p) => {
      if (p < t.partitions.length && offset > this.position(groupId, topic, p))
        this.commit(groupId, topic, p, offset);
    });
  }

  private appendRecords(
    topic: string,
    records: readonly ProducedRecord[],
  ): { offsets: string[]; durable: Promise<unknown> | undefined } {
    if (this.closed) return { offsets: [], durable: Promise.reject(new Error('the log is closed')) };
    const t = this.topics.get(topic) ?? this.createTopic(topic, this.defaultPartitions, false);
    const now = Date.now();
    const byPartition = new Map<number, number[]>();
    records.forEach((r, i) => {
      const p =
        r.key === null
          ? this.nextRoundRobin(topic, t.partitions.length)
          : partitionFor(r.key, t.partitions.length);
      const list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, [i]);
      else list.push(i);
    });
    const offsets: string[] = new Array<string>(records.length);
    const durable: Promise<void>[] = [];
    for (const [p, indexes] of byPartition) {
      const partition = t.partitions[p]!;
      const stored = indexes.map((i) => ({
        key: records[i]!.key,
        value: records[i]!.value,
        headers: records[i]!.headers ?? {},
        timestamp: now,
      }));
      let given: { offsets: number[]; nexts: number[] };
      if (partition.files !== undefined) {
        const written = partition.files.append(stored);
        durable.push(written.durable);
        given = written;
      } else {
        const first = partition.end;
        given = {
          offsets: stored.map((_, i) => first + i),
          nexts: stored.map((_, i) => first + i + 1),
        };
      }
      partition.end = given.nexts[given.nexts.length - 1] ?? partition.end;
      stored.forEach((r, i) => {
        const offset = given.offsets[i]!;
        this.hold(topic, p, partition, { ...r, offset, next: given.nexts[i]! });
        offsets[indexes[i]!] = String(offset);
      });
    }
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const w of wakeups) w();
    return { offsets, durable: durable.length === 0 ? undefined : Promise.all(durable) };
  }

  private consumed(topic: string, partition: number, r: StoredRecord): ConsumedRecord {
    return {
      topic,
      partition,
      offset: String(r.offset),
      key: r.key,
      value: r.value,
      headers: r.headers,
      timestamp: r.timestamp,
    };
  }

  private hold(topic: string, index: number, p: Partition, r: StoredRecord): void {
    p.records.push(this.consumed(topic, index, r));
    p.offsets.push(r.offset);
    p.nexts.push(r.next);
  }

  consumer(options: ConsumerOptions): LogConsumer {
    for (const topic of options.topics)
      (this.topics.get(topic) ?? this.createTopic(topic, this.defaultPartitions, false)).groups.add(
        options.groupId,
      );
    let running = false;
    let wake: (() => void) | undefined;
    const maxBatch = options.maxBatchSize ?? 1000;
    // topics in the order given (state topics first); partitions of a topic taken in turn, so none starves
    let turn = 0;
    const nextBatch = (): { batch: RecordBatch; next: number } | undefined => {
      turn++;
      for (const topic of options.topics) {
        const partitions = this.topics.get(topic)?.partitions ?? [];
        for (let i = 0; i < partitions.length; i++) {
          const p = (turn + i) % partitions.length;
          const partition = partitions[p]!;
          const from = indexAt(partition.offsets, this.position(options.groupId, topic, p));
          if (from < partition.records.length) {
            const to = Math.min(from + maxBatch, partition.records.length);
            return {
              batch: { topic, partition: p, records: partition.records.slice(from, to) },
              next: partition.nexts[to - 1]!,
            };
          }
        }
      }
      return undefined;
    };
    const stopped = { promise: Promise.resolve(), resolve: (): void => undefined };
    return {
      run: async (handler) => {
        running = true;
        stopped.promise = new Promise<void>((resolve) => (stopped.resolve = resolve));
        try {
          while (running) {
            const next = nextBatch();
            if (next === undefined) {
              await new Promise<void>((resolve) => {
                wake = resolve;
                this.wakeups.push(resolve);
              });
              continue;
            }
            const { batch } = next;
            const pending: [string, readonly ProducedRecord[]][] = [];
            await handler(batch, {
              send: (topic, records) => {
                pending.push([topic, records]);
                return Promise.resolve();
              },
            });
            // output and offsets in one synchronous step: nothing of a failed batch is visible; on
            // disk the output is fsynced before the offsets are written, so a crash in between
            // repeats the batch (its output is idempotent downstream) and never skips it
            const written = pending
              .map(([topic, records]) => this.appendRecords(topic, records).durable)
              .filter((d) => d !== undefined);
            if (written.length > 0) await Promise.all(written);
            this.commit(options.groupId, batch.topic, batch.partition, next.next);
          }
        } finally {
          stopped.resolve();
        }
      },
      stop: async () => {
        if (!running) return;
        running = false;
        wake?.();
        await stopped.promise;
      },
    };
  }

  tableReader(topic: string): TableReader {
    const positions: number[] = [];
    return {
      catchUp: (apply) => {
        (this.topics.get(topic)?.partitions ?? []).forEach((partition, p) => {
          for (let i = indexAt(partition.offsets, positions[p] ?? 0); i < partition.records.length; i++)
            apply(partition.records[i]!);
          positions[p] = partition.end;
        });
        return Promise.resolve();
      },
    };
  }

  /** Flushes every partition to disk and releases the data directory. Idempotent; nothing in memory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.releaseTimer);
    if (this.dir === undefined) return;
    this.releaseOnDisk();
    for (const t of this.topics.values()) for (const p of t.partitions) await p.files?.close();
    await this.offsets?.close();
    releaseLock(this.dir);
  }

  private createTopic(topic: string, partitions: number, compacted: boolean): Topic {
    const t = this.addTopic(topic, partitions, compacted);
    if (this.dir !== undefined && !this.closed) {
      writeTopicMeta(this.dir, topic, { partitions, compacted });
      t.partitions.forEach((p, i) => {
        p.files = PartitionFiles.open(join(topicDir(this.dir!, topic), String(i)), this.logger);
        p.end = p.files.end;
      });
    }
    return t;
  }

  private addTopic(topic: string, partitions: number, compacted: boolean): Topic {
    const t: Topic = {
      name: topic,
      partitions: Array.from({ length: partitions }, () => ({
        records: [],
        offsets: [],
        nexts: [],
        end: 0,
      })),
      compacted,
      groups: new Set(),
    };
    this.topics.set(topic, t);
    return t;
  }

  private commit(groupId: string, topic: string, partition: number, offset: number): void {
    this.committed.set(this.key(groupId, topic, partition), offset);
    if (this.offsets !== undefined && this.persistGroup(groupId) && !this.closed)
      this.offsets.commit(groupId, topic, partition, offset);
    const t = this.topics.get(topic)!;
    if (t.compacted || !this.releaseConsumed) return;
    // a retained topic stays whole: in memory when there is no disk to read it back from
    const p = t.partitions[partition]!;
    if (this.retained.has(topic) && p.files === undefined) return;
    let released = Infinity;
    for (const g of t.groups) released = Math.min(released, this.position(g, topic, partition));
    const n = indexAt(p.offsets, released);
    if (n > 0) {
      p.records.splice(0, n);
      p.offsets.splice(0, n);
      p.nexts.splice(0, n);
    }
  }

  /**
   * Lets partitions delete segments every persisted group has committed past (not compacted and not
   * retained topics, and only topics some persisted group consumes).
   */
  private releaseOnDisk(): void {
    for (const t of this.topics.values()) {
      if (t.compacted || this.retained.has(t.name)) continue;
      const groups = [...t.groups].filter((g) => this.persistGroup(g));
      if (groups.length === 0) continue;
      t.partitions.forEach((p, i) => {
        if (p.files === undefined) return;
        const released = Math.min(...groups.map((g) => this.position(g, t.name, i)));
        try {
          p.files.release(released);
        } catch (error) {
          this.logger.warn('could not release consumed log segments', { error, topic: t.name });
        }
      });
    }
  }

  private position(groupId: string, topic: string, partition: number): number {
    return this.committed.get(this.key(groupId, topic, partition)) ?? 0;
  }

  private key(groupId: string, topic: string, partition: number): string {
    return `${groupId}\u0000${topic}\u0000${partition}`;
  }

  private nextRoundRobin(topic: string, partitions: number): number {
    const n = this.roundRobin.get(topic) ?? 0;
    this.roundRobin.set(topic, n + 1);
    return n % partitions;
  }
}
