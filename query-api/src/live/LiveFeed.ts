/**
 * The live monitoring feed: capture events read straight from the events topic by a consumer of its
 * own (not by polling the store), kept in a bounded ring for resumption, and fanned out to
 * server-sent-event subscribers with filters, heartbeats and slow-client thinning.
 */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { microsToIso, silentLogger, type CaptureEvent, type Logger } from '@provml/schemas';
import { DEFAULT_TOPICS, type EventLog, type LogConsumer } from '@provml/log';

/** What a subscriber receives per captured event. */
export interface LiveEvent {
  /** Position in this feed; the SSE `id`, usable as `Last-Event-ID`. */
  seq: number;
  workflow: string;
  workflowExecution: string;
  task: string;
  taskExecution: string;
  parentTaskExecution: string | null;
  phase: 'begin' | 'end';
  time: string;
  values: Record<string, unknown>;
  status: string | null;
}

/** Settings of the live feed. */
export interface LiveFeedOptions {
  decodeEvent: (value: Buffer) => CaptureEvent | Promise<CaptureEvent>;
  /** Events topic. Default `provml.events`. */
  topic?: string;
  /** Events kept for `Last-Event-ID` resumption. Default 10000. */
  history?: number;
  /** Comment line sent to idle subscribers this often (ms). Default 15000. */
  heartbeatMs?: number;
  logger?: Logger;
}

/** Counters of the feed, read by metrics. */
export interface LiveFeedStats {
  received: number;
  subscribers: number;
  /** Events not sent to a slow subscriber (its socket buffer was full). */
  thinned: number;
}

interface Subscriber {
  res: Response;
  filter: (e: LiveEvent) => boolean;
  /** Set while the socket's buffer is full: events are skipped until it drains. */
  blocked: boolean;
  skipped: number;
}

const line = (e: LiveEvent): string => `id: ${e.seq}\nevent: capture\ndata: ${JSON.stringify(e)}\n\n`;

/** One feed per query-API process. */
export class LiveFeed {
  readonly stats: LiveFeedStats = { received: 0, subscribers: 0, thinned: 0 };
  private readonly ring: LiveEvent[] = [];
  private readonly subscribers = new Set<Subscriber>();
  private seq = 0;
  private consumer: LogConsumer | undefined;
  private running: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly logger: Logger;

  constructor(
    private readonly log: EventLog,
    private readonly options: LiveFeedOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
  }

  /** Starts consuming the events topic (a group of its own) and the heartbeat. */
  start(): Promise<void> {
    if (this.running !== undefined) return Promise.resolve();
    this.consumer = this.log.consumer({
      groupId: `provml-live-${randomUUID()}`,
      topics: [this.options.topic ?? DEFAULT_TOPICS.events],
    });
    this.running = this.consumer
      .run(async (batch) => {
        for (const record of batch.records) {
          let event: CaptureEvent;
          try {
            event = await this.options.decodeEvent(record.value);
          } catch {
            continue; // the processor dead-letters it; the feed just skips it
          }
          this.publish(event);
        }
      })
      .catch((error: unknown) => this.logger.error('live feed stopped', { error }));
    this.heartbeat = setInterval(() => {
      for (const s of this.subscribers) if (!s.blocked) s.res.write(': heartbeat\n\n');
    }, this.options.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
    return Promise.resolve();
  }

  /** Stops consuming and closes every subscription. Idempotent. */
  async shutdown(): Promise<void> {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    for (const s of this.subscribers) s.res.end();
    this.subscribers.clear();
    await this.consumer?.stop();
    await this.running;
  }

  private publish(event: CaptureEvent): void {
    const e: LiveEvent = {
      seq: ++this.seq,
      workflow: event.workflow,
      workflowExecution: event.workflowExecution,
      task: event.task,
      taskExecution: event.taskExecution,
      parentTaskExecution: event.parentTaskExecution,
      phase: event.phase,
      time: microsToIso(event.time),
      values: event.values,
      status: event.status,
    };
    this.stats.received++;
    this.ring.push(e);
    if (this.ring.length > (this.options.history ?? 10_000)) this.ring.shift();
    for (const s of this.subscribers) this.send(s, e);
  }

  private send(s: Subscriber, e: LiveEvent): void {
    if (!s.filter(e)) return;
    if (s.blocked) {
      s.skipped++;
      this.stats.thinned++;
      return;
    }
    if (!s.res.write(line(e))) {
      s.blocked = true;
      s.res.once('drain', () => {
        s.blocked = false;
        if (s.skipped > 0) s.res.write(`event: thinned\ndata: ${JSON.stringify({ skipped: s.skipped })}\n\n`);
        s.skipped = 0;
      });
    }
  }

  /**
   * The `/v1/live` handler. Query parameters `workflow`, `execution`, `task` and `metric` filter
   * (a metric keeps events carrying that value); `Last-Event-ID` (or `?since=`) resumes after an id.
   */
  handle(req: Request, res: Response): void {
    const q = req.query as Record<string, string | undefined>;
    const filter = (e: LiveEvent): boolean =>
      (q.workflow === undefined || e.workflow === q.workflow) &&
      (q.execution === undefined || e.workflowExecution === q.execution) &&
      (q.task === undefined || e.task === q.task) &&
      (q.metric === undefined || Object.hasOwn(e.values, q.metric));
    res.status(200).set({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    res.write('retry: 2000\n\n');
    const s: Subscriber = { res, filter, blocked: false, skipped: 0 };
    const since = Number(req.get('last-event-id') ?? q.since ?? NaN);
    if (Number.isFinite(since)) {
      const oldest = this.ring[0]?.seq ?? this.seq + 1;
      if (since + 1 < oldest)
        res.write(`event: gap\ndata: ${JSON.stringify({ missed: oldest - since - 1 })}\n\n`);
      for (const e of this.ring) if (e.seq > since) this.send(s, e);
    }
    this.subscribers.add(s);
    this.stats.subscribers = this.subscribers.size;
    req.on('close', () => {
      this.subscribers.delete(s);
      this.stats.subscribers = this.subscribers.size;
    });
  }
}
