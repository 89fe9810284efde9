/** The demo's Q1–Q6 give identical answers in every store: embedded Oxigraph, RDF4J Server, Oxigraph server. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type TripleStore } from '@provml/stores';
import { dataDirOf, ensureOxigraph, ensureRdf4j, stopStore } from '../../deploy/local/stores.ts';
import { answerQueries, type Answer, resolveDemoConfig, runDemo, type DemoReport } from '@provml/demo';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { SMALL_DEMO, startStack } from '../../deploy/testing/stack.ts';

const RDF4J = { instance: 'rdf4j-queries', port: 18092 };
const OXIGRAPH = { instance: 'oxigraph-queries', port: 17881 };
const ci = process.env.CI === 'true';

const byName = (answers: Answer[]): Record<string, Record<string, string>[]> =>
  Object.fromEntries(answers.map((a) => [a.name, a.rows]));

describe('Q1–Q6 across stores', () => {
  let stack: EmbeddedStack;
  let report: DemoReport;
  let dir: string;
  let quads: string;
  const servers: { name: string; store?: TripleStore; unavailable?: string; stop: () => Promise<unknown> }[] =
    [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-stores-'));
    stack = await startStack();
    report = await runDemo(
      { capture: (spec) => stack.capture({ spec, env: {} }), annotate: (t, s) => stack.annotate(t, s) },
      resolveDemoConfig({ ...SMALL_DEMO, outputDir: dir }),
    );
    await stack.settle();
    quads = stack.store.store.dump({ format: 'application/n-quads' });
    const starters: [string, () => Promise<TripleStore>, () => Promise<unknown>][] = [
      [
        'rdf4j',
        async () => {
          await stopStore(RDF4J.instance);
          await rm(dataDirOf(RDF4J.instance), { recursive: true, force: true });
          const { url } = await ensureRdf4j(RDF4J);
          return createStore({ store: 'rdf4j', url, repository: 'provml', createRepository: true });
        },
        () => stopStore(RDF4J.instance),
      ],
      [
        'oxigraph-server',
        async () => {
          // a fresh dataset: stop the instance and remove its data from earlier runs
          await stopStore(OXIGRAPH.instance);
          await rm(dataDirOf(OXIGRAPH.instance), { recursive: true, force: true });
          const { url } = await ensureOxigraph(OXIGRAPH);
          const store = await createStore({ store: 'sparql', url });
          return store;
        },
        () => stopStore(OXIGRAPH.instance),
      ],
    ];
    for (const [name, start, stop] of starters) {
      try {
        const store = await start();
        const loaded = await store.load(quads);
        if (loaded.kind !== 'success') throw loaded.error;
        servers.push({ name, store, stop });
      } catch (error) {
        if (ci) throw error;
        servers.push({ name, unavailable: (error as Error).message, stop });
      }
    }
  }, 300_000);

  afterAll(async () => {
    await stack?.shutdown();
    for (const s of servers) {
      await s.store?.close();
      await s.stop();
    }
    await rm(dir, { recursive: true, force: true });
  }, 120_000);

  it.each(['rdf4j', 'oxigraph-server'])('%s answers exactly as the embedded store', async (name) => {
    const server = servers.find((s) => s.name === name)!;
    if (server.store === undefined) {
      console.warn(`skipping ${name}: ${server.unavailable}`);
      return;
    }
    const embedded = byName(await answerQueries(stack.store, report));
    const other = byName(await answerQueries(server.store, report));
    for (const q of Object.keys(embedded)) {
      // numbers may differ in lexical form (1.0E0 vs 1) and, for averages, in the last bit (summation
      // order): compare them as numbers to 12 significant digits
      const norm = (rows: Record<string, string>[]) =>
        rows.map((r) =>
          Object.fromEntries(
            Object.entries(r).map(([k, v]) => [
              k,
              /^-?[\d.]+(E-?\d+)?$/i.test(v) ? Number(Number(v).toPrecision(12)) : v,
            ]),
          ),
        );
      expect(norm(other[q]!), `${name} ${q}`).toEqual(norm(embedded[q]!));
    }
  });
});
