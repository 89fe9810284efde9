/**
 * Queries at scale: realistic lifecycle provenance (the real mapper over synthetic curation, preparation
 * and training runs) bulk-loaded at several sizes into the RDF4J native store and the Oxigraph server;
 * Q1–Q6 median and p95 latency per store and size, each answer checked against the generator's ground
 * truth. Writes bench/results/query-scale.md (query-scale-quick.md with --quick) and PNG plots.
 * Run: `npx tsx bench/query-scale.ts [--sizes 1000000,10000000,30000000] [--runs 20] [--warmup 3]
 * [--stores rdf4j,oxigraph] [--explain]`; quick: `npx tsx bench/query-scale.ts --quick`.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  Rdf4jStore,
  SparqlProtocolStore,
  createRdf4jRepository,
  deleteRdf4jRepository,
  type TripleStore,
} from '@provml/stores';
import {
  OXIGRAPH_VERSION,
  RDF4J_VERSION,
  dataDirOf,
  ensureOxigraph,
  ensureRdf4j,
  stopStore,
} from '../deploy/local/stores.ts';
import {
  bindQuery,
  loadQueries,
  type QueryName,
  bestModel,
  epochTiming,
  listRuns,
  lineage,
  type ViewContext,
} from '@provml/query-api';
import { checkAnswer, checkLineage, pickParameters } from './lib/lifecycleAnswers.ts';
import { plot } from './lib/plot.ts';
import { generateLifecycle, DEFAULT_SHAPE, type SurveyFacts } from './lib/provenanceGenerator.ts';
import {
  fmt,
  RESULTS,
  ROOT,
  summarise,
  table,
  thisCommand,
  writeResult,
  type Summary,
  helpFromHeader,
} from './lib/report.ts';
import { explainOxigraph, explainRdf4j } from './lib/explainQuery.ts';

helpFromHeader(import.meta.url);

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000000,10000000,30000000' },
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    stores: { type: 'string', default: 'rdf4j,oxigraph' },
    seed: { type: 'string', default: '42' },
    'batch-mib': { type: 'string', default: '16' },
    quick: { type: 'boolean', default: false },
    explain: { type: 'boolean', default: false },
    /** Results file name (bench/results/<out>.md); default query-scale, or query-scale-quick with --quick. */
    out: { type: 'string' },
  },
});
const QUICK = args.quick;
const SIZES = (QUICK ? '200000' : args.sizes).split(',').map(Number);
const RUNS = Number(args.runs);
const WARMUP = Number(args.warmup);
const STORES = args.stores.split(',') as ('rdf4j' | 'oxigraph')[];
const SEED = Number(args.seed);
const BATCH_BYTES = Number(args['batch-mib']) * 2 ** 20;
const NAME = args.out ?? (QUICK ? 'query-scale-quick' : 'query-scale');
/** The goal of issue 8, item 7: each query's median at 30 M triples. */
const GOAL_MS = 200;
/** A query slower than this in warm-up gets fewer timed runs (at least 5): ~20 s of runs per query. */
const RUN_BUDGET_MS = 20_000;
const RDF4J = { instance: 'rdf4j-scale', port: 18096 };
const OXIGRAPH = { instance: 'oxigraph-scale', port: 17886 };
const DATA = join(ROOT, '.data', 'query-scale');

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const log = (line: string): void =>
  console.log(`[${new Date().toISOString().slice(11, 19)} load ${load()}] ${line}`);

/** A prefix of the generated file that holds at least `size` quads. */
interface Prefix {
  size: number;
  quads: number;
  bytes: number;
}

/** Generates the largest size into one file; every smaller size is a prefix of it. */
async function generate(
  path: string,
): Promise<{ prefixes: Prefix[]; facts: SurveyFacts[]; seconds: number }> {
  const facts: SurveyFacts[] = [];
  const max = Math.max(...SIZES);
  const started = performance.now();
  const out = createWriteStream(path);
  const pending = [...SIZES].sort((a, b) => a - b);
  const prefixes: Prefix[] = [];
  let quads = 0;
  let bytes = 0;
  for (const chunk of generateLifecycle({ seed: SEED, targetQuads: max }, facts)) {
    const buffer = Buffer.from(chunk.nquads);
    if (!out.write(buffer)) await once(out, 'drain');
    quads += chunk.quads;
    bytes += buffer.length;
    while (pending.length > 0 && quads >= pending[0]!)
      prefixes.push({ size: pending.shift()!, quads, bytes });
  }
  out.end();
  await once(out, 'finish');
  return { prefixes, facts, seconds: (performance.now() - started) / 1000 };
}

/** Streams the first `bytes` of the file into the store in batches of whole lines. */
async function loadInto(
  store: TripleStore,
  path: string,
  bytes: number,
): Promise<{ seconds: number; batches: number }> {
  const started = performance.now();
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let batches = 0;
  const send = async (body: string): Promise<void> => {
    const result = await store.load(body);
    if (result.kind !== 'success') throw new Error(`load failed: ${result.kind}: ${result.error.message}`);
    batches++;
  };
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1, highWaterMark: 2 ** 20 })) {
    pending.push(chunk as Buffer);
    pendingBytes += (chunk as Buffer).length;
    if (pendingBytes < BATCH_BYTES) continue;
    const all = Buffer.concat(pending);
    const cut = all.lastIndexOf(10) + 1;
    await send(all.subarray(0, cut).toString('utf8'));
    pending = [all.subarray(cut)];
    pendingBytes = all.length - cut;
  }
  const rest = Buffer.concat(pending).toString('utf8');
  if (rest.trim() !== '') await send(rest);
  return { seconds: (performance.now() - started) / 1000, batches };
}

/** One store under test: a fresh empty store per size. */
interface Subject {
  key: 'rdf4j' | 'oxigraph';
  label: string;
  fresh(size: number): Promise<TripleStore>;
  explain(query: string): Promise<string>;
  drop(): Promise<void>;
}

const duBytes = (path: string): number => {
  try {
    return Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);
  } catch {
    return NaN;
  }
};

function subjects(): Subject[] {
  let repository: string | undefined;
  let rdf4jUrl = '';
  const rdf4j: Subject = {
    key: 'rdf4j',
    label: `RDF4J ${RDF4J_VERSION} native store`,
    async fresh(size) {
      rdf4jUrl = (await ensureRdf4j(RDF4J)).url;
      repository = `query-scale-${size}`;
      await deleteRdf4jRepository(rdf4jUrl, repository);
      await createRdf4jRepository(rdf4jUrl, repository);
      return new Rdf4jStore({ serverUrl: rdf4jUrl, repository, timeoutMs: 600_000 });
    },
    explain: (query) => explainRdf4j(`${rdf4jUrl}/repositories/${repository!}`, query),
    async drop() {
      if (repository !== undefined) await deleteRdf4jRepository(rdf4jUrl, repository);
      repository = undefined;
    },
  };
  const oxigraph: Subject = {
    key: 'oxigraph',
    label: `Oxigraph ${OXIGRAPH_VERSION} server`,
    async fresh() {
      await stopStore(OXIGRAPH.instance);
      await rm(dataDirOf(OXIGRAPH.instance), { recursive: true, force: true });
      const { url } = await ensureOxigraph(OXIGRAPH);
      return new SparqlProtocolStore({
        queryEndpoint: `${url}/query`,
        storeEndpoint: `${url}/store`,
        loadParams: { no_transaction: '' },
        timeoutMs: 600_000,
      });
    },
    explain: (query) => explainOxigraph(OXIGRAPH, query),
    async drop() {
      await stopStore(OXIGRAPH.instance);
      await rm(dataDirOf(OXIGRAPH.instance), { recursive: true, force: true });
    },
  };
  return [rdf4j, oxigraph].filter((s) => STORES.includes(s.key));
}

interface LoadRow {
  store: string;
  size: number;
  quads: number;
  seconds: number;
  batches: number;
  diskMiB: number;
  load: string;
}
/** A catalogue query (q1…q6) or a REST view (`view:…`). */
type ItemName = QueryName | ViewName;
interface QueryRow {
  store: string;
  size: number;
  query: ItemName;
  rows: number;
  summary: Summary;
  problems: string[];
}

/** Times one query: the whole HTTP exchange, body read. */
async function timeQuery(store: TripleStore, sparql: string): Promise<{ ms: number; body: string }> {
  const started = performance.now();
  const response = await store.query(sparql, 'json', { timeoutMs: 600_000 });
  return { ms: performance.now() - started, body: response.body };
}

const rowsOf = (body: string): Record<string, string>[] =>
  (JSON.parse(body) as { results: { bindings: Record<string, { value: string }>[] } }).results.bindings.map(
    (b) => Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.value])),
  );

/** The REST views that generalise the paper's queries, called as the API calls them, on the same parameters. */
type ViewName = 'view:best-model' | 'view:timing' | 'view:runs' | 'view:lineage';
/** Which catalogue query each view generalises (the one its answer is checked as). */
const VIEW_OF: Readonly<Record<ViewName, string>> = {
  'view:best-model': 'q3',
  'view:timing': 'q4',
  'view:runs': 'q5',
  'view:lineage': 'q1',
};
/** What each view call is, for the tables. */
const VIEW_CALL: Readonly<Record<ViewName, string>> = {
  'view:best-model': '`GET /v1/models/best?trainingSet=…` (`bestModel`, measure loss, min)',
  'view:timing': '`GET /v1/timing?trainingSet=…` (`epochTiming`)',
  'view:runs': '`GET /v1/runs?inlineStart=…&inlineEnd=…` (`listRuns`)',
  'view:lineage':
    '`GET /v1/lineage/backward?entity=<model>&depth=10` (`lineage`, hop by hop, then `describe`)',
};
const VIEW_NAMES = Object.keys(VIEW_OF) as ViewName[];
const label = (name: ItemName): string =>
  name.startsWith('view:')
    ? `${name.slice(5)} view (${VIEW_OF[name as ViewName].toUpperCase()})`
    : name.toUpperCase();

type Values = Record<string, string | number | boolean>;
const str = (v: string | number | boolean | null | undefined): string =>
  v === null || v === undefined ? '' : String(v);

/** Calls a view; its answer turned into the catalogue query's rows (or, for lineage, checked on its own). */
async function runView(
  name: ViewName,
  context: ViewContext,
  params: ReturnType<typeof pickParameters>,
  facts: SurveyFacts[],
  quads: number,
): Promise<{ rows: number; problems: () => string[] }> {
  switch (name) {
    case 'view:best-model': {
      const b = await bestModel(context, { trainingSet: params.q3.trainingSet, measure: 'loss' });
      const rows = (kind: string, values: Values): Record<string, string>[] =>
        Object.entries(values).map(([n, v]) => ({ model: b.model, kind, name: n, value: str(v) }));
      const all = [
        ...rows('hyperparameter', b.hyperparameters),
        ...rows('model-hyperparameter', b.modelHyperparameters),
        ...rows('evaluation', b.evaluations),
      ];
      return { rows: all.length, problems: () => checkAnswer('q3', all, facts, quads) };
    }
    case 'view:timing': {
      const { epochs } = await epochTiming(context, { trainingSet: params.q4.trainingSet });
      const all = epochs.map((e) => ({
        training: e.training,
        epoch: e.epoch,
        epochNumber: str(e.epochNumber),
        epochStarted: e.started,
        batches: String(e.batches),
        minBatchSeconds: str(e.minBatchSeconds),
        meanBatchSeconds: str(e.meanBatchSeconds),
        maxBatchSeconds: str(e.maxBatchSeconds),
      }));
      return { rows: all.length, problems: () => checkAnswer('q4', all, facts, quads) };
    }
    case 'view:runs': {
      const { runs } = await listRuns(context, {
        inlineStart: String(params.q5.inlineStart),
        inlineEnd: String(params.q5.inlineEnd),
      });
      const all = runs.map((r) => ({
        training: r.training,
        trainingSet: r.trainingSet ?? '', // a preparation filter: every run found used a set
        learningRate: str(r.hyperparameters.learning_rate),
        meanBatchSeconds: str(r.meanBatchSeconds),
        meanEpochSeconds: str(r.meanEpochSeconds),
        finalLoss: str(r.outputs.final_loss),
      }));
      return { rows: all.length, problems: () => checkAnswer('q5', all, facts, quads) };
    }
    case 'view:lineage': {
      const graph = await lineage(context, { entity: params.q1.model, depth: 10 }, 'backward');
      return { rows: graph.nodes.length, problems: () => checkLineage(graph, facts) };
    }
  }
}

async function measure(
  subject: Subject,
  store: TripleStore,
  prefix: Prefix,
  facts: SurveyFacts[],
  explained: Map<string, string>,
): Promise<QueryRow[]> {
  const queries = loadQueries();
  const params = pickParameters(facts);
  const bound = new Map([...queries].map(([name, q]) => [name, bindQuery(q, params[name])]));
  const context: ViewContext = { store, queryOptions: { timeoutMs: 600_000 } };
  /** Each item: one timed call, its row count and a check of its answer (done once, after warm-up). */
  const items = new Map<ItemName, () => Promise<{ ms: number; rows: number; problems: () => string[] }>>();
  for (const [name, sparql] of bound)
    items.set(name, async () => {
      const t = await timeQuery(store, sparql);
      const rows = rowsOf(t.body);
      return { ms: t.ms, rows: rows.length, problems: () => checkAnswer(name, rows, facts, prefix.quads) };
    });
  for (const name of VIEW_NAMES)
    items.set(name, async () => {
      const started = performance.now();
      const r = await runView(name, context, params, facts, prefix.quads);
      return { ms: performance.now() - started, ...r };
    });
  const samples = new Map<ItemName, number[]>();
  const runs = new Map<ItemName, number>();
  const out: QueryRow[] = [];
  for (const [name, call] of items) {
    const warm: number[] = [];
    let last: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < WARMUP; i++) {
      last = await call();
      warm.push(last.ms);
    }
    const problems = last!.problems();
    const slowest = Math.max(...warm);
    runs.set(name, Math.max(5, Math.min(RUNS, Math.floor(RUN_BUDGET_MS / slowest))));
    samples.set(name, []);
    out.push({
      store: subject.label,
      size: prefix.size,
      query: name,
      rows: last!.rows,
      summary: summarise([]),
      problems,
    });
    log(
      `${subject.key} ${fmt(prefix.quads)} ${name}: warm-up ${warm.map((w) => w.toFixed(0)).join('/')} ms, ${last!.rows} rows, ${problems.length === 0 ? 'answer right' : `WRONG: ${problems.join('; ')}`}`,
    );
  }
  // timed runs round-robin, so whatever else the machine does spreads over all items alike
  for (let i = 0; i < RUNS; i++)
    for (const [name, call] of items) if (i < runs.get(name)!) samples.get(name)!.push((await call()).ms);
  for (const row of out) {
    row.summary = summarise(samples.get(row.query)!);
    const sparql = bound.get(row.query as QueryName);
    if (
      args.explain &&
      sparql !== undefined &&
      row.summary.median > GOAL_MS &&
      prefix.size === Math.max(...SIZES)
    )
      explained.set(`${subject.key}-${row.query}`, await subject.explain(sparql));
  }
  return out;
}

const sizeLabel = (n: number): string => (n >= 1e6 ? `${n / 1e6} M` : `${n / 1e3} k`);

async function main(): Promise<void> {
  await mkdir(DATA, { recursive: true });
  const file = join(DATA, `lifecycle-seed${SEED}-${Math.max(...SIZES)}.nq`);
  const loadAtStart = load();
  log(`generating ${fmt(Math.max(...SIZES))} quads into ${file}`);
  const { prefixes, facts, seconds } = await generate(file);
  const total = prefixes[prefixes.length - 1]!;
  const trainings = facts.flatMap((s) => s.preparations.flatMap((p) => p.trainings));
  log(
    `generated ${fmt(total.quads)} quads (${(total.bytes / 2 ** 30).toFixed(2)} GiB) in ${seconds.toFixed(0)} s: ${facts.length} surveys, ${trainings.length} training runs`,
  );

  const loads: LoadRow[] = [];
  const results: QueryRow[] = [];
  const explained = new Map<string, string>();
  const all = subjects();
  try {
    for (const prefix of prefixes)
      for (const subject of all) {
        const store = await subject.fresh(prefix.size);
        const atLoad = load();
        const { seconds: s, batches } = await loadInto(store, file, prefix.bytes);
        const held = await store.size();
        if (held !== prefix.quads)
          throw new Error(`${subject.label} holds ${held} quads, expected ${prefix.quads}`);
        const dir = dataDirOf(subject.key === 'rdf4j' ? RDF4J.instance : OXIGRAPH.instance);
        loads.push({
          store: subject.label,
          size: prefix.size,
          quads: prefix.quads,
          seconds: s,
          batches,
          diskMiB: duBytes(dir) / 2 ** 20,
          load: atLoad,
        });
        log(
          `${subject.key} loaded ${fmt(prefix.quads)} quads in ${s.toFixed(1)} s (${fmt(prefix.quads / s)} quads/s)`,
        );
        results.push(...(await measure(subject, store, prefix, facts, explained)));
        await store.close();
        await subject.drop();
      }
  } finally {
    await stopStore(RDF4J.instance);
    await stopStore(OXIGRAPH.instance);
    await rm(dataDirOf(RDF4J.instance), { recursive: true, force: true });
    await rm(dataDirOf(OXIGRAPH.instance), { recursive: true, force: true });
    await rm(file, { force: true });
  }
  await report({ prefixes, facts, seconds, loads, results, explained, loadAtStart });
}

async function report(r: {
  prefixes: Prefix[];
  facts: SurveyFacts[];
  seconds: number;
  loads: LoadRow[];
  results: QueryRow[];
  explained: Map<string, string>;
  loadAtStart: string;
}): Promise<void> {
  const largest = Math.max(...SIZES);
  const stores = [...new Set(r.results.map((x) => x.store))];
  const pngs: string[] = [];
  for (const store of stores) {
    const png = `${NAME}-${store.startsWith('RDF4J') ? 'rdf4j' : 'oxigraph'}.png`;
    pngs.push(png);
    const rows = r.results.filter((x) => x.store === store);
    const colours = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];
    await plot(join(RESULTS, png), {
      type: 'line',
      data: {
        labels: r.prefixes.map((p) => `${sizeLabel(p.size)} (${fmt(p.quads)})`),
        datasets: [
          ...[...loadQueries().keys()].map((q, i) => ({
            label: q.toUpperCase(),
            data: r.prefixes.map(
              (p) => rows.find((x) => x.query === q && x.size === p.size)?.summary.median ?? null,
            ),
            borderColor: colours[i],
            backgroundColor: colours[i],
          })),
          ...VIEW_NAMES.map((v, i) => ({
            label: label(v),
            data: r.prefixes.map(
              (p) => rows.find((x) => x.query === v && x.size === p.size)?.summary.median ?? null,
            ),
            borderColor: colours[[2, 3, 4, 0][i]!],
            backgroundColor: colours[[2, 3, 4, 0][i]!],
            borderDash: [3, 3],
            pointStyle: 'rectRot',
          })),
          {
            label: `goal ${GOAL_MS} ms`,
            data: r.prefixes.map(() => GOAL_MS),
            borderColor: '#64748b',
            borderDash: [6, 4],
            pointRadius: 0,
          },
        ],
      },
      options: {
        plugins: {
          title: {
            display: true,
            text: `${store}: median latency of Q1–Q6 (solid) and the REST views (dashed) vs store size`,
            font: { size: 16 },
          },
        },
        scales: {
          y: { type: 'logarithmic', title: { display: true, text: 'median latency (ms, log)' } },
          x: { title: { display: true, text: 'quads in the store' } },
        },
      },
    });
  }
  const trainings = r.facts.flatMap((s) => s.preparations.flatMap((p) => p.trainings));
  const at = (p: Prefix): string => `${sizeLabel(p.size)} = ${fmt(p.quads, 4)} quads`;
  const met = r.results.filter((x) => x.size === largest);
  const verdict = met.every((x) => x.summary.median <= GOAL_MS && x.problems.length === 0)
    ? `**Goal met**: every query's and view's median is ≤ ${GOAL_MS} ms at ${sizeLabel(largest)} in every store measured.`
    : `**Goal missed** at ${sizeLabel(largest)} by: ${met
        .filter((x) => x.summary.median > GOAL_MS)
        .map((x) => `${label(x.query)} on ${x.store} (${fmt(x.summary.median)} ms)`)
        .join(
          ', ',
        )}${met.some((x) => x.problems.length > 0) ? '; some answers were wrong (see the table)' : ''}.`;
  const notesFile = join(RESULTS, 'query-scale-notes.md');
  const notes = NAME === 'query-scale' ? await readFile(notesFile, 'utf8').catch(() => '') : '';
  if (r.explained.size > 0) {
    await mkdir(join(RESULTS, `${NAME}-explain`), { recursive: true });
    for (const [key, text] of r.explained)
      await writeFile(join(RESULTS, `${NAME}-explain`, `${key}.txt`), text);
  }
  const body = `
**What is measured.** Lifecycle provenance made by the real pipeline mapper (\`mapSpec\`, \`mapEvent\`,
\`parseAnnotations\` of \`@provml/stream-processors\`, specs of the O&G demo) from synthetic capture events
shaped like the demo's (\`bench/lib/provenanceGenerator.ts\`, seed ${SEED}): per survey a data-curation run
over a raw SEG-Y file with its basin/field annotations, ${DEFAULT_SHAPE.preparationsPerSurvey} preparation
variants (inline ranges from ${DEFAULT_SHAPE.inlineWindows} windows shared across surveys, tile size, noise
threshold) and ${DEFAULT_SHAPE.trainingsPerPreparation} training runs each (${DEFAULT_SHAPE.epochs.join('–')} epochs of
⌈tiles ÷ batch size⌉ batches with a loss, a model file, evaluations and a validation per epoch). In all:
${fmt(r.facts.length)} surveys, ${fmt(trainings.length)} training runs, ${fmt(trainings.reduce((n, t) => n + t.epochs, 0))} epochs; generated in
${r.seconds.toFixed(0)} s into one N-Quads file, each size a prefix of it (${r.prefixes.map(at).join(', ')}), so
the parameters — the best model of survey 0's first training run, its training set and inline range — and
Q1–Q4's answers are the same at every size while Q5/Q6 grow with the trainings sharing that range.
Each size is bulk-loaded in ${Number(args['batch-mib'])} MiB batches of N-Quads through the store adapters' \`load()\`
into a fresh store (RDF4J: a new native repository, indexes spoc,posc,cspo, server heap 2 GiB; Oxigraph: a new
server on an empty data folder, \`?no_transaction\` bulk load), and the quad count is checked. Then each
query (bound with \`bindQuery\` of the catalogue) runs ${WARMUP} warm-up times — the answer checked against the
generator's ground truth — and up to ${RUNS} timed times, round-robin over the queries (a query whose
warm-up passed ${RUN_BUDGET_MS / 1000} s ÷ ${RUNS} gets fewer runs, at least 5: column n). Latency is the whole
HTTP exchange from this process (127.0.0.1), result body read. Load average when the run began: ${r.loadAtStart}.

${verdict}

## Loads

${table(
  ['store', 'size', 'quads', 'load (s)', 'quads/s', 'batches', 'on disk (MiB)', 'load avg at start'],
  r.loads.map((l) => [
    l.store,
    sizeLabel(l.size),
    fmt(l.quads, 4),
    fmt(l.seconds),
    `**${fmt(l.quads / l.seconds)}**`,
    l.batches,
    fmt(l.diskMiB),
    l.load,
  ]),
)}

## Q1–Q6 and the REST views: latency (ms)

${table(
  ['query', 'store', 'size', 'rows', 'median', 'p95', 'min', 'max', 'n', `≤ ${GOAL_MS} ms`, 'answer'],
  r.results.map((x) => [
    label(x.query),
    x.store,
    sizeLabel(x.size),
    x.rows,
    `**${fmt(x.summary.median)}**`,
    fmt(x.summary.p95),
    fmt(x.summary.min),
    fmt(x.summary.max),
    x.summary.n,
    x.summary.median <= GOAL_MS ? 'yes' : 'no',
    x.problems.length === 0 ? 'right' : `wrong: ${x.problems.slice(0, 3).join('; ')}`,
  ]),
)}

## Catalogue query vs REST view, side by side (median ms)

The views are what users call (\`query-api/src/views/\`, mounted by \`viewRoutes.ts\`); here called as
functions on the same store adapter, same parameters, each answer checked against the same ground truth
(the best-model, timing and runs views' answers turned into Q3's, Q4's and Q5's rows; the lineage view's
graph must reach Q1's training set and raw file and the file's basin/field annotation). A view may run
several queries (round trips), all inside its time.

${VIEW_NAMES.map((v) => `- **${label(v)}**: ${VIEW_CALL[v]}`).join('\n')}

${table(
  ['paper query', 'store', 'size', 'catalogue query', 'REST view', 'view', `both ≤ ${GOAL_MS} ms`],
  r.results
    .filter((x) => !x.query.startsWith('view:'))
    .flatMap((x) => {
      const views = VIEW_NAMES.filter((v) => VIEW_OF[v] === x.query);
      const view = (v: ViewName | undefined): QueryRow | undefined =>
        r.results.find((y) => y.query === v && y.store === x.store && y.size === x.size);
      return (views.length === 0 ? [undefined] : views).map((v) => {
        const y = view(v);
        return [
          x.query.toUpperCase(),
          x.store,
          sizeLabel(x.size),
          `**${fmt(x.summary.median)}**${x.problems.length === 0 ? '' : ' (wrong)'}`,
          v === undefined ? '–' : v.slice(5),
          y === undefined ? '–' : `**${fmt(y.summary.median)}**${y.problems.length === 0 ? '' : ' (wrong)'}`,
          x.summary.median <= GOAL_MS && (y === undefined || y.summary.median <= GOAL_MS) ? 'yes' : 'no',
        ];
      });
    }),
)}

${pngs.map((p) => `![${p}](${p})`).join('\n')}
${r.explained.size > 0 ? `\nQuery plans of the queries over the goal at ${sizeLabel(largest)}: \`bench/results/${NAME}-explain/\`.\n` : ''}
${notes}`;
  const path = await writeResult(
    NAME,
    'Queries at scale: Q1–Q6 and the REST views, latency vs store size, RDF4J and Oxigraph',
    thisCommand(),
    body,
  );
  log(`written to ${path}`);
}

await main();
