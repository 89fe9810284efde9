/**
 * kafkajs' log entries at the level they deserve in ours. kafkajs logs at `error` every error
 * response of the broker and every failed connection attempt, although it retries them itself
 * (a topic that already exists, a group coordinator still loading, a broker restarting): a normal
 * start would cry wolf. Whatever kafkajs finally gives up on reaches our code as a thrown error,
 * and the service that called it logs that once, at `error`, saying what to do.
 */
import { logLevel, type LogEntry, type logCreator } from 'kafkajs';
import type { Logger } from '@provml/schemas';

/** Our level for one kafkajs entry (`undefined`: dropped). */
export type KafkaLogVerdict = 'debug' | 'info' | 'warn' | 'error' | undefined;

/**
 * kafkajs notices that this adapter answers at its cause, so they never need to be shown:
 * - the v2 partitioner notice: every producer is created with `Partitioners.DefaultPartitioner`
 *   (Java's murmur2, the embedded log's too), which also silences it; kept here for safety;
 * - "Limiting retries for the idempotent producer may invalidate EoS guarantees": retries are bounded
 *   on purpose, so that a send fails instead of hanging while the broker is away. A producer that
 *   gives up fails the send; transactional batches are then aborted and consumed again, and plain
 *   sends are retried by their caller (the agent's spool, replay), whose duplicates add nothing
 *   downstream (instance IRIs are derived, event ids are idempotency keys). Explained once, at debug.
 */
const EXPLAINED: readonly [RegExp, string][] = [
  [
    /switched default partitioner/,
    'kafkajs partitioner notice (producers use the default murmur2 partitioner)',
  ],
  [
    /Limiting retries for the idempotent producer/,
    'idempotent producer retries are bounded on purpose: a send fails instead of hanging while the broker is away; its caller retries, and a duplicate adds nothing downstream (derived IRIs, event ids)',
  ],
];

/** Error messages of conditions kafkajs retries by itself: expected, transient. */
const TRANSIENT =
  /coordinator is (not available|loading)|not the correct|Rebalancing|leader|already exists|Topic creation errors|There is no leader/i;

/** Connection trouble kafkajs retries by itself (a broker restarting, a first connect while it starts). */
const CONNECTION =
  /Connection (error|timeout)|Failed to connect|ECONNREFUSED|ECONNRESET|Closed connection|EPIPE/i;

/**
 * Our level for a kafkajs entry. Error responses of the broker (`Response <Api>`) and conditions it
 * retries by itself are debug; connection retries info; other kafkajs errors warn (kafkajs restarts
 * its consumer; a failure for good reaches the caller, who logs it at error); kafkajs warnings warn,
 * save those explained above; its info and debug debug.
 */
export function kafkaLogVerdict(level: logLevel, message: string, error: unknown): KafkaLogVerdict {
  const text = `${message} ${typeof error === 'string' ? error : ''}`;
  if (level === logLevel.NOTHING) return undefined;
  if (level === logLevel.ERROR) {
    if (message.startsWith('Response ') || TRANSIENT.test(text)) return 'debug';
    if (CONNECTION.test(text)) return 'info';
    return 'warn';
  }
  if (level === logLevel.WARN) return EXPLAINED.some(([pattern]) => pattern.test(message)) ? 'debug' : 'warn';
  return 'debug';
}

/** A kafkajs `logCreator` writing to `logger` at the levels of {@link kafkaLogVerdict}. */
export function kafkaLogCreator(logger: Logger): logCreator {
  const explained = new Set<string>();
  return () =>
    ({ level, log }: LogEntry): void => {
      const { message, ...fields } = log;
      const verdict = kafkaLogVerdict(level, message, fields.error);
      if (verdict === undefined) return;
      const explanation = EXPLAINED.find(([pattern]) => pattern.test(message))?.[1];
      if (explanation !== undefined) {
        if (explained.has(explanation)) return;
        explained.add(explanation);
        logger.debug(explanation, { kafkajs: message });
        return;
      }
      logger[verdict](message, fields);
    };
}
