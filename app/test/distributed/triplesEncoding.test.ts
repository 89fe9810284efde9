/**
 * `provml processor --triples-encoding deflate|nquads` (PROVML_TRIPLES_ENCODING, processor.triplesEncoding):
 * a processor started from the command line's options writes the triples topic in the chosen format.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@provml/schemas';
import { decodeTriples, isEncodedTriples, type KafkaEventLog } from '@provml/log';
import { resolveServiceConfig, serviceConfigFromArgs, topicNames } from '@provml/service';
import { kafka, kafkaLog, unique, until } from '../../../deploy/testing/kafkaTest.ts';
import { startProcessor, type RunningService } from '../../src/services/services.ts';

const SPEC = {
  workflow: 'encoding',
  phase: 'learning',
  tasks: [{ id: 'training', stage: 'training' }],
};

describe('processor.triplesEncoding in the service configuration', () => {
  it('defaults to deflate, takes nquads from the option, PROVML_TRIPLES_ENCODING or a file, and refuses another', () => {
    expect(resolveServiceConfig({}, {}).processor.triplesEncoding).toBe('deflate');
    expect(resolveServiceConfig({}, { PROVML_TRIPLES_ENCODING: 'nquads' }).processor.triplesEncoding).toBe(
      'nquads',
    );
    expect(
      resolveServiceConfig(
        { processor: { triplesEncoding: 'deflate' } },
        { PROVML_TRIPLES_ENCODING: 'nquads' },
      ).processor.triplesEncoding,
    ).toBe('deflate');
    expect(() => resolveServiceConfig({}, { PROVML_TRIPLES_ENCODING: 'gzip' })).toThrow(
      /invalid configuration/,
    );
  });
});

// Skips only when the global test setup could not start Kafka outside CI; under CI=true that setup fails the run instead.
describe.skipIf(kafka.bootstrap === '')(
  `provml processor --triples-encoding on a real broker ${kafka.unavailable}`,
  () => {
    const running: RunningService[] = [];
    const logs: KafkaEventLog[] = [];
    const dirs: string[] = [];
    afterEach(async () => {
      for (const s of running.splice(0)) await s.shutdown();
      for (const l of logs.splice(0)) await l.close();
      for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
    });

    for (const encoding of ['nquads', 'deflate'] as const)
      it(`writes the triples topic as ${encoding === 'nquads' ? 'plain N-Quads' : 'deflated N-Quads'} with --triples-encoding ${encoding}`, async () => {
        const prefix = `enc-${unique()}.`;
        const dataDir = await mkdtemp(join(tmpdir(), 'provml-encoding-'));
        dirs.push(dataDir);
        // the options as `provml processor` takes them (no path here has a space)
        const argv = `--kafka ${kafka.bootstrap} --topic-prefix ${prefix} --data-dir ${dataDir} --port 0`;
        const config = serviceConfigFromArgs(
          `${argv} --triples-encoding ${encoding}`.split(' '),
          'processor',
        );
        expect(config.processor.triplesEncoding).toBe(encoding);
        const topics = topicNames(config);
        const log = await kafkaLog(topics, 1);
        logs.push(log);
        running.push(await startProcessor(config, silentLogger));
        await log
          .producer()
          .send(topics.specs, [{ key: SPEC.workflow, value: Buffer.from(JSON.stringify(SPEC)) }]);
        let records: Awaited<ReturnType<KafkaEventLog['readTopic']>> = [];
        await until(
          async () => (records = await log.readTopic(topics.triples)).length > 0,
          'the spec’s triples',
        );
        for (const r of records) {
          expect(isEncodedTriples(r.value)).toBe(encoding === 'deflate');
          expect(decodeTriples(r.value)).toContain('<urn:provml:');
        }
        if (encoding === 'nquads') expect(records[0]!.value.toString('utf8')).toMatch(/^<[^>]+> <[^>]+> /);
      }, 60_000);
  },
);
