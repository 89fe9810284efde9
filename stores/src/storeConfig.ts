/** Store choice as configuration: `oxigraph-embedded | rdf4j | sparql` and each adapter's settings, validated (no adapter loaded). */
import * as z from 'zod';
import { ValidationError } from '@provml/schemas';

const httpUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL, e.g. http://127.0.0.1:18080/rdf4j-server')
  .transform((s) => s.replace(/\/+$/, ''));

const timeoutMs = z.number().int().positive().optional();

/** The schema of a store configuration (`store` names the adapter); services embed it in their own. */
export const storeConfigSchema = z.discriminatedUnion(
  'store',
  [
    z.object({ store: z.literal('oxigraph-embedded') }).strict(),
    z
      .object({
        store: z.literal('rdf4j'),
        /** RDF4J Server (`http://host:8080/rdf4j-server`) or GraphDB (`http://host:7200`) base URL. */
        url: httpUrl,
        repository: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be a repository id (letters, digits, _ . -)'),
        /** Create a native repository when it does not exist (RDF4J Server only). Default false. */
        createRepository: z.boolean().default(false),
        username: z.string().optional(),
        password: z.string().optional(),
        timeoutMs,
      })
      .strict(),
    z
      .object({
        store: z.literal('sparql'),
        /** Base URL: Oxigraph `http://host:7878`, Fuseki `http://host:3030/dataset`. */
        url: httpUrl.optional(),
        /** Which endpoint names and union parameter `url` implies. Default `oxigraph`. */
        flavor: z.enum(['oxigraph', 'fuseki']).default('oxigraph'),
        /** Overrides of the endpoints `url` implies. */
        queryEndpoint: httpUrl.optional(),
        storeEndpoint: httpUrl.optional(),
        loadMode: z.enum(['dataset', 'graphs']).optional(),
        unionDefaultGraph: z.enum(['oxigraph', 'jena', 'server']).optional(),
        /**
         * Oxigraph only: load with its bulk loader (`?no_transaction`), 2-3× faster for batches of 10k
         * quads and more (bench/results/store-load.md) but not atomic: a batch that fails halfway may be
         * partly loaded until the sink loads it again (loads are idempotent). Default false.
         */
        bulkLoad: z.boolean().default(false),
        timeoutMs,
      })
      .strict()
      .refine((c) => !c.bulkLoad || c.flavor === 'oxigraph', {
        message: 'bulkLoad is an Oxigraph server option',
        path: ['bulkLoad'],
      })
      .refine(
        (c) => c.url !== undefined || (c.queryEndpoint !== undefined && c.storeEndpoint !== undefined),
        {
          message: 'give url, or both queryEndpoint and storeEndpoint',
          path: ['url'],
        },
      ),
  ],
  { error: () => "store must be one of 'oxigraph-embedded', 'rdf4j', 'sparql'" },
);

/** Which store to use and how to reach it (defaults written on each field). */
export type StoreConfig = z.input<typeof storeConfigSchema>;
/** A validated store configuration, defaults applied. */
export type ResolvedStoreConfig = z.output<typeof storeConfigSchema>;

/**
 * Validates a store configuration.
 * @throws ValidationError naming each bad setting (`store`, `url`, `repository`, …)
 */
export function parseStoreConfig(input: unknown): ResolvedStoreConfig {
  const parsed = storeConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join('.'),
      message: i.message,
    }));
    throw new ValidationError(
      `invalid store configuration: ${issues.map((i) => `${i.path || 'store'}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return parsed.data;
}
