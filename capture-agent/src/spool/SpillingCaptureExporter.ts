/** The online capture transport that never holds the trainer up: direct sends while the transport keeps up, a local spill spool while it is down or behind. */
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  silentLogger,
  SpoolLockedError,
  ValidationError,
  type CaptureEvent,
  type Logger,
  type ProspectiveSpec,
} from '@provml/schemas';
import type { CaptureExporter, ExportResult } from '../CaptureExporter.ts';
import { pastDeadline } from '../deadline.ts';
import { SpoolPublisher, type SpoolPublishPort } from './SpoolPublisher.ts';
import { SpoolReader } from './SpoolReader.ts';
import { decodeEnvelope } from './spoolFormat.ts';
import { SpoolWriter, type SpoolOptions } from './SpoolWriter.ts';

/** Settings of the spill spool (`init`'s `spill`). */
export interface SpillOptions extends Pick<
  SpoolOptions,
  'fsync' | 'fsyncIntervalMs' | 'segmentBytes' | 'maxBytes'
> {
  /**
   * The spill spool's directory. Default: `<tmpdir>/provml-spill/<workflow>-<pid>-<random>`, made
   * on the first spill and removed once drained. A directory given here is kept; what an earlier
   * process left unsent in it is sent first (`recovered`); if a live process holds it, a default
   * directory is used instead.
   */
  dir?: string;
  /**
   * A direct export not answered within this many ms is written to the spill spool too, and so is
   * everything after it until the spool is drained (a batch stuck in a send may then arrive twice;
   * the pipeline is idempotent per eventId). Default 2000.
   */
  behindMs?: number;
  /** Back-off between attempts to send spilled events, ms (full jitter). Defaults 100 and 5000. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  logger?: Logger;
}

/** Counts of the delivery layer (events). */
export interface SpillStats {
  /** Accepted by the transport, directly or from the spill spool. */
  delivered: number;
  /** Refused for good by the receiver. */
  rejected: number;
  /** Could not be written to the spill spool (full, disk error): lost. */
  dropped: number;
  /** Written to the spill spool (cumulative). */
  spilled: number;
  /** In the spill spool now, not yet delivered (nor rejected). */
  spooled: number;
  /** Found unsent in an explicit spill directory at the first spill (an earlier process's). */
  recovered: number;
}

const SUCCESS: ExportResult = { kind: 'success' };

/** The indexes of the events a receiver's failure names by their 1-based line (none: it named no line of this batch). */
function refusedIndexes(error: Error, size: number): Set<number> {
  const out = new Set<number>();
  if (error instanceof ValidationError)
    for (const issue of error.issues)
      if (issue.line !== undefined && Number.isInteger(issue.line) && issue.line >= 1 && issue.line <= size)
        out.add(issue.line - 1);
  return out;
}

/** An export racing the `behindMs` timer; once abandoned, its late outcome counts nothing. */
interface DirectSend {
  abandoned: boolean;
  /** Events of the batch not yet dealt with (delivered or rejected). */
  remaining: readonly CaptureEvent[];
}

/**
 * Sends each export straight to `downstream` while it answers; a retryable outcome (the agent or
 * ingest is down) or no answer within `behindMs` sends the export, and every later one until the
 * spool is drained, to a spill spool in the agent's spool format (capture-agent/AGENT.md; spec
 * first, so `provml replay` can publish it), which a background `SpoolPublisher` sends oldest first
 * with back-off. Events the receiver refuses are counted as rejected and never sent again; the
 * rest of their batch is sent. Every export resolves as a success once its events are delivered,
 * rejected, spilled or counted as dropped, so the capture queue never waits on the transport.
 * Downstream calls are made one at a time.
 */
export class SpillingCaptureExporter implements CaptureExporter {
  private readonly counts = { delivered: 0, rejected: 0, dropped: 0, spilled: 0, recovered: 0 };
  private writer: SpoolWriter | undefined;
  private publisher: SpoolPublisher | undefined;
  private opening: Promise<SpoolWriter> | undefined;
  private spec: ProspectiveSpec | undefined;
  /** Sequence numbers of spill records that are not events (specs), to count unsent events. */
  private nonEvents: number[] = [];
  /** The downstream call in flight: calls are chained, one at a time. */
  private chain: Promise<unknown> = Promise.resolve();
  private failedAttempts = 0;
  private consecutiveFailures = 0;
  private directInFlight = 0;
  private owned = false;
  private dir: string | undefined;
  private madeUpDir: string | undefined;
  private behindTimer: NodeJS.Timeout | undefined;
  private behindWake: (() => void) | undefined;
  private onlySpill = false;
  /** Whether shutdown's flush ran out of time (events left spooled). */
  closedLate = false;
  private closed: Promise<void> | undefined;
  private readonly logger: Logger;
  private lastError: Error = new Error('the transport is down');

  constructor(
    private readonly downstream: CaptureExporter,
    private readonly options: SpillOptions & { workflow: string },
    /** Background errors (the transport down, refused events, spill errors): never thrown at the caller. */
    private readonly report: (error: Error) => void,
  ) {
    this.logger = options.logger ?? silentLogger;
  }

  /** Delivery counts now. */
  get stats(): SpillStats {
    return { ...this.counts, spooled: this.unsentEvents() };
  }

  /** The spill spool's directory once anything was spilled (else undefined). */
  get spoolPath(): string | undefined {
    return this.dir;
  }

  async exportSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    this.spec = spec;
    if (this.spilling() || this.hasLeftovers()) return this.spillSpec(spec);
    const r = await this.orBehind(this.call(() => this.downstream.exportSpec(spec)));
    if (r !== 'behind' && r.kind !== 'retryable') return r;
    this.wentDown(r === 'behind' ? this.notAnswering() : r.error);
    return this.spillSpec(spec);
  }

  async exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    if (this.spilling() || this.onlySpill) {
      await this.spill(events);
      return SUCCESS;
    }
    const send: DirectSend = { abandoned: false, remaining: events };
    this.directInFlight++;
    const outcome = await this.orBehind(this.direct(send, events));
    this.directInFlight--;
    if (outcome === 'behind') send.abandoned = true;
    const rest = outcome === 'behind' ? send.remaining : outcome;
    if (rest.length > 0) {
      this.wentDown(outcome === 'behind' ? this.notAnswering() : this.lastError);
      await this.spill(rest);
    }
    return SUCCESS;
  }

  /** `work`'s outcome, or `behind` when it has not come within `behindMs` (or `spillOnly()` was called). */
  private async orBehind<T>(work: Promise<T>): Promise<T | 'behind'> {
    if (this.onlySpill) return 'behind';
    const behind = new Promise<'behind'>((resolve) => (this.behindWake = () => resolve('behind')));
    // one timer for every export (one is in flight at a time), re-armed with refresh()
    if (this.behindTimer === undefined) {
      this.behindTimer = setTimeout(() => this.behindWake?.(), this.options.behindMs ?? 2000);
      this.behindTimer.unref();
    } else this.behindTimer.refresh();
    const outcome = await Promise.race([work, behind]);
    this.behindWake = undefined;
    return outcome;
  }

  /** From now on every export goes to the spill spool at once, the one in flight too (shutdown's time is nearly up). */
  spillOnly(): void {
    this.onlySpill = true;
    this.behindWake?.();
  }

  private notAnswering(): Error {
    return new Error(`no answer within ${this.options.behindMs ?? 2000} ms`);
  }

  /**
   * Waits until everything spilled is delivered, or the transport proved down (two attempts made
   * after the call failed: the spilled events stay spooled), or `deadline` (`Date.now()` ms).
   * @returns whether the deadline passed first
   */
  async flush(deadline: number): Promise<boolean> {
    const failedBefore = this.failedAttempts;
    this.publisher?.notify();
    let retried = false;
    while (this.unsentEvents() > 0 || this.directInFlight > 0) {
      const failed = this.failedAttempts - failedBefore;
      if (failed >= 2 && this.consecutiveFailures >= 2 && this.directInFlight === 0) return false;
      if (failed >= 1 && !retried) {
        retried = true; // one failure may be a lost connection: try again at once
        this.publisher?.notify();
      }
      const left = deadline - Date.now();
      if (left <= 0) return true;
      await new Promise((r) => setTimeout(r, Math.min(20, left)));
    }
    return false;
  }

  /**
   * Flushes (bounded by `deadline`), stops the publisher, closes the spill spool (removed when it
   * is the default one and drained) and the downstream transport, ending a send still in flight.
   * Idempotent.
   */
  shutdown(deadline = Date.now() + 5000): Promise<void> {
    this.closed ??= (async () => {
      this.closedLate = await this.flush(deadline);
      if (this.publisher !== undefined) await pastDeadline(this.publisher.shutdown(), deadline);
      if (this.behindTimer !== undefined) clearTimeout(this.behindTimer);
      await this.downstream.shutdown();
      const spooled = this.unsentEvents();
      if (this.writer !== undefined) {
        await this.writer.close();
        if (spooled === 0 && this.owned && this.dir !== undefined)
          rmSync(this.dir, { recursive: true, force: true });
        else if (spooled > 0)
          this.report(
            new Error(
              `${spooled} capture events were not delivered and wait in the spill spool ${this.dir}: ` +
                `sent by the next capture with spill.dir set to it, or with provml replay ${this.dir}`,
            ),
          );
      }
    })();
    return this.closed;
  }

  /** One downstream call, after the one in flight; a throw is a retryable outcome. */
  private call(fn: () => Promise<ExportResult>): Promise<ExportResult> {
    const run = this.chain.then(async (): Promise<ExportResult> => {
      let r: ExportResult;
      try {
        r = await fn();
      } catch (error) {
        r = { kind: 'retryable', error: error as Error };
      }
      if (r.kind === 'retryable') {
        this.failedAttempts++;
        this.consecutiveFailures++;
        this.lastError = r.error;
      } else this.consecutiveFailures = 0;
      return r;
    });
    this.chain = run;
    return run;
  }

  /**
   * Sends `batch` directly, taking out what the receiver refuses; resolves with the events not
   * delivered because the transport is down (none when all were dealt with).
   */
  private async direct(send: DirectSend, batch: readonly CaptureEvent[]): Promise<readonly CaptureEvent[]> {
    const r = await this.call(() => this.downstream.exportEvents(batch));
    if (send.abandoned) return [];
    if (r.kind === 'retryable') return batch;
    const done = (events: readonly CaptureEvent[]): void => {
      const gone = new Set(events);
      send.remaining = send.remaining.filter((e) => !gone.has(e));
    };
    if (r.kind === 'success') {
      this.counts.delivered += batch.length;
      done(batch);
      return [];
    }
    const bad = refusedIndexes(r.error, batch.length);
    if (bad.size === 0) {
      // refused without naming a line: halve until the refused events are found
      if (batch.length === 1) {
        this.rejected(batch, r.error);
        done(batch);
        return [];
      }
      const half = Math.ceil(batch.length / 2);
      const first = await this.direct(send, batch.slice(0, half));
      if (first.length > 0) return [...first, ...batch.slice(half)];
      return this.direct(send, batch.slice(half));
    }
    const refused = batch.filter((_, i) => bad.has(i));
    this.rejected(refused, r.error);
    done(refused);
    const rest = batch.filter((_, i) => !bad.has(i));
    return rest.length === 0 ? [] : this.direct(send, rest);
  }

  private rejected(events: readonly CaptureEvent[], error: Error): void {
    this.counts.rejected += events.length;
    const ids = events.slice(0, 10).map((e) => e.eventId);
    this.report(
      new Error(
        `the receiver refused ${events.length} capture events ${JSON.stringify(ids)}: ${error.message}`,
        {
          cause: error,
        },
      ),
    );
  }

  /** Whether exports go to the spill spool: it holds records not yet acknowledged. */
  private spilling(): boolean {
    const w = this.writer;
    if (w === undefined) return false;
    const s = w.stats;
    return s.next > s.published;
  }

  private unsentEvents(): number {
    const w = this.writer;
    if (w === undefined) return 0;
    const { next, published } = w.stats;
    let specs = 0;
    for (const s of this.nonEvents) if (s >= published) specs++;
    return Math.max(0, next - published - specs);
  }

  private wentDown(error: Error): void {
    if (this.spilling()) return;
    this.report(
      new Error(
        `capture transport down (${error.message}): events go to the spill spool ${this.dir ?? this.defaultDir()} ` +
          'and are sent from there, in order, when it answers',
        { cause: error },
      ),
    );
  }

  private async spillSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    try {
      const w = await this.open();
      if (this.nonEvents.length === 0 || this.nonEvents[this.nonEvents.length - 1] !== w.stats.next - 1) {
        this.nonEvents.push(w.stats.next);
        await w.append([{ spec }]);
        this.publisher?.notify();
      }
      return SUCCESS;
    } catch (error) {
      return { kind: 'failure', error: error as Error };
    }
  }

  /** Appends events to the spill spool (opening it, spec first); what cannot be written is dropped and counted. */
  private async spill(events: readonly CaptureEvent[]): Promise<void> {
    try {
      const w = await this.open();
      await w.append(events.map((event) => ({ event })));
      this.counts.spilled += events.length;
      this.publisher?.notify();
    } catch (error) {
      this.counts.dropped += events.length;
      this.report(
        new Error(
          `${events.length} capture events could not be written to the spill spool ${this.dir ?? ''}: ${(error as Error).message}`,
          { cause: error },
        ),
      );
    }
  }

  /** Whether the given spill directory holds segments (an earlier process's, maybe unsent): opened at once, sent first. */
  private hasLeftovers(): boolean {
    const dir = this.options.dir;
    if (dir === undefined || this.writer !== undefined) return false;
    try {
      return readdirSync(join(dir, 'segments')).length > 0;
    } catch {
      return false;
    }
  }

  /** `<tmpdir>/provml-spill/<workflow>-<pid>-<random>`, made up once. */
  private defaultDir(): string {
    this.madeUpDir ??= join(
      tmpdir(),
      'provml-spill',
      `${this.options.workflow}-${process.pid}-${randomBytes(4).toString('hex')}`,
    );
    return this.madeUpDir;
  }

  /** Opens the spill spool once: the given directory (or a default one), its leftovers counted, the spec written first. */
  private open(): Promise<SpoolWriter> {
    this.opening ??= (async () => {
      const spoolOptions: SpoolOptions = {
        fsync: this.options.fsync ?? 'batch',
        fsyncIntervalMs: this.options.fsyncIntervalMs,
        segmentBytes: this.options.segmentBytes,
        maxBytes: this.options.maxBytes,
        policy: 'reject',
        logger: this.logger,
      };
      let writer: SpoolWriter;
      try {
        if (this.options.dir === undefined) throw new SpoolLockedError('no spill directory given');
        writer = SpoolWriter.open(this.options.dir, spoolOptions);
        this.dir = this.options.dir;
      } catch (error) {
        if (!(error instanceof SpoolLockedError)) throw error;
        this.dir = this.defaultDir();
        this.owned = true;
        writer = SpoolWriter.open(this.dir, spoolOptions);
      }
      this.countLeftovers(writer);
      this.writer = writer;
      if (this.spec !== undefined) {
        this.nonEvents.push(writer.stats.next);
        await writer.append([{ spec: this.spec }]);
      }
      this.publisher = new SpoolPublisher(writer, this.port(), {
        logger: this.logger,
        initialDelayMs: this.options.initialDelayMs,
        maxDelayMs: this.options.maxDelayMs,
      });
      this.publisher.start();
      return writer;
    })();
    return this.opening;
  }

  /** Counts the events an earlier process left unsent, and notes where its other records lie. */
  private countLeftovers(writer: SpoolWriter): void {
    const reader = new SpoolReader(writer.dir);
    let position = writer.publishedPosition;
    for (;;) {
      const read = reader.read(position, { maxRecords: 10_000, limit: writer.stats.next });
      for (const r of read.records)
        if (decodeEnvelope(r.payload)?.kind === 'event') this.counts.recovered++;
        else this.nonEvents.push(r.sequence);
      if (read.next.sequence <= position.sequence || read.records.length === 0) break;
      position = read.next;
    }
  }

  /** The publisher's port: the downstream, one call at a time, counting what it delivers and refuses. */
  private port(): SpoolPublishPort {
    return {
      publishEvents: async (events) => {
        const r = await this.call(() => this.downstream.exportEvents(events));
        if (r.kind === 'success') this.counts.delivered += events.length;
        else if (r.kind === 'failure' && events.length === 1) this.rejected(events, r.error); // the publisher skips it
        return r;
      },
      publishSpec: (spec) => this.call(() => this.downstream.exportSpec(spec)),
      publishAnnotations: () =>
        Promise.resolve({ kind: 'failure', error: new Error('a capture transport carries no annotations') }),
    };
  }
}
