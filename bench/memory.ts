/**
 * Memory under sustained load: the sidecar agent (`provml agent`, fed over its Unix socket by a paced
 * producer process using SocketCaptureExporter) spooling and publishing to Kafka, and a `provml processor`
 * and `provml sink` consuming; RSS (from /proc) and V8 heap used (from each service's /metrics)
 * sampled every second. Goals: agent RSS ≤ 64 MB; no growth in the others (slope over the second
 * half, MB/min). Writes bench/results/memory.md and .png.
 * Run: `node --import tsx bench/memory.ts [--quick] [--seconds S] [--rate N] [--store oxigraph-server|rdf4j|oxigraph-embedded]` (`--help` lists the options).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  killAll,
  load1,
  metric,
  type ReportingChild,
  rssMiB,
  runBench,
  scrape,
  type Service,
  sleep,
  spawnReporting,
  startService,
  startTogether,
  waitForQuiet,
} from './lib/pipeline.ts';
import { AGENT_NODE_OPTIONS, buildAgent } from '../deploy/build-agent.ts';
import { buildGoAgent, GO_AGENT_BINARY } from '../deploy/build-agent-go.ts';
import { agentPackageCosts } from './lib/bundleCost.ts';
import { STORE_LABEL, startPipeline, stopBenchStores, type StoreKind } from './lib/pipelineStack.ts';
import { plot } from './lib/plot.ts';
import { RESULTS, fmt, table, thisCommand, writeResult } from './lib/report.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    rate: { type: 'string', default: '2000' },
    store: { type: 'string', default: 'oxigraph-server' },
    'wait-quiet': { type: 'boolean', default: false },
    /**
     * `compiled`: dist/provml-agent.mjs with plain Node (built first); `tsx`: `provml agent` under tsx;
     * `go`: the Go agent dist/provml-agent-go (built first; results in memory-go.md).
     */
    agent: { type: 'string', default: 'compiled' },
    /** Node options of the compiled agent (space-separated); default AGENT_NODE_OPTIONS. */
    'agent-node-options': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(`node --import tsx bench/memory.ts [options]
  --seconds S                 length of the fed run (default 600; 60 with --quick)
  --quick                     a 60 s run
  --rate N                    events per second fed to the agent (default 2000)
  --store S                   oxigraph-server (default), rdf4j or oxigraph-embedded
  --agent A                   compiled (dist/provml-agent.mjs, built first; default), tsx, or go
                              (dist/provml-agent-go, built first; writes bench/results/memory-go.md)
  --agent-node-options "..."  Node options of the compiled agent (default: the launcher's)
  --wait-quiet                wait for the load average to drop first
  --help                      this list
`);
  process.exit(0);
}
const GO = args.agent === 'go';
const COMPILED = args.agent === 'compiled';
if (!GO && !COMPILED && args.agent !== 'tsx') throw new Error(`--agent ${args.agent}: compiled, tsx or go`);
/** Where the results go: memory.md for the Node agent, memory-go.md for the Go agent. */
const RESULT = GO ? 'memory-go' : 'memory';
/** The agent's heap metric: V8's heap used (Node), or the Go heap's in-use spans. */
const AGENT_HEAP = GO ? 'go_memstats_heap_inuse_bytes' : 'provml_nodejs_heap_size_used_bytes';
const AGENT_OPTIONS = args['agent-node-options']?.split(' ').filter((o) => o !== '') ?? AGENT_NODE_OPTIONS;
const SECONDS = Number(args.seconds ?? (args.quick ? 60 : 600));
const RATE = Number(args.rate);
const STORE = args.store as StoreKind;
const AGENT_GOAL_MB = 64;
const log = (s: string): void => void process.stderr.write(`[memory] ${s}\n`);

interface Point {
  t: number;
  rss: Record<string, number>;
  heap: Record<string, number>;
  /** The agent's file-backed resident pages (the node binary's code), MiB. */
  agentFile: number;
}

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/** What the agent's resident set is made of: Node, then what each bundled package adds. */
function agentLimits(
  costs: Awaited<ReturnType<typeof agentPackageCosts>>,
  idle: { rss: number; file: number },
  peak: { rss: number; file: number },
): string {
  const rows = [
    ['Node 20 (an empty bundle)', fmt(costs.node)],
    ...costs.packages.map(([label, mib]) => [`+ ${label}`, `+${fmt(mib)}`]),
  ];
  const sum = costs.node + costs.packages.reduce((a, [, m]) => a + m, 0);
  return `## What the agent's memory is made of

Each package the agent bundle holds was compiled alone the way \`npm run build:agent\` compiles the
agent (\`bench/lib/bundleCost.ts\`) and run with plain Node and the agent's options
(\`${AGENT_NODE_OPTIONS.join(' ')}\`); its cost is its RSS over an empty bundle's (median of 3):

${table(['what is loaded', 'RSS MiB'], rows)}

Together ${fmt(sum)} MiB if nothing were shared (the agent, which shares Node's own modules among them, idled
at ${fmt(idle.rss)} MiB and peaked at ${fmt(peak.rss)} MiB here). Node itself is ${fmt(costs.node)} MiB
of it: V8, ICU and libuv, whatever the agent does. Of the agent's resident set, the pages of the
\`node\` executable it has run (file-backed, shared with every Node process on the machine) were
${fmt(idle.file)} MiB idle and ${fmt(peak.file)} MiB at the peak; the rest (${fmt(idle.rss - idle.file)} and
${fmt(peak.rss - peak.file)} MiB) is its own: the V8 heap, buffers and thread arenas.

**What the bundle leaves out.** The HTTP ingest (\`createIngestApp\`) and the agent's \`/metrics\` and
access control are plain \`node:http\` request listeners (no express, body-parser, MIME tables or
iconv-lite; express mounts the same listener in other processes), and the build marks the workspaces'
own modules free of side effects, so the schema-registry client (with Avro, Protobuf and JSON Schema
support) is initialized only when a registry is configured (its ~390 KiB of source are still in the
file). The agent exports the essential process metrics (\`createMetrics(…, 'essential')\`: CPU
seconds, start time, resident memory, heap, external memory and event-loop lag, under prom-client's
names) instead of prom-client's default collector (its event-loop delay histogram, GC observer,
heap-space, handle and descriptor gauges): 1–2 MiB at idle. n3 comes from its ES module build
(\`mainFields\`), tree-shaken to the Turtle parser and the term factory (0.3 MiB where its CommonJS
build with its store, writer, reasoner and streams cost 2.2 MiB alone), and zod is imported as
\`import * as z\`, which leaves out its 60 other locales and its JSON Schema conversion (bundle 1967 →
1567 KiB). What remains is what the agent's functions need: Prometheus metrics, validation (zod: the
configuration and every event on the socket and HTTP paths, so it is loaded at start), the Kafka
client, the Avro codec and the annotation parser (n3, for \`/v1/annotations\` and annotations on the
socket).

**Node options.** Under load the agent's garbage, not its live data, sets its peak: run with Node's
defaults its V8 heap reached ~57 MiB and its RSS ~130 MiB in 40–60 s at 2,000 events/s; with
\`--max-semi-space-size=1 --optimize-for-size\` the heap stayed near 23 MiB, and \`--single-threaded\` (no
V8 worker threads) took another ~6 MiB off the peak. On one thread, incremental marking that starts
only when the old generation's limit is all but reached lets the heap run ~7 MB past its live data
(~15 MB under load) before the collection ends; \`--incremental-marking-soft-trigger=50
--incremental-marking-hard-trigger=75\` start it at 50% (a task) and 75% (at once) of the limit, and
\`--gc-memory-reducer-start-delay-ms=2000\` lets the idle-time full collections start 2 s after start-up
instead of 8. Measured while choosing them (the agent alone, fed at 2,000 events/s for 60 s, idle
read 3 s after start, on this loaded 2-core machine; one run each, ±2 MiB): the previous bundle and
options idled at 73.1 and peaked at 81.3 MiB (78.7 µs CPU per event); this bundle with these options
68.2 and 74.4 MiB (78.7 µs). Tried and left out: triggers at 25/50% (peak 71.8, CPU +16%) and 10/25%
(71.0, +50%); \`--max-opt=1\` (Sparkplug, no TurboFan: peak 72.9, CPU 107.6 µs/event, +39%);
\`--lite-mode\` or \`--max-opt=0\` (interpreter only: 70.7 and 70.2, CPU +80–90%);
\`--max-lazy\`, \`--heap-growing-percent=10\`, \`--v8-pool-size=0\`, \`--initial-old-space-size=4\`,
\`UV_THREADPOOL_SIZE=1\` and \`MALLOC_ARENA_MAX=1\` (no change); \`--no-incremental-marking\` (heap 45 MiB);
\`MALLOC_MMAP_THRESHOLD_=32768 MALLOC_TRIM_THRESHOLD_=65536\` (−2 MiB of malloc heap at the peak, but
glibc-only environment variables the deployments would have to set beside the command line). A hard
\`--max-old-space-size=40\` held the same peak but a 32 MB ingest request (the body limit) then killed
the agent with an out-of-memory error, so the agent has no hard heap limit.

**What would meet 64 MB.** The \`node\` executable's pages and V8's own start-up heap (an empty bundle:
${fmt(costs.node)} MiB) leave ~${fmt(64 - costs.node)} MiB for the agent's code, heap and buffers, idle
and under load. The executable's pages alone grow from ~34 MiB (empty) to ~42 MiB in the running
agent: Node's built-in modules it loads (HTTP, TLS and crypto for kafkajs and prom-client, zlib,
streams) and the machine code it runs, TurboFan's among it (~4 MiB of the difference: without
TurboFan the agent's file-backed pages stay near 38 MiB). Under load the V8 heap commits ~20–25 MiB
(~15 MiB live: the bundle's source, bytecode, zod's schemas, kafkajs and Avro types) and malloc ~6–9
MiB. TurboFan off does not reach it either (\`--max-opt=1\` with these options: peak 68.1 MiB at 131 µs
CPU per event, +66%); below 64 MiB at 2,000 events/s needs a smaller runtime (the Python client's
spool writer, or a native agent).`;
}

/** What the Go agent's resident set is made of: its binary's pages, and the rest. */
function goAgentMemory(idle: { rss: number; file: number }, peak: { rss: number; file: number }): string {
  return `## What the Go agent's memory is made of

Of its resident set, the pages of the \`provml-agent-go\` executable it has run (file-backed) were
${fmt(idle.file)} MiB idle and ${fmt(peak.file)} MiB at the peak; the rest (${fmt(idle.rss - idle.file)} and
${fmt(peak.rss - peak.file)} MiB) is its own: the Go heap (a soft limit of 40 MiB, \`GOMEMLIMIT\` overrides
it), goroutine stacks and read buffers.`;
}

/** The agent's highest RSS and its file-backed part at that moment. */
function peakOf(points: readonly Point[]): { rss: number; file: number } {
  let best = { rss: NaN, file: NaN };
  for (const p of points) if (!(p.rss.agent! <= best.rss)) best = { rss: p.rss.agent!, file: p.agentFile };
  return best;
}

async function main(): Promise<void> {
  const loadBefore = args['wait-quiet'] ? await waitForQuiet(1.5, 600_000, log) : load1();
  if (COMPILED) log(`built ${await buildAgent()}`);
  if (GO) log(`built ${buildGoAgent()}`);
  const costs = GO ? undefined : await agentPackageCosts();
  const spool = await mkdtemp(join(tmpdir(), 'provml-memory-agent-'));
  const pipeline = await startPipeline('memory', STORE);
  let agent: Service | undefined;
  let feeder: ReportingChild | undefined;
  const points: Point[] = [];
  let idle: Record<string, number> = {};
  let idleFile = NaN;
  let fed = 0;
  try {
    agent = await startService('agent', {
      prefix: pipeline.prefix,
      processorGroup: 'unused',
      sinkGroup: 'unused',
      spool,
      ...(COMPILED ? { compiled: { script: 'dist/provml-agent.mjs', nodeArgs: AGENT_OPTIONS } } : {}),
      ...(GO ? { binary: GO_AGENT_BINARY } : {}),
      env: { PROVML_INSTANCE_ID: `agent-${randomBytes(3).toString('hex')}` },
    });
    const services: Record<string, Service> = { agent, processor: pipeline.processor, sink: pipeline.sink };
    const read = async (): Promise<Omit<Point, 't'>> => {
      const agentFile = rssMiB(agent!.pid, 'RssFile');
      const rss: Record<string, number> = {};
      const heap: Record<string, number> = {};
      await Promise.all(
        Object.entries(services).map(async ([name, s]) => {
          rss[name] = rssMiB(s.pid);
          const heapMetric = name === 'agent' ? AGENT_HEAP : 'provml_nodejs_heap_size_used_bytes';
          heap[name] = metric(await scrape(s.url), heapMetric) / 2 ** 20;
        }),
      );
      return { rss, heap, agentFile };
    };
    await sleep(3000);
    const atIdle = await read();
    idle = atIdle.rss;
    idleFile = atIdle.agentFile;
    feeder = spawnReporting('feeder', 'pipelineProducer', {
      id: 'feeder',
      prefix: pipeline.prefix,
      transport: 'socket',
      socketPath: join(spool, 'agent.sock'),
      steps: [{ rate: RATE, seconds: SECONDS }],
      queueSize: 50,
      epochs: 10,
    });
    const startAt = await startTogether([feeder]);
    await sleep(Math.max(0, startAt - Date.now()));
    const t0 = performance.now();
    while (performance.now() - t0 < SECONDS * 1000) {
      const started = performance.now();
      points.push({ t: (started - t0) / 1000, ...(await read()) });
      if (points.length % 60 === 0)
        log(`${points.length} s: ${JSON.stringify(points[points.length - 1]!.rss)}`);
      await sleep(Math.max(0, 1000 - (performance.now() - started)));
    }
    const done = await feeder.when('done', 60_000);
    fed = done.exported as number;
  } finally {
    await feeder?.stop(5000);
    await agent?.stop();
    await pipeline.stop();
    killAll();
    await stopBenchStores();
    await rm(spool, { recursive: true, force: true });
  }
  const names = ['agent', 'processor', 'sink'];
  const half = points.filter((p) => p.t >= SECONDS / 2);
  const rows = names.map((n) => {
    const rss = points.map((p) => p.rss[n]!);
    const heap = points.map((p) => p.heap[n]!);
    const rssSlope = slope(
      half.map((p) => p.t / 60),
      half.map((p) => p.rss[n]!),
    );
    const heapSlope = slope(
      half.map((p) => p.t / 60),
      half.map((p) => p.heap[n]!),
    );
    return [
      n,
      fmt(idle[n] ?? NaN),
      `**${fmt(Math.max(...rss))}**`,
      fmt(rss[rss.length - 1]!),
      `**${rssSlope >= 0 ? '+' : ''}${fmt(rssSlope, 2)}**`,
      fmt(Math.max(...heap)),
      `${heapSlope >= 0 ? '+' : ''}${fmt(heapSlope, 2)}`,
      n === 'agent'
        ? Math.max(...rss) <= AGENT_GOAL_MB
          ? 'met'
          : 'missed'
        : Math.abs(rssSlope) < 1 && Math.abs(heapSlope) < 1
          ? 'met (no growth)'
          : 'check',
    ];
  });
  const colors: Record<string, string> = {
    agent: 'rgb(37,99,235)',
    processor: 'rgb(220,38,38)',
    sink: 'rgb(22,163,74)',
  };
  const step = Math.max(1, Math.floor(points.length / 300));
  const thin = points.filter((_, i) => i % step === 0);
  await plot(join(RESULTS, `${RESULT}.png`), {
    type: 'line',
    data: {
      datasets: names.flatMap((n) => [
        {
          label: `${n} RSS`,
          data: thin.map((p) => ({ x: p.t, y: p.rss[n] })),
          borderColor: colors[n],
          pointRadius: 0,
        },
        {
          label: `${n} heap used`,
          data: thin.map((p) => ({ x: p.t, y: p.heap[n] })),
          borderColor: colors[n],
          borderDash: [5, 4],
          pointRadius: 0,
        },
      ]),
    },
    options: {
      plugins: {
        title: { display: true, text: `Memory under ${fmt(RATE)} events/s for ${SECONDS} s` },
        legend: { position: 'bottom' },
      },
      scales: {
        x: { type: 'linear', title: { display: true, text: 'seconds' } },
        y: { title: { display: true, text: 'MiB' }, beginAtZero: true },
      },
    },
  });
  const path = await writeResult(
    RESULT,
    `Memory: ${GO ? 'the Go agent' : 'agent'}, processor and sink under sustained load`,
    thisCommand(),
    `1-minute load average when the benchmark began: ${loadBefore.toFixed(2)} (2 shared cores).

**What is measured.** The sidecar agent (its own spool folder, fsync per batch, publishing to Kafka),
${
  GO
    ? 'the Go agent (`npm run build:agent-go`: dist/provml-agent-go, capture-agent/agent-go), run as `dist/provml-agent-go` (its heap column: `go_memstats_heap_inuse_bytes`)'
    : COMPILED
      ? `compiled (\`npm run build:agent\`: one JavaScript file) and run as \`node ${AGENT_OPTIONS.join(' ')} dist/provml-agent.mjs\``
      : 'run as `provml agent` under tsx'
},
is fed over its Unix socket by a producer process (the TypeScript capture library with
\`SocketCaptureExporter\`, queue 50) at a steady ${fmt(RATE)} events/s of the Fig. 5-shaped loop for
${SECONDS} s (${fmt(fed)} events acknowledged). A \`provml processor\` and a \`provml sink\` into
the ${STORE_LABEL[STORE]} consume them (the sink holds no data itself unless the store is embedded).
Every second: RSS of each service process from /proc/<pid>/status and V8 heap used
(\`provml_nodejs_heap_size_used_bytes\`) from its /metrics. Growth is the least-squares slope over the
second half of the run, in MiB per minute. The processor and the sink run as \`node --import tsx …\`
(TypeScript compiled in memory at start; tsx's loader adds about 33 MiB to their RSS).

${table(
  [
    'process',
    'idle RSS MiB',
    'peak RSS MiB',
    'final RSS MiB',
    'RSS slope (2nd half) MiB/min',
    'peak heap MiB',
    'heap slope MiB/min',
    `goal (agent ≤ ${AGENT_GOAL_MB} MB; others no growth)`,
  ],
  rows,
)}

![memory](${RESULT}.png)

${
  costs === undefined
    ? goAgentMemory({ rss: idle.agent ?? NaN, file: idleFile }, peakOf(points))
    : agentLimits(costs, { rss: idle.agent ?? NaN, file: idleFile }, peakOf(points))
}
`,
  );
  log(`wrote ${path}`);
}

runBench('memory', main);
