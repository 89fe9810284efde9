/** The one typed configuration of the embedded all-in-one process: user values over environment over defaults. */
import * as z from 'zod';
import { ValidationError } from '@provml/schemas';
import { SHARED_ENV, SHARED_SETTINGS } from '@provml/service';

const port = z.coerce.number().int().min(0).max(65_535);

const schema = z
  .object({
    /** Interface both servers listen on. Default `127.0.0.1`. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Port of the query API (SPARQL, metrics, dashboard). Default 7070; 0 picks a free port. */
    queryPort: port.default(7070),
    /** Port of the HTTP ingest. Default 7071; 0 picks a free port. */
    ingestPort: port.default(7071),
    /**
     * Directory of the durable log (events, specs, annotations, triples, group positions): what
     * survives a restart or a crash; the store is rebuilt from it on start. Default none: in memory
     * (the `provml` command defaults to `.data/embedded` unless `--in-memory`).
     */
    dataDir: z.string().min(1).optional(),
    /** Query threads, each with a replica of the store. Default 2. */
    queryWorkers: z.coerce.number().int().min(1).max(64).default(2),
    /** Largest answer of any query, bytes of its serialisation (SPARQL, REST views). Default 64 MiB. */
    maxResultBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(64 * 2 ** 20),
    /** A query running longer than this is heavy: heavy queries leave one query thread free. Default 1000. */
    heavyQueryMs: z.coerce.number().int().min(1).default(1000),
    /** Heavy queries one client address may run at once (more are refused, 429). Default 1. */
    maxHeavyQueriesPerClient: z.coerce.number().int().min(1).default(1),
    /** Partitions, IRI base, log level, query limits, SERVICE, incomplete executions (service/src/settings.ts). */
    ...SHARED_SETTINGS,
  })
  .strict();

/** Configuration of the embedded process. */
export type EmbeddedConfig = z.infer<typeof schema>;

/** Environment variables read for each setting. */
export const EMBEDDED_ENV: Readonly<Record<keyof EmbeddedConfig, string>> = {
  host: 'PROVML_HOST',
  queryPort: 'PROVML_QUERY_PORT',
  ingestPort: 'PROVML_INGEST_PORT',
  dataDir: 'PROVML_DATA_DIR',
  queryWorkers: 'PROVML_QUERY_WORKERS',
  maxResultBytes: 'PROVML_MAX_RESULT_BYTES',
  heavyQueryMs: 'PROVML_HEAVY_QUERY_MS',
  maxHeavyQueriesPerClient: 'PROVML_MAX_HEAVY_QUERIES_PER_CLIENT',
  ...SHARED_ENV,
};

/**
 * Resolves the configuration once, in `main`: user values over environment over defaults.
 * @throws ValidationError naming each bad setting and where it came from.
 */
export function resolveEmbeddedConfig(
  user: Partial<Record<keyof EmbeddedConfig, unknown>> = {},
  env: Readonly<Record<string, string | undefined>> = {},
): EmbeddedConfig {
  const merged: Record<string, unknown> = {};
  for (const [key, variable] of Object.entries(EMBEDDED_ENV)) {
    const value = user[key as keyof EmbeddedConfig] ?? env[variable];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success)
    throw new ValidationError(
      'invalid configuration',
      parsed.error.issues.map((i) => {
        const key = String(i.path[0]) as keyof EmbeddedConfig;
        const from = user[key] !== undefined ? 'option' : `environment ${EMBEDDED_ENV[key]}`;
        return { path: key, message: `${i.message} (from ${from})` };
      }),
    );
  return parsed.data;
}
