/**
 * Queries of the embedded store on a pool of worker threads, each holding a replica of the store.
 * Oxigraph (WebAssembly) answers synchronously and cannot be interrupted, so a query past its
 * deadline ends its thread; a replacement builds its replica by replaying what was loaded (streamed
 * in chunks, never one dump) while the other threads keep answering.
 *
 * Loads go to every replica in order, before any later query, so a query sees every load that was
 * acknowledged before it was asked. Queries go to a free replica. A query running longer than
 * `heavyAfterMs` is heavy: heavy queries may hold all threads but one (the last one is kept for
 * everything else), a client may run only `maxHeavyPerClient` of them at once, and an untrusted query
 * of a client whose queries were heavy lately waits for a heavy thread rather than taking the last
 * free one. A replica whose memory grew past `memoryHeadroomBytes` answering a query is replaced.
 */
import { Worker } from 'node:worker_threads';
import { silentLogger, type Logger } from '@provml/schemas';
import { QueryError, QueryTimeoutError } from './QueryErrors.ts';
import { AnswerTooLargeError, TooManyQueriesError } from './QueryLimitErrors.ts';
import type { QueryDataset, StoreChange, StoreResult } from './TripleStore.ts';

/** Who asks a query: the client address, and whether the query text came from that client. */
export interface QueryCaller {
  client: string;
  /** A query written by the client (`/sparql`), rather than one of the server's own views. */
  untrusted: boolean;
}

/** Settings of a pool. */
export interface QueryPoolOptions {
  /** Threads, each with a replica. Default 2. */
  workers?: number;
  /** Everything loaded (and graphs dropped) so far, in order, in batches: how a new replica is built. */
  replay: () => AsyncIterable<readonly StoreChange[]>;
  /** Largest answer, in bytes of its serialisation. Default 64 MiB. */
  maxResultBytes?: number;
  /** A query running longer than this is heavy. Default 1000 ms. */
  heavyAfterMs?: number;
  /** Heavy queries one client may run (or wait for) at once. Default 1. */
  maxHeavyPerClient?: number;
  /** How long a client whose query was heavy has its untrusted queries sent to the heavy threads. Default 60 s. */
  suspectMs?: number;
  /** A replica whose WebAssembly memory grew by more than this answering one query is replaced. Default 256 MiB. */
  memoryHeadroomBytes?: number;
  /** JavaScript heap of each thread, MiB (serialisation happens there). Default 512. */
  workerHeapMb?: number;
  /** Who is asking the query being run (from the caller's async context). */
  caller?: () => QueryCaller | undefined;
  logger?: Logger;
}

interface Job {
  id: number;
  sparql: string;
  mediaType: string;
  graph: boolean | undefined;
  dataset: QueryDataset | undefined;
  caller: QueryCaller | undefined;
  timeoutMs: number | undefined;
  /** Sent to the heavy threads (its client's queries were heavy), or preempted from the last free one. */
  flagged: boolean;
  /** Counts as heavy: flagged, or running past `heavyAfterMs`. */
  heavy: boolean;
  slot?: Slot;
  resolve: (body: string) => void;
  reject: (error: Error) => void;
  deadline?: NodeJS.Timeout;
  heavyTimer?: NodeJS.Timeout;
  kind: 'query' | 'size';
  /** When it was asked (ms, performance.now()). */
  askedAt: number;
}

interface Slot {
  id: number;
  worker: Worker;
  state: 'building' | 'ready' | 'retiring' | 'dead';
  job?: Job;
  /** WebAssembly memory of the replica, bytes, as last reported. */
  memory: number;
  /** Memory when its running query started. */
  memoryAtStart: number;
  /** Loads sent and not yet answered, by id. */
  loads: Set<number>;
  /** Replay chunks sent and not yet answered (rejected when the replica aborts). */
  chunks: Map<number, { resolve: () => void; reject: (error: Error) => void }>;
}

interface Reply {
  type: 'started' | 'loaded' | 'answer' | 'size';
  id?: number;
  body?: string;
  size?: number;
  error?: string;
  kind?: 'too-large' | 'crashed' | 'invalid';
  memory: number;
}

/** Statistics of the pool, for health and metrics. */
export interface QueryPoolStats {
  workers: number;
  ready: number;
  building: number;
  busy: number;
  heavy: number;
  queued: number;
  /** Threads ended for a query past its deadline, a crash or memory, and replaced. */
  replaced: number;
  /** Queries moved off the last free thread because they turned heavy. */
  preempted: number;
  /** Queries refused because their client ran its share of heavy queries. */
  refused: number;
  /** WebAssembly memory of every replica together, bytes. */
  memoryBytes: number;
  /** Time the first replicas took to build, ms (undefined while building). */
  firstBuildMs?: number;
}

/** A load waiting for the first replica to answer. */
interface PendingLoad {
  resolve: (result: StoreResult) => void;
  /** Replicas it was sent to that have not answered. */
  waiting: Set<Slot>;
}

/** The pool of replicas; see the file comment. */
export class OxigraphQueryPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly loads = new Map<number, PendingLoad>();
  private readonly suspects = new Map<string, number>();
  private nextId = 0;
  private nextSlot = 0;
  private closed = false;
  private readonly size: number;
  private readonly maxResultBytes: number;
  private readonly heavyAfterMs: number;
  private readonly maxHeavyPerClient: number;
  private readonly suspectMs: number;
  private readonly headroom: number;
  private readonly heapMb: number;
  private readonly logger: Logger;
  private readonly firstBuild: Promise<void>;
  private readonly counters = { replaced: 0, preempted: 0, refused: 0 };
  private firstBuildMs: number | undefined;

  constructor(private readonly options: QueryPoolOptions) {
    this.size = Math.max(1, options.workers ?? 2);
    this.maxResultBytes = options.maxResultBytes ?? 64 * 2 ** 20;
    this.heavyAfterMs = options.heavyAfterMs ?? 1000;
    this.maxHeavyPerClient = options.maxHeavyPerClient ?? 1;
    this.suspectMs = options.suspectMs ?? 60_000;
    this.headroom = options.memoryHeadroomBytes ?? 256 * 2 ** 20;
    this.heapMb = options.workerHeapMb ?? 512;
    this.logger = options.logger ?? silentLogger;
    const started = performance.now();
    const first = Array.from({ length: this.size }, () => this.spawn());
    this.firstBuild = this.build(first).then(() => {
      this.firstBuildMs = performance.now() - started;
    });
    // a failed first build is reported by ready(); keep it from being an unhandled rejection
    this.firstBuild.catch(() => undefined);
  }

  /** Resolves once the first replicas hold everything replayed. */
  ready(): Promise<void> {
    return this.firstBuild;
  }

  /**
   * Sends loaded N-Quads, or the drop of a named graph, to every replica; resolves with the first
   * replica's outcome.
   */
  load(change: StoreChange): Promise<StoreResult> {
    if (this.closed) return Promise.resolve({ kind: 'failure', error: new Error('the store is closed') });
    const live = this.slots.filter((s) => s.state !== 'dead');
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.loads.set(id, { resolve, waiting: new Set(live) });
      for (const slot of live) {
        slot.loads.add(id);
        slot.worker.postMessage(
          typeof change === 'string'
            ? { type: 'load', id, nquads: change }
            : { type: 'load', id, dropGraph: change.dropGraph },
        );
      }
      if (live.length === 0) this.settleLoad(id, { kind: 'success' });
    });
  }

  /** Runs a query on a free replica (over `dataset` when given), stopping it after `timeoutMs`. */
  query(
    sparql: string,
    mediaType: string,
    timeoutMs?: number,
    graph?: boolean,
    dataset?: QueryDataset,
  ): Promise<string> {
    return this.submit('query', sparql, mediaType, timeoutMs, graph, dataset);
  }

  /** Quads held by a replica. */
  async count(): Promise<number> {
    return Number(await this.submit('size', '', '', undefined, undefined));
  }

  private submit(
    kind: Job['kind'],
    sparql: string,
    mediaType: string,
    timeoutMs: number | undefined,
    graph: boolean | undefined,
    dataset?: QueryDataset,
  ): Promise<string> {
    if (this.closed) return Promise.reject(new QueryError('the store is closed'));
    const caller = kind === 'query' ? this.options.caller?.() : undefined;
    if (caller?.untrusted === true && this.isSuspect(caller.client)) {
      const held = this.heavyOf(caller.client);
      if (held >= this.maxHeavyPerClient) {
        this.counters.refused++;
        return Promise.reject(new TooManyQueriesError(caller.client, this.maxHeavyPerClient));
      }
    }
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        kind,
        sparql,
        mediaType,
        graph,
        dataset,
        caller,
        timeoutMs,
        flagged: false,
        heavy: false,
        resolve,
        reject,
        askedAt: performance.now(),
      };
      if (timeoutMs !== undefined) job.deadline = setTimeout(() => this.expire(job), timeoutMs);
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Statistics for health and metrics. */
  stats(): QueryPoolStats {
    const live = this.slots.filter((s) => s.state !== 'dead');
    return {
      workers: this.size,
      ready: live.filter((s) => s.state === 'ready').length,
      building: live.filter((s) => s.state === 'building').length,
      busy: live.filter((s) => s.job !== undefined).length,
      heavy: this.heavyRunning(),
      queued: this.queue.length,
      ...this.counters,
      memoryBytes: live.reduce((n, s) => n + s.memory, 0),
      firstBuildMs: this.firstBuildMs,
    };
  }

  /**
   * Why the query side cannot answer a new query soon, or null: no replica ready, or a query that
   * is not waiting for a heavy thread has waited a second or more for any thread.
   */
  saturation(): string | null {
    const s = this.stats();
    if (s.ready === 0) return s.building > 0 ? 'no query thread ready: building replicas' : 'no query thread';
    const oldest = this.queue.find((j) => !j.flagged);
    const waited = oldest === undefined ? 0 : performance.now() - oldest.askedAt;
    if (waited >= 1000)
      return `saturated: ${s.busy} of ${s.workers} query threads busy (${s.heavy} heavy), ${s.queued} queries waiting, the oldest for ${Math.round(waited)} ms`;
    return null;
  }

  // -- threads ---------------------------------------------------------------------------------

  private spawn(): Slot {
    const worker = new Worker(new URL('./oxigraphQueryWorker.mjs', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
    });
    worker.unref();
    const slot: Slot = {
      id: this.nextSlot++,
      worker,
      state: 'building',
      memory: 0,
      memoryAtStart: 0,
      loads: new Set(),
      chunks: new Map(),
    };
    this.slots.push(slot);
    worker.on('message', (reply: Reply) => this.onReply(slot, reply));
    worker.on('error', (error) => this.onDeath(slot, error));
    worker.on('exit', (code) => {
      if (slot.state !== 'dead') this.onDeath(slot, new Error(`the query thread exited (${code})`));
    });
    return slot;
  }

  /** Replays everything into building replicas, a few chunks in flight; marks them ready. */
  private async build(slots: Slot[]): Promise<void> {
    let inFlight: Promise<void>[] = [];
    for await (const parts of this.options.replay()) {
      const building = slots.filter((s) => s.state === 'building');
      if (building.length === 0 || this.closed) return;
      const id = this.nextId++;
      inFlight.push(
        ...building.map(
          (slot) =>
            new Promise<void>((resolve, reject) => {
              slot.chunks.set(id, { resolve, reject });
              slot.worker.postMessage({ type: 'load', id, parts });
            }),
        ),
      );
      if (inFlight.length >= 2 * building.length) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    for (const slot of slots)
      if (slot.state === 'building') {
        slot.state = 'ready';
        this.retireOld();
      }
    this.dispatch();
  }

  /** Replaces a replica: a new one is built while the others answer. */
  private replace(slot: Slot, why: string): void {
    this.counters.replaced++;
    this.logger.info('replacing a query thread', { why, thread: slot.id });
    this.kill(slot);
    if (!this.closed) this.respawn();
  }

  /** Starts a new replica; if its replay fails, tries again a second later. */
  private respawn(): void {
    const fresh = this.spawn();
    this.build([fresh]).catch((error: unknown) => {
      this.logger.error('could not build a replica; trying again in 1 s', { error });
      this.kill(fresh);
      setTimeout(() => {
        if (!this.closed) this.respawn();
      }, 1000).unref();
    });
  }

  /** Ends a thread; its loads count as answered by it (the replay of a replacement holds them). */
  private kill(slot: Slot): void {
    if (slot.state === 'dead') return;
    slot.state = 'dead';
    void slot.worker.terminate();
    for (const chunk of slot.chunks.values()) chunk.resolve();
    slot.chunks.clear();
    for (const id of slot.loads) this.loadAnswered(id, slot, undefined);
    slot.loads.clear();
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  /** A thread that died by itself (crash, its heap limit): its query fails, a replacement is built. */
  private onDeath(slot: Slot, error: Error): void {
    if (slot.state === 'dead') return;
    const job = slot.job;
    slot.job = undefined;
    if (job !== undefined) {
      this.finish(job);
      job.reject(
        /memory/i.test(error.message)
          ? new AnswerTooLargeError(this.maxResultBytes, 'memory')
          : new QueryError(`the query thread failed: ${error.message}`, error),
      );
    }
    this.replace(slot, error.message);
    this.dispatch();
  }

  /** Replicas marked for retirement go once as many fresh ones are ready. */
  private retireOld(): void {
    const ready = this.slots.filter((s) => s.state === 'ready').length;
    for (const slot of this.slots.filter((s) => s.state === 'retiring'))
      if (slot.job === undefined && ready >= this.size) this.kill(slot);
  }

  private onReply(slot: Slot, reply: Reply): void {
    slot.memory = reply.memory;
    if (reply.type === 'loaded' && reply.id !== undefined) {
      const chunk = slot.chunks.get(reply.id);
      if (chunk !== undefined) {
        slot.chunks.delete(reply.id);
        if (reply.kind === 'crashed')
          chunk.reject(
            new Error(
              `a replica aborted loading the store (${reply.error}): the store needs more than the 4 GiB a WebAssembly replica may hold`,
            ),
          );
        else chunk.resolve();
        return;
      }
      slot.loads.delete(reply.id);
      this.loadAnswered(reply.id, slot, reply.error);
      if (reply.kind === 'crashed')
        this.onDeath(slot, new Error(`the replica aborted loading: ${reply.error}`));
      return;
    }
    if (reply.type !== 'answer' && reply.type !== 'size') return;
    const job = slot.job;
    if (job === undefined || job.id !== reply.id) return;
    slot.job = undefined;
    this.finish(job);
    if (reply.kind === 'crashed') {
      job.reject(new AnswerTooLargeError(this.maxResultBytes, 'memory'));
      this.replace(slot, `the replica aborted: ${reply.error}`);
    } else if (reply.kind === 'too-large') job.reject(new AnswerTooLargeError(this.maxResultBytes));
    else if (reply.error !== undefined) job.reject(new QueryError(reply.error));
    else job.resolve(reply.type === 'size' ? String(reply.size) : (reply.body ?? ''));
    if (slot.state === 'ready' && reply.memory - slot.memoryAtStart > this.headroom) {
      // the query grew this replica's memory for good (WebAssembly memory never shrinks)
      slot.state = 'retiring';
      this.counters.replaced++;
      this.logger.info('replacing a query thread that grew', {
        thread: slot.id,
        grewBytes: reply.memory - slot.memoryAtStart,
      });
      this.respawn();
    }
    this.retireOld();
    this.dispatch();
  }

  private loadAnswered(id: number, slot: Slot, error: string | undefined): void {
    const pending = this.loads.get(id);
    if (pending === undefined) return;
    pending.waiting.delete(slot);
    // the first replica to answer decides; a replica that ended before answering says nothing
    if (slot.state !== 'dead')
      this.settleLoad(
        id,
        error === undefined ? { kind: 'success' } : { kind: 'failure', error: new Error(error) },
      );
    else if (pending.waiting.size === 0) this.settleLoad(id, { kind: 'success' });
  }

  private settleLoad(id: number, result: StoreResult): void {
    const pending = this.loads.get(id);
    if (pending === undefined) return;
    this.loads.delete(id);
    pending.resolve(result);
  }

  // -- scheduling ------------------------------------------------------------------------------

  private heavyRunning(): number {
    return this.slots.filter((s) => s.job?.heavy === true).length;
  }

  /** Heavy queries of a client: running heavy, or waiting flagged. */
  private heavyOf(client: string): number {
    let n = 0;
    for (const s of this.slots) if (s.job?.heavy === true && s.job.caller?.client === client) n++;
    for (const j of this.queue) if (j.flagged && j.caller?.client === client) n++;
    return n;
  }

  private isSuspect(client: string): boolean {
    const until = this.suspects.get(client);
    if (until !== undefined && until > Date.now()) return true;
    if (until !== undefined) this.suspects.delete(client);
    return this.slots.some((s) => s.job?.heavy === true && s.job.caller?.client === client);
  }

  private suspect(job: Job): void {
    if (job.caller !== undefined) this.suspects.set(job.caller.client, Date.now() + this.suspectMs);
  }

  /** Heavy queries may hold every thread but one (with one thread, the only one). */
  private heavyRoom(): boolean {
    return this.size === 1 || this.heavyRunning() < this.size - 1;
  }

  private dispatch(): void {
    if (this.closed) return;
    for (let i = 0; i < this.queue.length;) {
      const free = this.slots.find((s) => s.state === 'ready' && s.job === undefined);
      if (free === undefined) return;
      const job = this.queue[i]!;
      const client = job.caller?.client;
      const flagged =
        job.flagged || (job.caller?.untrusted === true && client !== undefined && this.isSuspect(client));
      if (flagged) {
        const clientRoom =
          client === undefined || this.heavyOf(client) - (job.flagged ? 1 : 0) < this.maxHeavyPerClient;
        if (!this.heavyRoom() || !clientRoom) {
          job.flagged = true;
          i++;
          continue;
        }
      }
      this.queue.splice(i, 1);
      this.run(job, free, flagged);
    }
  }

  private run(job: Job, slot: Slot, flagged: boolean): void {
    slot.job = job;
    slot.memoryAtStart = slot.memory;
    job.slot = slot;
    job.flagged = flagged;
    job.heavy = flagged;
    if (!flagged && job.kind === 'query')
      job.heavyTimer = setTimeout(() => this.turnHeavy(job), this.heavyAfterMs);
    if (job.kind === 'size') slot.worker.postMessage({ type: 'size', id: job.id });
    else
      slot.worker.postMessage({
        type: 'query',
        id: job.id,
        sparql: job.sparql,
        mediaType: job.mediaType,
        graph: job.graph,
        dataset: job.dataset,
        maxBytes: this.maxResultBytes,
      });
  }

  /**
   * A query ran past the heavy threshold. If that leaves no thread for other queries, it is moved:
   * its thread is replaced and it waits, flagged, for a heavy thread.
   */
  private turnHeavy(job: Job): void {
    const slot = job.slot;
    if (slot === undefined || slot.job !== job) return;
    job.heavy = true;
    if (job.caller?.untrusted === true) this.suspect(job);
    if (this.size > 1 && this.heavyRunning() > this.size - 1) {
      this.counters.preempted++;
      slot.job = undefined;
      job.slot = undefined;
      job.heavy = false;
      job.flagged = true;
      this.queue.unshift(job);
      this.replace(slot, 'a query turned heavy on the last free thread');
    }
    this.dispatch();
  }

  private finish(job: Job): void {
    clearTimeout(job.deadline);
    clearTimeout(job.heavyTimer);
    job.slot = undefined;
    if (job.heavy && job.caller?.untrusted === true) this.suspect(job);
  }

  /** A query past its deadline: it fails; a running one ends its thread, which is replaced. */
  private expire(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    const slot = job.slot;
    this.finish(job);
    if (job.caller?.untrusted === true) this.suspect(job);
    job.reject(new QueryTimeoutError(job.timeoutMs ?? 0));
    if (slot !== undefined && slot.job === job) {
      slot.job = undefined;
      this.replace(slot, 'a query ran past its deadline');
    }
    this.dispatch();
  }

  /** Ends every thread; waiting and running queries fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const jobs = [...this.queue, ...this.slots.flatMap((s) => (s.job === undefined ? [] : [s.job]))];
    this.queue.length = 0;
    for (const job of jobs) {
      this.finish(job);
      job.reject(new QueryError('the store was closed'));
    }
    for (const id of [...this.loads.keys()])
      this.settleLoad(id, { kind: 'failure', error: new Error('the store was closed') });
    const workers = this.slots.map((s) => s.worker);
    for (const slot of [...this.slots]) {
      for (const chunk of slot.chunks.values()) chunk.resolve();
      slot.state = 'dead';
    }
    this.slots.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
