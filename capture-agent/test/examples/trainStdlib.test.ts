/** examples/trainStdlib.ts end to end: against `provml embedded` (HTTP ingest) and through the sidecar agent, asserted through the REST views and Q3, as the Python client's real-services test does for train_stdlib.py. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpCaptureExporter, init, type DeliveryResult } from '@provml/capture-agent';
import { startOfflineAgent, stopChild } from '../../../deploy/testing/agentTest.ts';
import {
  freePort,
  sparqlFrom,
  startEmbedded,
  type EmbeddedProcess,
} from '../../../deploy/testing/embeddedProcess.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const EXAMPLE = 'capture-agent/examples/trainStdlib.ts';
const SPEC = join(ROOT, 'schemas/examples/seismic-training.json');

/** The example as a child process; resolves with its output and exit status. */
function example(args: string[]): {
  child: ChildProcess;
  /** What it printed so far. */
  output: () => string;
  done: Promise<{ status: number | null; out: string }>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', EXAMPLE, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ status: number | null; out: string }>((resolve) =>
    child.once('exit', (status) => resolve({ status, out })),
  );
  return { child, output: () => out, done };
}

const delivery = (out: string): DeliveryResult => {
  const line = /^delivery: (.*)$/m.exec(out);
  if (line === null) throw new Error(`no delivery line in:\n${out}`);
  return JSON.parse(line[1]!) as DeliveryResult;
};
const captured = (out: string): number => Number(/captured (\d+) events/.exec(out)?.[1]);
const longestCallMs = (out: string): number => Number(/longest capture call took ([\d.]+) ms/.exec(out)?.[1]);

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined);
    if (value !== undefined && ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`not reached: last ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface ModelRow {
  model: string;
  uri: string;
  training: string;
  evaluations: Record<string, unknown>;
}
interface BestModel extends ModelRow {
  hyperparameters: Record<string, unknown>;
  modelHyperparameters: Record<string, unknown>;
}

describe('examples/trainStdlib.ts end to end', () => {
  let embedded: EmbeddedProcess;
  let ports: string[];
  const dir = mkdtempSync(join(tmpdir(), 'ts-example-'));
  const start = (): Promise<EmbeddedProcess> => startEmbedded([...ports, '--data-dir', join(dir, 'data')]);

  beforeAll(async () => {
    ports = ['--ingest-port', String(await freePort()), '--query-port', String(await freePort())];
    embedded = await start();
  });
  afterAll(async () => {
    await embedded?.stop();
  });

  const models = (trainingSet: string): Promise<ModelRow[]> =>
    getJson<{ models: ModelRow[] }>(
      `${embedded.queryUrl}/v1/models?${new URLSearchParams({ trainingSet }).toString()}`,
    ).then((b) => b.models);
  const best = (trainingSet: string, direction: 'min' | 'max'): Promise<BestModel> =>
    getJson<BestModel>(
      `${embedded.queryUrl}/v1/models/best?${new URLSearchParams({ trainingSet, measure: 'val_loss', direction }).toString()}`,
    );

  /** The example in setting D (HTTP, queue size 512) onto the embedded ingest. */
  const overHttp = (runId: string, args: string[]): ReturnType<typeof example> =>
    example(['--setting', 'D', '--http-url', embedded.ingestUrl, '--run-id', runId, ...args]);

  it('two runs writing the same model files stay two models; the best comes with its own run’s numbers; NaN never wins; a typo costs only its value', async () => {
    const modelDir = join(dir, 'models');
    const runs: Record<string, number> = { 'ts-a': 0.5, 'ts-b': 2.0 };
    for (const [runId, lr] of Object.entries(runs)) {
      const { done } = overHttp(runId, [
        '--learning-rate',
        String(lr),
        '--epochs',
        '2',
        '--tiles',
        '128',
        '--model-dir',
        modelDir,
        '--spill-dir',
        join(dir, `spill-${runId}`),
      ]);
      const { status, out } = await done;
      expect(status, out).toBe(0);
      expect(delivery(out)).toMatchObject({ delivered: 26, rejected: 0, dropped: 0, spooled: 0, ok: true });
    }
    const trainingSet = 'synthetic://seismic-tiles/train?seed=42&n=128';

    // a third run through the library itself, on the same set: a diverged (NaN) validation and a typo
    const errors: Error[] = [];
    const capture = await init({
      spec: SPEC,
      env: {},
      exporter: new HttpCaptureExporter({ url: embedded.ingestUrl }),
      onError: (e) => errors.push(e),
    });
    const training = capture
      .workflowExecution('ts-nan')
      .begin('training', { values: { learning_rate: 99 }, dataRefs: { training_set: trainingSet } });
    const model = `file://${join(modelDir, 'model-epoch-0.json')}`;
    training.begin('epoch', { values: { epoch: 0 } }).end({ values: { loss: 5 }, dataRefs: { model } });
    const validation = training.begin('validation', { dataRefs: { model } });
    validation.set('val_los', 0.01); // the typo: dropped here, reported once
    validation.end({ values: { val_loss: Number.NaN, val_accuracy: 0.5 } });
    training.end();
    const nan = await capture.shutdown(20_000);
    expect(nan).toMatchObject({ delivered: 6, rejected: 0, dropped: 0, undeclared: 1, ok: false });
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining("value 'val_los' is not declared"),
    ]);

    const rows = await until(
      () => models(trainingSet),
      (r) => r.length >= 5,
    );
    // three runs, five models, all written to two paths: two per file from the example's runs
    expect(rows).toHaveLength(5);
    expect(new Set(rows.map((r) => r.uri)).size).toBe(2);
    expect(new Set(rows.map((r) => r.model)).size).toBe(5);
    const nanModel = rows.find((r) => r.training.includes('ts-nan'))!;
    expect(Object.keys(nanModel.evaluations).sort()).toEqual(['loss', 'val_accuracy', 'val_loss']);

    for (const direction of ['min', 'max'] as const) {
      const b = await best(trainingSet, direction);
      expect(b.training).not.toContain('ts-nan'); // NaN never wins, in either direction
      const runId = Object.keys(runs).find((r) => b.training.includes(r))!;
      expect(b.hyperparameters.learning_rate, direction).toBe(runs[runId]);
      expect([0, 1]).toContain(b.modelHyperparameters.epoch);
      const mine = rows.filter((r) => r.model === b.model);
      expect(mine).toHaveLength(1);
      expect(mine[0]!.training).toBe(b.training);
      expect(mine[0]!.evaluations).toEqual(b.evaluations);
    }

    // Q3: the model with the least training loss, with its own run's hyperparameters
    const q3 = await getJson<{ rows: { model: string; kind: string; name: string; value: string }[] }>(
      `${embedded.queryUrl}/v1/queries/q3?${new URLSearchParams({ trainingSet }).toString()}`,
    );
    const q3Model = q3.rows[0]!.model;
    const q3Run = Object.keys(runs).find((r) => rows.find((m) => m.model === q3Model)!.training.includes(r))!;
    const lr = q3.rows.find((r) => r.model === q3Model && r.name === 'learning_rate')!;
    expect(Number(lr.value)).toBe(runs[q3Run]);
  }, 180_000);

  it('an ingest that goes away mid-run costs the trainer no waiting and, once back, no event', async () => {
    const runId = 'ts-restart';
    const { child, output, done } = overHttp(runId, [
      '--epochs',
      '100000',
      '--tiles',
      '256',
      '--hidden-units',
      '256', // slower epochs: fewer events while the ingest is away
      '--model-dir',
      join(dir, 'models-restart'),
    ]);
    const epochs = (): number => (output().match(/^epoch /gm) ?? []).length;
    const afterEpochs = (n: number): Promise<unknown> =>
      until(
        () => Promise.resolve(epochs()),
        (e) => e >= n,
      );
    await afterEpochs(2);
    await embedded.stop();
    const downAt = epochs();
    await afterEpochs(downAt + 3); // training goes on while the ingest is away
    embedded = await start();
    const upAt = epochs();
    await afterEpochs(upAt + 3);
    child.kill('SIGINT'); // the example stops after the epoch it is in
    const { status, out: all } = await done;
    expect(status, all).toBe(0);
    const events = captured(all);
    expect(delivery(all)).toMatchObject({ delivered: events, rejected: 0, dropped: 0, spooled: 0, ok: true });
    // generous: a call that waited for the ingest would take its restart, seconds
    expect(longestCallMs(all)).toBeLessThan(250);
    const query = `PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX provml: <https://w3id.org/provml/ns#>
      SELECT (COUNT(DISTINCT ?te) AS ?n) WHERE {
        ?te a provml:TaskExecution ; prov:startedAtTime ?s ; prov:endedAtTime ?e .
        FILTER(STRSTARTS(STR(?te), "urn:provml:execution/${runId}/"))
      }`;
    // every task execution began and ended in the store: no event was lost
    await until(
      async () => {
        const r = await sparqlFrom(embedded.queryUrl, query);
        return Number(
          (JSON.parse(r.text) as { results: { bindings: { n: { value: string } }[] } }).results.bindings[0]!.n
            .value,
        );
      },
      (n) => n === events / 2,
    );
  }, 300_000);

  it('through the sidecar agent: the agent spools the example’s events, provml replay --http brings them to the store', async () => {
    const spool = join(dir, 'agent-spool');
    const agent = await startOfflineAgent(spool, 'ts-example');
    try {
      const { done } = example([
        '--setting',
        'E',
        '--socket',
        join(spool, 'agent.sock'),
        '--run-id',
        'ts-agent',
        '--learning-rate',
        '0.25',
        '--epochs',
        '2',
        '--tiles',
        '96',
        '--model-dir',
        join(dir, 'models-agent'),
      ]);
      const { status, out } = await done;
      expect(status, out).toBe(0);
      expect(delivery(out)).toMatchObject({
        delivered: 2 + 2 * (4 + 2 * 3),
        rejected: 0,
        dropped: 0,
        ok: true,
      });
    } finally {
      await stopChild(agent, 'SIGTERM');
    }
    const replay = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'app/src/cli/main.ts', 'replay', spool, '--http', embedded.ingestUrl],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PROVML_AUTH_DISABLED: 'true' } },
    );
    expect(replay.status, replay.stdout + replay.stderr).toBe(0);
    const trainingSet = 'synthetic://seismic-tiles/train?seed=42&n=96';
    const rows = await until(
      () => models(trainingSet),
      (r) => r.length >= 2,
    );
    expect(rows).toHaveLength(2);
    const b = await best(trainingSet, 'min');
    expect(b.training).toContain('ts-agent');
    expect(b.hyperparameters.learning_rate).toBe(0.25);
    expect([0, 1]).toContain(b.modelHyperparameters.epoch);
  }, 180_000);

  it('a content digest identifies the version a use read, across workflow executions, whatever overwrote the file since', async () => {
    const file = join(dir, 'digest-model.json');
    const model = pathToFileURL(file).href;
    const capture = await init({
      spec: SPEC,
      env: {},
      exporter: new HttpCaptureExporter({ url: embedded.ingestUrl }),
    });
    const write = (run: string, content: string): void => {
      writeFileSync(file, content);
      const training = capture.workflowExecution(run).begin('training');
      training.begin('epoch').addDataRef('model', model, 'local', true).end();
      training.end();
    };
    write('ts-digest-a', '{"w":[1]}');
    write('ts-digest-b', '{"w":[2]}'); // the same path, other content
    writeFileSync(file, '{"w":[1]}'); // a's model restored, then validated in another run
    const c = capture.workflowExecution('ts-digest-c').begin('training');
    c.begin('validation', { dataRefs: [{ name: 'model', uri: model, digest: true }] }).end();
    c.end();
    expect(await capture.shutdown(20_000)).toMatchObject({ delivered: 12, invalid: 0, ok: true });
    const query = `PREFIX prov: <http://www.w3.org/ns/prov#> PREFIX provml: <https://w3id.org/provml/ns#>
      SELECT ?version WHERE {
        ?usage a prov:Usage ; provml:contentDigest ?d .
        FILTER(STRSTARTS(STR(?usage), "urn:provml:execution/ts-digest-c/"))
        ?version prov:specializationOf <${model}> ; provml:contentDigest ?d .
      }`;
    const rows = await until(
      async () =>
        (
          JSON.parse((await sparqlFrom(embedded.queryUrl, query)).text) as {
            results: { bindings: { version: { value: string } }[] };
          }
        ).results.bindings,
      (b) => b.length > 0,
    );
    expect(rows.map((r) => r.version.value)).toEqual([expect.stringContaining('/ts-digest-a/')]);
  });

  it('the README’s TypeScript delivery snippet runs as written and prints what it says', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('**Delivery (TypeScript).**'));
    const snippet = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    const printed = /^\/\/ (\{.*\})$/m.exec(snippet)![1]!;
    // run from the repository root, as the README's paths are; the ingest is this test's
    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    const file = join(ROOT, 'test-output', 'readme-delivery.ts');
    writeFileSync(file, snippet.replace('http://127.0.0.1:7071', embedded.ingestUrl));
    const ran = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8' });
    expect(ran.status, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual(JSON.parse(printed));
    expect(ran.stderr).toContain("value 'val_los' is not declared by task 'validation'");
  });
});
