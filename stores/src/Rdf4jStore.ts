/** The GraphDB / RDF4J Server store adapter: the `graphdb` client over the RDF4J REST protocol. */
import graphdb from 'graphdb';
import { DependencyError, ValidationError, silentLogger, type Logger } from '@provml/schemas';
import { QueryError, QueryTimeoutError } from './QueryErrors.ts';
import { AnswerTooLargeError } from './QueryLimitErrors.ts';
import { baseType, datasetParams, defaultResultFormat, isRetryableStatus } from './SparqlProtocolStore.ts';
import {
  graphIriRef,
  RESULT_MEDIA_TYPES,
  type QueryOptions,
  type QueryResponse,
  type ResultFormat,
  type StoreResult,
  type TripleStore,
} from './TripleStore.ts';

const { RDFRepositoryClient, RepositoryClientConfig } = graphdb.repository;
const { HttpRequestBuilder } = graphdb.http;

/** Where the repository is and how to reach it. */
export interface Rdf4jStoreOptions {
  /** Server base URL: RDF4J `http://host:8080/rdf4j-server`, GraphDB `http://host:7200`. */
  serverUrl: string;
  /** Repository id. */
  repository: string;
  /** Limit of each request, ms. Default 60000. */
  timeoutMs?: number;
  /**
   * Largest answer, bytes: the response stream is read up to it, then destroyed (closing the
   * connection) and the query fails with AnswerTooLargeError. Default 64 MiB.
   */
  maxResultBytes?: number;
  /** Basic authentication (GraphDB with security on). */
  username?: string;
  password?: string;
  logger?: Logger;
}

/** The shape of the errors the client rejects with (axios 0.21). */
interface HttpFailure {
  message: string;
  code?: string;
  response?: { status: number; data?: unknown };
}

/** The `graphdb` client, its logging sent to our logger (it would print pino lines to stdout otherwise). */
class QuietRepositoryClient extends RDFRepositoryClient {
  declare sink: Logger | undefined;

  override getLogger(): ReturnType<InstanceType<typeof RDFRepositoryClient>['getLogger']> {
    const forward =
      (level: 'debug') =>
      (payload: unknown, message?: unknown): void =>
        this.sink?.[level](typeof message === 'string' ? message : String(payload), {
          graphdb: typeof payload === 'object' ? payload : undefined,
        });
    // every level goes to debug: this adapter reports what matters itself
    const bridge = {
      debug: forward('debug'),
      info: forward('debug'),
      warn: forward('debug'),
      error: forward('debug'),
    };
    return bridge as unknown as ReturnType<InstanceType<typeof RDFRepositoryClient>['getLogger']>;
  }

  /** Runs a request through the client (endpoints, authentication, timeouts). */
  send(
    builder: InstanceType<typeof HttpRequestBuilder>,
  ): Promise<{ getData(): unknown; getHeaders(): unknown }> {
    return this.execute(builder) as Promise<{ getData(): unknown; getHeaders(): unknown }>;
  }
}

/**
 * The whole of a response body (a stream: axios would otherwise re-parse JSON results), up to
 * `maxBytes`: past it the stream is destroyed and AnswerTooLargeError thrown.
 */
async function streamText(data: unknown, maxBytes = Infinity): Promise<string> {
  if (typeof data === 'string') {
    if (Buffer.byteLength(data, 'utf8') > maxBytes) throw new AnswerTooLargeError(maxBytes);
    return data;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of data as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += buffer.length;
    if (total > maxBytes) {
      (data as { destroy?: () => void }).destroy?.();
      throw new AnswerTooLargeError(maxBytes);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The start of an error body (a string, or a stream when the request asked for one), for messages. */
async function bodyText(data: unknown): Promise<string> {
  if (data === undefined || data === null) return '';
  if (typeof data === 'object' && Symbol.asyncIterator in data) return (await streamText(data)).slice(0, 500);
  return (typeof data === 'string' ? data : JSON.stringify(data)).slice(0, 500);
}

/**
 * A repository of an RDF4J Server or GraphDB, through the `graphdb` npm client: each batch is one
 * `POST /repositories/{id}/statements` of N-Quads without a `context` parameter, so every quad goes into
 * its own named graph; queries are `POST /repositories/{id}` (SPARQL 1.1 Protocol) without a dataset, so
 * their default graph is the union of all graphs (RDF4J's and GraphDB's default), or with the dataset
 * asked for as `default-graph-uri` / `named-graph-uri`. Only the RDF4J protocol
 * is used, so the same adapter serves GraphDB 10 and 11 unchanged.
 */
export class Rdf4jStore implements TripleStore {
  private readonly client: QuietRepositoryClient;
  private readonly logger: Logger;
  readonly repositoryUrl: string;

  constructor(private readonly options: Rdf4jStoreOptions) {
    this.logger = options.logger ?? silentLogger;
    const server = options.serverUrl.replace(/\/+$/, '');
    this.repositoryUrl = `${server}/repositories/${encodeURIComponent(options.repository)}`;
    const config = new RepositoryClientConfig(server)
      .setEndpoints([this.repositoryUrl])
      .setReadTimeout(options.timeoutMs ?? 60_000)
      .setWriteTimeout(options.timeoutMs ?? 60_000)
      .setKeepAlive(false); // true re-sends forever on a 401
    if (options.username !== undefined) config.useBasicAuthentication(options.username, options.password);
    this.client = new QuietRepositoryClient(config);
    this.client.sink = this.logger;
  }

  async load(nquads: string): Promise<StoreResult> {
    if (nquads.trim() === '') return { kind: 'success' };
    // the client types the body as a stream; axios sends a string as it is
    return this.change('load into', () =>
      this.client.upload(nquads as unknown as ReadableStream, 'application/n-quads', undefined, undefined),
    );
  }

  /** `DELETE /repositories/{id}/statements?context=<graph>`: every statement of that context. */
  async dropGraph(graph: string): Promise<StoreResult> {
    let ref: string;
    try {
      ref = graphIriRef(graph);
    } catch (error) {
      return { kind: 'failure', error: error as Error };
    }
    return this.change(`drop ${ref} from`, () =>
      this.client.deleteStatements(undefined, undefined, undefined, [ref]),
    );
  }

  /** Runs a change request (`what` names it in errors); a refusal is a value, retryable unless the data or request is bad. */
  private async change(what: string, request: () => Promise<unknown>): Promise<StoreResult> {
    try {
      await request();
      return { kind: 'success' };
    } catch (error) {
      const e = error as HttpFailure;
      const status = e.response?.status;
      const detail =
        status === undefined ? (e.code ?? e.message) : `HTTP ${status} ${await bodyText(e.response?.data)}`;
      const failure = new DependencyError('store-rejected', `${what} ${this.repositoryUrl}: ${detail}`, {
        retriable: status === undefined || isRetryableStatus(status),
        cause: error,
        context: status === undefined ? {} : { status },
      });
      this.logger.debug('change failed', { error: failure });
      return { kind: failure.retriable ? 'retryable' : 'failure', error: failure };
    }
  }

  async query(sparql: string, format?: ResultFormat, options: QueryOptions = {}): Promise<QueryResponse> {
    const f = format ?? defaultResultFormat(sparql);
    const { timeoutMs } = options;
    // the server stops evaluating at `timeout` (whole seconds); the client stops waiting a little later
    // without a dataset RDF4J's default graph is the union of all graphs
    const form = new URLSearchParams([
      ['query', sparql],
      ...(options.dataset === undefined ? [] : datasetParams(options.dataset)),
    ]);
    if (timeoutMs !== undefined) form.set('timeout', String(Math.max(1, Math.ceil(timeoutMs / 1000))));
    const builder = HttpRequestBuilder.httpPost('')
      .setData(form.toString())
      .addContentTypeHeader('application/x-www-form-urlencoded')
      .addAcceptHeader(RESULT_MEDIA_TYPES[f])
      .setResponseType('stream');
    if (timeoutMs !== undefined) builder.setTimeout(timeoutMs + 1000);
    const started = performance.now();
    try {
      const response = await this.client.send(builder);
      const headers = response.getHeaders() as Record<string, string | undefined>;
      return {
        contentType: baseType(headers['content-type'] ?? null) ?? RESULT_MEDIA_TYPES[f],
        body: await streamText(response.getData(), this.options.maxResultBytes ?? 64 * 2 ** 20),
      };
    } catch (error) {
      if (error instanceof AnswerTooLargeError) throw error;
      const e = error as HttpFailure;
      const status = e.response?.status;
      const detail = await bodyText(e.response?.data);
      // RDF4J answers 503 when evaluation passes the `timeout` parameter (QueryInterruptedException),
      // or 500 while the interrupted evaluation is still winding down
      const late = timeoutMs !== undefined && performance.now() - started >= timeoutMs;
      if (
        timeoutMs !== undefined &&
        (e.code === 'ECONNABORTED' || (late && (status === 503 || status === 500)))
      )
        throw new QueryTimeoutError(timeoutMs, error);
      if (status === 400) throw new QueryError(detail || e.message, error);
      if (status === 406)
        throw new QueryError(`no ${RESULT_MEDIA_TYPES[f]} answer for this query: ${detail}`, error);
      throw new DependencyError(
        'query-failed',
        `query at ${this.repositoryUrl}: ${status === undefined ? (e.code ?? e.message) : `HTTP ${status} ${detail}`}`,
        { retriable: status === undefined || status >= 500 || status === 429, cause: error },
      );
    }
  }

  /** Statements in the repository (all contexts). */
  async size(): Promise<number> {
    try {
      return Number(await this.client.getSize());
    } catch (error) {
      throw new DependencyError(
        'store-unavailable',
        `size of ${this.repositoryUrl}: ${(error as Error).message}`,
        {
          retriable: true,
          cause: error,
        },
      );
    }
  }

  /**
   * Checks the configuration: that `serverUrl` answers as an RDF4J/GraphDB server and holds the
   * repository. Run it once at start-up for a clear message instead of a sink that retries forever.
   *
   * @throws DependencyError `store-unreachable` (retriable) when nothing answers at `serverUrl`
   * @throws ValidationError when `serverUrl` is not such a server, or the repository does not exist
   */
  async checkRepository(): Promise<void> {
    const server = this.options.serverUrl.replace(/\/+$/, '');
    const ids = await listRepositories(server, this.options);
    if (!ids.includes(this.options.repository))
      throw new ValidationError(
        `repository "${this.options.repository}" does not exist on ${server} (it has: ${ids.join(', ') || 'none'}); ` +
          'create it (createRdf4jRepository, or the GraphDB workbench) or fix the repository id',
        [{ path: 'repository', message: 'no such repository' }],
      );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const authHeader = (o: { username?: string; password?: string }): Record<string, string> =>
  o.username === undefined
    ? {}
    : { authorization: `Basic ${Buffer.from(`${o.username}:${o.password ?? ''}`).toString('base64')}` };

/**
 * The repository ids of an RDF4J Server / GraphDB (`GET /repositories`), after checking that the URL is
 * one (`GET /protocol` answers a protocol version).
 *
 * @throws DependencyError `store-unreachable` (retriable) when nothing answers
 * @throws ValidationError when the URL answers but is not an RDF4J/GraphDB server
 */
export async function listRepositories(
  serverUrl: string,
  auth: { username?: string; password?: string } = {},
): Promise<string[]> {
  const server = serverUrl.replace(/\/+$/, '');
  const get = async (path: string, accept: string): Promise<Response> => {
    try {
      return await fetch(`${server}${path}`, {
        headers: { accept, ...authHeader(auth) },
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new DependencyError(
        'store-unreachable',
        `nothing answers at ${server} (${cause}): wrong URL, or the server is down`,
        {
          retriable: true,
          cause: error,
        },
      );
    }
  };
  const protocol = await get('/protocol', 'text/plain');
  const version = (await protocol.text()).trim();
  if (!protocol.ok || !/^\d+$/.test(version))
    throw new ValidationError(
      `${server} is not an RDF4J Server or GraphDB URL: GET /protocol answered HTTP ${protocol.status}` +
        ' (expected e.g. http://host:8080/rdf4j-server or http://host:7200)',
      [{ path: 'serverUrl', message: 'not an RDF4J/GraphDB server' }],
    );
  const list = await get('/repositories', 'application/sparql-results+json');
  if (!list.ok)
    throw new DependencyError('store-unavailable', `GET ${server}/repositories: HTTP ${list.status}`, {
      retriable: true,
    });
  const parsed = (await list.json()) as { results: { bindings: { id?: { value: string } }[] } };
  return parsed.results.bindings.flatMap((b) => (b.id === undefined ? [] : [b.id.value]));
}

/**
 * The Turtle configuration of an RDF4J native (on-disk) repository, in the RDF4J 4.3+/5 `config:`
 * vocabulary. Indexes `spoc,posc,cspo`: the last one serves per-graph operations.
 */
export function rdf4jNativeRepositoryConfig(
  id: string,
  title = id,
  tripleIndexes = 'spoc,posc,cspo',
): string {
  const literal = (s: string): string => JSON.stringify(s);
  return `@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix config: <tag:rdf4j.org,2023:config/> .
[] a config:Repository ;
  config:rep.id ${literal(id)} ;
  rdfs:label ${literal(title)} ;
  config:rep.impl [
    config:rep.type "openrdf:SailRepository" ;
    config:sail.impl [ config:sail.type "openrdf:NativeStore" ; config:native.tripleIndexes ${literal(tripleIndexes)} ]
  ] .
`;
}

/**
 * Creates a repository through the RDF4J REST API: `PUT /repositories/{id}` with a Turtle
 * configuration (default: a native store, {@link rdf4jNativeRepositoryConfig}). Creating one that exists
 * is refused by the server (HTTP 409).
 *
 * GraphDB takes the same request with a GraphDB configuration (`config:sail.type "graphdb:Sail"`, its
 * ruleset and index parameters; GraphDB's workbench exports one per repository), or, its own way, the
 * `graphdb` client: `new graphdb.server.GraphDBServerClient(new graphdb.server.ServerClientConfig(url))
 * .createRepository(new graphdb.repository.RepositoryConfig(id, '', params, 'graphdb:SailRepository',
 * title, graphdb.repository.RepositoryType.GRAPHDB))` (`PUT /rest/repositories/{id}`, JSON parameters), or
 * `POST /rest/repositories` with the Turtle file as the multipart field `config`.
 *
 * @throws DependencyError `repository-create-failed`
 */
export async function createRdf4jRepository(
  serverUrl: string,
  id: string,
  options: { config?: string; username?: string; password?: string } = {},
): Promise<void> {
  const url = `${serverUrl.replace(/\/+$/, '')}/repositories/${encodeURIComponent(id)}`;
  const response = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'text/turtle', ...authHeader(options) },
    body: options.config ?? rdf4jNativeRepositoryConfig(id),
    signal: AbortSignal.timeout(30_000),
  }).catch((error: unknown) => {
    throw new DependencyError('store-unreachable', `PUT ${url}: ${String(error)}`, {
      retriable: true,
      cause: error,
    });
  });
  if (!response.ok)
    throw new DependencyError(
      'repository-create-failed',
      `PUT ${url}: HTTP ${response.status} ${await response.text()}`,
      {
        retriable: response.status >= 500,
      },
    );
}

/** Deletes a repository and its data (`DELETE /repositories/{id}`). A missing one is not an error. */
export async function deleteRdf4jRepository(
  serverUrl: string,
  id: string,
  options: { username?: string; password?: string } = {},
): Promise<void> {
  const url = `${serverUrl.replace(/\/+$/, '')}/repositories/${encodeURIComponent(id)}`;
  const response = await fetch(url, {
    method: 'DELETE',
    headers: authHeader(options),
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok && response.status !== 404)
    throw new DependencyError(
      'repository-delete-failed',
      `DELETE ${url}: HTTP ${response.status} ${await response.text()}`,
      {
        retriable: response.status >= 500,
      },
    );
}
