/** The distributed services, each a process of its own over Kafka: processor, sink, query API and HTTP ingest agent. */
import type { Server } from 'node:http';
import { join } from 'node:path';
import express from 'express';
import type { Registry } from 'prom-client';
import { ProvmlError, ValidationError, type Logger } from '@provml/schemas';
import { type TripleStore, createStore } from '@provml/stores';
import { SinkService } from '@provml/sinks';
import { IriMinter, ProcessorService } from '@provml/stream-processors';
import { type KafkaEventLog } from '@provml/log';
import {
  resolveAuth,
  createMetrics,
  topicNames,
  type ServiceConfig,
  connectLog,
  type RunningService,
  eventCodec,
  listen,
  closeServer,
  urlOf,
  metricsRoute,
  claimInstanceId,
} from '@provml/service';
import { LiveFeed, createQueryApp } from '@provml/query-api';

/** The sidecar agent lives in agentService.ts, the Kafka connection in kafkaLog.ts; re-exported for callers of this module. */
export { startAgent } from '@provml/agent';
export { connectLog, kafkaLogOptions, type RunningService } from '@provml/service';

const once = (f: () => Promise<void>): (() => Promise<void>) => {
  let p: Promise<void> | undefined;
  return () => (p ??= f());
};

/** A service's operations endpoints: `/healthz` and `/metrics`. */
function opsApp(registry: Registry, healthy: () => boolean): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    const ok = healthy();
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'stopped' });
  });
  app.get('/metrics', metricsRoute(registry));
  return app;
}

/** Listens on the configured address; when that fails (a port that is taken), releases what `release` holds first. */
async function listenOr(
  app: Parameters<typeof listen>[0],
  config: ServiceConfig,
  release: () => Promise<void>,
): Promise<Server> {
  try {
    return await listen(app, config.http.port, config.http.host);
  } catch (error) {
    await release().catch(() => undefined);
    throw error;
  }
}

/** Consumer lag of a service's group, read from the broker every 5 s for the lag gauges. */
function watchLag(
  log: KafkaEventLog,
  logger: Logger,
  role: 'processor' | 'sink',
  group: string,
  topics: string[],
): { value: { processor: number; sink: number }; stop(): void } {
  const state = { value: { processor: 0, sink: 0 }, stop: () => clearInterval(timer) };
  const update = (): void =>
    void log.lag(group, topics).then(
      (n) => void (state.value = { ...state.value, [role]: n }),
      (error: unknown) => logger.debug('lag unavailable', { error }),
    );
  const timer = setInterval(update, 5000);
  timer.unref();
  return state;
}

/** Starts a processor: a member of the processor group, exactly-once through Kafka transactions. */
export async function startProcessor(given: ServiceConfig, logger: Logger): Promise<RunningService> {
  // without a configured instance id, a persistent one under the data directory: a restart keeps its name
  const claim =
    given.kafka.instanceId === undefined
      ? claimInstanceId(join(given.dataDir, 'instances', given.groups.processor))
      : undefined;
  const config = { ...given, kafka: { ...given.kafka, instanceId: given.kafka.instanceId ?? claim!.id } };
  logger.info('processor instance', {
    instanceId: config.kafka.instanceId,
    transactionalIds: `${config.groups.processor}-<topic>-<partition>`,
    ...(claim === undefined ? {} : { from: claim.file }),
  });
  const log = await connectLog(config, logger).catch((error: unknown) => {
    claim?.release();
    throw error;
  });
  const codec = await eventCodec(config);
  const processor = new ProcessorService(log, {
    decodeEvent: codec.decode,
    topics: topicNames(config),
    groupId: config.groups.processor,
    iris: new IriMinter(config.iriBase),
    incompleteAfterMs: config.processor.incompleteAfterMs,
    triplesEncoding: config.processor.triplesEncoding,
    concurrency: config.processor.concurrency,
    encodeEvent: codec.encode,
    logger: logger.child('processor'),
  });
  let stopped = false;
  const t = topicNames(config);
  const lag = watchLag(log, logger, 'processor', config.groups.processor, [t.specs, t.annotations, t.events]);
  const metrics = createMetrics({ processor: () => processor.stats, lag: () => lag.value });
  // listen before joining the group: a port that is taken fails the start without a rebalance
  const server = await listenOr(
    opsApp(metrics.registry, () => !stopped),
    config,
    async () => {
      lag.stop();
      await log.close();
    },
  );
  await processor.start();
  return {
    url: urlOf(server),
    shutdown: once(async () => {
      stopped = true;
      lag.stop();
      await closeServer(server);
      await processor.shutdown();
      await log.close();
      claim?.release();
    }),
  };
}

/** Starts a sink into `store`: a member of the sink group, committing after the store acknowledged. */
export async function startSink(
  config: ServiceConfig,
  store: TripleStore,
  logger: Logger,
): Promise<RunningService> {
  const auth = resolveAuth(config.auth, ['query'], logger); // the sink serves the query app too
  const log = await connectLog(config, logger);
  const lag = watchLag(log, logger, 'sink', config.groups.sink, [topicNames(config).triples]);
  const metrics = createMetrics({ sink: () => sink.stats, lag: () => lag.value });
  const sink = new SinkService(log, store, {
    topics: topicNames(config),
    groupId: config.groups.sink,
    maxInFlight: config.sink.maxInFlight ?? (config.store?.store === 'sparql' ? 4 : 1),
    logger: logger.child('sink'),
    observeFreshness: (seconds) => metrics.eventToStore.observe(seconds),
    observeLoad: (seconds) => metrics.loadDuration.observe(seconds),
  });
  const server = await listenOr(
    createQueryApp({
      store,
      registry: metrics.registry,
      logger: logger.child('http'),
      auth,
      protectMetrics: config.auth.protectMetrics,
    }),
    config,
    async () => {
      lag.stop();
      await log.close();
    },
  );
  await sink.start();
  return {
    url: urlOf(server),
    shutdown: once(async () => {
      lag.stop();
      await closeServer(server);
      await sink.shutdown();
      await log.close();
      await store.close();
    }),
  };
}

/** Starts the query API over `store`. */
export async function startQueryApi(
  config: ServiceConfig,
  store: TripleStore,
  logger: Logger,
): Promise<RunningService> {
  const auth = resolveAuth(config.auth, ['query'], logger);
  const metrics = createMetrics({});
  const log = config.query.live ? await connectLog(config, logger) : undefined;
  const codec = await eventCodec(config);
  const live =
    log === undefined
      ? undefined
      : new LiveFeed(log, {
          decodeEvent: codec.decode,
          topic: topicNames(config).events,
          logger: logger.child('live'),
        });
  await live?.start();
  const server = await listen(
    createQueryApp({
      store,
      registry: metrics.registry,
      logger: logger.child('query'),
      live,
      iris: new IriMinter(config.iriBase),
      queryTimeoutMs: config.query.timeoutMs,
      maxResultRows: config.query.maxResultRows,
      allowService: config.query.allowService,
      auth,
      protectMetrics: config.auth.protectMetrics,
      onQuery: (outcome, seconds) => metrics.queryDuration.observe({ outcome }, seconds),
    }),
    config.http.port,
    config.http.host,
  );
  return {
    url: urlOf(server),
    shutdown: once(async () => {
      await closeServer(server);
      await live?.shutdown();
      await log?.close();
      await store.close();
    }),
  };
}

/** Opens the configured store, checking that it answers and the repository exists. */
export function openStore(config: ServiceConfig, logger: Logger): Promise<TripleStore> {
  if (config.store === undefined)
    return Promise.reject(
      new ValidationError('no triple store configured', [
        {
          path: 'store',
          message: 'set store.kind and its url (--store, --store-url, PROVML_STORE, PROVML_STORE_URL)',
        },
      ]),
    );
  const store = config.store;
  const open = (): Promise<TripleStore> => createStore(store, { logger: logger.child('store') });
  // the sink and the query API started together both find the repository missing and both create
  // it: the one whose creation the server refused (409) opens the one the other created
  return open().catch(async (error: unknown) => {
    if (!(error instanceof ProvmlError && error.code === 'repository-create-failed')) throw error;
    return open();
  });
}
