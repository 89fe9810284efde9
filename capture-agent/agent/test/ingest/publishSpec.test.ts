// The specs topic is compacted (only a workflow's last record is kept): that record must declare every
// name of the workflow's versions, including those another agent published.
import { describe, expect, it } from 'vitest';
import { compileSpec, encodeCaptureEvent, type CompiledSpec } from '@provml/schemas';
import { DEFAULT_TOPICS, EmbeddedLog } from '@provml/log';
import { LogIngestTarget } from '../../src/ingest/IngestTarget.ts';

const version = (measure: string): CompiledSpec =>
  compileSpec({
    workflow: 'compacted',
    phase: 'learning',
    tasks: [{ id: 'epoch', outputs: [{ name: measure, semantics: 'evaluation-measure' }] }],
  });

describe('LogIngestTarget.publishSpec', () => {
  it('publishes the versions added up, also over what another agent published', async () => {
    const log = new EmbeddedLog();
    await log.ensureTopic(DEFAULT_TOPICS.specs, 1);
    const one = new LogIngestTarget(log, encodeCaptureEvent);
    const other = new LogIngestTarget(log, encodeCaptureEvent);
    await one.publishSpec(version('loss'));
    await other.publishSpec(version('accuracy')); // never saw 'loss' itself
    await one.publishSpec(version('f1'));

    const records: string[] = [];
    await log.tableReader(DEFAULT_TOPICS.specs).catchUp((r) => void records.push(r.value.toString('utf8')));
    expect(records).toHaveLength(3);
    const last = compileSpec(JSON.parse(records.at(-1)!));
    expect([...last.attributes.get('epoch')!.keys()].sort()).toEqual(['accuracy', 'f1', 'loss']);
    await log.close();
  });
});
