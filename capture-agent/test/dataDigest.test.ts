// Content digests of data references: given, or computed on request from the local file; a digest that cannot be had costs only the digest.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CaptureMistakeError, fileDigest, InMemoryCaptureExporter, init } from '@provml/capture-agent';

const SPEC = {
  workflow: 'digests',
  phase: 'learning',
  tasks: [
    {
      id: 'training',
      stage: 'training',
      inputs: [{ name: 'training_set', semantics: 'dataset-reference' }],
      outputs: [{ name: 'model', semantics: 'model-reference' }],
    },
  ],
};

const dir = mkdtempSync(join(tmpdir(), 'digest-'));
const file = join(dir, 'model.json');
writeFileSync(file, JSON.stringify({ w: Array.from({ length: 300_000 }, (_, i) => i % 7) })); // > 1 MiB: several chunks
const uri = pathToFileURL(file).href;
const expected = `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;

describe('data reference digests', () => {
  it('fileDigest is the SHA-256 of the file a file: URI names', () => {
    expect(fileDigest(uri)).toBe(expected);
    expect(() => fileDigest('s3://bucket/model.json')).toThrow(TypeError);
  });

  it('digest: true is computed at the call; a given digest is sent as it is; none, none', async () => {
    const exporter = new InMemoryCaptureExporter();
    const capture = await init({ spec: SPEC, exporter, env: {} });
    const given = `sha256:${'0f'.repeat(32)}`;
    const t = capture.workflowExecution('r').begin('training', {
      dataRefs: [{ name: 'training_set', uri: 's3://data/train.npz', digest: given }],
    });
    t.addDataRef('model', uri, 'local', true);
    t.end();
    const result = await capture.shutdown();
    expect(result).toMatchObject({ delivered: 2, invalid: 0, ok: true });
    expect(exporter.events[0]!.dataRefs).toEqual([
      { name: 'training_set', uri: 's3://data/train.npz', store: null, digest: given },
    ]);
    expect(exporter.events[1]!.dataRefs).toEqual([{ name: 'model', uri, store: 'local', digest: expected }]);
  });

  it('a digest that cannot be had costs only the digest: the reference goes without it, counted and reported', async () => {
    const exporter = new InMemoryCaptureExporter();
    const errors: Error[] = [];
    const capture = await init({ spec: SPEC, exporter, env: {}, onError: (e) => errors.push(e) });
    const t = capture.workflowExecution('r').begin('training', {
      dataRefs: [{ name: 'training_set', uri: 's3://data/train.npz', digest: true }], // not a local file
    });
    t.addDataRef('model', pathToFileURL(join(dir, 'missing.pt')).href, null, true);
    t.end();
    const result = await capture.shutdown();
    expect(result).toMatchObject({ delivered: 2, invalid: 2, ok: false });
    expect(exporter.events.flatMap((e) => e.dataRefs).map((r) => 'digest' in r)).toEqual([false, false]);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining("data reference 'training_set': its digest cannot be computed"),
      expect.stringContaining("data reference 'model': its digest cannot be computed"),
    ]);
    const strict = await init({ spec: SPEC, exporter, env: {}, strict: true });
    const s = strict.workflowExecution('s').begin('training');
    expect(() => s.addDataRef('model', uri, null, 'md5:abc')).toThrow(CaptureMistakeError);
    await strict.shutdown();
  });
});
