// kafkajs' log lines at the level they deserve: the lines a normal start printed at error (issue 22) are debug now.
import { describe, expect, it } from 'vitest';
import { logLevel } from 'kafkajs';
import type { Logger } from '@provml/schemas';
import { kafkaLogCreator, kafkaLogVerdict } from '@provml/log';

describe('kafkajs log levels', () => {
  it.each([
    // a service creating topics that exist: five of these on every start
    [logLevel.ERROR, 'Response CreateTopics(key: 19, version: 3)', 'Topic creation errors', 'debug'],
    // a transactional producer while the group coordinator loads (kafkajs retries)
    [
      logLevel.ERROR,
      'Response InitProducerId(key: 22, version: 1)',
      "The coordinator is loading and hence can't process requests for this group",
      'debug',
    ],
    [logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:19092', undefined, 'info'],
    [logLevel.ERROR, 'Failed to connect to seed broker, trying another broker from the list', 'x', 'info'],
    // kafkajs restarts a crashed consumer itself; a failure for good is the caller's error line
    [logLevel.ERROR, 'Crash: KafkaJSNumberOfRetriesExceeded: something', 'something', 'warn'],
    [
      logLevel.WARN,
      'Limiting retries for the idempotent producer may invalidate EoS guarantees',
      undefined,
      'debug',
    ],
    [logLevel.WARN, 'KafkaJS v2.0.0 switched default partitioner. To retain…', undefined, 'debug'],
    [logLevel.WARN, 'Consumer group rebalance is taking long', undefined, 'warn'],
  ] as const)('%i %s → %s', (level, message, error, verdict) => {
    expect(kafkaLogVerdict(level, message, error)).toBe(verdict);
  });

  it('explains each notice it answers once, whatever the number of producers', () => {
    const lines: [string, string][] = [];
    const record =
      (level: string) =>
      (message: string): void =>
        void lines.push([level, message]);
    const logger: Logger = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
      child: () => logger,
    };
    const log = kafkaLogCreator(logger)(logLevel.WARN);
    const entry = (level: logLevel, message: string) => ({
      namespace: 'Producer',
      level,
      label: 'WARN',
      log: { timestamp: '', logger: 'kafkajs', message },
    });
    for (let i = 0; i < 3; i++)
      log(entry(logLevel.WARN, 'Limiting retries for the idempotent producer may invalidate EoS guarantees'));
    log(entry(logLevel.ERROR, 'Response CreateTopics(key: 19, version: 3)'));
    expect(lines.map(([level]) => level)).toEqual(['debug', 'debug']);
    expect(lines[0]![1]).toMatch(/bounded on purpose/);
  });
});
