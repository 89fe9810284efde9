/**
 * The reliability report (`bench/results/reliability.md`): runs the fault-injection, crash,
 * bad-input corpus and property suites on real processes, then writes load held, faults survived,
 * bad inputs tried and records lost.
 *
 *   node --import tsx bench/reliability.ts           # short variants (what `npm test` runs)
 *   node --import tsx bench/reliability.ts --full    # PROVML_FAULTS_FULL=1: long outages, long streams
 *   node --import tsx bench/reliability.ts --no-run  # report from the last run's records only
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FaultRecord } from '../deploy/testing/faultReport.ts';
import { ROOT, table, thisCommand, writeResult, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const full = process.argv.includes('--full');
const run = !process.argv.includes('--no-run');

/** The suites run, and what each shows. */
const SUITES: readonly { files: readonly string[]; shows: string }[] = [
  {
    files: ['app/test/faults'],
    shows: 'store down, slow store, broker SIGKILL (+ processor SIGKILL in full)',
  },
  {
    files: [
      'capture-agent/agent/test/agentCrash.test.ts',
      'capture-agent/agent/test/agentLock.test.ts',
      'capture-agent/agent/test/agentSocketLimits.test.ts',
    ],
    shows:
      'agent SIGKILL mid-stream; broker stop during an agent run; restart as PID 1 over a stale lock; socket limits while reading',
  },
  {
    files: ['app/test/distributed/crash.test.ts'],
    shows: 'processor SIGKILL mid-stream (Kafka transactions)',
  },
  {
    files: ['app/test/embedded'],
    shows:
      'embedded stack SIGKILLed mid-ingest and restarted; a store past 1 GiB; queries timing out side by side',
  },
  { files: ['app/test/corpus'], shows: 'bad-input corpus at every boundary' },
  {
    files: [
      'schemas/test/avroCodec.test.ts',
      'capture-agent/agent/test/ingest/ingestParser.test.ts',
      'query-api/test/catalog',
      'query-api/test/properties',
    ],
    shows: 'property tests of the parser, the Avro decoder, the query binding, the SPARQL tokenizer',
  },
  {
    files: ['app/test/auth', 'service/test/BearerAuth.test.ts'],
    shows: 'access control, secrets never logged',
  },
];

const RECORDS = join(ROOT, 'test-output/faults');
const VITEST_JSON = join(ROOT, 'test-output/reliability-vitest.json');

interface VitestJson {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: {
    name: string;
    assertionResults: { fullName: string; status: string; duration?: number }[];
  }[];
}

/** Runs the suites with vitest's JSON reporter; returns its summary. */
function runSuites(): VitestJson {
  if (existsSync(RECORDS)) rmSync(RECORDS, { recursive: true });
  const r = spawnSync(
    process.execPath,
    [
      'node_modules/vitest/vitest.mjs',
      'run',
      ...SUITES.flatMap((s) => s.files),
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${VITEST_JSON}`,
    ],
    {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, ...(full ? { PROVML_FAULTS_FULL: '1' } : {}) },
    },
  );
  if (r.error !== undefined) throw r.error;
  return JSON.parse(readFileSync(VITEST_JSON, 'utf8')) as VitestJson;
}

/** Cases of the bad-input corpus per boundary (files not starting with `_`). */
function corpusCases(): [string, number][] {
  const dir = join(ROOT, 'app/test/corpus');
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d): [string, number] => [
      d.name,
      readdirSync(join(dir, d.name)).filter((f) => f.endsWith('.json') && !f.startsWith('_')).length,
    ]);
}

function faultRecords(): FaultRecord[] {
  if (!existsSync(RECORDS)) return [];
  return readdirSync(RECORDS)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(RECORDS, f), 'utf8')) as FaultRecord);
}

const results = run
  ? runSuites()
  : existsSync(VITEST_JSON)
    ? (JSON.parse(readFileSync(VITEST_JSON, 'utf8')) as VitestJson)
    : undefined;
const faults = faultRecords().filter((f) => f.full === full);
const corpus = corpusCases();
const corpusTotal = corpus.reduce((s, [, n]) => s + n, 0);
const lost = faults.reduce((s, f) => s + f.lost, 0);
const duplicated = faults.reduce((s, f) => s + f.duplicated, 0);
const events = faults.reduce((s, f) => s + f.events, 0);

const perSuite = SUITES.map((s) => {
  const files = results?.testResults.filter((t) => s.files.some((f) => t.name.includes(f))) ?? [];
  const tests = files.flatMap((f) => f.assertionResults);
  const passed = tests.filter((t) => t.status === 'passed').length;
  const failed = tests.filter((t) => t.status === 'failed').length;
  const skipped = tests.length - passed - failed;
  return [s.files.map((f) => `\`${f}\``).join(' '), s.shows, passed, failed, skipped];
});
const failedTests = (results?.testResults ?? []).flatMap((f) =>
  f.assertionResults.filter((t) => t.status === 'failed').map((t) => `- ${t.fullName}`),
);

const body = `
Variant: **${full ? 'full (PROVML_FAULTS_FULL=1)' : 'short (as in npm test)'}**.
Every fault test runs real processes (\`provml processor\` and \`provml sink\` over a Kafka broker,
an Oxigraph server of its own) and ends by counting, in the store, each task execution's begin
(\`prov:startedAtTime\`) and end (\`prov:endedAtTime\`): every capture event is one of them, so
every eventId exactly once means exactly one of each per expected execution and no other.

## Summary

- **Records lost: ${lost}** (executions missing a begin or an end, over ${faults.length} fault runs)
- Records duplicated: ${duplicated}; dead-lettered during faults: ${faults.reduce((s, f) => s + f.deadLettered, 0)}
- Load held: ${events} capture events through the faults (${faults.map((f) => `${f.events} in ${f.fault}`).join(', ') || 'no fault records: run without --no-run'})
- Faults survived: ${faults.filter((f) => f.lost === 0 && f.duplicated === 0).length} of ${faults.length} recorded here, plus the crash tests below
- Bad inputs tried: ${corpusTotal} corpus cases (${corpus.map(([b, n]) => `${b} ${n}`).join(', ')}) plus the property tests' generated inputs
- Tests: ${results === undefined ? 'not run' : `${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests} skipped of ${results.numTotalTests}`}

## Faults

${table(
  ['fault', 'what was done', 'events', 'executions', 'lost', 'duplicated', 'dead letters', 's', 'observed'],
  faults.map((f) => [
    f.fault,
    f.title,
    f.events,
    f.executions,
    f.lost,
    f.duplicated,
    f.deadLettered,
    f.seconds.toFixed(0),
    f.notes,
  ]),
)}

## Suites

${table(['suite', 'shows', 'passed', 'failed', 'skipped'], perSuite)}
${failedTests.length === 0 ? '' : `\nFailed:\n\n${failedTests.join('\n')}\n`}
## Rerun

\`\`\`
node --import tsx bench/reliability.ts          # short (~3 min; a broker of its own on 29392/29393, Oxigraph on 27871–27873)
node --import tsx bench/reliability.ts --full   # full: the store down 60 s, the broker down 30 s, longer streams, the processor SIGKILL
PROVML_FAULTS_FULL=1 npx vitest run app/test/faults   # the fault suite alone, full
\`\`\`
`;

const path = await writeResult(
  full ? 'reliability-full' : 'reliability',
  'Reliability: faults survived, bad inputs tried, records lost',
  thisCommand(),
  body,
);
process.stdout.write(`wrote ${path}\n`);
if (lost > 0 || (results?.numFailedTests ?? 0) > 0) process.exitCode = 1;
