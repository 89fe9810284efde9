/**
 * `npm run bench`: the quick variant of every benchmark, one after another, into
 * `bench/results/quick/` (the full figures in `bench/results/` are left alone), then a summary.
 * The Kafka benchmarks need a broker (`npm run stack:up`, or PROVML_KAFKA_BROKERS): without one that
 * answers within 5 s this says so in one line and exits 1.
 * `npm run bench -- --only fig5,peers` runs some; `--full` runs the full variants into bench/results/
 * (hours; each result file says how long its own run took).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requireBroker } from '@provml/service';
import { KAFKA } from './lib/pipeline.ts';
import { ROOT, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const { values } = parseArgs({
  options: { only: { type: 'string' }, full: { type: 'boolean', default: false } },
});

const TSX = ['node', '--import', 'tsx'];

/** Each benchmark: its name, the commands of its quick and full variants, whether it needs Kafka. */
const BENCHMARKS: readonly { name: string; quick: string[]; full: string[]; kafka?: true }[] = [
  {
    name: 'capture-cost',
    quick: [...TSX, 'bench/capture-cost.ts', '--quick'],
    full: [...TSX, 'bench/capture-cost.ts'],
  },
  {
    name: 'capture-cost-python',
    quick: ['python3', 'bench/capture_cost_python.py', '--events', '200000', '--reps', '3'],
    full: ['python3', 'bench/capture_cost_python.py'],
  },
  { name: 'fig5', kafka: true, quick: [...TSX, 'bench/fig5.ts', '--quick'], full: [...TSX, 'bench/fig5.ts'] },
  {
    name: 'fig5-python',
    kafka: true,
    quick: [...TSX, 'bench/fig5.ts', '--quick', '--lang', 'python'],
    full: [...TSX, 'bench/fig5.ts', '--lang', 'python'],
  },
  { name: 'peers', quick: [...TSX, 'bench/peers.ts', '--quick'], full: [...TSX, 'bench/peers.ts'] },
  {
    name: 'store-load',
    quick: [...TSX, 'bench/store-load.ts', '--reps', '1', '--quads', '20000'],
    full: [...TSX, 'bench/store-load.ts'],
  },
  {
    name: 'pipeline-throughput',
    kafka: true,
    quick: [...TSX, 'bench/pipeline-throughput.ts', '--quick'],
    full: [...TSX, 'bench/pipeline-throughput.ts'],
  },
  {
    name: 'triples-bytes',
    quick: [...TSX, 'bench/triples-bytes.ts', '--quick'],
    full: [...TSX, 'bench/triples-bytes.ts'],
  },
  {
    name: 'freshness',
    kafka: true,
    quick: [...TSX, 'bench/freshness.ts', '--quick'],
    full: [...TSX, 'bench/freshness.ts'],
  },
  { name: 'fig6', kafka: true, quick: [...TSX, 'bench/fig6.ts', '--quick'], full: [...TSX, 'bench/fig6.ts'] },
  {
    name: 'memory',
    kafka: true,
    quick: [...TSX, 'bench/memory.ts', '--quick'],
    full: [...TSX, 'bench/memory.ts'],
  },
  {
    name: 'embedded',
    quick: [...TSX, 'bench/embedded.ts', '--quick'],
    full: [...TSX, 'bench/embedded.ts'],
  },
  {
    name: 'query-scale',
    quick: [...TSX, 'bench/query-scale.ts', '--quick'],
    full: [...TSX, 'bench/query-scale.ts'],
  },
  {
    name: 'set-semantics',
    quick: [...TSX, 'bench/set-semantics.ts', '--quick'],
    full: [...TSX, 'bench/set-semantics.ts'],
  },
];

const only = values.only?.split(',').map((s) => s.trim());
const chosen = BENCHMARKS.filter((b) => only === undefined || only.includes(b.name));
const results = values.full ? join(ROOT, 'bench', 'results') : join(ROOT, 'bench', 'results', 'quick');
mkdirSync(results, { recursive: true });

if (chosen.some((b) => b.kafka === true))
  await requireBroker(KAFKA.split(',')).catch((error: unknown) => {
    console.error(`npm run bench: ${(error as Error).message}`);
    process.exit(1);
  });

const outcomes: { name: string; status: number | null; seconds: number }[] = [];
for (const b of chosen) {
  const command = values.full ? b.full : b.quick;
  if (b.name === 'capture-cost-python') command.push('--output', join(results, 'capture-cost-python.md'));
  console.log(`\n=== ${b.name}: ${command.join(' ')}`);
  const started = performance.now();
  const run = spawnSync(command[0]!, command.slice(1), {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, PROVML_BENCH_RESULTS: results, PROVML_AUTH_DISABLED: 'true' },
  });
  outcomes.push({ name: b.name, status: run.status, seconds: (performance.now() - started) / 1000 });
}

console.log(
  `\nbenchmarks (${values.full ? 'full' : 'quick'}), results in ${results.replace(`${ROOT}/`, '')}:`,
);
for (const o of outcomes)
  console.log(`  ${o.status === 0 ? 'ok    ' : 'FAILED'} ${o.name.padEnd(22)} ${o.seconds.toFixed(0)} s`);
process.exitCode = outcomes.every((o) => o.status === 0) ? 0 : 1;
