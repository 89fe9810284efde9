/** The agent's Unix domain socket (AGENT.md): NDJSON envelopes, an empty line ends a batch, one JSON answer line per batch. */
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { silentLogger, type Logger, type SocketAnswer } from '@provml/schemas';
import { IriMinter } from '@provml/stream-processors';
import { parseEnvelopeBatch } from './parseEnvelopeBatch.ts';
import { BatchFramer, type Frame, type FramingLimits } from './socketFraming.ts';
import type { SpoolIngestTarget } from './SpoolIngestTarget.ts';

/** Settings of the socket server. */
export interface SocketIngestOptions {
  target: SpoolIngestTarget;
  logger?: Logger;
  /**
   * Line and batch limits (default 1 MiB per line, 100 000 lines and 32 MiB per batch), enforced
   * while reading: a batch is refused as soon as it passes one.
   */
  limits?: Partial<FramingLimits>;
  /** Counts what was accepted and rejected, in records (for metrics). */
  onResult?: (outcome: 'accepted' | 'rejected', records: number, kinds?: Record<string, number>) => void;
}

/** Serves the socket protocol until `close()`. */
export class SocketIngestServer {
  private server: Server | undefined;
  /** Open connections and the answer chain of each (batches of one connection are answered in order). */
  private readonly sockets = new Map<Socket, Promise<void>>();
  private readonly iris = new IriMinter();
  private readonly logger: Logger;

  constructor(private readonly options: SocketIngestOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /**
   * Listens on `path` (a stale socket file left by a killed agent is removed first: the spool LOCK is
   * ours). The socket is local-only: its file gets `mode` (default 0660: owner and group may connect).
   */
  async listen(path: string, mode = 0o660): Promise<void> {
    if (existsSync(path)) rmSync(path, { force: true });
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    chmodSync(path, mode);
    this.server = server;
  }

  /**
   * Stops accepting and reading, answers the batches already read (a batch spooled but never
   * answered would be sent again by its client: a duplicate), then ends open connections and
   * removes the socket file. Idempotent.
   */
  async close(answerWithinMs = 5000): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets.keys()) s.pause();
    const within = async (work: Promise<unknown>, ms: number): Promise<void> => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)).unref())]);
      clearTimeout(timer);
    };
    await within(Promise.all(this.sockets.values()), answerWithinMs);
    for (const s of this.sockets.keys()) s.end(); // after the answers written
    await within(closed, 1000);
    for (const s of this.sockets.keys()) s.destroy();
    await closed;
  }

  private serve(socket: Socket): void {
    this.sockets.set(socket, Promise.resolve());
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const framer = new BatchFramer(this.options.limits);
    // batches of one connection are answered in order; reading pauses while two wait for the spool
    let chain = Promise.resolve();
    let waiting = 0;
    socket.on('data', (chunk: Buffer) => {
      for (const frame of framer.push(chunk)) {
        waiting++;
        chain = chain
          .then(async () => {
            const answer = await this.handle(frame);
            if (!socket.destroyed) socket.write(`${JSON.stringify(answer)}\n`);
            if (--waiting < 2 && socket.isPaused() && this.server !== undefined) socket.resume();
          })
          .catch((error: unknown) => {
            this.logger.error('answering a batch failed; connection closed', { error });
            socket.destroy();
          });
        if (this.sockets.has(socket)) this.sockets.set(socket, chain);
      }
      if (waiting >= 2 || this.server === undefined) socket.pause();
    });
  }

  private async handle(frame: Frame): Promise<SocketAnswer> {
    const count = this.options.onResult ?? (() => undefined);
    if (frame.kind === 'refused') {
      count('rejected', frame.lines);
      const { issues, issueCount, complete } = frame;
      return {
        error: 'invalid-event',
        message:
          frame.reason === 'limit'
            ? 'batch refused at a limit; nothing was stored (the rest of it, up to its empty line, is dropped)'
            : `rejected: ${issueCount} line(s) not valid UTF-8; nothing was stored`,
        issues,
        issueCount,
        complete,
      };
    }
    const { lines } = frame;
    const { target } = this.options;
    let parsed = parseEnvelopeBatch(lines, (w) => target.spec(w), this.iris);
    if (!parsed.ok && parsed.issues.some((i) => i.path === 'event.workflow')) {
      await target.refreshSpecs(); // a workflow registered through another agent
      parsed = parseEnvelopeBatch(lines, (w) => target.spec(w), this.iris);
    }
    if (!parsed.ok) {
      count('rejected', lines.length);
      const { issues, issueCount, complete } = parsed;
      return {
        error: 'invalid-event',
        message: `rejected: ${issueCount}${complete ? '' : '+'} problem(s); nothing was stored`,
        issues,
        issueCount,
        complete,
      };
    }
    try {
      await target.appendValidated(parsed.payloads, parsed.specs, parsed.events);
    } catch (error) {
      const code = (error as { code?: string }).code;
      count('rejected', lines.length);
      if (code === 'spool-full') return { error: 'spool-full', message: (error as Error).message };
      this.logger.error('spooling a batch failed', { error });
      return { error: 'unavailable', message: 'could not spool the batch; nothing was acknowledged' };
    }
    count('accepted', lines.length, parsed.counts);
    return { accepted: parsed.payloads.length };
  }
}
