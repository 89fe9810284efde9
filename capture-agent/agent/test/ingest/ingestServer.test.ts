// The ingest's HTTP server over real sockets: slow and numerous connections cut, client errors answered 4xx and logged at debug.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCaptureEvent, type Logger } from '@provml/schemas';
import { EmbeddedLog } from '@provml/log';
import { createIngestApp } from '../../src/ingest/createIngestApp.ts';
import { LogIngestTarget } from '../../src/ingest/IngestTarget.ts';
import { listenIngest } from '../../src/ingest/ingestServer.ts';

/** A logger that keeps every line, by level. */
function recordingLogger(lines: { level: string; message: string }[]): Logger {
  const logger: Logger = {
    debug: (message) => void lines.push({ level: 'debug', message }),
    info: (message) => void lines.push({ level: 'info', message }),
    warn: (message) => void lines.push({ level: 'warn', message }),
    error: (message) => void lines.push({ level: 'error', message }),
    child: () => logger,
  };
  return logger;
}

/** Opens a raw connection and collects what the server sends until it closes. */
async function raw(
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (c: string) => (text += c));
  socket.on('error', () => undefined);
  const opened = Date.now();
  const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - opened)));
  return { socket, received: () => text, closed };
}

describe('ingest HTTP server limits', () => {
  const lines: { level: string; message: string }[] = [];
  let server: Server;
  let port = 0;

  beforeAll(async () => {
    const log = new EmbeddedLog();
    const app = createIngestApp({
      target: new LogIngestTarget(log, encodeCaptureEvent),
      logger: recordingLogger(lines),
    });
    server = await listenIngest(
      app,
      0,
      '127.0.0.1',
      { headersTimeoutMs: 500, requestTimeoutMs: 1000, checkIntervalMs: 100, maxConnectionsPerAddress: 4 },
      recordingLogger(lines),
    );
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('cuts a body trickled slower than the request deadline: 408 and closed', async () => {
    const c = await raw(port);
    c.socket.write(
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n',
    );
    const trickle = setInterval(() => c.socket.writable && c.socket.write('x'), 100);
    try {
      const ms = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
      expect(ms, 'closed within the deadline').toBeGreaterThan(0);
      expect(ms).toBeLessThan(3000);
      expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(trickle);
      c.socket.destroy();
    }
  });

  it('cuts headers that never end at the header deadline', async () => {
    const c = await raw(port);
    c.socket.write('POST /v1/events HTTP/1.1\r\nHost: x\r\n');
    const ms = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(3000);
  });

  it('refuses connections over the per-address cap with 503 and serves again once some close', async () => {
    const held = await Promise.all([0, 1, 2, 3].map(() => raw(port)));
    const over = await raw(port);
    await over.closed;
    expect(over.received()).toMatch(/^HTTP\/1\.1 503[\s\S]*too-many-connections/);
    for (const c of held) c.socket.destroy();
    await Promise.all(held.map((c) => c.closed));
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
  });

  it('answers a body that is not its Content-Encoding 400 and an unknown coding 415, logging at debug only', async () => {
    lines.length = 0;
    const post = (encoding: string) =>
      fetch(`http://127.0.0.1:${port}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', 'content-encoding': encoding },
        body: '{"eventId":"x"}',
      });
    expect((await post('gzip')).status).toBe(400);
    expect((await post('compress')).status).toBe(415);
    expect((await post('gzip, gzip')).status).toBe(415);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(lines.filter((l) => l.level === 'debug').length).toBeGreaterThanOrEqual(3);
  });

  it('logs an aborted request at debug, not error', async () => {
    lines.length = 0;
    const c = await raw(port);
    c.socket.write(
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{"a":',
    );
    await new Promise((r) => setTimeout(r, 100));
    c.socket.destroy();
    const deadline = Date.now() + 3000;
    while (lines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(lines.filter((l) => l.level === 'debug')).not.toEqual([]);
  });
});
