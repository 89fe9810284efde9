// Socket batches (pure): envelopes validated all or nothing, each problem with its line; replay's progress line.
import { describe, expect, it } from 'vitest';
import { compileSpec } from '@provml/schemas';
import { IriMinter } from '@provml/stream-processors';
import { formatProgress, formatSummary } from '../../src/replaySpool.ts';
import { parseEnvelopeBatch } from '../../src/ingest/parseEnvelopeBatch.ts';

const SPEC = { workflow: 'w', phase: 'learning', tasks: [{ id: 'train' }] };
const event = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    event: {
      eventId: id,
      workflow: 'w',
      workflowExecution: 'r',
      task: 'train',
      taskExecution: `t-${id}`,
      phase: 'begin',
      time: 1_700_000_000_000_000,
      ...extra,
    },
  });
const iris = new IriMinter();
const none = () => undefined;

describe('parseEnvelopeBatch', () => {
  it('accepts a spec and the events after it in one batch, keeping each line as its payload', () => {
    const lines = [
      JSON.stringify({ spec: SPEC }),
      event('a'),
      event('b'),
      JSON.stringify({ annotations: '<a:x> <a:y> <a:z> .' }),
    ];
    const parsed = parseEnvelopeBatch(lines, none, iris);
    expect(parsed).toMatchObject({ ok: true, counts: { events: 2, specs: 1, annotations: 1 } });
    if (parsed.ok) expect(parsed.payloads.map((p) => p.toString())).toEqual(lines);
  });

  it('rejects the whole batch, naming every bad line', () => {
    const known = compileSpec(SPEC);
    const parsed = parseEnvelopeBatch(
      [
        event('a'),
        event('a'),
        '{not json',
        JSON.stringify({ event: {}, spec: {} }),
        event('c', { task: 'nope' }),
        event('d', { workflow: 'other' }),
        JSON.stringify({ annotations: 'not turtle <' }),
      ],
      (w) => (w === 'w' ? known : undefined),
      iris,
    );
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect([...new Set(parsed.issues.map((i) => i.line))]).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('takes an empty document as a withdrawal, and refuses an agent named by a local client', () => {
    const withdraw = JSON.stringify({ annotations: '', source: 'wells' });
    expect(parseEnvelopeBatch([withdraw], none, iris)).toMatchObject({
      ok: true,
      counts: { annotations: 1 },
    });
    const forged = parseEnvelopeBatch(
      [
        JSON.stringify({
          annotations: '<a:x> <a:y> <a:z> .',
          source: 'wells',
          agent: 'token-0123456789abcdef',
        }),
      ],
      none,
      iris,
    );
    expect(forged).toMatchObject({ ok: false, issues: [{ path: 'agent', line: 1 }] });
  });

  it('refuses an empty batch', () => {
    expect(parseEnvelopeBatch([], none, iris).ok).toBe(false);
  });
});

describe('replay progress', () => {
  it('draws a bar and a summary', () => {
    const p = {
      done: 50,
      total: 200,
      events: 49,
      specs: 1,
      annotations: 0,
      refused: 0,
      retries: 0,
      seconds: 2,
    };
    expect(formatProgress(p, 8)).toBe('[##------]  25% 50/200 records, 25/s');
    expect(formatSummary({ ...p, alreadyPublished: 10, invalid: 0, missing: 0 })).toBe(
      'replayed 50 records in 2.0 s: 49 events, 1 specs, 0 annotations\nskipped 10 already published',
    );
    expect(formatSummary({ ...p, refused: 2, alreadyPublished: 0, invalid: 0, missing: 0 })).toContain(
      'skipped 0 already published, 2 refused by the ingest',
    );
  });
});
