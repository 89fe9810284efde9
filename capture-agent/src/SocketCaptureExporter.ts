/** The sidecar transport: exports as batches over the agent's Unix domain socket (capture-agent/AGENT.md). */
import { connect, type Socket } from 'node:net';
import { ValidationError, type CaptureEvent, type ProspectiveSpec, type SocketAnswer } from '@provml/schemas';
import type { CaptureExporter, ExportResult } from './CaptureExporter.ts';
import { eventEnvelopeJson } from './captureJson.ts';

const NEWLINE = Buffer.from('\n');

/** Settings of the socket exporter. */
export interface SocketExporterOptions {
  /** The agent's socket, e.g. `<spool>/agent.sock`. */
  path: string;
  /** Longest wait for a batch's answer, ms; then the connection is dropped and the batch is retryable. Default 30000. */
  answerTimeoutMs?: number;
}

/**
 * Sends every export as one socket batch and resolves with the agent's answer: `accepted` is a
 * success (the batch is in the agent's spool), `spool-full`, `unavailable` and a dropped connection
 * are retryable (the batch is sent again, whole), `invalid-event` is a failure naming each line.
 */
export class SocketCaptureExporter implements CaptureExporter {
  private socket: Socket | undefined;
  private buffer = '';
  private pending: ((answer: SocketAnswer | Error) => void) | undefined;

  constructor(private readonly options: SocketExporterOptions) {}

  exportSpec(spec: ProspectiveSpec): Promise<ExportResult> {
    return this.send([JSON.stringify({ spec })]);
  }

  exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    return this.send(events.map(eventEnvelopeJson));
  }

  /** Event envelopes as they are (the socket's lines are envelopes): one write of the batch's bytes. */
  exportEventRecords(payloads: readonly Buffer[]): Promise<ExportResult> {
    const parts: Buffer[] = [];
    for (const p of payloads) parts.push(p, NEWLINE);
    parts.push(NEWLINE);
    return this.send(Buffer.concat(parts));
  }

  shutdown(): Promise<void> {
    this.socket?.destroy();
    this.socket = undefined;
    return Promise.resolve();
  }

  /** Sends one batch (envelope lines, or the bytes of a whole batch with its empty line). */
  private async send(lines: readonly string[] | Buffer): Promise<ExportResult> {
    let answer: SocketAnswer | Error;
    try {
      const socket = await this.connected();
      answer = await new Promise<SocketAnswer | Error>((resolve) => {
        const timer = setTimeout(() => {
          this.drop();
          resolve(new Error(`no answer from the agent within ${this.options.answerTimeoutMs ?? 30_000} ms`));
        }, this.options.answerTimeoutMs ?? 30_000);
        this.pending = (a) => {
          clearTimeout(timer);
          resolve(a);
        };
        socket.write(Buffer.isBuffer(lines) ? lines : `${lines.join('\n')}\n\n`);
      });
    } catch (error) {
      answer = error as Error;
    }
    if (answer instanceof Error) return { kind: 'retryable', error: answer };
    if ('accepted' in answer) return { kind: 'success' };
    const message = `agent answered ${answer.error}: ${answer.message}`;
    if (answer.error === 'invalid-event')
      return { kind: 'failure', error: new ValidationError(message, answer.issues) };
    return { kind: 'retryable', error: new Error(message) };
  }

  private connected(): Promise<Socket> {
    if (this.socket !== undefined && !this.socket.destroyed) return Promise.resolve(this.socket);
    return new Promise((resolve, reject) => {
      const s = connect(this.options.path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        this.socket = s;
        this.buffer = '';
        s.setEncoding('utf8');
        s.on('data', (chunk: string) => this.onData(chunk));
        s.on('error', () => this.drop());
        s.on('close', () => this.drop());
        resolve(s);
      });
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let i: number;
    while ((i = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 1);
      const p = this.pending;
      this.pending = undefined;
      try {
        p?.(JSON.parse(line) as SocketAnswer);
      } catch (error) {
        p?.(error as Error);
      }
    }
  }

  /** Forgets the connection; a batch waiting for its answer becomes retryable. */
  private drop(): void {
    this.socket?.destroy();
    this.socket = undefined;
    const p = this.pending;
    this.pending = undefined;
    p?.(new Error('connection to the agent closed'));
  }
}
