/** The one typed configuration of the distributed services: command-line options over environment over a config file over defaults. */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import { ValidationError } from '@provml/schemas';
import { DEFAULT_TOPICS, type TopicNames } from '@provml/log';
import { storeConfigSchema } from '@provml/stores/config';
import { AUTH_ENV, authConfigSchema, authFromEnv } from './auth/AuthConfig.ts';
import { SHARED_ENV, SHARED_SETTINGS } from './settings.ts';

/**
 * The `store` section: the stores' own schema (every adapter setting: credentials, flavor, bulk
 * load, timeouts), with `kind` naming the adapter (`store` in StoreConfig). Without `kind` it is
 * `rdf4j`, whose repository is created when missing. Absent when nothing names a store: the
 * processor and the agent need none; `openStore` refuses to start without one.
 */
const storeSection = z.preprocess((input) => {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const { kind, ...given } = input as Record<string, unknown>;
  const rest = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  if (kind === undefined && Object.keys(rest).length === 0) return undefined;
  const store = kind ?? 'rdf4j';
  return store === 'rdf4j' ? { createRepository: true, ...rest, store } : { ...rest, store };
}, storeConfigSchema.optional());

const schema = z
  .object({
    kafka: z
      .object({
        /** Bootstrap brokers, `host:port`. Default `127.0.0.1:19092` (the local stack). */
        brokers: z
          .array(z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port'))
          .min(1)
          .default(['127.0.0.1:19092']),
        clientId: z.string().default('provml'),
        /** TLS on (true) or off; certificates come from the Node defaults or NODE_EXTRA_CA_CERTS. */
        ssl: z.boolean().default(false),
        /** SASL credentials, passed to kafkajs; never logged. */
        sasl: z
          .object({
            mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
            username: z.string(),
            password: z.string(),
          })
          .optional(),
        /**
         * This member's identity in its groups (part of the transactional id). Default for a
         * processor: a persistent id under `dataDir` (InstanceIdClaim), so a restart fences its
         * predecessor; give one per pod where the data directory does not persist (the StatefulSet's pod name).
         */
        instanceId: z.string().optional(),
        compression: z.enum(['none', 'gzip']).default('none'),
      })
      .strict()
      .default({ brokers: ['127.0.0.1:19092'], clientId: 'provml', ssl: false, compression: 'none' }),
    /**
     * Topic names (`prefix` is put in front of each default name, e.g. `team-a.`) and how the
     * services create missing topics: partitions, replication factor (default -1: the broker's
     * `default.replication.factor`) and `min.insync.replicas` (default: the broker's; 2 on three brokers).
     */
    topics: z
      .object({
        prefix: z.string().default(''),
        partitions: SHARED_SETTINGS.partitions,
        replicationFactor: z
          .number()
          .int()
          .refine((n) => n === -1 || n >= 1, 'must be -1 (the broker default) or at least 1')
          .default(-1),
        minInsyncReplicas: z.number().int().min(1).optional(),
      })
      .strict()
      .default({ prefix: '', partitions: 4, replicationFactor: -1 }),
    /** Consumer group ids of the processors and the sinks. */
    groups: z
      .object({
        processor: z.string().min(1).default('provml-processor'),
        sink: z.string().min(1).default('provml-sink'),
      })
      .strict()
      .default({ processor: 'provml-processor', sink: 'provml-sink' }),
    /** A Confluent-compatible schema registry: events are then written in the Confluent wire format. */
    registry: z
      .object({ url: z.string().url().optional(), subject: z.string().optional() })
      .strict()
      .default({}),
    /** The triple store for `sink` and `query-api`. */
    store: storeSection,
    /** Where the service listens; the port defaults per service (DEFAULT_PORTS), 7070 when none is named. */
    http: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7070),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 7070 }),
    /** The sidecar agent (`provml agent`) and `provml replay` (capture-agent/AGENT.md). */
    agent: z
      .object({
        /** The spool directory. Default `.data/agent/spool`. */
        spoolDir: z.string().min(1).default('.data/agent/spool'),
        /** The Unix domain socket. Default `<spoolDir>/agent.sock`. */
        socketPath: z.string().min(1).optional(),
        /** `batch` (default): fsync before acknowledging; `interval`; `never`. */
        fsync: z.enum(['batch', 'interval', 'never']).default('batch'),
        fsyncIntervalMs: z.number().int().min(1).default(200),
        /** Cap on unpublished bytes. Default 1 GiB. */
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .default(1 << 30),
        segmentBytes: z
          .number()
          .int()
          .min(1024)
          .default(16 << 20),
        /** At the cap: `reject` (default, nothing lost) or `drop-oldest` (counted). */
        policy: z.enum(['reject', 'drop-oldest']).default('reject'),
        /** Spool only, never publish (replay later). Default false. */
        offline: z.boolean().default(false),
      })
      .strict()
      .default({
        spoolDir: '.data/agent/spool',
        fsync: 'batch',
        fsyncIntervalMs: 200,
        maxBytes: 1 << 30,
        segmentBytes: 16 << 20,
        policy: 'reject',
        offline: false,
      }),
    /** The processors. */
    processor: z
      .object({
        /** Close task executions still open after their run was silent this long (ms). Default 30 min; 0 = off. */
        incompleteAfterMs: SHARED_SETTINGS.incompleteAfterMs,
        /**
         * How triples records are written: `deflate` (default: N-Quads deflated with the vocabulary
         * dictionary, ~5% of the bytes) or `nquads` (plain text, for tools that read the topic as
         * text, e.g. kcat). Sinks and `provml dlq` read both.
         */
        triplesEncoding: z.enum(['deflate', 'nquads']).default('deflate'),
        /** Partitions mapped at once, each batch in its own partition's transaction. Default 8. */
        concurrency: z.number().int().min(1).max(256).default(8),
      })
      .strict()
      .default({ incompleteAfterMs: 1_800_000, triplesEncoding: 'deflate', concurrency: 8 }),
    /** The sinks. */
    sink: z
      .object({
        /**
         * Store loads in flight at most; offsets are committed in order. Default: 4 for a SPARQL
         * protocol store (the Oxigraph server: loads wait on its answers), 1 for RDF4J (its native
         * store takes one writing transaction at a time, each synced on commit) and embedded Oxigraph
         * (its loads run on the sink's own thread), where more in flight only makes loads smaller.
         */
        maxInFlight: z.number().int().min(1).max(64).optional(),
      })
      .strict()
      .default({}),
    /** The query API's limits and policy. */
    query: z
      .object({
        /** Longest a query may run, ms. Default 30000. */
        timeoutMs: SHARED_SETTINGS.queryTimeoutMs,
        /** Most solutions or triples of one `/sparql` answer. Default 100000. */
        maxResultRows: SHARED_SETTINGS.maxResultRows,
        /** Allow SERVICE (federated queries) through `/sparql`: an administrator's choice. Default false. */
        allowService: SHARED_SETTINGS.allowService,
        /** Serve `/v1/live` from a consumer of the events topic. Default true. */
        live: z.boolean().default(true),
      })
      .strict()
      .default({ timeoutMs: 30_000, maxResultRows: 100_000, allowService: false, live: true }),
    /** Access control of the HTTP routes (bearer tokens per scope; see auth/AuthConfig.ts). */
    auth: authConfigSchema,
    /** Where a service keeps state across restarts: the processors' instance ids. Default `.data/service`. */
    dataDir: z.string().min(1).default('.data/service'),
    iriBase: SHARED_SETTINGS.iriBase,
    logLevel: SHARED_SETTINGS.logLevel,
  })
  .strict();

/** The distributed services, each a process with an HTTP port of its own. */
export type ServiceName = 'query-api' | 'agent' | 'processor' | 'sink';

/**
 * Default HTTP port of each service: the query API and the agent's ingest on the embedded mode's
 * ports (so the same `curl` lines work against either), the processor's and the sink's health and
 * metrics next to them.
 */
export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = {
  'query-api': 7070,
  agent: 7071,
  processor: 7072,
  sink: 7073,
};

/** The environment variable of each service's port; it wins over the shared PROVML_HTTP_PORT. */
export const PORT_ENV = {
  'query-api': 'PROVML_QUERY_PORT',
  agent: 'PROVML_INGEST_PORT',
  processor: 'PROVML_PROCESSOR_PORT',
  sink: 'PROVML_SINK_PORT',
} as const satisfies Record<ServiceName, string>;

/** Configuration of a distributed service process. */
export type ServiceConfig = z.infer<typeof schema>;

/** The environment variables of the shared settings, each with the service setting it fills. */
const sharedEnv = (paths: Readonly<Record<keyof typeof SHARED_ENV, string>>) =>
  Object.fromEntries(
    Object.entries(SHARED_ENV).map(([key, env]) => [env, paths[key as keyof typeof SHARED_ENV]]),
  ) as Record<(typeof SHARED_ENV)[keyof typeof SHARED_ENV], string>;

/** Environment variables read, and the setting each fills. */
export const SERVICE_ENV = {
  PROVML_KAFKA_BROKERS: 'kafka.brokers (comma-separated)',
  PROVML_KAFKA_SSL: 'kafka.ssl (true|false)',
  PROVML_KAFKA_SASL_MECHANISM: 'kafka.sasl.mechanism',
  PROVML_KAFKA_SASL_USERNAME: 'kafka.sasl.username',
  PROVML_KAFKA_SASL_PASSWORD: 'kafka.sasl.password',
  PROVML_INSTANCE_ID: 'kafka.instanceId',
  PROVML_DATA_DIR: 'dataDir',
  PROVML_TOPIC_PREFIX: 'topics.prefix',
  PROVML_REPLICATION_FACTOR: 'topics.replicationFactor (-1: the broker default)',
  PROVML_MIN_INSYNC_REPLICAS: 'topics.minInsyncReplicas',
  PROVML_REGISTRY_URL: 'registry.url (Confluent-compatible API base)',
  PROVML_PROCESSOR_GROUP: 'groups.processor',
  PROVML_SINK_GROUP: 'groups.sink',
  PROVML_STORE: 'store.kind',
  PROVML_STORE_URL: 'store.url',
  PROVML_STORE_REPOSITORY: 'store.repository',
  PROVML_STORE_USERNAME: 'store.username (rdf4j)',
  PROVML_STORE_PASSWORD: 'store.password (rdf4j)',
  PROVML_STORE_FLAVOR: 'store.flavor (sparql: oxigraph|fuseki)',
  PROVML_STORE_BULK_LOAD: 'store.bulkLoad (sparql, Oxigraph: true|false)',
  PROVML_STORE_TIMEOUT_MS: 'store.timeoutMs',
  PROVML_HTTP_HOST: 'http.host',
  PROVML_HTTP_PORT: 'http.port (any service; its own variable below wins)',
  PROVML_QUERY_PORT: 'http.port of query-api (default 7070)',
  PROVML_INGEST_PORT: 'http.port of agent (default 7071)',
  PROVML_PROCESSOR_PORT: 'http.port of processor (default 7072)',
  PROVML_SINK_PORT: 'http.port of sink (default 7073)',
  PROVML_AGENT_SPOOL: 'agent.spoolDir',
  PROVML_AGENT_SOCKET: 'agent.socketPath',
  PROVML_AGENT_FSYNC: 'agent.fsync (batch|interval|never)',
  PROVML_AGENT_MAX_BYTES: 'agent.maxBytes',
  PROVML_AGENT_POLICY: 'agent.policy (reject|drop-oldest)',
  PROVML_AGENT_OFFLINE: 'agent.offline (true|false)',
  PROVML_LIVE: 'query.live (true|false)',
  PROVML_TRIPLES_ENCODING: 'processor.triplesEncoding (deflate|nquads)',
  PROVML_PROCESSOR_CONCURRENCY: 'processor.concurrency (partitions mapped at once)',
  PROVML_SINK_MAX_IN_FLIGHT: 'sink.maxInFlight (store loads in flight)',
  ...sharedEnv({
    partitions: 'topics.partitions',
    incompleteAfterMs: 'processor.incompleteAfterMs',
    queryTimeoutMs: 'query.timeoutMs',
    maxResultRows: 'query.maxResultRows',
    allowService: 'query.allowService (true|false)',
    iriBase: 'iriBase',
    logLevel: 'logLevel',
  }),
  ...AUTH_ENV,
} as const;

type Json = Record<string, unknown>;

/** Deep merge: values of `over` win; arrays are replaced. */
function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] =
      typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      typeof b === 'object' &&
      b !== null &&
      !Array.isArray(b)
        ? merge(b as Json, v as Json)
        : v;
  }
  return out;
}

function fromEnv(env: Readonly<Record<string, string | undefined>>, service?: ServiceName): Json {
  const e = (k: keyof typeof SERVICE_ENV): string | undefined => (env[k] === '' ? undefined : env[k]);
  const num = (v: string | undefined): number | string | undefined =>
    v === undefined || !/^\d+$/.test(v) ? v : Number(v);
  const bool = (v: string | undefined): boolean | string | undefined =>
    v === 'true' ? true : v === 'false' ? false : v;
  const sasl =
    e('PROVML_KAFKA_SASL_MECHANISM') === undefined
      ? undefined
      : {
          mechanism: e('PROVML_KAFKA_SASL_MECHANISM'),
          username: e('PROVML_KAFKA_SASL_USERNAME'),
          password: e('PROVML_KAFKA_SASL_PASSWORD'),
        };
  return {
    kafka: {
      brokers: e('PROVML_KAFKA_BROKERS')
        ?.split(',')
        .map((b) => b.trim()),
      ssl: e('PROVML_KAFKA_SSL') === undefined ? undefined : e('PROVML_KAFKA_SSL') === 'true',
      sasl,
      instanceId: e('PROVML_INSTANCE_ID'),
    },
    topics: {
      prefix: e('PROVML_TOPIC_PREFIX'),
      partitions: num(e('PROVML_PARTITIONS')),
      replicationFactor: e('PROVML_REPLICATION_FACTOR') === '-1' ? -1 : num(e('PROVML_REPLICATION_FACTOR')),
      minInsyncReplicas: num(e('PROVML_MIN_INSYNC_REPLICAS')),
    },
    registry: { url: e('PROVML_REGISTRY_URL') },
    groups: { processor: e('PROVML_PROCESSOR_GROUP'), sink: e('PROVML_SINK_GROUP') },
    store: {
      kind: e('PROVML_STORE'),
      url: e('PROVML_STORE_URL'),
      repository: e('PROVML_STORE_REPOSITORY'),
      username: e('PROVML_STORE_USERNAME'),
      password: e('PROVML_STORE_PASSWORD'),
      flavor: e('PROVML_STORE_FLAVOR'),
      bulkLoad: bool(e('PROVML_STORE_BULK_LOAD')),
      timeoutMs: num(e('PROVML_STORE_TIMEOUT_MS')),
    },
    http: {
      host: e('PROVML_HTTP_HOST'),
      port: num((service === undefined ? undefined : e(PORT_ENV[service])) ?? e('PROVML_HTTP_PORT')),
    },
    agent: {
      spoolDir: e('PROVML_AGENT_SPOOL'),
      socketPath: e('PROVML_AGENT_SOCKET'),
      fsync: e('PROVML_AGENT_FSYNC'),
      maxBytes: num(e('PROVML_AGENT_MAX_BYTES')),
      policy: e('PROVML_AGENT_POLICY'),
      offline: e('PROVML_AGENT_OFFLINE') === undefined ? undefined : e('PROVML_AGENT_OFFLINE') === 'true',
    },
    processor: {
      incompleteAfterMs: num(e('PROVML_INCOMPLETE_AFTER_MS')),
      triplesEncoding: e('PROVML_TRIPLES_ENCODING'),
      concurrency: num(e('PROVML_PROCESSOR_CONCURRENCY')),
    },
    sink: { maxInFlight: num(e('PROVML_SINK_MAX_IN_FLIGHT')) },
    query: {
      timeoutMs: num(e('PROVML_QUERY_TIMEOUT_MS')),
      maxResultRows: num(e('PROVML_MAX_RESULT_ROWS')),
      allowService: bool(e('PROVML_ALLOW_SERVICE')),
      live: bool(e('PROVML_LIVE')),
    },
    auth: authFromEnv(env),
    dataDir: e('PROVML_DATA_DIR'),
    iriBase: e('PROVML_IRI_BASE'),
    logLevel: e('PROVML_LOG_LEVEL'),
  };
}

/**
 * Resolves the configuration once, in `main`.
 * @param options values from the command line (highest precedence)
 * @param env the process environment (see SERVICE_ENV)
 * @param file path of a JSON or YAML config file, if any
 * @param service the service this process runs: its port variable and default port (DEFAULT_PORTS)
 * @throws ValidationError naming each bad setting
 */
export function resolveServiceConfig(
  options: Json,
  env: Readonly<Record<string, string | undefined>>,
  file?: string,
  service?: ServiceName,
): ServiceConfig {
  let fileValues: Json = {};
  if (file !== undefined) {
    try {
      fileValues = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Json;
    } catch (error) {
      throw new ValidationError(`cannot read config file ${file}`, [
        { path: '', message: (error as Error).message },
      ]);
    }
  }
  const defaults: Json = service === undefined ? {} : { http: { port: DEFAULT_PORTS[service] } };
  const layered = merge(merge(merge(defaults, fileValues), fromEnv(env, service)), options);
  const parsed = schema.safeParse(layered);
  if (!parsed.success)
    throw new ValidationError(
      'invalid configuration',
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  return parsed.data;
}

/** The topic names of a configuration. */
export function topicNames(config: ServiceConfig): TopicNames {
  const p = config.topics.prefix;
  return {
    events: p + DEFAULT_TOPICS.events,
    specs: p + DEFAULT_TOPICS.specs,
    annotations: p + DEFAULT_TOPICS.annotations,
    triples: p + DEFAULT_TOPICS.triples,
    deadLetters: p + DEFAULT_TOPICS.deadLetters,
  };
}
