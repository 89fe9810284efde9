/**
 * Parses `/sparql` queries on a thread of their own, with a deadline: the parser (sparqljs) is
 * synchronous and some inputs take it minutes, so it runs in a worker thread that is ended and
 * replaced when a parse runs past its deadline; the event loop (health, ingest) never waits on it.
 */
import { Worker } from 'node:worker_threads';
import { ProvmlError } from '@provml/schemas';
import { QueryError, type QueryDataset, type QueryForm } from '@provml/stores';

/** What the parser found in a query: facts for the guard to judge, and the query written from its parse. */
export type ParsedQuery =
  | { type: 'update'; operations: string[] }
  | {
      type: 'query';
      form: QueryForm;
      /** Whether a SERVICE pattern is anywhere in it. */
      service: boolean;
      /** The dataset to query: the protocol's when given, else the query's FROM / FROM NAMED, else none (the union). */
      dataset?: QueryDataset;
      /** Whether its default-graph patterns were rewritten to read the merged default graph as a set. */
      setSemantics: boolean;
      /**
       * The query generated from the parse (never the client's text): relative IRIs resolved, the
       * default graph read as a set (setSemantics.mjs), its LIMIT at most `limitAtMost`.
       */
      text: string;
    };

/** How a query is to be parsed and written again. */
export interface ParseOptions {
  /** The LIMIT the generated text gets when it has none or a larger one (not ASK). */
  limitAtMost: number;
  /** Base IRI of relative IRIs (the query's own BASE wins). Default: none (a relative IRI is an error). */
  baseIri?: string;
  /** The protocol's dataset (`default-graph-uri` / `named-graph-uri`), which replaces the query's FROM. */
  dataset?: QueryDataset;
}

/** Parses a query into what the guard decides on. */
export interface SparqlParser {
  /** @throws QueryError for a syntax error; QueryTooComplexError or ParserBusyError */
  parse(text: string, options: ParseOptions): Promise<ParsedQuery>;
}

/** A query the parser could not finish within its deadline or memory. */
export class QueryTooComplexError extends ProvmlError {
  constructor(message: string, cause?: unknown) {
    super('query-too-complex', message, { cause });
  }
}

/** More queries waiting to be parsed than the parser accepts; trying again later may succeed. */
export class ParserBusyError extends ProvmlError {
  constructor(readonly waiting: number) {
    super('busy', `${waiting} queries are waiting to be parsed; try again in a moment`, {
      retriable: true,
      context: { waiting },
    });
  }
}

/** Settings of the parse thread. */
export interface SparqlParseWorkerOptions {
  /** Longest one parse may take, ms, from when the thread starts on it. Default 5000. */
  timeoutMs?: number;
  /** Most queries waiting for the thread (beyond the one it parses). Default 32. */
  maxWaiting?: number;
  /** The thread ends after this long without work, ms (and starts again on the next query). Default 60000. */
  idleMs?: number;
  /** Heap of the thread, MB: a parse that needs more fails as too complex. Default 256. */
  heapMb?: number;
}

interface Job {
  text: string;
  options: ParseOptions;
  resolve: (parsed: ParsedQuery) => void;
  reject: (error: Error) => void;
}

interface Reply {
  id?: number;
  ready?: boolean;
  parsed?: ParsedQuery;
  error?: string;
}

/** One thread, one parse at a time, a bounded queue; past the deadline the thread is ended and replaced. */
export class SparqlParseWorker implements SparqlParser {
  private readonly timeoutMs: number;
  private readonly maxWaiting: number;
  private readonly idleMs: number;
  private readonly heapMb: number;
  private worker: Worker | undefined;
  private ready = false;
  private readonly waiting: Job[] = [];
  private current: { id: number; job: Job; timer: NodeJS.Timeout } | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private nextId = 0;
  private closed = false;
  /** Threads ended because a parse ran past its deadline or out of memory. */
  restarts = 0;

  constructor(options: SparqlParseWorkerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxWaiting = options.maxWaiting ?? 32;
    this.idleMs = options.idleMs ?? 60_000;
    this.heapMb = options.heapMb ?? 256;
  }

  parse(text: string, options: ParseOptions): Promise<ParsedQuery> {
    if (this.closed) return Promise.reject(new Error('the SPARQL parser is closed'));
    if (this.waiting.length >= this.maxWaiting)
      return Promise.reject(new ParserBusyError(this.waiting.length));
    return new Promise((resolve, reject) => {
      this.waiting.push({ text, options, resolve, reject });
      this.pump();
    });
  }

  /** Ends the thread; queries waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    const failed = new Error('the SPARQL parser was closed');
    if (this.current !== undefined) {
      clearTimeout(this.current.timer);
      this.current.job.reject(failed);
      this.current = undefined;
    }
    for (const job of this.waiting.splice(0)) job.reject(failed);
    await this.stop();
  }

  /** Gives the thread its next query when it is ready and free; starts it when there is none. */
  private pump(): void {
    clearTimeout(this.idleTimer);
    if (this.closed || this.current !== undefined) return;
    const job = this.waiting.shift();
    if (job === undefined) {
      this.idleTimer = setTimeout(() => void this.stop(), this.idleMs).unref();
      return;
    }
    if (this.worker === undefined) this.worker = this.spawn();
    if (!this.ready) {
      this.waiting.unshift(job);
      return;
    }
    const id = this.nextId++;
    const timer = setTimeout(
      () =>
        this.fail(
          new QueryTooComplexError(
            `the query could not be parsed within ${this.timeoutMs} ms, the limit of this endpoint; simplify it (fewer nested or repeated parts)`,
          ),
        ),
      this.timeoutMs,
    );
    this.current = { id, job, timer };
    this.worker.postMessage({ id, text: job.text, options: job.options });
  }

  private spawn(): Worker {
    const worker = new Worker(new URL('./sparqlParseThread.mjs', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
    });
    worker.on('message', (reply: Reply) => {
      if (worker !== this.worker) return;
      if (reply.ready === true) {
        this.ready = true;
        return this.pump();
      }
      const current = this.current;
      if (current === undefined || current.id !== reply.id) return;
      clearTimeout(current.timer);
      this.current = undefined;
      if (reply.parsed !== undefined) current.job.resolve(reply.parsed);
      else current.job.reject(new QueryError(`not a SPARQL 1.1 query: ${reply.error ?? 'unknown error'}`));
      this.pump();
    });
    worker.on('error', (error: Error & { code?: string }) => {
      if (worker !== this.worker) return;
      this.fail(
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new QueryTooComplexError(
              `the query could not be parsed within ${this.heapMb} MB of memory, the limit of this endpoint; simplify it`,
              error,
            )
          : new Error(`the SPARQL parse thread failed: ${error.message}`, { cause: error }),
      );
    });
    worker.on('exit', () => {
      if (worker === this.worker) this.fail(new Error('the SPARQL parse thread ended unexpectedly'));
    });
    // after the listeners: a 'message' listener refs the worker's port again
    worker.unref();
    return worker;
  }

  /**
   * Fails the query being parsed, ends its thread and goes on with the next query on a new one; a
   * thread that failed before it was ready fails every query waiting (no loop of failing starts).
   */
  private fail(error: Error): void {
    const current = this.current;
    this.current = undefined;
    if (current !== undefined) {
      clearTimeout(current.timer);
      current.job.reject(error);
      this.restarts++;
    }
    if (!this.ready) for (const job of this.waiting.splice(0)) job.reject(error);
    void this.stop();
    this.pump();
  }

  /** Ends the thread (if any); the next query starts a new one. */
  private async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.ready = false;
    if (worker !== undefined) await worker.terminate();
  }
}
