/**
 * `provml spec init` as the README shows it: the Python stdlib example run once through it with a
 * spec path that does not exist yet, then again with the drafted spec: everything captured, nothing
 * undeclared. Real processes (node, python3); the README's commands run as written, with only the
 * two file names it invents (my-spec.json, my-spool) moved to a temporary directory.
 */
import { exec } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BestModel } from '@provml/query-api';
import { compileSpec, type ProspectiveSpec } from '@provml/schemas';
import { startStack } from '../../../deploy/testing/stack.ts';

const sh = promisify(exec);
const ROOT = new URL('../../../', import.meta.url).pathname;
const readme = await readFile(`${ROOT}README.md`, 'utf8');
const section = readme.slice(
  readme.indexOf('**Drafting a spec from a run**'),
  readme.indexOf('### 3. HTTP ingest'),
);
const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
const commands = block.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
/** The README's answer lines (comments after each command). */
const answers = block.split('\n').filter((l) => l.startsWith('# '));
const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: join(ROOT, 'capture-agent/python') };
for (const k of Object.keys(env)) if (k.startsWith('PROVML_')) delete env[k];

describe('provml spec init (README)', () => {
  let dir: string;
  const outputs: { stdout: string; stderr: string }[] = [];
  let spec: ProspectiveSpec;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-spec-init-'));
    for (const command of commands) {
      const local = command
        .replaceAll('my-spec.json', join(dir, 'my-spec.json'))
        .replaceAll('my-spool', join(dir, 'my-spool'));
      outputs.push(await sh(local, { cwd: ROOT, env, shell: '/bin/bash', maxBuffer: 2 ** 24 }));
    }
    spec = JSON.parse(await readFile(join(dir, 'my-spec.json'), 'utf8')) as ProspectiveSpec;
  }, 120_000);

  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('has two commands with their answers', () => {
    expect(commands).toHaveLength(2);
    expect(answers).toHaveLength(2);
  });

  it('drafts a valid spec declaring what the script used, with the guesses the README lists', () => {
    expect(outputs[0]!.stderr).toContain(
      answers[0]!.slice(2).replace('my-spec.json', join(dir, 'my-spec.json')),
    );
    compileSpec(spec);
    expect(spec.workflow).toBe('train_stdlib');
    const task = (id: string) => spec.tasks.find((t) => t.id === id)!;
    const semantics = (id: string) =>
      Object.fromEntries([...task(id).inputs, ...task(id).outputs].map((a) => [a.name, a.semantics]));
    expect(spec.tasks.map((t) => [t.id, t.parent ?? null])).toEqual([
      ['training', null],
      ['epoch', 'training'],
      ['batch', 'epoch'],
      ['validation', 'training'],
    ]);
    expect(task('training').stage).toBe('training');
    expect(task('validation').stage).toBe('validation');
    expect(semantics('training')).toMatchObject({
      learning_rate: 'hyperparameter',
      epochs: 'hyperparameter',
      batch_size: 'hyperparameter',
      hidden_units: 'hyperparameter',
      seed: 'parameter',
      training_set: 'dataset-reference',
      final_loss: 'evaluation-measure',
      final_accuracy: 'evaluation-measure',
    });
    expect(semantics('epoch')).toMatchObject({
      epoch: 'model-hyperparameter', // the index of a task that writes a model: that model's
      loss: 'evaluation-measure',
      accuracy: 'evaluation-measure',
      model: 'model-reference',
    });
    expect(task('training').inputs.find((a) => a.name === 'learning_rate')!.description).toContain('number');
    expect(task('training').inputs.find((a) => a.name === 'epochs')!.description).toContain('integer');
  });

  it('captures everything on the second run: nothing undeclared, every name in the spool', async () => {
    const [summary] = answers[1]!.slice(2).split('train_stdlib-…');
    expect(outputs[1]!.stdout).toContain(summary);
    expect(outputs[1]!.stdout).toMatch(/: 110 written to the spool, 0 rejected, 0 dropped, 0 spooled/);
    expect(outputs[1]!.stdout).not.toContain('dropped at the capture call');
    const names = new Map<string, Set<string>>();
    const read = await sh(
      `python3 -c 'import json, sys; from provml_client.spool import read_spool; print(json.dumps([json.loads(p) for _, p in read_spool(sys.argv[1])]))' ${join(dir, 'my-spool')}`,
      { env, maxBuffer: 2 ** 24 },
    );
    const records = JSON.parse(read.stdout) as {
      event?: { task: string; values: Record<string, unknown>; dataRefs: { name: string }[] };
    }[];
    expect(records.filter((r) => r.event !== undefined)).toHaveLength(110);
    for (const parsed of records) {
      if (parsed.event === undefined) continue;
      const set = names.get(parsed.event.task) ?? new Set<string>();
      for (const n of Object.keys(parsed.event.values)) set.add(n);
      for (const r of parsed.event.dataRefs) set.add(r.name);
      names.set(parsed.event.task, set);
    }
    for (const t of spec.tasks)
      expect([...names.get(t.id)!].sort()).toEqual([...t.inputs, ...t.outputs].map((a) => a.name).sort());
  });

  it('gives a run the views answer on: its spool replayed to an embedded stack, /v1/models/best finds its model', async () => {
    const stack = await startStack();
    try {
      await sh(`npm run -s provml -- replay ${join(dir, 'my-spool')} --http ${stack.ingestUrl}`, {
        cwd: ROOT,
        env,
      });
      await stack.settle();
      const query = new URLSearchParams({
        trainingSet: 'synthetic://seismic-tiles/train?seed=42&n=512',
        measure: 'val_loss',
      });
      const response = await fetch(`${stack.queryUrl}/v1/models/best?${query.toString()}`);
      const best = (await response.json()) as BestModel;
      expect(response.status, JSON.stringify(best)).toBe(200);
      expect(best.uri).toMatch(/^file:.*model-epoch-\d\.json$/);
      expect(Object.keys(best.modelHyperparameters)).toEqual(['epoch']); // drafted as the model's
      expect(best.hyperparameters).toMatchObject({ learning_rate: 0.5, epochs: 3, batch_size: 32 });
      expect(typeof best.value).toBe('number');
    } finally {
      await stack.shutdown();
    }
  }, 120_000);

  it('keeps a spec the script can read, adds only what it lacks, and writes nothing when the command fails', async () => {
    const given = join(dir, 'given.json');
    const seismic = await readFile(join(ROOT, 'schemas/examples/seismic-training.json'), 'utf8');
    await writeFile(given, seismic);
    const script = 'capture-agent/python/examples/train_stdlib.py';
    const again = await sh(
      `npm run -s provml -- spec init --out ${dir}/kept.json -- python3 ${script} --spec ${given} --epochs 1 --tiles 64`,
      { cwd: ROOT, env },
    );
    expect(again.stderr).toContain('workflow seismic-training, 4 tasks, 0 names drafted from the run');
    expect(JSON.parse(await readFile(join(dir, 'kept.json'), 'utf8'))).toEqual(JSON.parse(seismic));
    const failed = await sh(
      `npm run -s provml -- spec init --out ${dir}/never.json -- python3 -c 'raise SystemExit(3)'; echo "exit $?"`,
      { cwd: ROOT, env, shell: '/bin/bash' },
    );
    expect(failed.stdout).toContain('exit 3');
    expect(failed.stderr).toContain('exited with 3: no spec written');
    await expect(readFile(join(dir, 'never.json'))).rejects.toThrow();
  }, 60_000);
  it('drafts the spec of a script using the TypeScript library, which then captures everything', async () => {
    const out = join(dir, 'ts-spec.json');
    const script = `node --import tsx app/test/fixtures/draftTraining.ts ${out}`;
    const first = await sh(`npm run -s provml -- spec init --out ${out} -- ${script}`, { cwd: ROOT, env });
    expect(JSON.parse(first.stdout)).toEqual({ events: 0, undeclared: 0 }); // a draft run sends nothing
    expect(first.stderr).toContain('workflow draftTraining, 2 tasks, 7 names drafted from the run');
    const drafted = JSON.parse(await readFile(out, 'utf8')) as ProspectiveSpec;
    compileSpec(drafted);
    const semantics = Object.fromEntries(
      drafted.tasks.flatMap((t) =>
        [...t.inputs, ...t.outputs].map((a) => [`${t.id}.${a.name}`, a.semantics]),
      ),
    );
    expect(semantics).toEqual({
      'training.learning_rate': 'hyperparameter',
      'training.optimizer': 'hyperparameter',
      'training.corpus': 'dataset-reference',
      'training.final_f1': 'evaluation-measure',
      'epoch.epoch': 'model-hyperparameter',
      'epoch.train_loss': 'evaluation-measure',
      'epoch.checkpoint': 'model-reference',
    });
    expect(drafted.tasks.find((t) => t.id === 'epoch')!.parent).toBe('training');
    const second = await sh(script, { cwd: ROOT, env });
    expect(JSON.parse(second.stdout)).toEqual({ events: 6, undeclared: 0 });
  }, 60_000);
});
