/** The agent's Unix domain socket (AGENT.md): NDJSON envelopes, an empty line ends a batch, one JSON answer line per batch. */
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { silentLogger, type Logger } from '@provml/schemas';
import { IriMinter } from '@provml/stream-processors';
import { parseEnvelopeBatch } from './parseEnvelopeBatch.ts';
import type { SpoolIngestTarget } from './SpoolIngestTarget.ts';

/** Settings of the socket server. */
export interface SocketIngestOptions {
  target: SpoolIngestTarget;
  logger?: Logger;
  /** Lines in one batch at most; a longer batch is refused whole. Default 100000. */
  maxBatchLines?: number;
  /** Counts what was accepted and rejected, in records (for metrics). */
  onResult?: (outcome: 'accepted' | 'rejected', records: number, kinds?: Record<string, number>) => void;
}

/** One JSON answer line per batch. */
type Answer =
  | { accepted: number }
  | { error: 'invalid-event'; message: string; issues: unknown[] }
  | { error: 'spool-full' | 'unavailable'; message: string };

/** Serves the socket protocol until `close()`. */
export class SocketIngestServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
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

  /** Stops accepting, ends open connections and removes the socket file. Idempotent. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let rest = '';
    let lines: string[] = [];
    let tooMany = false;
    // batches of one connection are answered in order
    let chain = Promise.resolve();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      for (const raw of parts) {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (line.trim() !== '') {
          if (lines.length < (this.options.maxBatchLines ?? 100_000)) lines.push(line);
          else tooMany = true;
          continue;
        }
        const batch = lines;
        const overflow = tooMany;
        lines = [];
        tooMany = false;
        if (batch.length === 0 && !overflow) continue; // blank lines between batches
        chain = chain.then(async () => {
          const answer = await this.handle(batch, overflow);
          if (!socket.destroyed) socket.write(`${JSON.stringify(answer)}\n`);
        });
      }
    });
  }

  private async handle(lines: string[], overflow: boolean): Promise<Answer> {
    const count = this.options.onResult ?? (() => undefined);
    if (overflow) {
      count('rejected', lines.length);
      return {
        error: 'invalid-event',
        message: 'batch too long; nothing was stored',
        issues: [
          { path: '', message: `more than ${this.options.maxBatchLines ?? 100_000} lines in one batch` },
        ],
      };
    }
    const { target } = this.options;
    let parsed = parseEnvelopeBatch(lines, (w) => target.spec(w), this.iris);
    if (!parsed.ok && parsed.issues.some((i) => i.path === 'event.workflow')) {
      await target.refreshSpecs(); // a workflow registered through another agent
      parsed = parseEnvelopeBatch(lines, (w) => target.spec(w), this.iris);
    }
    if (!parsed.ok) {
      count('rejected', lines.length);
      return {
        error: 'invalid-event',
        message: `rejected: ${parsed.issues.length} problem(s); nothing was stored`,
        issues: parsed.issues,
      };
    }
    try {
      await target.appendValidated(parsed.payloads, parsed.specs);
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
