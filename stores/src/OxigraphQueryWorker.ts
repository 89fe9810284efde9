/**
 * Queries of the embedded store on a thread of their own, with deadlines: Oxigraph (WebAssembly)
 * answers synchronously and cannot be interrupted, so queries run against a replica in a worker
 * thread; a query past its deadline ends that thread, and a new replica is built from the main store.
 */
import { Worker } from 'node:worker_threads';
import { QueryError, QueryTimeoutError } from './QueryErrors.ts';

interface Pending {
  sparql: string;
  mediaType: string;
  resolve: (body: string) => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

interface Reply {
  id: number;
  body?: string;
  error?: string;
}

/** A replica of the embedded store in a worker thread; loads are forwarded in order, before later queries. */
export class OxigraphQueryWorker {
  private worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;
  /** Replicas rebuilt after a query ran past its deadline. */
  restarts = 0;

  /** @param snapshot N-Quads of everything loaded so far, used to build a new replica. */
  constructor(private readonly snapshot: () => string) {
    this.worker = this.spawn();
  }

  private spawn(): Worker {
    const worker = new Worker(new URL('./oxigraphQueryWorker.mjs', import.meta.url));
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.error !== undefined) p.reject(new QueryError(reply.error));
      else p.resolve(reply.body ?? '');
    });
    worker.on('error', (error) => {
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        clearTimeout(p.timer);
        p.reject(new QueryError(`the query thread failed: ${error.message}`, error));
      }
    });
    return worker;
  }

  /** Forwards loaded N-Quads to the replica (already accepted by the main store). */
  load(nquads: string): void {
    this.worker.postMessage({ type: 'load', nquads });
  }

  /** Runs a query on the replica, stopping it after `timeoutMs`. */
  query(sparql: string, mediaType: string, timeoutMs?: number): Promise<string> {
    if (this.closed) return Promise.reject(new QueryError('the store is closed'));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const p: Pending = { sparql, mediaType, resolve, reject };
      if (timeoutMs !== undefined) p.timer = setTimeout(() => this.expire(id, timeoutMs), timeoutMs);
      this.pending.set(id, p);
      this.worker.postMessage({ type: 'query', id, sparql, mediaType });
    });
  }

  /** Fails a query past its deadline: ends the thread, builds a new replica, re-sends the other queries. */
  private expire(id: number, timeoutMs: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    p.reject(new QueryTimeoutError(timeoutMs));
    void this.worker.terminate();
    this.restarts++;
    this.worker = this.spawn();
    this.worker.postMessage({ type: 'load', nquads: this.snapshot() });
    for (const [otherId, other] of this.pending)
      this.worker.postMessage({
        type: 'query',
        id: otherId,
        sparql: other.sparql,
        mediaType: other.mediaType,
      });
  }

  /** Ends the thread; pending queries fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new QueryError('the store was closed'));
    }
    await this.worker.terminate();
  }
}
