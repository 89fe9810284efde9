/** Publishes a spool in order through an injected port, advancing `published` only after the port acknowledged. */
import {
  Backoff,
  compileSpec,
  DependencyError,
  parseEventJson,
  silentLogger,
  type CaptureEvent,
  type Logger,
  type ProspectiveSpec,
} from '@provml/schemas';
import type { ExportResult } from '../CaptureExporter.ts';
import { SpoolReader, type SpoolRecord } from './SpoolReader.ts';
import { decodeEnvelope, type EnvelopeKind } from './spoolFormat.ts';
import type { SpoolWriter } from './SpoolWriter.ts';

/** Where a spool's records go (Kafka topics in the agent; any capture exporter in the library). */
export interface SpoolPublishPort {
  /** Events, in order, keyed by workflow execution. */
  publishEvents(events: readonly CaptureEvent[]): Promise<ExportResult>;
  /**
   * Optional: events as the spool holds them, each the UTF-8 JSON of a valid event envelope
   * (`{"event":…}`), in order: a port that sends JSON sends them as they are, without parsing them
   * and writing them again. Used for records this process appended and checked (`AppendedRecords`).
   */
  publishEventRecords?(payloads: readonly Buffer[]): Promise<ExportResult>;
  publishSpec(spec: ProspectiveSpec): Promise<ExportResult>;
  /**
   * The whole document of an annotation source, replacing what it said before (`''` withdraws it);
   * `agent`: who posted it, when the ingest knew (the annotator id of a bearer token).
   */
  publishAnnotations(turtle: string, source: string | undefined, agent?: string): Promise<ExportResult>;
}

/** Settings of the publisher. */
export interface SpoolPublisherOptions {
  /** Records read and sent per step. Default 5000. */
  maxRecords?: number;
  /** Wait when there is nothing to send, ms (an append's `notify()` ends it early). Default 50. */
  pollMs?: number;
  /** Backoff between attempts after a failed send, ms. Defaults 100 and 5000. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /**
   * Give up when one send has kept failing (retryable outcomes) this long, ms, counted from its
   * first failed attempt: the last back-off is cut to fit, and after the attempt that ends it the
   * publisher stops and `drain()` rejects with a `DependencyError` (code `publish-gave-up`); what
   * was acknowledged stays published, the rest is sent by the next publisher. Default: never.
   */
  giveUpAfterMs?: number;
  /** Longest wait for a send in flight at shutdown, ms. Default 5000. */
  shutdownTimeoutMs?: number;
  logger?: Logger;
}

/** Counters of a publisher. */
export interface SpoolPublisherStats {
  /** Records acknowledged by the port, by kind. */
  events: number;
  specs: number;
  annotations: number;
  /** Records that are not valid envelopes (skipped, counted, logged). */
  invalid: number;
  /** Records the port refused for good (a `failure` outcome: skipped, counted, logged, never sent again). */
  refused: number;
  /** Sequence numbers passed over (moved to corrupt/ or dropped). */
  skipped: number;
  /** Failed sends that were tried again. */
  retries: number;
  /** The position of the next record to send. */
  position: number;
}

type Item =
  | { kind: 'event'; event: CaptureEvent }
  | { kind: 'eventRecord'; payload: Buffer }
  | { kind: 'spec'; spec: ProspectiveSpec }
  | { kind: 'annotations'; turtle: string; source: string | undefined; agent: string | undefined };

/** A record to send: read from the spool, or handed over by its writer with its validated event. */
type HandedRecord = Pick<SpoolRecord, 'sequence' | 'payload'> & { event?: CaptureEvent };

/** The bytes `{"event":` that every event record this library or the agent's socket spools starts with. */
const EVENT_PREFIX = Buffer.from('{"event":');

/** Whether a record's payload is an event envelope as the capture library writes it (`{"event":…}`). */
function isEventPayload(payload: Buffer): boolean {
  return (
    payload.length > EVENT_PREFIX.length &&
    payload.compare(EVENT_PREFIX, 0, EVENT_PREFIX.length, 0, EVENT_PREFIX.length) === 0
  );
}

/** Reads records from the spool's `published` cursor on and sends them in order. */
export class SpoolPublisher {
  readonly stats: SpoolPublisherStats = {
    events: 0,
    specs: 0,
    annotations: 0,
    invalid: 0,
    refused: 0,
    skipped: 0,
    retries: 0,
    position: 0,
  };
  /** `drain()` calls waiting for the background loop's next step. */
  private readonly afterStep: (() => void)[] = [];
  private readonly reader: SpoolReader;
  private readonly logger: Logger;
  private position;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private gaveUp: DependencyError | undefined;

  constructor(
    private readonly writer: SpoolWriter,
    private readonly port: SpoolPublishPort,
    private readonly options: SpoolPublisherOptions = {},
  ) {
    this.reader = new SpoolReader(writer.dir);
    this.logger = options.logger ?? silentLogger;
    this.position = writer.publishedPosition;
    this.stats.position = this.position.sequence;
    writer.keepAppended(); // what is appended from now on is sent from memory
  }

  /** Starts publishing in the background until `shutdown()`. */
  start(): void {
    this.loop ??= (async () => {
      try {
        while (!this.stopped) {
          const sent = await this.step();
          this.stepped();
          if (sent === 0 && !this.stopped) await this.sleep(this.options.pollMs ?? 50);
        }
      } finally {
        this.stepped();
      }
    })();
  }

  /** Wakes the `drain()` calls waiting for the background loop's next step. */
  private stepped(): void {
    for (const resolve of this.afterStep.splice(0)) resolve();
  }

  /** Ends a wait for new records at once (call after an append). */
  notify(): void {
    this.wake?.();
  }

  /**
   * Publishes everything durable in the spool now, then resolves (for replay and flush).
   * @throws DependencyError (code `publish-gave-up`) when a send kept failing past `giveUpAfterMs`
   */
  async drain(): Promise<void> {
    const end = this.writer.durableEnd;
    // the background loop publishes: wait for its steps (stepping here too would send records twice)
    while (this.loop !== undefined && !this.stopped && this.position.sequence < end) {
      const next = new Promise<void>((resolve) => this.afterStep.push(resolve));
      this.notify();
      await next;
    }
    while (!this.stopped && this.position.sequence < end) {
      if ((await this.step()) === 0 && this.position.sequence < end && !this.stopped)
        await this.sleep(this.options.pollMs ?? 50);
    }
    if (this.gaveUp !== undefined) throw this.gaveUp;
  }

  /**
   * Stops publishing. Waits for the send in flight up to `shutdownTimeoutMs`; records not yet
   * acknowledged stay unpublished (sent again by the next publisher). Idempotent.
   */
  async shutdown(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.loop,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.shutdownTimeoutMs ?? 5000);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * Sends the next batch, returns the number of records handled: the batches the writer of this
   * process just appended, from memory, or else what the spool holds from the position on (after
   * a restart, a backlog, records dropped under the cap).
   */
  private async step(): Promise<number> {
    if (this.position.sequence < this.writer.publishedPosition.sequence)
      this.position = this.writer.publishedPosition; // records dropped under the cap
    const maxRecords = this.options.maxRecords ?? 5000;
    const handed = this.writer.appended(this.position.sequence, maxRecords);
    const read =
      handed === undefined
        ? this.reader.read(this.position, { maxRecords, limit: this.writer.durableEnd })
        : {
            records: handed.payloads.map((payload, i) => ({
              sequence: handed.first + i,
              payload,
              event: handed.checked ? handed.events[i] : undefined,
            })),
            next: handed.end,
            skipped: 0,
          };
    this.stats.skipped += read.skipped;
    if (read.records.length > 0) {
      for (const run of this.runs(read.records, handed?.checked === true))
        if (!(await this.send(run))) return 0;
    }
    if (read.next.sequence > this.position.sequence) {
      this.writer.markPublished(read.next);
      this.position = read.next;
      this.stats.position = read.next.sequence;
    }
    return read.records.length + read.skipped;
  }

  /**
   * Decodes records and groups consecutive ones of a kind (events are sent many per request).
   * `checked` records (valid envelopes this process appended) that are events go to a port that
   * takes them as JSON as they are.
   */
  private runs(records: readonly HandedRecord[], checked: boolean): Item[][] {
    const raw = checked && this.port.publishEventRecords !== undefined;
    const out: Item[][] = [];
    for (const r of records) {
      const item: Item | undefined =
        raw && isEventPayload(r.payload)
          ? { kind: 'eventRecord', payload: r.payload }
          : r.event !== undefined
            ? { kind: 'event', event: r.event } // validated before it was appended: not parsed again
            : this.decode(r);
      if (item === undefined) continue;
      const last = out[out.length - 1];
      if (
        last !== undefined &&
        item.kind === last[0]!.kind &&
        item.kind !== 'spec' &&
        item.kind !== 'annotations'
      )
        last.push(item);
      else out.push([item]);
    }
    return out;
  }

  private decode(record: Pick<SpoolRecord, 'sequence' | 'payload'>): Item | undefined {
    const d = decodeEnvelope(record.payload);
    const invalid = (why: string): undefined => {
      this.stats.invalid++;
      this.logger.error('skipping an invalid spool record', { sequence: record.sequence, why });
      return undefined;
    };
    if (d === undefined) return invalid('not an envelope');
    const e = d.envelope as Record<EnvelopeKind, unknown> & { source?: string; agent?: string };
    if (d.kind === 'event') {
      const parsed = parseEventJson(e.event);
      return parsed.ok
        ? { kind: 'event', event: parsed.event }
        : invalid(parsed.issues[0]?.message ?? 'bad event');
    }
    if (d.kind === 'spec') {
      try {
        return { kind: 'spec', spec: compileSpec(e.spec).spec };
      } catch (error) {
        return invalid((error as Error).message);
      }
    }
    return { kind: 'annotations', turtle: e.annotations as string, source: e.source, agent: e.agent };
  }

  /** Sends a run once; an exception of the port counts as retryable. */
  private async attempt(run: readonly Item[]): Promise<ExportResult> {
    const first = run[0]!;
    try {
      return first.kind === 'eventRecord'
        ? await this.port.publishEventRecords!(run.map((i) => (i as { payload: Buffer }).payload))
        : first.kind === 'event'
          ? await this.port.publishEvents(run.map((i) => (i as { event: CaptureEvent }).event))
          : first.kind === 'spec'
            ? await this.port.publishSpec(first.spec)
            : await this.port.publishAnnotations(first.turtle, first.source, first.agent);
    } catch (error) {
      return { kind: 'retryable', error: error as Error };
    }
  }

  /**
   * Sends one run until the port acknowledges or refuses it; false when stopped or given up first.
   * A refused run of several events is halved until the refused events are found (a batch is
   * refused whole), so the others are still sent.
   */
  private async send(run: Item[]): Promise<boolean> {
    const backoff = new Backoff({ initialMs: this.options.initialDelayMs, maxMs: this.options.maxDelayMs });
    const giveUpAfterMs = this.options.giveUpAfterMs ?? Infinity;
    let failingSince: number | undefined;
    for (;;) {
      const first = run[0]!;
      const result = await this.attempt(run);
      if (result.kind === 'success') {
        this.stats[
          first.kind === 'event' || first.kind === 'eventRecord'
            ? 'events'
            : first.kind === 'spec'
              ? 'specs'
              : 'annotations'
        ] += run.length;
        return true;
      }
      if (result.kind === 'failure') {
        if (run.length > 1) {
          const half = Math.ceil(run.length / 2);
          return (await this.send(run.slice(0, half))) && (await this.send(run.slice(half)));
        }
        this.stats.refused++;
        this.logger.error('the destination refused a spool record; skipped', {
          kind: first.kind,
          ...(first.kind === 'event' ? { eventId: first.event.eventId } : {}),
          ...(first.kind === 'eventRecord' ? { record: first.payload.toString('utf8').slice(0, 200) } : {}),
          error: result.error.message,
        });
        return true;
      }
      if (this.stopped) return false;
      const now = performance.now();
      failingSince ??= now;
      const left = failingSince + giveUpAfterMs - now;
      if (left <= 0) {
        const seconds = ((now - failingSince) / 1000).toFixed(1);
        this.gaveUp = new DependencyError(
          'publish-gave-up',
          `gave up publishing from the spool after ${seconds} s of failed attempts: ${result.error.message}; ` +
            `published stays at record ${this.position.sequence}, a later run resumes there`,
          { retriable: true, cause: result.error },
        );
        this.stopped = true;
        this.logger.error('publishing from the spool failed; giving up', {
          records: run.length,
          error: result.error.message,
          seconds: Number(seconds),
        });
        return false;
      }
      this.stats.retries++;
      const delay = Math.min(backoff.next(), left);
      this.logger.warn('publishing from the spool failed; retrying', {
        records: run.length,
        error: result.error.message,
        delayMs: Math.round(delay),
      });
      await this.sleep(delay);
      if (this.stopped) return false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
