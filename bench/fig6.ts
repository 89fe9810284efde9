/**
 * The paper's Fig. 6, weak scaling: 1, 2, 4 and 8 concurrent trainer processes, each running the
 * Fig. 5-shaped loop (35 batches per epoch, begin/end per batch and epoch, a fixed compute per batch)
 * with capture in setting D (queue ≥ 50, diskless, online to Kafka) and without capture, while a real
 * `provml processor` and `provml sink` consume. Per-trainer run time against x = 1, capture overhead
 * against the same x without capture, and consumer lag from the broker during and after each run.
 * Writes bench/results/fig6.md and .png (box plot).
 * Run: `node --import tsx bench/fig6.ts [--quick] [--reps N] [--epochs N] [--compute-ms MS]
 *       [--compute sleep|busy] [--trainers 1,2,4,8]`.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  killAll,
  load1,
  type ReportingChild,
  runBench,
  sleep,
  spawnReporting,
  startTogether,
  waitForQuiet,
} from './lib/pipeline.ts';
import { drained, startPipeline, stopBenchStores, type Pipeline, type Sample } from './lib/pipelineStack.ts';
import { eventsPerRun } from './lib/pipelineWorkload.ts';
import { boxOf, boxPlotConfig, plot } from './lib/plot.ts';
import { RESULTS, fmt, median, table, thisCommand, writeResult, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    epochs: { type: 'string' },
    'compute-ms': { type: 'string' },
    compute: { type: 'string', default: 'sleep' },
    trainers: { type: 'string', default: '1,2,4,8' },
    'wait-quiet': { type: 'boolean', default: false },
  },
});
const QUICK = args.quick;
const REPS = Number(args.reps ?? (QUICK ? 1 : 3));
const EPOCHS = Number(args.epochs ?? (QUICK ? 6 : 20));
const COMPUTE_MS = Number(args['compute-ms'] ?? 20);
const COMPUTE = args.compute as 'sleep' | 'busy';
const XS = args.trainers.split(',').map(Number);
const QUEUE = 50;
const log = (s: string): void => void process.stderr.write(`[fig6] ${s}\n`);

interface Run {
  x: number;
  capture: boolean;
  runS: number[];
  /** The loop alone, without handing the last batch to Kafka. */
  loopS: number[];
  maxLagEvents: number;
  maxLagRecords: number;
  drainS: number;
}

/** Runs x trainers together; returns their run times and the lag seen while they ran and after. */
async function runX(pipeline: Pipeline, samples: Sample[], x: number, capture: boolean): Promise<Run> {
  const kids: ReportingChild[] = [];
  try {
    for (let i = 0; i < x; i++)
      kids.push(
        spawnReporting(`trainer-${i}`, 'pipelineTrainer', {
          id: `t${i}`,
          prefix: pipeline.prefix,
          epochs: EPOCHS,
          computeMs: COMPUTE_MS,
          compute: COMPUTE,
          capture,
          queueSize: QUEUE,
        }),
      );
    const startAt = await startTogether(kids, 1000);
    const done = await Promise.all(kids.map((k) => k.when('done', 600_000)));
    const endAt = Date.now();
    // drained: both groups have no lag (the lag reading lags by up to a second)
    let drainS = 0;
    if (capture) {
      for (;;) {
        await sleep(1000);
        const last = samples[samples.length - 1]!;
        if ((last.wall > endAt && drained(last)) || Date.now() - endAt > 60_000) break;
      }
      const clear = samples.find((s) => s.wall > endAt && drained(s));
      drainS = clear === undefined ? NaN : (clear.wall - endAt) / 1000;
    }
    const during = samples.filter((s) => s.wall >= startAt && s.wall <= endAt);
    return {
      x,
      capture,
      runS: done.map((d) => d.runS as number),
      loopS: done.map((d) => d.loopS as number),
      maxLagEvents: Math.max(0, ...during.map((s) => s.lag.processor)),
      maxLagRecords: Math.max(0, ...during.map((s) => s.lag.sink)),
      drainS,
    };
  } finally {
    for (const k of kids) await k.stop(5000);
  }
}

async function main(): Promise<void> {
  const loadBefore = args['wait-quiet'] ? await waitForQuiet(1.5, 600_000, log) : load1();
  const pipeline = await startPipeline('fig6', 'oxigraph-embedded');
  const samples: Sample[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const started = performance.now();
      const s = await pipeline.sample().catch(() => undefined);
      if (s !== undefined) samples.push(s);
      await sleep(Math.max(0, 1000 - (performance.now() - started)));
    }
  })();
  const runs: Run[] = [];
  try {
    for (let rep = 0; rep < REPS; rep++)
      for (const x of XS)
        // alternate the order so neither mode always runs on a warmer machine
        for (const capture of rep % 2 === 0 ? [true, false] : [false, true]) {
          const r = await runX(pipeline, samples, x, capture);
          runs.push(r);
          log(
            `rep ${rep + 1} x=${x} ${capture ? 'capture' : 'no capture'}: median ${fmt(median(r.runS))} s${capture ? `, max lag ${r.maxLagEvents} events / ${r.maxLagRecords} records, drained ${fmt(r.drainS, 2)} s after` : ''}`,
          );
        }
  } finally {
    sampling = false;
    await sampler;
    await pipeline.stop();
    killAll();
    await stopBenchStores();
  }
  const of = (x: number, capture: boolean): number[] =>
    runs.filter((r) => r.x === x && r.capture === capture).flatMap((r) => r.runS);
  const loopsOf = (x: number, capture: boolean): number[] =>
    runs.filter((r) => r.x === x && r.capture === capture).flatMap((r) => r.loopS);
  const base = median(of(XS[0]!, true));
  const baseNone = median(of(XS[0]!, false));
  const rows = XS.map((x) => {
    const cap = of(x, true);
    const none = of(x, false);
    const mine = runs.filter((r) => r.x === x && r.capture);
    return [
      String(x),
      `**${fmt(median(cap))}** (${fmt(Math.min(...cap))}–${fmt(Math.max(...cap))})`,
      `${fmt(median(none))} (${fmt(Math.min(...none))}–${fmt(Math.max(...none))})`,
      `**${fmt(median(cap) / base, 4)}**`,
      fmt(median(none) / baseNone, 4),
      `${((median(cap) / median(none) - 1) * 100).toFixed(2)}%`,
      `${((median(loopsOf(x, true)) / median(loopsOf(x, false)) - 1) * 100).toFixed(2)}%`,
      fmt(Math.max(...mine.map((r) => r.maxLagEvents))),
      fmt(Math.max(...mine.map((r) => r.maxLagRecords))),
      fmt(median(mine.map((r) => r.drainS)), 2),
    ];
  });
  const boxes = XS.flatMap((x) => [
    boxOf(
      `${x} capture`,
      of(x, true).map((s) => s / base),
    ),
    boxOf(
      `${x} none`,
      of(x, false).map((s) => s / baseNone),
    ),
  ]);
  await plot(
    join(RESULTS, 'fig6.png'),
    boxPlotConfig(
      `Weak scaling: per-trainer run time relative to x = ${XS[0]} (${COMPUTE === 'sleep' ? 'timer-based' : 'CPU busy-loop'} compute ${COMPUTE_MS} ms/batch)`,
      `run time ÷ median at x = ${XS[0]} (same mode)`,
      boxes,
    ),
  );
  const path = await writeResult(
    'fig6',
    'Fig. 6: weak scaling of capture with concurrent trainers',
    thisCommand(),
    `1-minute load average when the benchmark began: ${loadBefore.toFixed(2)} (2 shared cores).

**What is measured.** x = ${XS.join(', ')} trainer processes run at once, each the Fig. 5-shaped loop:
one training, ${EPOCHS} epochs of 35 batches, begin/end of every batch and epoch, a loss per batch,
loss and accuracy per epoch (${fmt(eventsPerRun(EPOCHS))} events per trainer), and per batch a fixed
compute of ${COMPUTE_MS} ms, ${
      COMPUTE === 'sleep'
        ? 'a **timer-based wait standing for a GPU step**: the machine has 2 cores, so trainers whose compute used the CPU could not stay flat beyond x = 2 whatever capture cost; a wait isolates what capture adds'
        : 'a **CPU busy loop**: on 2 cores, trainers cannot stay flat beyond x = 2 whatever capture costs'
    }. With capture, each trainer uses the TypeScript capture library in the paper's setting D
(queue ${QUEUE}, diskless, online: \`LogCaptureExporter\` to the local Kafka broker); the run time
includes handing the last batch to Kafka. Without capture the same loop makes no capture calls.
Meanwhile one \`provml processor\` and one \`provml sink\` (embedded Oxigraph) service process consume;
their lag is read from the broker every second. ${REPS} repetition(s), capture and no-capture runs
alternating in order; every trainer's time is one sample.

${table(
  [
    'trainers x',
    'run time with capture s (min–max)',
    'without capture s (min–max)',
    `capture ÷ x=${XS[0]}`,
    `no capture ÷ x=${XS[0]}`,
    'capture overhead',
    'overhead of the loop alone (without the final flush)',
    'max processor lag (events)',
    'max sink lag (records)',
    'drained after s',
  ],
  rows,
)}

Flat weak scaling means the "÷ x=1" column stays at 1 and the overhead column stays at the same
small value as x grows; bounded lag means the consumers drain within seconds of the trainers ending.

![fig6](fig6.png)
`,
  );
  log(`wrote ${path}`);
}

runBench('fig6', main);
