/**
 * The paper's Fig. 5: a training loop (35 batches per epoch, begin/end per batch, epoch and training) run
 * without capture and with each capture setting A–F, publishing to the real Kafka broker of the local
 * stack; overhead against the baseline median, as a box plot. Writes bench/results/fig5.md (TypeScript
 * library) or bench/results/fig5-python.md (`--lang python`, the Python client) and a PNG next to it.
 *
 * Run: `node --import tsx bench/fig5.ts [--quick] [--lang ts|python] [--reps 10] [--events 870]
 *       [--compute wait|busy] [--batch-ms 20] [--compute-us 1000] [--queue 512] [--brokers 127.0.0.1:19092]`
 * Each (setting, repetition) runs in a fresh child process, settings interleaved within each repetition.
 *
 * Compute per batch: `wait` (default) waits `--batch-ms` per batch the way a GPU trainer's host thread
 * waits on the GPU (Node: an awaited timer, the event loop runs meanwhile; Python: time.sleep, the GIL is
 * released), `busy` runs a CPU busy-loop calibrated to `--compute-us` on the trainer's thread.
 * Defaults: quick 3 reps × 290 events, full 10 reps × 866 events (12 epochs; the paper's run had about
 * 15,000 events and 300 epochs: fewer epochs per run keep the full variant within ~15 minutes).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import {
  HttpCaptureExporter,
  init,
  SocketCaptureExporter,
  type CaptureExporter,
  type FsyncPolicy,
} from '@provml/capture-agent';
import { encodeCaptureEvent, silentLogger } from '@provml/schemas';
import { DEFAULT_TOPICS, KafkaEventLog, LogCaptureExporter, type TopicNames } from '@provml/log';
import {
  calibrate,
  epochsFor,
  eventsOf,
  FIG5_SPEC,
  PAPER_US_PER_EVENT,
  trainingLoop,
  type Compute,
  type LoopResult,
  waitForQuiet,
} from './fig5-loop.ts';
import { runForJson } from './lib/jsonChild.ts';
import { fmt, median, RESULTS, ROOT, summarise, table, writeResult, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

/** The paper's settings (capture-agent/AGENT.md): queue 1 or large, diskful, online. */
export const SETTINGS = {
  A: { small: true, diskful: false, online: true },
  B: { small: true, diskful: true, online: true },
  C: { small: true, diskful: true, online: false },
  D: { small: false, diskful: false, online: true },
  E: { small: false, diskful: true, online: true },
  F: { small: false, diskful: true, online: false },
} as const;
type Setting = keyof typeof SETTINGS;
const NAMES = ['baseline', ...Object.keys(SETTINGS)] as ('baseline' | Setting)[];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    lang: { type: 'string', default: 'ts' },
    reps: { type: 'string' },
    events: { type: 'string' },
    compute: { type: 'string', default: 'wait' },
    'batch-ms': { type: 'string' },
    'compute-us': { type: 'string' },
    queue: { type: 'string', default: '512' },
    // before a run: wait up to this many seconds for the 1-minute load average to drop below 2
    'settle-s': { type: 'string' },
    brokers: { type: 'string', default: '127.0.0.1:19092' },
    // child mode: one run of one setting, a JSON line on stdout
    worker: { type: 'string' },
    epochs: { type: 'string' },
    iterations: { type: 'string' },
    'wait-ms': { type: 'string' },
    spool: { type: 'string' },
    prefix: { type: 'string' },
    // child mode, online settings through a `provml agent` instead of straight to Kafka:
    // D posts to its HTTP ingest, E (and B) ship their spool over its socket (bench/peers.ts)
    'agent-url': { type: 'string' },
    // child mode: the spool's fsync policy (default batch)
    fsync: { type: 'string' },
    'agent-socket': { type: 'string' },
  },
});
const BROKERS = args.brokers.split(',');
const QUEUE = Number(args.queue);
const topicsOf = (prefix: string): TopicNames => ({
  events: prefix + DEFAULT_TOPICS.events,
  specs: prefix + DEFAULT_TOPICS.specs,
  annotations: prefix + DEFAULT_TOPICS.annotations,
  triples: prefix + DEFAULT_TOPICS.triples,
  deadLetters: prefix + DEFAULT_TOPICS.deadLetters,
});

/** What a child reports. */
interface RunResult extends LoopResult {
  setting: string;
  /** `shutdown()` after the loop: the last batch exported, the spool drained to Kafka (ms). */
  drainMs: number;
  /** CPU time of the whole process during `shutdown()` (ms). */
  drainCpuMs?: number;
  /** Events delivered, as `shutdown()` counts them (capture runs). */
  delivered?: number;
}

/** Child mode (TypeScript): one run of the loop with one setting. */
async function worker(setting: 'baseline' | Setting): Promise<void> {
  const epochs = Number(args.epochs);
  const compute: Compute = {
    mode: args.compute === 'busy' ? 'busy' : 'wait',
    iterations: Number(args.iterations ?? 0),
    waitMs: Number(args['wait-ms'] ?? 20),
  };
  const topics = topicsOf(args.prefix ?? '');
  // JIT warm-up of the loop (and of the busy-loop), in every setting alike
  await trainingLoop(1, { ...compute, waitMs: Math.min(compute.waitMs, 1) }, undefined);
  let result: RunResult;
  if (setting === 'baseline') {
    result = { setting, ...(await trainingLoop(epochs, compute, undefined)), drainMs: 0 };
  } else {
    const s = SETTINGS[setting];
    let exporter: CaptureExporter | undefined;
    if (s.online && s.diskful && args['agent-socket'] !== undefined)
      exporter = new SocketCaptureExporter({ path: args['agent-socket'] });
    else if (s.online && !s.diskful && args['agent-url'] !== undefined)
      exporter = new HttpCaptureExporter({ url: args['agent-url'] });
    else if (s.online) {
      const log = new KafkaEventLog({ brokers: BROKERS, clientId: `fig5-${setting}`, logger: silentLogger });
      const producer = log.producer();
      await producer.send(topics.events, []); // connect before the clock starts
      exporter = new LogCaptureExporter(producer, encodeCaptureEvent, topics);
    }
    const capture = await init({
      spec: FIG5_SPEC,
      exporter,
      queueSize: s.small ? 1 : QUEUE,
      spool: s.diskful
        ? { dir: args.spool!, ...(args.fsync === undefined ? {} : { fsync: args.fsync as FsyncPolicy }) }
        : undefined,
      offline: !s.online,
      env: {},
      onError: (e) => process.stderr.write(`capture error: ${e.message}\n`),
    });
    const loop = await trainingLoop(epochs, compute, capture);
    const t = performance.now();
    const cpu0 = process.cpuUsage();
    const done = await capture.shutdown(Infinity);
    const drainMs = performance.now() - t;
    const drainCpu = process.cpuUsage(cpu0);
    const st = capture.stats;
    if (st.failed > 0 || st.dropped > 0) process.stderr.write(`setting ${setting}: ${JSON.stringify(st)}\n`);
    result = {
      setting,
      ...loop,
      drainMs,
      drainCpuMs: (drainCpu.user + drainCpu.system) / 1000,
      delivered: done.delivered,
    };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0); // the Kafka client keeps sockets open; the result is out
}

if (args.worker !== undefined) await worker(args.worker as 'baseline' | Setting);
else await main();

/** The HTTP ingest publishing straight to Kafka (the Python client's diskless settings A and D). */
async function startIngest(log: KafkaEventLog, topics: TopicNames): Promise<{ url: string; server: Server }> {
  // imported here, not at the top: a worker (one per run) then loads neither the query API nor the plotter
  const { createIngestApp, LogIngestTarget } = await import('@provml/agent');
  const app = createIngestApp({
    target: new LogIngestTarget(log, encodeCaptureEvent, topics),
    logger: silentLogger,
  });
  const server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** The sidecar agent (`provml agent`) on the real broker: the Python client's diskful online settings B and E. */
async function startAgent(
  dir: string,
  prefix: string,
): Promise<{ socket: string; stop: () => Promise<void> }> {
  const p = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'app/src/cli/main.ts',
      'agent',
      '--kafka',
      BROKERS.join(','),
      '--topic-prefix',
      prefix,
      '--spool',
      dir,
      '--port',
      '0',
      '--log-level',
      'warn',
    ],
    // a benchmark on 127.0.0.1 with a fresh spool: no tokens to set up
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PROVML_AUTH_DISABLED: 'true' },
    },
  );
  let exited = false;
  p.on('exit', () => (exited = true));
  const socket = join(dir, 'agent.sock');
  for (let i = 0; i < 300 && !exited && !existsSync(socket); i++)
    await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(socket)) throw new Error('provml agent did not open its socket');
  return {
    socket,
    stop: async () => {
      p.kill('SIGTERM');
      await once(p, 'close');
    },
  };
}

async function main(): Promise<void> {
  const { boxOf, boxPlotConfig, plot } = await import('./lib/plot.ts');
  const quick = args.quick;
  const lang = args.lang === 'python' ? 'python' : 'ts';
  const reps = Number(args.reps ?? (quick ? 3 : 10));
  const epochs = epochsFor(Number(args.events ?? (quick ? 300 : 870)));
  const mode = args.compute === 'busy' ? 'busy' : 'wait';
  const batchMs = Number(args['batch-ms'] ?? 20);
  const computeUs = Number(args['compute-us'] ?? 1000);
  const events = eventsOf(epochs);
  const prefix = `bench-fig5-${Date.now().toString(36)}.`;
  const topics = topicsOf(prefix);
  const settle = await waitForQuiet(Number(args['settle-s'] ?? (quick ? 0 : 300)));
  const load0 = loadavg();

  const log = new KafkaEventLog({ brokers: BROKERS, clientId: 'fig5-bench', logger: silentLogger });
  await log.ensureTopic(topics.events, 3);
  await log.ensureTopic(topics.specs, 1, { compacted: true });
  const admin = await log.adminClient();
  const delivered = async (): Promise<number> =>
    (await admin.fetchTopicOffsets(topics.events)).reduce((n, p) => n + Number(p.high), 0);

  const python = join(ROOT, 'bench/fig5_python.py');
  const iterations =
    mode === 'wait'
      ? 0
      : lang === 'ts'
        ? calibrate(computeUs)
        : Number(
            spawnSync('python3', [python, '--calibrate', String(computeUs)], {
              encoding: 'utf8',
            }).stdout.trim(),
          );
  const work = await mkdtemp(join(tmpdir(), 'fig5-'));
  const ingest = lang === 'python' ? await startIngest(log, topics) : undefined;
  const agent = lang === 'python' ? await startAgent(join(work, 'agent'), prefix) : undefined;
  process.stdout.write(
    `fig5 (${lang}): ${epochs} epochs × 35 batches = ${events} events/run, ` +
      (mode === 'wait'
        ? `GPU-like wait of ${batchMs} ms/batch`
        : `${computeUs} µs busy compute/batch (${iterations} iterations)`) +
      `, ${reps} reps × ${NAMES.length} settings, topic ${topics.events}\n`,
  );

  const runs = new Map<string, RunResult[]>(NAMES.map((n) => [n, []]));
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) {
    // interleaved, and rotated each repetition so no setting always follows the same one
    const order = NAMES.map((_, i) => NAMES[(i + r) % NAMES.length]!);
    for (const name of order) {
      const spool = join(work, `spool-${name}-${r}`);
      // the loop's shape, the same for both languages' workers
      const loop = [
        '--epochs',
        String(epochs),
        '--iterations',
        String(iterations),
        '--compute',
        mode,
        '--wait-ms',
        String(batchMs),
        '--queue',
        String(QUEUE),
      ];
      const result =
        lang === 'ts'
          ? await runForJson<RunResult>(
              process.execPath,
              [
                '--import',
                'tsx',
                'bench/fig5.ts',
                '--worker',
                name,
                ...loop,
                '--spool',
                spool,
                '--prefix',
                prefix,
                '--brokers',
                BROKERS.join(','),
              ],
              true,
            )
          : await runForJson<RunResult>(
              'python3',
              [
                python,
                '--setting',
                name,
                ...loop,
                '--spool-dir',
                spool,
                '--socket',
                agent!.socket,
                '--http-url',
                ingest!.url,
              ],
              true,
            );
      runs.get(name)!.push(result);
      await rm(spool, { recursive: true, force: true });
    }
    process.stdout.write(
      `rep ${r + 1}/${reps}: ${NAMES.map((n) => `${n} ${(runs.get(n)!.at(-1)!.loopMs / 1000).toFixed(3)} s`).join(', ')}\n`,
    );
  }
  const wallS = (performance.now() - t0) / 1000;
  await agent?.stop();
  ingest?.server.close();
  const sent = await delivered();
  await log.close();
  await rm(work, { recursive: true, force: true });

  // the figures
  const base = runs.get('baseline')!;
  const baseMs = median(base.map((r) => r.loopMs));
  const baseInLoop = median(base.map((r) => r.callMs + r.yieldMs));
  const baseCalls = median(base.map((r) => r.callMs));
  const baseCpu = median(base.map((r) => r.cpuMs));
  const rows: (string | number)[][] = [];
  const boxes = [];
  const perEvent: Record<string, number> = {};
  const overheads: Record<string, number> = {};
  const cpuOf: Record<string, number> = {};
  for (const name of NAMES) {
    const rs = runs.get(name)!;
    const loop = summarise(rs.map((r) => r.loopMs / 1000));
    const over = summarise(rs.map((r) => ((r.loopMs - baseMs) / baseMs) * 100));
    const usPerEvent =
      name === 'baseline' ? NaN : ((median(rs.map((r) => r.loopMs)) - baseMs) * 1000) / events;
    const inLoop =
      name === 'baseline'
        ? NaN
        : ((median(rs.map((r) => r.callMs + r.yieldMs)) - baseInLoop) * 1000) / events;
    const calls = name === 'baseline' ? NaN : ((median(rs.map((r) => r.callMs)) - baseCalls) * 1000) / events;
    const cpuPerEvent =
      name === 'baseline' ? NaN : ((median(rs.map((r) => r.cpuMs)) - baseCpu) * 1000) / events;
    if (name !== 'baseline') {
      cpuOf[name] = cpuPerEvent;
      boxes.push(
        boxOf(
          name,
          rs.map((r) => ((r.loopMs - baseMs) / baseMs) * 100),
        ),
      );
      perEvent[name] = usPerEvent;
      overheads[name] = over.median;
    }
    rows.push([
      name,
      fmt(loop.median, 5),
      `${fmt(loop.min, 5)} – ${fmt(loop.max, 5)}`,
      name === 'baseline' ? '–' : `${over.median.toFixed(3)} %`,
      name === 'baseline' ? '–' : `${over.min.toFixed(3)} … ${over.max.toFixed(3)} %`,
      fmt(usPerEvent),
      fmt(calls),
      fmt(inLoop),
      fmt(cpuPerEvent),
      name === 'baseline' ? '–' : fmt(median(rs.map((r) => r.drainMs))),
    ]);
  }
  const baseSpread =
    ((Math.max(...base.map((r) => r.loopMs)) - Math.min(...base.map((r) => r.loopMs))) / baseMs) * 100;
  const best = Object.entries(overheads).sort((a, b) => a[1] - b[1])[0]!;
  const bestCall = Object.entries(perEvent).sort((a, b) => a[1] - b[1])[0]!;
  const online = NAMES.filter((n) => n !== 'baseline' && SETTINGS[n].online).length;
  const expected = online * reps * events;
  const load1 = loadavg();
  // the background hot paths on their own (no broker, no fsync), µs/event, after the run
  const hot = spawnSync(process.execPath, ['--import', 'tsx', 'bench/fig5-hotpath.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const hotNow = JSON.parse(hot.stdout.trim().split('\n').pop() ?? '{}') as {
    avroExportUs?: number;
    spoolAppendUs?: number;
  };

  const name = lang === 'ts' ? 'fig5' : 'fig5-python';
  const png = `${name}.png`;
  await plot(
    join(RESULTS, png),
    boxPlotConfig(
      `Fig. 5 (${lang === 'ts' ? 'TypeScript library' : 'Python client'}): overhead vs no capture, ${events} events/run, ${reps} reps`,
      'overhead (% of baseline median run time)',
      boxes,
    ),
  );
  const computeArgs =
    mode === 'wait' ? `--compute wait --batch-ms ${batchMs}` : `--compute busy --compute-us ${computeUs}`;
  const command = `node --import tsx bench/fig5.ts${quick ? ' --quick' : ''} --lang ${lang} --reps ${reps} --events ${events} ${computeArgs} --queue ${QUEUE}`;
  const usPerEventRun = (baseMs * 1000) / events;
  const paperPct = (us: number): string => `${fmt((us / PAPER_US_PER_EVENT) * 100)} %`;
  const computeText =
    mode === 'wait'
      ? `Each batch's compute is a **GPU-like wait of ${batchMs} ms** (\`--compute wait\`): the trainer's host thread waits
the way a PyTorch trainer waits on a CUDA sync (${lang === 'ts' ? 'an awaited timer: the event loop, hence the background batching, encoding and sends, runs during it' : '`time.sleep`, which releases the GIL: the client thread runs during it'}), so
a run lasts about ${fmt(baseMs / 1000)} s. The paper's run took ~170 ms per batch (21.3 min for ~15,000 events on K80 GPUs);
${batchMs} ms keeps the full variant within ~15 minutes and is still ${fmt(170 / batchMs)}× denser in events than the paper, so the
measured overhead is an upper bound of the paper-density one (scaled below). \`--compute busy --compute-us 1000\` is the CPU-bound
variant, where the same background work runs on the trainer's own thread between batches.`
      : `Each batch computes a CPU busy-loop calibrated to ${computeUs} µs (\`--compute busy\`; ${iterations} iterations, fixed work, the
same count in every run), so a run lasts about ${fmt(baseMs / 1000)} s. No GPU: the background capture work runs on the
trainer's own thread between batches, which is the worst case for capture.`;
  const library =
    lang === 'ts'
      ? `the TypeScript library (\`init\` of \`@provml/capture-agent\`): A/D export through \`LogCaptureExporter\` to Kafka (diskless), B/E write the library's own spool and its background \`SpoolPublisher\` ships it to Kafka through the same exporter (diskful), C/F write the spool only (offline). The loop yields to the event loop once per batch (with and without capture), which is where Node runs the background batching, Avro encoding and Kafka sends: their cost is inside the run time.`
      : `the Python client (\`provml_client\`, standard library only): A/D post NDJSON over HTTP to the project's ingest (\`createIngestApp\` + \`LogIngestTarget\`, in the bench process), which validates and publishes straight to Kafka (diskless); B/E send to the sidecar \`provml agent\` over its Unix socket, which spools and publishes to Kafka (diskful); C/F write the client's own spool (offline). The client's background thread shares the GIL with the loop: ${mode === 'wait' ? 'it runs while the loop sleeps (the GIL is released), and its batching, JSON encoding and I/O count in the run time only where they hold the GIL when the loop wakes' : 'with a busy-loop compute, its batching, JSON encoding and I/O are inside the run time'}.`;
  await writeResult(
    name,
    `Fig. 5 reproduced: capture settings A–F vs no capture (${lang === 'ts' ? 'TypeScript library' : 'Python client'})`,
    command,
    `Waited ${settle.waitedS.toFixed(0)} s for the 1-minute load average to drop below 2.0 (${settle.quiet ? 'it did' : 'it did not: other jobs were running'}). Load average (1, 5, 15 min) at the start ${load0.map((l) => l.toFixed(2)).join(', ')}, at the end ${load1
      .map((l) => l.toFixed(2))
      .join(
        ', ',
      )}; the 2 cores also run the Kafka broker${lang === 'python' ? ', the agent and the ingest' : ''}. Wall time of the whole benchmark ${wallS.toFixed(0)} s.

![box plot](${png})

**Workload.** The paper's Fig. 5 loop: ${epochs} epochs × 35 batches, begin/end events for the training,
each epoch and each batch (batch end carries the loss, epoch end the loss and a model file reference,
training begin hyperparameters and the dataset reference): **${events.toLocaleString('en')} events per run**.
${computeText} ${reps} repetitions of the baseline
(no capture) and of each setting; each run is a fresh process; the order of settings is interleaved and
rotated every repetition, so machine drift hits all settings alike.

**Capture.** ${library} Queue size 1 for A–C, ${QUEUE} for D–F (the paper used 50; the library's default is
512; \`--queue\` changes it). Spool fsync policy: the default (\`batch\`, fsync before a batch is acknowledged).
Online runs published to topic \`${topics.events}\` on ${BROKERS.join(',')}: **${sent.toLocaleString('en')} of
${expected.toLocaleString('en')} expected events** arrived (high watermarks after the runs).

**Columns.** *Overhead* = (run − baseline median) / baseline median, of the loop's wall time, training
begin to training end. *µs/event* = (median run − baseline median) / events: the overhead per event.
*In-call µs/event* = median time inside the capture calls (minus the baseline's timer calls) per event; *in-loop µs/event* = capture calls
plus time spent in the per-batch ${mode === 'wait' ? 'wait (the GPU-like wait, during which the background work runs: it counts only when it makes the wait overrun)' : 'yield (background work)'}, minus the baseline's, per event${
      mode === 'wait'
        ? ''
        : `: a
lower-noise measure of the same overhead, since it does not depend on the CPU time of the compute`
    }.
*CPU µs/event* = (CPU time of the trainer process during the loop, all its threads, minus the
baseline's median) per event: what capture costs the trainer process, whatever the neighbours do
(the broker's and the agent's CPU are not in it).
*Drain* = \`shutdown()\` after the loop (last batch exported, spool drained): it happens after training
and is not in the overhead, as in the paper's training time.

${table(
  [
    'setting',
    'run s (median)',
    'run s (min – max)',
    'overhead (median)',
    'overhead (min … max)',
    'µs/event',
    'in-call µs/event',
    'in-loop µs/event',
    'CPU µs/event',
    'drain ms',
  ],
  rows,
)}

**Hot paths, before/after the fixes of this round** (\`node --import tsx bench/fig5-hotpath.ts\`: 200,000 events in
batches of 32, no broker, spool fsync \`never\`, median of 7; µs of CPU per event on this machine). Profiling a D and an F
worker (\`node --cpu-prof\`) showed the per-event background work is small next to kafkajs's request path and the one-time
JIT and connection costs of a short run; the cheap wins taken: \`LogCaptureExporter\` encoded each event through an
\`async\` closure and \`Promise.all\` (a promise per event), now a plain loop; \`SingleObjectCodec.encode\` went
\`toBuffer\` (encode + copy) then \`Buffer.concat\` with the header (alloc + copy), now encodes header and body into one
scratch buffer and copies once; spool records were JSON → Buffer → framed copy, now written once after the header.
Python client: a batch's numeric values were encoded by \`json.JSONEncoder.encode\` (2.3 µs per call, its per-call setup),
now by a fast path giving the same text (1.0 µs), on the client thread.

${table(
  ['path', 'before (commit 86de7b6)', 'after (this run)'],
  [
    [
      'Avro single-object encode + LogCaptureExporter (per event)',
      '1.32 – 1.67',
      fmt(hotNow.avroExportUs ?? NaN),
    ],
    [
      'spool envelope framing + append, fsync never (per event)',
      '2.14 – 2.28',
      fmt(hotNow.spoolAppendUs ?? NaN),
    ],
  ],
)}

**Against the goal.** Issue 8's goal is ≤ 0.05 % overhead for the best setting; the paper's best (D)
is 0.67 %. Best median here: **${best[0]} at ${best[1].toFixed(3)} %** (${fmt(bestCall[1])} µs/event for ${bestCall[0]}).
The baseline's own spread (max − min) is ${baseSpread.toFixed(2)} % of its median on this shared machine:
a single run cannot resolve differences below that, the medians over ${reps} runs can resolve less, and the
in-loop and CPU columns isolate the capture cost from the compute's noise.

**Event density.** This loop emits an event every ${fmt(usPerEventRun)} µs; the paper's
run emitted about 15,000 events in 21.3 min, one every ~85,000 µs. The same per-event cost is
therefore a percentage ${fmt(PAPER_US_PER_EVENT / usPerEventRun)}× smaller at the paper's density. Scaled from the measured
per-event costs (paper: 0.67 %, about 570 µs/event; goal ≤ 0.05 %, i.e. ≤ 42.5 µs/event there):

${table(
  [
    'setting',
    'overhead here (median)',
    'wall µs/event',
    '→ at paper density',
    'CPU µs/event',
    '→ at paper density',
  ],
  NAMES.filter((n) => n !== 'baseline').map((n) => [
    n,
    `${overheads[n]!.toFixed(3)} %`,
    fmt(perEvent[n]!),
    paperPct(perEvent[n]!),
    fmt(cpuOf[n]!),
    paperPct(cpuOf[n]!),
  ]),
)}

The ≤ 0.05 % goal at *this* density needs ≤ ${fmt(0.0005 * usPerEventRun)} µs of wall overhead per event.${
      mode === 'wait'
        ? ` The CPU column counts all the capture work (calls, batching, encoding, sends, spool writes) whether or not it delays
the loop: with a GPU-like wait it mostly runs while the trainer waits, so the wall cost is the smaller of the two.`
        : ''
    }
`,
  );
  process.stdout.write(
    `${NAMES.filter((n) => n !== 'baseline')
      .map((n) => `${n} ${overheads[n]!.toFixed(3)}% (${fmt(perEvent[n]!)} µs/event)`)
      .join(', ')}\nwrote bench/results/${name}.md and ${png}\n`,
  );
}
