/** HTTP plumbing every process shares: listen, close, its URL, and the Prometheus `/metrics` route. */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Listens on `host:port` (0 picks a free port); rejects with the listen error (e.g. EADDRINUSE). */
export function listen(
  app: { listen: (port: number, host: string) => Server },
  port: number,
  host: string,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('listening', () => resolve(server));
    server.once('error', reject);
  });
}

/** Stops accepting, drops open connections and resolves once closed. Undefined is already closed. */
export const closeServer = (server: Server | undefined): Promise<void> =>
  new Promise((resolve) => {
    if (server === undefined) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });

/** `http://host:port` of a listening server. */
export const urlOf = (server: Server): string => {
  const a = server.address() as AddressInfo;
  return `http://${a.address}:${a.port}`;
};

/**
 * The `/metrics` handler (connect-style: express mounts it, a `node:http` server calls it): the
 * registry in the Prometheus text format, read at scrape time; a failure goes to `next`.
 */
export const metricsRoute =
  (registry: Registry) =>
  (_req: IncomingMessage, res: ServerResponse, next: (error: unknown) => void): void => {
    registry
      .metrics()
      .then((text) => {
        res.writeHead(200, {
          'content-type': registry.contentType,
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
      })
      .catch(next);
  };
