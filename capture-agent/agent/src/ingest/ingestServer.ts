/** The ingest's HTTP server: deadlines for headers and whole requests, and a cap on open connections per client address. */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { silentLogger, type Logger } from '@provml/schemas';

/** Limits on slow and numerous connections. */
export interface IngestServerLimits {
  /** Longest wait for a request's headers, ms. Default 10 000. */
  headersTimeoutMs: number;
  /** Longest wait for a whole request, headers and body, ms (a trickled body ends in 408). Default 60 000. */
  requestTimeoutMs: number;
  /** How often those deadlines are checked, ms. Default 1000. */
  checkIntervalMs: number;
  /** An idle keep-alive connection is closed after this long, ms. Default 5000. */
  keepAliveTimeoutMs: number;
  /** Open connections per client address at most; one more is answered 503 and closed. Default 256. */
  maxConnectionsPerAddress: number;
}

/** The defaults: generous for a 32 MB body on a slow link, tight enough that trickling clients cannot pile up. */
export const DEFAULT_INGEST_SERVER_LIMITS: Readonly<IngestServerLimits> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  checkIntervalMs: 1000,
  keepAliveTimeoutMs: 5000,
  maxConnectionsPerAddress: 256,
};

const BUSY_BODY = JSON.stringify({
  error: 'too-many-connections',
  message: 'too many open connections from this address; close some and try again',
});
const BUSY =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n' +
  `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BUSY_BODY)}\r\n\r\n${BUSY_BODY}`;

/**
 * An HTTP server for an ingest app with the limits applied: Node's header and request deadlines
 * (408 and close), keep-alive idling, and a count of open connections per remote address that
 * refuses the one over `maxConnectionsPerAddress` (refusals are logged at debug).
 */
export function createIngestServer(
  app: RequestListener,
  limits: Partial<IngestServerLimits> = {},
  logger: Logger = silentLogger,
): Server {
  const l = { ...DEFAULT_INGEST_SERVER_LIMITS, ...limits };
  const server = createServer(
    {
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      connectionsCheckingInterval: l.checkIntervalMs,
    },
    app,
  );
  server.keepAliveTimeout = l.keepAliveTimeoutMs;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const n = (open.get(address) ?? 0) + 1;
    if (n > l.maxConnectionsPerAddress) {
      logger.debug('connection refused: too many from one address', { address, open: n - 1 });
      socket.end(BUSY);
      socket.setTimeout(1000, () => socket.destroy());
      return;
    }
    open.set(address, n);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
  return server;
}

/** Creates the server (see `createIngestServer`) and listens on `host:port`. */
export function listenIngest(
  app: RequestListener,
  port: number,
  host: string,
  limits: Partial<IngestServerLimits> = {},
  logger?: Logger,
): Promise<Server> {
  const server = createIngestServer(app, limits, logger);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
