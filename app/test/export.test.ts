/**
 * `provml export` as the README shows it: the first session's events stored by an embedded stack with a
 * data directory, then the command run as a real process on that directory, and on RDF4J Server
 * through the query API's store settings; what it writes matches what the store holds.
 */
import { exec, execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Parser } from 'n3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRdf4jRepository, createStore, deleteRdf4jRepository, selectRows } from '@provml/stores';
import { ensureRdf4j } from '../../deploy/local/stores.ts';
import { unique } from '../../deploy/testing/kafkaTest.ts';
import { startStack } from '../../deploy/testing/stack.ts';

const sh = promisify(exec);
const run = promisify(execFile);
const CI = process.env.CI === 'true';
const ROOT = new URL('../../', import.meta.url).pathname;
const readme = await readFile(`${ROOT}README.md`, 'utf8');
const section = (from: string, to: string): { lang: string; body: string }[] =>
  [...readme.slice(readme.indexOf(from), readme.indexOf(to)).matchAll(/```(\w*)\n([\s\S]*?)```/g)].map(
    (m) => ({
      lang: m[1]!,
      body: m[2]!,
    }),
  );
const session = section('## A first session', '## Public contracts').filter((b) => b.lang === 'sh');
const exporting = section('## Exporting provenance', '## Distributed mode');

/** The provml command as a process (what `npm run provml --` runs). */
const provml = async (...args: string[]): Promise<string> =>
  (await run('node', ['--import', 'tsx', 'app/src/cli/main.ts', ...args], { cwd: ROOT, maxBuffer: 2 ** 26 }))
    .stdout;

const GRAPHS = ['urn:provml:graph/execution/prep-42', 'urn:provml:graph/spec/seismic-preparation'];

describe('provml export', () => {
  let dir: string;
  let held = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-export-'));
    const stack = await startStack({ dataDir: join(dir, 'data') });
    const host = new URL(stack.ingestUrl).host;
    for (const block of session.slice(0, 2))
      await sh(block.body.replaceAll('127.0.0.1:7071', host), { cwd: ROOT, shell: '/bin/bash' });
    await stack.settle();
    const [row] = await selectRows(
      stack.store,
      `SELECT (COUNT(*) AS ?n) WHERE { VALUES ?g { ${GRAPHS.map((g) => `<${g}>`).join(' ')} } GRAPH ?g { ?s ?p ?o } }`,
    );
    held = Number(row!.n);
    await stack.shutdown();
  }, 60_000);

  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints what the README says it prints', async () => {
    expect(exporting.map((b) => b.lang)).toEqual(['sh', '']);
    const command = exporting[0]!.body.replace(' export ', ` export --data-dir ${join(dir, 'data')} `);
    const { stdout } = await sh(command, { cwd: ROOT, shell: '/bin/bash' });
    expect(stdout).toBe(exporting[1]!.body);
  });

  it('writes the execution and its spec graph in N-Quads and TriG, every quad the store holds there', async () => {
    const data = ['--data-dir', join(dir, 'data'), '--execution', 'prep-42'];
    const nquads = new Parser({ format: 'N-Quads' }).parse(
      await provml('export', ...data, '--format', 'nquads'),
    );
    const trig = new Parser({ format: 'application/trig' }).parse(await provml('export', ...data));
    expect(new Set(nquads.map((q) => q.graph.value))).toEqual(new Set(GRAPHS));
    expect(nquads.length).toBe(held);
    expect(trig.length).toBe(held);
    const json = JSON.parse(await provml('export', ...data, '--format', 'provjson')) as Record<
      string,
      object
    >;
    expect(Object.keys(json.activity!)).toHaveLength(2); // the workflow execution and its task execution
    expect(Object.keys(json.used!)).toHaveLength(1);
    expect(Object.keys(json.wasGeneratedBy!)).toHaveLength(2);
  });

  it('refuses an unknown execution and a bad format', async () => {
    await expect(provml('export', '--data-dir', join(dir, 'data'), '--execution', 'nope')).rejects.toThrow(
      /no workflow execution 'nope'/,
    );
    await expect(provml('export', '--format', 'rdfxml')).rejects.toThrow(/--format must be one of/);
  });

  it('reads the same from RDF4J Server through the query API store settings', async (ctx) => {
    let url: string;
    try {
      url = (await ensureRdf4j()).url;
    } catch (error) {
      if (CI) throw error;
      // Skips outside CI only when the RDF4J Server of the local stack cannot be had (the message says why).
      return ctx.skip(`RDF4J Server unavailable: ${(error as Error).message}`);
    }
    const repository = `export-${unique()}`;
    await createRdf4jRepository(url, repository);
    try {
      const everything = await provml('export', '--data-dir', join(dir, 'data'), '--format', 'nquads');
      const store = await createStore({ store: 'rdf4j', url, repository });
      expect((await store.load(everything)).kind).toBe('success');
      await store.close();
      const settings = ['--store', 'rdf4j', '--store-url', url, '--repository', repository];
      const fromRdf4j = await provml('export', ...settings, '--execution', 'prep-42', '--format', 'nquads');
      const fromEmbedded = await provml(
        'export',
        '--data-dir',
        join(dir, 'data'),
        '--execution',
        'prep-42',
        '--format',
        'nquads',
      );
      const lines = (s: string): string[] => s.split('\n').filter(Boolean).sort();
      expect(lines(fromRdf4j)).toEqual(lines(fromEmbedded));
      expect(lines(fromRdf4j)).toHaveLength(held);
    } finally {
      await deleteRdf4jRepository(url, repository).catch(() => undefined);
    }
  }, 120_000);
});
