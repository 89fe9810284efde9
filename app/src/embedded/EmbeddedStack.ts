/** The embedded mode: log, processor, sink, Oxigraph, ingest and query API in one process, on the same ports. */
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { init, type Capture, type CaptureOptions } from '@provml/capture-agent';
import { decodeCaptureEvent, encodeCaptureEvent, silentLogger, type Logger } from '@provml/schemas';
import {
  OxigraphEmbeddedStore,
  type QueryCaller,
  type QueryPoolStats,
  type StoreChange,
} from '@provml/stores';
import { SinkService } from '@provml/sinks';
import {
  DEFAULT_TOPICS,
  DROP_GRAPH_HEADER,
  EmbeddedLog,
  LogCaptureExporter,
  createTopics,
  decodeTriples,
} from '@provml/log';
import { IriMinter, parseAnnotations, ProcessorService } from '@provml/stream-processors';
import { createIngestApp, listenIngest, LogIngestTarget } from '@provml/agent';
import {
  closeServer,
  createMetrics,
  listen,
  registerStats,
  type Metrics,
  type StatMetric,
} from '@provml/service';
import { LiveFeed, createQueryApp } from '@provml/query-api';
import type { EmbeddedConfig } from './EmbeddedConfig.ts';

// prettier-ignore
const QUERY_METRICS: Record<string, StatMetric<QueryPoolStats>> = {
  provml_query_threads_ready: ['gauge', 'Query threads whose replica is ready', (s) => s.ready],
  provml_query_threads_building: ['gauge', 'Query threads replaying the triples topic', (s) => s.building],
  provml_query_threads_busy: ['gauge', 'Query threads running a query', (s) => s.busy],
  provml_query_threads_heavy: ['gauge', 'Query threads running a heavy query', (s) => s.heavy],
  provml_queries_waiting: ['gauge', 'Queries waiting for a query thread', (s) => s.queued],
  provml_query_memory_bytes: ['gauge', 'WebAssembly memory of every replica', (s) => s.memoryBytes],
  provml_query_threads_replaced_total: ['counter', 'Query threads ended (deadline, memory, crash) and replaced', (s) => s.replaced],
  provml_queries_preempted_total: ['counter', 'Queries moved off the last free thread when they turned heavy', (s) => s.preempted],
  provml_queries_refused_total: ['counter', 'Queries refused: their client ran its share of heavy queries', (s) => s.refused],
};

const PROCESSOR_GROUP = 'provml-processor';
const SINK_GROUP = 'provml-sink';
/** The live feed's group (a fresh id per process: its position is not kept across restarts). */
const LIVE_GROUP_PREFIX = 'provml-live-';

/**
 * Everything of the embedded mode, started and stopped together. With a data directory the log is
 * durable (an event acknowledged by the ingest is on disk) and the store is a cache, rebuilt on
 * start from the log's triples topic; without one everything is in memory.
 */
export class EmbeddedStack {
  readonly log: EmbeddedLog;
  /**
   * Queries answer on a pool of threads with replicas (`queryWorkers`), so deadlines hold
   * (`queryTimeoutMs`) and a slow query does not hold up the others; replicas are built from the
   * triples topic. In memory the caller's thread keeps a copy too (`store.store`).
   */
  readonly store: OxigraphEmbeddedStore;
  readonly processor: ProcessorService;
  readonly sink: SinkService;
  readonly metrics: Metrics;
  readonly live: LiveFeed;
  readonly iris: IriMinter;
  /** Where the ingest and `annotate` publish specs, events and annotations. */
  readonly ingest: LogIngestTarget;
  private readonly captures: Capture[] = [];
  /** Who asks the query being answered: set per HTTP request of the query API. */
  private readonly callers = new AsyncLocalStorage<QueryCaller>();
  /** What the replicas' first build replays of the triples topic (its end offsets then). */
  private readonly firstReplay: { ends?: number[] } = {};
  private readyPromise: Promise<void> | undefined;
  private querySrv: Server | undefined;
  private ingestSrv: Server | undefined;
  private shutdownPromise: Promise<void> | undefined;

  constructor(
    readonly config: EmbeddedConfig,
    private readonly logger: Logger = silentLogger,
  ) {
    const logOptions = {
      defaultPartitions: config.partitions,
      releaseConsumed: true,
      retainedTopics: [DEFAULT_TOPICS.triples],
      persistGroup: (group: string) => !group.startsWith(LIVE_GROUP_PREFIX),
      logger: logger.child('log'),
    };
    this.log =
      config.dataDir === undefined
        ? new EmbeddedLog(logOptions)
        : EmbeddedLog.open(config.dataDir, logOptions);
    const log = this.log;
    const firstReplay = this.firstReplay;
    this.store = new OxigraphEmbeddedStore({
      queryWorkers: config.queryWorkers,
      // up to the ends when it starts; the first replay (the replicas' first build, begun here) says
      // where the sink may start
      replay: async function* () {
        const ends = log.endOffsets(DEFAULT_TOPICS.triples);
        firstReplay.ends ??= ends;
        // drop-graph records (replaced or withdrawn annotation sources) are replayed in their place
        for await (const batch of log.readAll(DEFAULT_TOPICS.triples, undefined, ends))
          yield batch.map((r): StoreChange => {
            const graph = r.headers[DROP_GRAPH_HEADER];
            if (graph !== undefined) return { dropGraph: graph };
            try {
              return decodeTriples(r.value);
            } catch {
              return ''; // undecodable: the sink dead-letters it
            }
          });
      },
      localCopy: config.dataDir === undefined,
      maxResultBytes: config.maxResultBytes,
      heavyAfterMs: config.heavyQueryMs,
      maxHeavyPerClient: config.maxHeavyQueriesPerClient,
      caller: () => this.callers.getStore(),
      logger: logger.child('store'),
    });
    this.iris = new IriMinter(config.iriBase);
    this.processor = new ProcessorService(this.log, {
      decodeEvent: decodeCaptureEvent,
      iris: this.iris,
      groupId: PROCESSOR_GROUP,
      incompleteAfterMs: config.incompleteAfterMs,
      encodeEvent: encodeCaptureEvent,
      logger: logger.child('processor'),
    });
    this.sink = new SinkService(this.log, this.store, {
      groupId: SINK_GROUP,
      logger: logger.child('sink'),
      observeFreshness: (seconds) => this.metrics.eventToStore.observe(seconds),
      observeLoad: (seconds) => this.metrics.loadDuration.observe(seconds),
    });
    this.ingest = new LogIngestTarget(this.log, encodeCaptureEvent);
    this.live = new LiveFeed(this.log, { decodeEvent: decodeCaptureEvent, logger: logger.child('live') });
    this.metrics = createMetrics({
      capture: () => this.captures.map((c) => c.stats),
      processor: () => this.processor.stats,
      sink: () => this.sink.stats,
      lag: () => this.lag(),
    });
    registerStats(this.metrics.registry, () => this.store.queryStats(), QUERY_METRICS);
  }

  /**
   * Creates the topics, listens on both ports and starts the processor at once (the log is open: an
   * event acknowledged now is kept), while the store's replicas replay the triples topic (what a
   * durable log kept); the sink starts, from past what was replayed, once they hold it. Queries wait
   * for a replica meanwhile and `/healthz` says so. Resolves when all of it is up, or with
   * `untilReady: false` as soon as the ports listen (then see {@link ready}).
   */
  async start(options: { untilReady?: boolean } = {}): Promise<void> {
    await createTopics(this.log, DEFAULT_TOPICS, this.config.partitions);
    const { registry, queryDuration, ingestRequests } = this.metrics;
    const queryApp = createQueryApp({
      store: this.store,
      registry,
      logger: this.logger.child('query'),
      live: this.live,
      iris: this.iris,
      queryTimeoutMs: this.config.queryTimeoutMs,
      maxResultRows: this.config.maxResultRows,
      allowService: this.config.allowService,
      onQuery: (outcome, seconds) => queryDuration.observe({ outcome }, seconds),
      health: () => ({ queries: this.store.saturation() }),
    });
    this.querySrv = await listen(this.withCallers(queryApp), this.config.queryPort, this.config.host);
    this.ingestSrv = await listenIngest(
      createIngestApp({
        target: this.ingest,
        logger: this.logger.child('ingest'),
        onResult: (route, outcome, n) => ingestRequests.inc({ route, outcome }, n),
      }),
      this.config.ingestPort,
      this.config.host,
      {},
      this.logger.child('ingest'),
    );
    await this.processor.start();
    await this.live.start();
    this.readyPromise = (async () => {
      await this.store.ready();
      if (this.shutdownPromise !== undefined) return;
      this.restoreMs = this.store.queryStats()?.firstBuildMs ?? 0;
      // the replicas hold the triples topic up to where their replay began: the sink goes on from there
      const replayed = this.firstReplay.ends;
      if (this.durable && replayed !== undefined)
        this.log.commitOffsets(SINK_GROUP, DEFAULT_TOPICS.triples, replayed);
      await this.sink.start();
    })();
    if (options.untilReady !== false) await this.readyPromise;
  }

  /** Resolves once the store's replicas hold what the log kept and the sink runs. */
  ready(): Promise<void> {
    return this.readyPromise ?? Promise.reject(new Error('the stack was not started'));
  }

  /** Whether the log held triples when it was opened (a store to restore). */
  get restoring(): boolean {
    return (this.firstReplay.ends ?? []).some((end) => end > 0);
  }

  /**
   * The query app behind a front that records who asks (client address; `/sparql` text is the
   * client's own, views are the server's) for the store's scheduling of heavy queries. The request's
   * events are bound to that context, so it survives reading the body.
   */
  private withCallers(queryApp: express.Express): express.Express {
    const front = express();
    front.disable('x-powered-by');
    front.use((req, _res, next) => {
      const caller = { client: req.socket.remoteAddress ?? 'unknown', untrusted: req.path === '/sparql' };
      this.callers.run(caller, () => {
        req.emit = AsyncResource.bind(req.emit.bind(req));
        next();
      });
    });
    front.use(queryApp);
    return front;
  }

  /** Whether the log (and so everything) is kept in a data directory across restarts. */
  get durable(): boolean {
    return this.config.dataDir !== undefined;
  }

  /** How long the store took to build its replicas on start, ms. */
  restoreMs = 0;

  /** Base URL of the query API. */
  get queryUrl(): string {
    return `http://${this.config.host}:${(this.querySrv?.address() as AddressInfo).port}`;
  }

  /** Base URL of the ingest. */
  get ingestUrl(): string {
    return `http://${this.config.host}:${(this.ingestSrv?.address() as AddressInfo).port}`;
  }

  /** A capture session whose events go through this stack's log (the in-process transport). */
  async capture(options: Omit<CaptureOptions, 'exporter'>): Promise<Capture> {
    const c = await init({
      ...options,
      exporter: new LogCaptureExporter(this.log.producer(), encodeCaptureEvent),
    });
    this.captures.push(c);
    return c;
  }

  /**
   * Publishes domain annotations (Turtle) into the domain graph, `urn:provml:graph/domain[/source]`,
   * as the whole document of `source` (it replaces what the source said before; attributed to
   * `anonymous`, as the embedded ingest has no access control).
   * @returns the number of triples. @throws ValidationError for malformed Turtle.
   */
  async annotate(turtle: string, source?: string): Promise<number> {
    const triples = parseAnnotations(turtle, source, this.iris).length;
    await this.ingest.publishAnnotations(turtle, source);
    return triples;
  }

  /** Records not yet handled by the processor and the sink. */
  lag(): { processor: number; sink: number } {
    const t = DEFAULT_TOPICS;
    return {
      processor: [t.specs, t.annotations, t.events].reduce(
        (s, topic) => s + this.log.lag(PROCESSOR_GROUP, topic),
        0,
      ),
      sink: this.log.lag(SINK_GROUP, t.triples),
    };
  }

  /** Flushes capture sessions and resolves once everything captured so far is queryable. */
  async settle(timeoutMs = 30_000): Promise<void> {
    for (const c of this.captures) await c.flush();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lag = this.lag();
      if (lag.processor === 0 && lag.sink === 0) return;
      if (Date.now() > deadline)
        throw new Error(`not settled after ${timeoutMs} ms: lag ${JSON.stringify(lag)}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Flushes captures, drains the pipeline, stops everything. Idempotent. */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      for (const c of this.captures) await c.shutdown();
      await this.settle().catch((error: unknown) =>
        this.logger.warn('shutdown before the pipeline drained', { error }),
      );
      await Promise.all([closeServer(this.querySrv), closeServer(this.ingestSrv)]);
      await this.live.shutdown();
      await this.processor.shutdown();
      await this.sink.shutdown();
      await this.store.close();
      await this.log.close();
    })();
    return this.shutdownPromise;
  }
}
