/** The one typed configuration of the embedded all-in-one process: user values over environment over defaults. */
import { z } from 'zod';
import { ValidationError } from '@provml/schemas';
import { DEFAULT_IRI_BASE } from '@provml/stream-processors';

const port = z.coerce.number().int().min(0).max(65_535);

const schema = z
  .object({
    /** Interface both servers listen on. Default `127.0.0.1`. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Port of the query API (SPARQL, metrics, dashboard). Default 7070; 0 picks a free port. */
    queryPort: port.default(7070),
    /** Port of the HTTP ingest. Default 7071; 0 picks a free port. */
    ingestPort: port.default(7071),
    /** Base of instance IRIs. Default `urn:provml:`. */
    iriBase: z
      .string()
      .regex(
        /^[A-Za-z][A-Za-z0-9+.-]*:\S*$/,
        'must be an absolute IRI prefix such as urn:provml: or https://example.org/prov/',
      )
      .default(DEFAULT_IRI_BASE),
    /** Partitions of each embedded topic. Default 4. */
    partitions: z.coerce.number().int().min(1).max(1024).default(4),
    /** Log level. Default `info`. */
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** Longest a query may run, ms (SPARQL and REST). Default 30000. */
    queryTimeoutMs: z.coerce.number().int().min(1).max(3_600_000).default(30_000),
    /** Most solutions or triples one `/sparql` answer may hold. Default 100000. */
    maxResultRows: z.coerce.number().int().min(1).max(100_000_000).default(100_000),
    /**
     * Task executions still open when their run has been silent this long (ms) are closed as failed
     * (a killed trainer). Default 1800000 (30 min); 0 turns it off.
     */
    incompleteAfterMs: z.coerce.number().int().min(0).default(1_800_000),
    /** Allow SERVICE (federated queries) through `/sparql`. Default false. */
    allowService: z
      .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
      .default(false),
  })
  .strict();

/** Configuration of the embedded process. */
export type EmbeddedConfig = z.infer<typeof schema>;

/** Environment variables read for each setting. */
export const EMBEDDED_ENV: Readonly<Record<keyof EmbeddedConfig, string>> = {
  host: 'PROVML_HOST',
  queryPort: 'PROVML_QUERY_PORT',
  ingestPort: 'PROVML_INGEST_PORT',
  iriBase: 'PROVML_IRI_BASE',
  partitions: 'PROVML_PARTITIONS',
  logLevel: 'PROVML_LOG_LEVEL',
  queryTimeoutMs: 'PROVML_QUERY_TIMEOUT_MS',
  maxResultRows: 'PROVML_MAX_RESULT_ROWS',
  allowService: 'PROVML_ALLOW_SERVICE',
  incompleteAfterMs: 'PROVML_INCOMPLETE_AFTER_MS',
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
