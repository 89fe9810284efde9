/** The processor service over the embedded log: mapping to the triples topic, poison messages to the dead-letter topic. */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeCaptureEvent, encodeCaptureEvent } from '@provml/schemas';
import {
  ANNOTATION_AGENT_HEADER,
  ANNOTATION_SOURCE_HEADER,
  DEFAULT_TOPICS,
  DLQ_HEADERS,
  DROP_GRAPH_HEADER,
  EmbeddedLog,
  decodeTriples,
  isEncodedTriples,
} from '@provml/log';
import { ProcessorService, splitNQuads, type ProcessorOptions } from '@provml/stream-processors';
import { event, SPEC } from './fixtures.ts';

const T = DEFAULT_TOPICS;

/** Quads the processor emitted for specs (on the triples topic under the workflow's key). */
const specQuads = (log: EmbeddedLog): number =>
  log
    .records(T.triples)
    .filter((r) => r.key === 'w')
    .reduce(
      (n, r) =>
        n +
        decodeTriples(r.value)
          .split('\n')
          .filter((l) => l !== '').length,
      0,
    );

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ProcessorService', () => {
  let processor: ProcessorService | undefined;
  afterEach(() => processor?.shutdown());

  function start(log: EmbeddedLog, options: Partial<ProcessorOptions> = {}): ProcessorService {
    processor = new ProcessorService(log, { decodeEvent: decodeCaptureEvent, ...options });
    void processor.start();
    return processor;
  }

  it('maps events of a registered workflow to N-Quads on the triples topic, keyed by workflow execution', async () => {
    const log = new EmbeddedLog({ defaultPartitions: 2 });
    log.append(T.specs, [{ key: 'w', value: Buffer.from(JSON.stringify(SPEC)) }]);
    log.append(T.events, [{ key: 'run-1', value: encodeCaptureEvent(event()) }]);
    const p = start(log);
    await until(() => p.stats.eventsProcessed === 1, 'the event');
    const triples = log.records(T.triples);
    expect(triples.map((r) => r.key).sort()).toEqual(['run-1', 'w']);
    const run = decodeTriples(triples.find((r) => r.key === 'run-1')!.value);
    expect(run).toContain('<urn:provml:execution/run-1/t1> <http://www.w3.org/ns/prov#startedAtTime>');
    expect(run).toContain('<urn:provml:graph/execution/run-1> .');
  });

  it('writes triples records deflated (format version 1) by default, plain N-Quads when asked', async () => {
    const sizes: Record<string, { encoded: boolean; bytes: number; text: string }> = {};
    for (const triplesEncoding of ['deflate', 'nquads'] as const) {
      const log = new EmbeddedLog({ defaultPartitions: 1 });
      log.append(T.specs, [{ key: 'w', value: Buffer.from(JSON.stringify(SPEC)) }]);
      log.append(T.events, [{ key: 'run-1', value: encodeCaptureEvent(event()) }]);
      const p = start(log, { triplesEncoding });
      await until(() => p.stats.eventsProcessed === 1, 'the event');
      await p.shutdown();
      const run = log.records(T.triples).find((r) => r.key === 'run-1')!;
      sizes[triplesEncoding] = {
        encoded: isEncodedTriples(run.value),
        bytes: run.value.length,
        text: decodeTriples(run.value),
      };
    }
    expect(sizes.deflate!.encoded).toBe(true);
    expect(sizes.nquads!.encoded).toBe(false);
    expect(sizes.deflate!.text).toBe(sizes.nquads!.text);
    expect(sizes.deflate!.bytes).toBeLessThan(sizes.nquads!.bytes / 4);
    // one event alone in its record (the worst case): within issue 19's 300 bytes per event
    expect(sizes.deflate!.bytes).toBeLessThanOrEqual(300);
  });

  it('cuts the quads of one large event into several records, each under the message limit', async () => {
    const log = new EmbeddedLog({ defaultPartitions: 1 });
    const names = Array.from({ length: 1000 }, (_, i) => `hyperparameter_${i}`);
    const spec = {
      ...SPEC,
      tasks: [{ ...SPEC.tasks[0]!, inputs: names.map((name) => ({ name, semantics: 'hyperparameter' })) }],
    };
    log.append(T.specs, [{ key: 'w', value: Buffer.from(JSON.stringify(spec)) }]);
    const values = Object.fromEntries(names.map((n, i) => [n, i + 0.5]));
    log.append(T.events, [{ key: 'run-1', value: encodeCaptureEvent(event({ values })) }]);
    const p = start(log);
    await until(() => p.stats.eventsProcessed === 1, 'the event');
    const run = log.records(T.triples).filter((r) => r.key === 'run-1');
    const text = run.map((r) => decodeTriples(r.value)).join('');
    expect(text.length).toBeGreaterThan(512 * 1024); // one record of it all would near the 1 MB limit
    expect(run.length).toBeGreaterThan(2);
    for (const r of run) expect(r.value.length).toBeLessThanOrEqual(256 * 1024);
    expect(text.split('\n').filter((l) => l !== '')).toHaveLength(p.stats.quadsEmitted - specQuads(log));
  });

  it('splitNQuads cuts at line ends only', () => {
    expect(splitNQuads('a\nb\n', 10)).toEqual(['a\nb\n']);
    expect(splitNQuads('aaaa\nbbbb\ncccc\n', 10)).toEqual(['aaaa\nbbbb\n', 'cccc\n']);
    expect(splitNQuads('aaaaaaaaaaaaaa\nb\n', 10)).toEqual(['aaaaaaaaaaaaaa\n', 'b\n']);
    expect(splitNQuads(`${'x\n'.repeat(100)}`, 7).join('')).toBe('x\n'.repeat(100));
  });

  it('dead-letters poison messages with reason and source position, and keeps processing', async () => {
    const log = new EmbeddedLog({ defaultPartitions: 1 });
    log.append(T.specs, [{ key: 'w', value: Buffer.from(JSON.stringify(SPEC)) }]);
    const good = encodeCaptureEvent(event());
    const unknownFingerprint = Buffer.from(good);
    unknownFingerprint[2] = unknownFingerprint[2]! ^ 0xff;
    const poison: [string, Buffer][] = [
      ['garbage', Buffer.from('definitely not avro')],
      ['wrong magic', Buffer.concat([Buffer.from([0x00, 0x01]), good.subarray(2)])],
      ['unknown schema fingerprint', unknownFingerprint],
      ['truncated body', good.subarray(0, good.length - 5)],
      ['unknown workflow', encodeCaptureEvent(event({ workflow: 'nope', eventId: 'e2' }))],
      ['undeclared value', encodeCaptureEvent(event({ values: { momentum: 0.9 }, eventId: 'e3' }))],
    ];
    log.append(
      T.events,
      poison.map(([, value]) => ({ key: 'run-1', value })),
    );
    log.append(T.events, [
      { key: 'run-1', value: encodeCaptureEvent(event({ eventId: 'e4', taskExecution: 't9' })) },
    ]);
    const p = start(log);
    await until(() => p.stats.eventsProcessed === 1 && p.stats.deadLettered === poison.length, 'all records');
    const dead = log.records(T.deadLetters);
    expect(dead).toHaveLength(poison.length);
    dead.forEach((d, i) => {
      expect(d.value.equals(poison[i]![1])).toBe(true);
      expect(d.headers[DLQ_HEADERS.sourceTopic]).toBe(T.events);
      expect(d.headers[DLQ_HEADERS.sourcePartition]).toBe('0');
      expect(d.headers[DLQ_HEADERS.sourceOffset]).toBe(String(i));
      expect(d.headers[DLQ_HEADERS.reason]!.length).toBeGreaterThan(10);
    });
    expect(dead.slice(0, 4).map((d) => d.headers[DLQ_HEADERS.stage])).toEqual([
      'decode',
      'decode',
      'decode',
      'decode',
    ]);
    expect(dead[1]!.headers[DLQ_HEADERS.reason]).toMatch(/marker|single-object/i);
    expect(dead[2]!.headers[DLQ_HEADERS.reason]).toMatch(/fingerprint/i);
    expect(dead[4]!.headers[DLQ_HEADERS.reason]).toContain("unknown workflow 'nope'");
    expect(dead[5]!.headers[DLQ_HEADERS.reason]).toContain("'momentum' is not declared");
    expect(
      log.records(T.triples).some((r) => decodeTriples(r.value).includes('<urn:provml:execution/run-1/t9>')),
    ).toBe(true);
  });

  it('maps a NaN or infinite double sent in Avro to the xsd:double, and dead-letters one inside an array', async () => {
    const log = new EmbeddedLog({ defaultPartitions: 1 });
    log.append(T.specs, [{ key: 'w', value: Buffer.from(JSON.stringify(SPEC)) }]);
    log.append(T.events, [
      { key: 'run-1', value: encodeCaptureEvent(event({ values: { lr: Number.NaN } })) },
      {
        key: 'run-1',
        value: encodeCaptureEvent(event({ eventId: 'e2', taskExecution: 't2', values: { lr: -Infinity } })),
      },
      {
        key: 'run-1',
        value: encodeCaptureEvent(
          event({ eventId: 'e3', taskExecution: 't3', values: { lr: [1, Number.NaN] } }),
        ),
      },
    ]);
    const p = start(log);
    await until(() => p.stats.eventsProcessed === 2 && p.stats.deadLettered === 1, 'all records');
    const run = log
      .records(T.triples)
      .map((r) => decodeTriples(r.value))
      .join('');
    const xsdDouble = '<http://www.w3.org/2001/XMLSchema#double>';
    expect(run).toContain(`"NaN"^^${xsdDouble}`);
    expect(run).toContain(`"-INF"^^${xsdDouble}`);
    expect(log.records(T.deadLetters)[0]!.headers[DLQ_HEADERS.reason]).toContain('values.lr');
  });

  it('dead-letters an invalid spec and malformed annotations, and still loads the valid ones', async () => {
    const log = new EmbeddedLog({ defaultPartitions: 1 });
    log.append(T.specs, [
      { key: 'bad', value: Buffer.from('{"workflow":"bad","phase":"sometime","tasks":[]}') },
      { key: 'w', value: Buffer.from(JSON.stringify(SPEC)) },
    ]);
    log.append(T.annotations, [
      {
        key: 'x',
        value: Buffer.from('<urn:a> <urn:b> "unterminated .'),
        headers: { [ANNOTATION_SOURCE_HEADER]: 'x' },
      },
      {
        key: 'y',
        value: Buffer.from('<urn:a> <urn:b> "fine" .'),
        headers: { [ANNOTATION_SOURCE_HEADER]: 'y' },
      },
    ]);
    const p = start(log);
    await until(
      () => p.stats.deadLettered === 2 && log.records(T.triples).length === 3,
      'specs and annotations',
    );
    expect(log.records(T.deadLetters).map((d) => d.headers[DLQ_HEADERS.stage])).toEqual([
      'spec',
      'annotations',
    ]);
    expect(p.specs.workflows()).toEqual(['w']);
    // the valid document replaces its source's graph: a drop, then its quads; the refused one drops nothing
    expect(log.records(T.triples).map((r) => [r.key, r.headers[DROP_GRAPH_HEADER] ?? 'quads'])).toEqual([
      ['w', 'quads'],
      ['y', 'urn:provml:graph/domain/y'],
      ['y', 'quads'],
    ]);
  });

  it('replaces a source posted again and withdraws it on a tombstone: triples records and the join index', async () => {
    const log = new EmbeddedLog({ defaultPartitions: 1 });
    const annotates = (a: string): string =>
      `<https://ex.org/${a}> <https://w3id.org/provml/ns#annotates> <file:///raw.sgy> .`;
    const post = (value: string, agent?: string) => ({
      key: 's',
      value: Buffer.from(value),
      headers: {
        [ANNOTATION_SOURCE_HEADER]: 's',
        ...(agent === undefined ? {} : { [ANNOTATION_AGENT_HEADER]: agent }),
      },
    });
    log.append(T.annotations, [post(annotates('first'), 'token-0123456789abcdef')]);
    log.append(T.annotations, [
      post(annotates('second')),
      {
        key: 'other',
        value: Buffer.from(annotates('kept')),
        headers: { [ANNOTATION_SOURCE_HEADER]: 'other' },
      },
    ]);
    const p = start(log);
    await until(() => log.records(T.triples).length === 6, 'three documents mapped');
    expect([...p.state.annotations.get('file:///raw.sgy')!].sort()).toEqual([
      'https://ex.org/kept',
      'https://ex.org/second',
    ]);
    const texts = log.records(T.triples).map((r) => decodeTriples(r.value));
    expect(texts[1]).toContain('<urn:provml:agent/annotator/token-0123456789abcdef>');
    expect(texts[3]).toContain(
      '<urn:provml:graph/domain/s> <http://www.w3.org/ns/prov#wasAttributedTo> <urn:provml:agent/annotator/anonymous> <urn:provml:graph/domain/s>',
    );
    expect(texts[3]).toContain(
      '<https://ex.org/second> <http://www.w3.org/ns/prov#wasAttributedTo> <urn:provml:agent/annotator/anonymous>',
    );
    // a tombstone (empty value) withdraws the source: only a drop, and the index forgets it
    log.append(T.annotations, [{ ...post(''), value: Buffer.alloc(0) }]);
    await until(() => log.records(T.triples).length === 7, 'the withdrawal');
    const last = log.records(T.triples)[6]!;
    expect([last.key, last.headers[DROP_GRAPH_HEADER], last.value.length]).toEqual([
      's',
      'urn:provml:graph/domain/s',
      0,
    ]);
    await p.processBatch({ topic: T.events, partition: 0, records: [] }, { send: () => Promise.resolve() });
    expect([...p.state.annotations.get('file:///raw.sgy')!]).toEqual(['https://ex.org/kept']);
    expect(p.stats.deadLettered).toBe(0);
  });
});
