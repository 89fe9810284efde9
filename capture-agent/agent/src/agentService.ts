/** The sidecar agent (`provml agent`): socket and HTTP ingest into a durable spool, and a publisher from the spool to Kafka. */
import type { RequestListener, Server } from 'node:http';
import { join } from 'node:path';
import { SpoolPublisher, SpoolWriter } from '@provml/capture-agent';
import type { Logger } from '@provml/schemas';
import {
  resolveAuth,
  authMiddleware,
  ingestRouteScopes,
  createMetrics,
  topicNames,
  type ServiceConfig,
  connectLog,
  type RunningService,
  eventCodec,
  type EventCodec,
  closeServer,
  urlOf,
  metricsRoute,
  pathOf,
} from '@provml/service';
import { createIngestApp } from './ingest/createIngestApp.ts';
import { listenIngest } from './ingest/ingestServer.ts';
import { LogIngestTarget, UNKNOWN_OWNER } from './ingest/IngestTarget.ts';
import { LogPublishPort } from './ingest/LogPublishPort.ts';
import { SocketIngestServer } from './ingest/SocketIngestServer.ts';
import { SpoolIngestTarget } from './ingest/SpoolIngestTarget.ts';
import { registerAgentMetrics } from './agentMetrics.ts';
import { stopKafkajsIdleLoop } from './kafkajsIdleLoop.ts';

/** A running agent: its HTTP URL, socket path and spool, and how to stop it. */
export interface RunningAgent extends RunningService {
  url: string;
  socketPath: string;
  spool: SpoolWriter;
}

/** The spool settings of a configuration. */
export function spoolOptions(config: ServiceConfig, logger: Logger) {
  const a = config.agent;
  return {
    fsync: a.fsync,
    fsyncIntervalMs: a.fsyncIntervalMs,
    maxBytes: a.maxBytes,
    segmentBytes: a.segmentBytes,
    policy: a.policy,
    logger: logger.child('spool'),
  };
}

/** The publish port to the configured Kafka topics (connecting lazily: the agent spools while Kafka is down). */
export function kafkaPublishPort(config: ServiceConfig, logger: Logger): LogPublishPort {
  let codec: Promise<EventCodec> | undefined;
  return new LogPublishPort(async () => {
    const { encode } = await (codec ??= eventCodec(config));
    const log = await connectLog(config, logger);
    const target = new LogIngestTarget(log, encode, topicNames(config));
    return { target, close: () => log.close() };
  });
}

/**
 * Starts the agent: opens (and recovers) the spool, serves the socket and the HTTP ingest, both
 * acknowledging only after the spool has the batch, and unless offline publishes the spool to
 * Kafka from its `published` cursor on.
 */
export async function startAgent(config: ServiceConfig, logger: Logger): Promise<RunningAgent> {
  const a = config.agent;
  stopKafkajsIdleLoop(); // a sidecar idles most of the time: no 1 ms timer loop per broker connection
  const auth = resolveAuth(config.auth, ['ingest'], logger); // HTTP only: the socket is local (mode 0660)
  const spool = SpoolWriter.open(a.spoolDir, spoolOptions(config, logger));
  const kafka = a.offline ? undefined : kafkaPublishPort(config, logger);
  const publisher =
    kafka === undefined ? undefined : new SpoolPublisher(spool, kafka, { logger: logger.child('publisher') });
  kafka?.warmUp();
  publisher?.start();
  let current: Awaited<ReturnType<LogPublishPort['connected']>>;
  const remote =
    kafka === undefined
      ? undefined
      : {
          spec: (w: string) => current?.spec(w),
          refreshSpecs: async () => {
            current = await kafka.connected();
            await current?.refreshSpecs();
          },
          annotationOwner: async (source: string | undefined) => {
            kafka.warmUp();
            current = await kafka.connected();
            return current === undefined ? UNKNOWN_OWNER : current.annotationOwner(source);
          },
        };
  const target = new SpoolIngestTarget(spool, { remote, onAppend: () => publisher?.notify(), logger });

  const metrics = createMetrics({}, 'essential');
  const { records } = registerAgentMetrics(metrics.registry, {
    spool: () => spool.stats,
    publisher: () => publisher?.stats,
  });
  const ingest = createIngestApp({
    target,
    logger: logger.child('ingest'),
    onResult: (route, outcome, n) => {
      metrics.ingestRequests.inc({ route, outcome }, n);
      records.inc({ protocol: 'http', outcome }, n);
    },
  });
  const scrape = metricsRoute(metrics.registry);
  const guard =
    auth === undefined ? undefined : authMiddleware(auth, ingestRouteScopes(config.auth.protectMetrics));
  // plain node:http (bench/results/memory.md): GET /metrics here, everything else the ingest's
  const app: RequestListener = (req, res) => {
    const route = (): void => {
      if (req.method !== 'GET' || pathOf(req) !== '/metrics') return ingest(req, res);
      scrape(req, res, (error) => {
        logger.error('metrics failed', { error });
        if (!res.headersSent) res.writeHead(500).end();
      });
    };
    if (guard === undefined) route();
    else guard(req, res, route);
  };
  const socket = new SocketIngestServer({
    target,
    logger: logger.child('socket'),
    onResult: (outcome, n) => records.inc({ protocol: 'socket', outcome }, n),
  });
  const socketPath = a.socketPath ?? join(a.spoolDir, 'agent.sock');
  let server: Server | undefined;
  try {
    await socket.listen(socketPath);
    server = await listenIngest(app, config.http.port, config.http.host, {}, logger.child('ingest'));
  } catch (error) {
    await socket.close();
    await publisher?.shutdown();
    await spool.close();
    await kafka?.close();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  const http = server;
  return {
    url: urlOf(server),
    socketPath,
    spool,
    shutdown: () =>
      (stopping ??= (async () => {
        await socket.close();
        await closeServer(http);
        if (publisher !== undefined) {
          // publish what is spooled, for a few seconds at most; the rest waits in the spool
          await Promise.race([publisher.drain(), new Promise((r) => setTimeout(r, 5000).unref())]);
          await publisher.shutdown();
        }
        await spool.close();
        await kafka?.close();
      })()),
  };
}
