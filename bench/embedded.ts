/**
 * The embedded mode on a data directory (issue 15): restart time against store size, Q1–Q6 latency
 * while a heavy query runs (two query threads, and one for comparison), and the process's memory
 * under the byte limit of answers. Each store is written straight into a data directory's triples
 * topic (realistic lifecycle provenance from the real mapper, as bench/query-scale.ts; long literals
 * for the memory part), then `provml embedded --data-dir` is started on it as a real process.
 * Writes bench/results/embedded.md.
 * Run: `node --import tsx bench/embedded.ts [--sizes 1000000,10000000] [--runs 5] [--restarts 3]
 * [--literals 100000]`; quick: `--quick` (200,000 quads, 20,000 literals).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbeddedLog } from '@provml/log';
import { bindQuery, loadQueries } from '@provml/query-api';
import { send, sparqlFrom as sparql, startEmbedded } from '../deploy/testing/embeddedProcess.ts';
import { pickParameters } from './lib/lifecycleAnswers.ts';
import { generateLifecycle, type SurveyFacts } from './lib/provenanceGenerator.ts';
import { ROOT, fmt, summarise, table, thisCommand, writeResult, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '5' },
    restarts: { type: 'string', default: '3' },
    literals: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '42' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const QUICK = args.quick;
const SIZES = (QUICK ? '200000' : args.sizes).split(',').map(Number);
const RUNS = QUICK ? 3 : Number(args.runs);
const RESTARTS = QUICK ? 1 : Number(args.restarts);
const LITERALS = QUICK ? 20_000 : Number(args.literals);
const SEED = Number(args.seed);
const NAME = args.out ?? (QUICK ? 'embedded-quick' : 'embedded');
const DATA = join(ROOT, '.data', 'bench-embedded');
const TRIPLES = 'provml.triples';
const CARTESIAN = 'SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }';
const EX = 'https://example.org/bench/';

const log = (line: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

// -- the data ----------------------------------------------------------------------------------

/** Writes N-Quads documents into a fresh data directory's triples topic, as the processor would (≤ 256 kB records). */
async function writeStore(
  dir: string,
  documents: Iterable<{ nquads: string; quads: number }>,
): Promise<{ quads: number; bytes: number; seconds: number }> {
  await rm(dir, { recursive: true, force: true });
  const started = performance.now();
  const logOnDisk = EmbeddedLog.open(dir, { retainedTopics: [TRIPLES] });
  await logOnDisk.ensureTopic(TRIPLES, 4);
  let quads = 0;
  let bytes = 0;
  let n = 0;
  for (const doc of documents) {
    quads += doc.quads;
    const records = [];
    for (let at = 0; at < doc.nquads.length;) {
      let end = Math.min(doc.nquads.length, at + 256 * 1024);
      if (end < doc.nquads.length) end = doc.nquads.lastIndexOf('\n', end) + 1 || doc.nquads.length;
      const value = Buffer.from(doc.nquads.slice(at, end));
      bytes += value.length;
      records.push({ key: `execution-${n}`, value });
      at = end;
    }
    n++;
    await logOnDisk.appendDurable(TRIPLES, records);
  }
  // what the sink would have committed after loading it all
  logOnDisk.commitOffsets('provml-sink', TRIPLES, logOnDisk.endOffsets(TRIPLES));
  await logOnDisk.close();
  return { quads, bytes, seconds: (performance.now() - started) / 1000 };
}

/** `count` quads with 4,000-character literals (the 100,000-row × 4 kB answer). */
function* longLiterals(count: number): Generator<{ nquads: string; quads: number }> {
  const literal = 'x'.repeat(4000);
  for (let at = 0; at < count; at += 250) {
    const lines: string[] = [];
    for (let i = at; i < Math.min(count, at + 250); i++)
      lines.push(`<${EX}s${i}> <${EX}text> "${literal}${i}" <${EX}g${Math.floor(i / 1000)}> .`);
    yield { nquads: `${lines.join('\n')}\n`, quads: lines.length };
  }
}

// -- the process -------------------------------------------------------------------------------

/** Bytes under a directory, MiB. */
const duMiB = (dir: string): number =>
  Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]) / 2 ** 20;

/** RSS of a process (all its threads), MiB. */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

// -- the measurements --------------------------------------------------------------------------

interface RestartRow {
  quads: number;
  diskMiB: number;
  writeSeconds: number;
  /** Per restart: spawn → banner (ports listening), → an event acknowledged, → replicas built, → first answer. */
  startMs: number[];
  ingestMs: number[];
  rebuildMs: number[];
  firstQueryMs: number[];
  rssMiB: number[];
}

const SPEC = JSON.stringify({
  workflow: 'bench-restart',
  phase: 'learning',
  tasks: [{ id: 't', stage: 'training' }],
});

/** Q1–Q6 bound to the generated lifecycle. */
function boundQueries(facts: readonly SurveyFacts[]): [string, string][] {
  const params = pickParameters(facts);
  return [...loadQueries()].map(([name, q]) => [name, bindQuery(q, params[name])]);
}

/** Medians of each query's latency, alone and while a client loops a heavy query. */
async function latencies(
  queryUrl: string,
  queries: readonly [string, string][],
  heavy: boolean,
): Promise<Map<string, { ms: number[]; statuses: number[] }>> {
  let looping = heavy;
  const heavyStatuses: number[] = [];
  const attacker = (async () => {
    while (looping) heavyStatuses.push((await sparql(queryUrl, CARTESIAN, '127.0.0.2')).status);
  })();
  if (heavy) await new Promise((r) => setTimeout(r, 1500));
  const out = new Map<string, { ms: number[]; statuses: number[] }>();
  for (const [name] of queries) out.set(name, { ms: [], statuses: [] });
  for (let i = 0; i < RUNS; i++)
    for (const [name, text] of queries) {
      const answer = await sparql(queryUrl, text, '127.0.0.3');
      out.get(name)!.ms.push(answer.ms);
      out.get(name)!.statuses.push(answer.status);
    }
  looping = false;
  await attacker;
  if (heavy) log(`heavy query answers: ${heavyStatuses.join(',')}`);
  return out;
}

async function main(): Promise<void> {
  const benchStarted = performance.now();
  const restartRows: RestartRow[] = [];
  let queries: [string, string][] = [];
  const latencyRows: string[][] = [];
  for (const size of SIZES) {
    const dir = join(DATA, `lifecycle-${size}`);
    const facts: SurveyFacts[] = [];
    log(`writing ${fmt(size)} quads into ${dir}`);
    const written = await writeStore(dir, generateLifecycle({ seed: SEED, targetQuads: size }, facts));
    const row: RestartRow = {
      quads: written.quads,
      diskMiB: duMiB(dir),
      writeSeconds: written.seconds,
      startMs: [],
      ingestMs: [],
      rebuildMs: [],
      firstQueryMs: [],
      rssMiB: [],
    };
    log(`written: ${fmt(written.quads)} quads, ${fmt(row.diskMiB)} MiB on disk in ${fmt(written.seconds)} s`);
    // one restart of a large store (each takes minutes here)
    const restarts = size >= 5_000_000 ? 1 : RESTARTS;
    for (let r = 0; r < restarts; r++) {
      const running = await startEmbedded(['--data-dir', dir]);
      const spec = await send(`${running.ingestUrl}/v1/workflows`, {
        method: 'POST',
        body: SPEC,
        headers: { 'content-type': 'application/json' },
      });
      if (spec.status !== 201) throw new Error(`spec: ${spec.status} ${spec.text}`);
      const ingestMs = performance.now() - running.spawnedAt;
      const rebuilt = await running.waitFor(/Restored \d+ quads .* in ([\d.]+) s/);
      const ask = await sparql(running.queryUrl, 'ASK {}');
      row.startMs.push(running.startMs);
      row.ingestMs.push(ingestMs);
      row.rebuildMs.push(Number(rebuilt[1]) * 1000);
      row.firstQueryMs.push(performance.now() - running.spawnedAt);
      row.rssMiB.push(rssMiB(running.child.pid!));
      log(
        `restart ${r + 1}: listening after ${fmt(running.startMs)} ms, spec acknowledged after ${fmt(ingestMs)} ms, replicas ${rebuilt[1]} s, first answer after ${fmt(row.firstQueryMs.at(-1)!)} ms (ASK ${fmt(ask.ms)} ms), RSS ${fmt(row.rssMiB.at(-1)!)} MiB`,
      );
      const last = r === restarts - 1 && size === Math.min(...SIZES);
      if (last) {
        queries = boundQueries(facts);
        for (const [heavy, label] of [
          [false, 'alone'],
          [true, 'while a heavy query runs'],
        ] as const) {
          const got = await latencies(running.queryUrl, queries, heavy);
          for (const [name, { ms, statuses }] of got) {
            const s = summarise(ms);
            latencyRows.push([
              name,
              '2 (default)',
              label,
              fmt(s.median),
              fmt(s.max),
              [...new Set(statuses)].join(','),
            ]);
          }
        }
      }
      await running.stop();
      if (last) {
        // the first design: one query thread; the heavy query holds it until its deadline (10 s here)
        const one = await startEmbedded([
          '--data-dir',
          dir,
          '--query-workers',
          '1',
          '--query-timeout-ms',
          '10000',
        ]);
        await one.waitFor(/Restored \d+ quads/);
        const got = await latencies(one.queryUrl, queries, true);
        for (const [name, { ms, statuses }] of got) {
          const s = summarise(ms);
          latencyRows.push([
            name,
            '1',
            'while a heavy query runs (10 s limit)',
            fmt(s.median),
            fmt(s.max),
            [...new Set(statuses)].join(','),
          ]);
        }
        await one.stop();
      }
    }
    restartRows.push(row);
  }

  // memory under the byte limit: the 100,000-row SELECT of 4,000-character literals
  const dir = join(DATA, `literals-${LITERALS}`);
  log(`writing ${fmt(LITERALS)} quads of 4,000-character literals into ${dir}`);
  const lit = await writeStore(dir, longLiterals(LITERALS));
  const running = await startEmbedded(['--data-dir', dir]);
  await running.waitFor(/Restored \d+ quads/);
  const pid = running.child.pid!;
  const samples: { at: number; rss: number }[] = [];
  const sampler = setInterval(() => samples.push({ at: performance.now(), rss: rssMiB(pid) }), 100);
  const memoryRows: string[][] = [];
  const phase = async (label: string, query: string | undefined): Promise<void> => {
    const from = performance.now();
    const answer = query === undefined ? undefined : await sparql(running.queryUrl, query);
    if (query === undefined) await new Promise((r) => setTimeout(r, 2000));
    const during = samples.filter((s) => s.at >= from).map((s) => s.rss);
    await new Promise((r) => setTimeout(r, 10_000)); // replacements built, garbage collected
    const after = rssMiB(pid);
    const metrics = (await send(`${running.queryUrl}/metrics`, {})).text;
    const wasm = Number(/^provml_query_memory_bytes (\S+)$/m.exec(metrics)?.[1]) / 2 ** 20;
    const replaced = /^provml_query_threads_replaced_total (\S+)$/m.exec(metrics)?.[1] ?? '?';
    memoryRows.push([
      label,
      answer === undefined
        ? '–'
        : `${answer.status} ${(JSON.parse(answer.text) as { error?: string }).error ?? ''}`,
      answer === undefined ? '–' : fmt(answer.ms / 1000),
      fmt(Math.max(...during)),
      fmt(after),
      fmt(wasm),
      replaced,
    ]);
    log(`${label}: ${memoryRows.at(-1)!.join(' | ')}`);
  };
  await phase('idle after restart', undefined);
  await phase(
    `SELECT of all ${fmt(LITERALS)} literals (~${fmt((LITERALS * 4100) / 2 ** 20)} MiB answer)`,
    `SELECT ?o WHERE { ?s <${EX}text> ?o }`,
  );
  await phase(
    'GROUP_CONCAT over a product of the literals',
    `SELECT (STRLEN(GROUP_CONCAT(CONCAT(?a, ?b))) AS ?n) WHERE { ?x <${EX}text> ?a . ?y <${EX}text> ?b }`,
  );
  await phase('a small query afterwards', `SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }`);
  clearInterval(sampler);
  await running.stop();

  const med = (xs: number[]): string => fmt(summarise(xs).median);
  const body = `
What is measured: \`provml embedded --data-dir DIR\` as a real process on this 2-core machine (shared
with other jobs: the load average is above). Each store is written straight into a data directory's
triples topic (the durable log, as the processor would have left it: ≤ 256 kB records, the sink's
position at the end), from the lifecycle generator of bench/query-scale.ts (the real mapper), then the
process is started on it. Medians of ${RESTARTS} restart(s) (one of stores of 5 M quads or more); latencies are medians of ${RUNS} runs, from
client 127.0.0.3 through \`/sparql\`. Total time of this run: ${fmt((performance.now() - benchStarted) / 60_000)} min.

## Restart time against store size

*listening*: spawn → the banner (Node and tsx start, the log recovered and opened, both ports
listening); *event acknowledged*: spawn → a spec posted right after the banner answered 201 (the
ingest works while the store is restored); *replicas*: both query threads replaying the triples topic
in ~4 MiB chunks, as the process reports it; *first answer*: spawn → the restore reported and an
\`ASK {}\` answered. RSS: the whole process (main thread and both query threads) once restored.

${table(
  [
    'quads',
    'on disk MiB',
    'written in s',
    'listening s',
    'event acknowledged s',
    'replicas s',
    'first answer s',
    'RSS MiB',
  ],
  restartRows.map((r) => [
    fmt(r.quads),
    fmt(r.diskMiB),
    fmt(r.writeSeconds),
    fmt(summarise(r.startMs).median / 1000),
    fmt(summarise(r.ingestMs).median / 1000),
    fmt(summarise(r.rebuildMs).median / 1000),
    fmt(summarise(r.firstQueryMs).median / 1000),
    med(r.rssMiB),
  ]),
)}

## Q1–Q6 while a heavy query runs

On the ${fmt(Math.min(...SIZES))}-quad store: each query alone, then while another client (127.0.0.2) loops
\`${CARTESIAN}\` (it runs until the 30 s deadline, 504). With two query threads the heavy query holds one
and Q1–Q6 keep the other; with one thread (the first design) they wait behind it until its deadline.

${table(['query', 'query threads', 'when', 'median ms', 'max ms', 'statuses'], latencyRows)}

## Memory under the byte limit

${fmt(lit.quads)} quads of 4,000-character literals (${fmt(lit.bytes / 2 ** 20)} MiB of N-Quads), default limits
(answers ≤ 64 MiB, 30 s deadline, 2 query threads). RSS of the whole process sampled every 100 ms while each
query ran (*peak*) and 10 s after it (*after*: a replaced thread rebuilt, garbage collected);
*replicas*: the query threads' WebAssembly memory then (\`provml_query_memory_bytes\` of /metrics: allocated,
of which RSS shows what was touched), and threads replaced so far. Before this
work (issue 15): that SELECT answered 403 MB and grew the server by 1.2 GB; the GROUP_CONCAT ran the
WebAssembly heap out of memory and the process kept ~2.2 GB.

${table(
  [
    'phase',
    'answer',
    'seconds',
    'peak RSS MiB',
    'RSS after MiB',
    'replicas after MiB',
    'threads replaced (total)',
  ],
  memoryRows,
)}
`;
  const path = await writeResult(
    NAME,
    'The embedded mode: restart, queries side by side, memory',
    thisCommand(),
    body,
  );
  log(`wrote ${path}`);
}

await main();
