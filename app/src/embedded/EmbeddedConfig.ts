/** The one typed configuration of the embedded all-in-one process: user values over environment over defaults. */
import { z } from 'zod';
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
