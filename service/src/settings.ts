/** The settings both the embedded process and the distributed services take: one schema, one set of limits, one environment name each. */
import * as z from 'zod';
import { DEFAULT_IRI_BASE } from '@provml/stream-processors';

/** A boolean from an option, a config file or an environment string. */
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

/** Each shared setting's schema, with its default and limits. */
export const SHARED_SETTINGS = {
  /** Partitions of the events, triples and dead-letter topics. Default 4. */
  partitions: z.coerce.number().int().min(1).max(1024).default(4),
  /** Base of instance IRIs. Default `urn:provml:`. */
  iriBase: z
    .string()
    .regex(
      /^[A-Za-z][A-Za-z0-9+.-]*:\S*$/,
      'must be an absolute IRI prefix such as urn:provml: or https://example.org/prov/',
    )
    .default(DEFAULT_IRI_BASE),
  /** Log level. Default `info`. */
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** Longest a query may run, ms (SPARQL and REST). Default 30000. */
  queryTimeoutMs: z.coerce.number().int().min(1).max(3_600_000).default(30_000),
  /** Most solutions or triples one `/sparql` answer may hold. Default 100000. */
  maxResultRows: z.coerce.number().int().min(1).max(100_000_000).default(100_000),
  /** Allow SERVICE (federated queries) through `/sparql`: an administrator's choice. Default false. */
  allowService: flag.default(false),
  /**
   * Task executions still open when their run has been silent this long (ms) are closed as failed
   * (a killed trainer). Default 1800000 (30 min); 0 turns it off.
   */
  incompleteAfterMs: z.coerce.number().int().min(0).default(1_800_000),
} as const;

/** The environment variable of each shared setting. */
export const SHARED_ENV = {
  partitions: 'PROVML_PARTITIONS',
  iriBase: 'PROVML_IRI_BASE',
  logLevel: 'PROVML_LOG_LEVEL',
  queryTimeoutMs: 'PROVML_QUERY_TIMEOUT_MS',
  maxResultRows: 'PROVML_MAX_RESULT_ROWS',
  allowService: 'PROVML_ALLOW_SERVICE',
  incompleteAfterMs: 'PROVML_INCOMPLETE_AFTER_MS',
} as const satisfies Record<keyof typeof SHARED_SETTINGS, string>;
