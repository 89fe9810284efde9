/**
 * Scale-out: 1, 2 and 4 processor instances and 1–2 sinks (members of their consumer groups) over
 * topics of 8 partitions, under an offered load above what one instance takes. The extra processors
 * join while the load runs (each join is a rebalance), and every run ends with exactly-once checked:
 * each task execution's start is on the triples topic exactly once (read_committed) and in the store.
 * Writes bench/results/scale-out.md and .png.
 * Run: `node --import tsx bench/scale-out.ts [--configs 1x1,2x1,4x1,1x2,4x2] [--rate N] [--seconds S]
 *       [--reps N] [--store oxigraph-server|rdf4j] [--partitions N]` (processors x sinks).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KafkaEventLog, decodeTriples } from '@provml/log';
import { requireBroker } from '@provml/service';
import {
  KAFKA,
  killAll,
  type ReportingChild,
  runBench,
  sleep,
  startTogether,
  topicsOf,
} from './lib/pipeline.ts';
import {
  STORE_LABEL,
  sampleEverySecond,
  spawnProducers,
  startPipeline,
  stopBenchStores,
  type Sample,
  type StoreKind,
} from './lib/pipelineStack.ts';
import { plot } from './lib/plot.ts';
import { RESULTS, fmt, median, table, thisCommand, writeResult, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const { values: args } = parseArgs({
  options: {
    configs: { type: 'string', default: '1x1,2x1,4x1,1x2,4x2' },
    rate: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '24' },
    reps: { type: 'string', default: '2' },
    store: { type: 'string', default: 'oxigraph-server' },
    partitions: { type: 'string', default: '8' },
    producers: { type: 'string', default: '4' },
  },
});
const CONFIGS = args.configs.split(',').map((c) => {
  const [p, s] = c.split('x').map(Number);
  return { processors: p!, sinks: s! };
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const REPS = Number(args.reps);
const STORE = args.store as StoreKind;
const PARTITIONS = Number(args.partitions);
const PRODUCERS = Number(args.producers);
const log = (s: string): void => void process.stderr.write(`[scale-out] ${s}\n`);
const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ');
const STARTED = '<http://www.w3.org/ns/prov#startedAtTime>';

interface Result {
  processors: number;
  sinks: number;
  load: string;
  processed: number;
  sinkRecords: number;
  cores: Record<string, number>;
  /** Seconds from the end of the offered load until everything was in the store. */
  drainS: number;
  exported: number;
  starts: number;
  duplicated: number;
  storeStarts: number;
}

/** Each task execution's starts on the triples topic (read_committed: what sinks read). */
async function startsOnTopic(prefix: string): Promise<Map<string, number>> {
  const kafka = new KafkaEventLog({ brokers: [KAFKA], clientId: 'bench-scale-out-check' });
  try {
    const counts = new Map<string, number>();
    for (const r of await kafka.readTopic(topicsOf(prefix).triples, 300_000)) {
      if (r.value.length === 0) continue;
      const text = decodeTriples(r.value);
      for (let at = text.indexOf(STARTED); at >= 0; at = text.indexOf(STARTED, at + 1)) {
        const lineStart = text.lastIndexOf('\n', at) + 1;
        const subject = text.slice(lineStart + 1, text.indexOf('>', lineStart));
        counts.set(subject, (counts.get(subject) ?? 0) + 1);
      }
    }
    return counts;
  } finally {
    await kafka.close();
  }
}

/** The number a COUNT query answers through a sink's `/sparql` (the store all sinks load). */
async function countInStore(sinkUrl: string, query: string): Promise<number> {
  const r = await fetch(`${sinkUrl}/sparql?query=${encodeURIComponent(query)}`, {
    headers: { accept: 'application/sparql-results+json' },
    signal: AbortSignal.timeout(120_000),
  });
  const body = (await r.json()) as { results: { bindings: { n?: { value: string } }[] } };
  return Number(body.results.bindings[0]?.n?.value ?? NaN);
}

async function runOnce(processors: number, sinks: number): Promise<Result> {
  const load = loadavg();
  const pipeline = await startPipeline('scale-out', STORE, { partitions: PARTITIONS, sinks });
  const kids: ReportingChild[] = [];
  const sampling = sampleEverySecond(pipeline, kids);
  try {
    kids.push(...spawnProducers(pipeline.prefix, PRODUCERS, [{ rate: RATE, seconds: SECONDS }], 512));
    const startAt = await startTogether(kids);
    await sleep(Math.max(0, startAt - Date.now()));
    // the other processors join under load, one after another: each join is a rebalance
    for (let i = 1; i < processors; i++) {
      await sleep(2000);
      await pipeline.addProcessor();
    }
    const done = await Promise.all(kids.map((k) => k.when('done', (SECONDS + 120) * 1000)));
    const exported = done.reduce((s, d) => s + (d.exported as number), 0);
    const endedAt = Date.now();
    const samples = sampling.samples;
    // measured over the second half of the offered load, with every instance in its group
    const at = (wall: number): Sample => samples.find((s) => s.wall >= wall) ?? samples[samples.length - 1]!;
    const a = at(startAt + (SECONDS / 2) * 1000);
    const b = at(startAt + SECONDS * 1000);
    const secs = (b.t - a.t) / 1000;
    const cores: Record<string, number> = {};
    for (const k of Object.keys(b.cpu)) cores[k] = ((b.cpu[k] ?? 0) - (a.cpu[k] ?? 0)) / secs;
    // drained: every event processed and every triples record loaded (lag 0 on both groups)
    for (;;) {
      const last = samples[samples.length - 1]!;
      if (
        last.wall > endedAt &&
        last.processorEvents >= exported &&
        last.lag.processor === 0 &&
        last.lag.sink === 0
      )
        break;
      if (Date.now() - endedAt > 120_000) break;
      await sleep(500);
    }
    const drainS = (Date.now() - endedAt) / 1000;
    await sampling.stop();
    const counts = await startsOnTopic(pipeline.prefix);
    const storeStarts = await countInStore(
      pipeline.sink.url,
      `SELECT (COUNT(DISTINCT ?t) AS ?n) WHERE { GRAPH ?g { ?t ${STARTED} ?x } }`,
    );
    return {
      processors,
      sinks,
      load,
      processed: (b.processorEvents - a.processorEvents) / secs,
      sinkRecords: (b.sinkRecords - a.sinkRecords) / secs,
      cores,
      drainS,
      exported,
      starts: counts.size,
      duplicated: [...counts.values()].filter((n) => n > 1).length,
      storeStarts,
    };
  } finally {
    await sampling.stop();
    for (const k of kids) await k.stop(5000);
    await pipeline.stop();
  }
}

async function main(): Promise<void> {
  await requireBroker(KAFKA.split(','));
  const results: Result[] = [];
  try {
    for (let rep = 0; rep < REPS; rep++)
      for (const { processors, sinks } of CONFIGS) {
        log(`${processors} processor(s), ${sinks} sink(s): repetition ${rep + 1}/${REPS}; load ${loadavg()}`);
        const r = await runOnce(processors, sinks);
        log(
          `  processed ${fmt(r.processed)}/s, sink records ${fmt(r.sinkRecords)}/s, drain ${fmt(r.drainS, 2)} s; starts ${r.starts} on the topic (${r.duplicated} repeated), ${r.storeStarts} in the store; cores ${Object.entries(
            r.cores,
          )
            .map(([k, v]) => `${k} ${fmt(v, 2)}`)
            .join(', ')}`,
        );
        results.push(r);
      }
  } finally {
    killAll();
    await stopBenchStores();
  }
  await report(results);
}

async function report(results: Result[]): Promise<void> {
  const rows: (string | number)[][] = [];
  const points: { x: string; y: number }[] = [];
  const medianOf = (processors: number, sinks: number, f: (r: Result) => number): number | undefined => {
    const rs = results.filter((r) => r.processors === processors && r.sinks === sinks);
    return rs.length === 0 ? undefined : median(rs.map(f));
  };
  const processorSteps = [...new Set(CONFIGS.map((c) => c.processors))].sort((a, b) => a - b);
  for (const { processors, sinks } of CONFIGS) {
    const rs = results.filter((r) => r.processors === processors && r.sinks === sinks);
    const m = (f: (r: Result) => number): number => median(rs.map(f));
    const processed = m((r) => r.processed);
    const cores = (k: string): string =>
      fmt(
        m((r) => r.cores[k] ?? NaN),
        2,
      );
    // an added sink against the same processors with one sink; added processors against the step below
    const fewer = processorSteps[processorSteps.indexOf(processors) - 1];
    const sinkRate = (r: Result): number => r.sinkRecords;
    const processedRate = (r: Result): number => r.processed;
    const [baseline, value, what] =
      sinks > 1
        ? [
            medianOf(processors, sinks - 1, sinkRate),
            m(sinkRate),
            `sink records/s vs ${processors}×${sinks - 1}`,
          ]
        : [
            fewer === undefined ? undefined : medianOf(fewer, 1, processedRate),
            processed,
            `events/s vs ${fewer}×1`,
          ];
    const gain =
      baseline === undefined
        ? ''
        : `${value >= baseline ? '+' : ''}${fmt(((value - baseline) / baseline) * 100, 2)}% ${what}`;
    rows.push([
      processors,
      sinks,
      `**${fmt(processed)}** (${rs.map((r) => fmt(r.processed)).join(', ')})`,
      gain,
      fmt(m((r) => r.sinkRecords)),
      rs.map((r) => `${fmt(r.drainS, 2)} s`).join(', '),
      `${cores('processor')} / ${cores('sink')} / ${cores('broker')} / ${cores('store server')} / ${cores('producers')}`,
      rs
        .map((r) =>
          r.duplicated === 0 && r.storeStarts === r.starts
            ? `yes (${fmt(r.starts)})`
            : `**no**: ${r.duplicated} repeated, ${r.storeStarts} of ${r.starts} in the store`,
        )
        .join('; '),
      rs.map((r) => r.load).join('; '),
    ]);
    points.push({ x: `${processors}p × ${sinks}s`, y: processed });
  }
  await plot(join(RESULTS, 'scale-out.png'), {
    type: 'bar',
    data: {
      labels: points.map((p) => p.x),
      datasets: [
        {
          label: 'events/s processed (median)',
          data: points.map((p) => p.y),
          backgroundColor: 'rgb(37,99,235)',
        },
      ],
    },
    options: {
      plugins: {
        title: {
          display: true,
          text: `Scale-out on 2 shared cores: ${fmt(RATE)} events/s offered, ${PARTITIONS} partitions`,
        },
        legend: { position: 'bottom' },
      },
      scales: { y: { title: { display: true, text: 'events/s processed' }, beginAtZero: true } },
    },
  });
  const path = await writeResult(
    'scale-out',
    'Scale-out: processor and sink instances as consumer groups',
    thisCommand(),
    `**This machine has 2 CPU cores**, shared by every process of the benchmark (${PRODUCERS} producers, the
Kafka broker, the store server, every processor and sink) and by other work running at the same time
(the "load" column: load averages over 1, 5 and 15 min when each repetition began). More instances
cannot add cores here: what an added instance gives is the overlap of waiting (transactions, loads)
with work, and what it costs is its share of the same two cores. The same table on a machine with a
core per instance is what a deployment would see.

**What is measured.** ${PRODUCERS} producer processes (the real capture library, setting D) offer
${fmt(RATE)} events/s for ${SECONDS} s to topics of ${PARTITIONS} partitions. One processor starts with the
pipeline; the others join while the load runs, 2 s apart (each join is a rebalance under load). The sinks
load ${STORE_LABEL[STORE]}, shared by them. Figures over the second half of the offered load (every
instance in its group by then): events mapped per second by all processors, triples records loaded per
second by all sinks, CPU cores per stage (all processes of the stage together). "drain" is the time from
the end of the offered load until both groups' lag is 0 (cap 120 s). **Exactly once** is checked after
each run: every task execution's \`prov:startedAtTime\` is on the triples topic exactly once (read as
sinks read it, read_committed; a processor that repeated a batch across a rebalance would show it
twice) and every one of them is in the store. "gain" compares events processed with the row of one
fewer sink (same processors) in sink records loaded per second, or, with one sink, events processed
per second with the next smaller number of processors. Medians over ${REPS} repetition(s), each repetition's own figure in brackets.

${table(
  [
    'processors',
    'sinks',
    'events/s processed',
    'gain',
    'sink records/s',
    'drain',
    'CPU cores: processors / sinks / broker / store server / producers',
    'exactly once (task executions)',
    'load',
  ],
  rows,
)}

![scale-out](scale-out.png)
`,
  );
  log(`wrote ${path}`);
}

runBench('scale-out', main);
