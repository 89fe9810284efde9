/**
 * A trainer process of the Fig. 6 benchmark: the Fig. 5-shaped loop (35 batches per epoch, begin/end
 * per batch and epoch) with a fixed compute per batch, with or without capture (setting D: queue ≥ 50,
 * diskless, online to Kafka). Reports its run time as JSON lines on stdout.
 * Run by bench/fig6.ts: `node --import tsx bench/lib/pipelineTrainer.ts '<json config>'`.
 */
import { init, type Capture } from '@provml/capture-agent';
import { encodeCaptureEvent } from '@provml/schemas';
import { KafkaEventLog, LogCaptureExporter } from '@provml/log';
import { KAFKA, sleep, topicsOf } from './pipeline.ts';
import { BATCHES_PER_EPOCH, BENCH_SPEC } from './pipelineWorkload.ts';

/** What a trainer is told to do. */
export interface TrainerConfig {
  id: string;
  prefix: string;
  epochs: number;
  /** Compute per batch, ms. */
  computeMs: number;
  /** `sleep`: a timer-based wait standing for a GPU step; `busy`: a CPU busy loop. */
  compute: 'sleep' | 'busy';
  /** Capture on (setting D) or off (the baseline). */
  capture: boolean;
  queueSize: number;
}

const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

/** One batch's compute: a wait until a deadline (GPU step) or a busy loop (CPU step). */
async function computeStep(c: TrainerConfig): Promise<void> {
  if (c.compute === 'sleep') return sleep(c.computeMs);
  const until = performance.now() + c.computeMs;
  let x = 0;
  while (performance.now() < until) x += Math.sqrt(x + 1);
  if (x < 0) say({ x });
}

async function main(c: TrainerConfig): Promise<void> {
  const log = c.capture ? new KafkaEventLog({ brokers: [KAFKA], clientId: `bench-${c.id}` }) : undefined;
  const capture: Capture | undefined =
    log === undefined
      ? undefined
      : await init({
          spec: BENCH_SPEC,
          exporter: new LogCaptureExporter(log.producer(), encodeCaptureEvent, topicsOf(c.prefix)),
          env: {},
          context: { host: 'bench', trainer: c.id },
          queueSize: c.queueSize,
        });
  say({ type: 'ready' });
  const startAt = await new Promise<number>((resolve) =>
    process.stdin.once('data', (d) => resolve(Number(String(d).trim()))),
  );
  process.stdin.unref();
  await sleep(Math.max(0, startAt - Date.now()));
  const started = performance.now();
  const run = capture?.workflowExecution(`${c.id}-${Date.now().toString(36)}`);
  const training = run?.begin('training', { values: { learning_rate: 0.001, batch_size: 32 } });
  for (let e = 0; e < c.epochs; e++) {
    const epoch = training?.begin('epoch');
    for (let b = 0; b < BATCHES_PER_EPOCH; b++) {
      const batch = epoch?.begin('batch');
      await computeStep(c);
      batch?.end({ values: { loss: 1 / (1 + e + b / BATCHES_PER_EPOCH) } });
    }
    epoch?.end({ values: { loss: 1 / (1 + e), accuracy: 0.5 + e / (2 * c.epochs) } });
  }
  training?.end();
  const loopS = (performance.now() - started) / 1000;
  // the job ends when its provenance is handed to Kafka
  await capture?.flush();
  const runS = (performance.now() - started) / 1000;
  say({ type: 'done', runS, loopS, events: capture?.stats.exported ?? 0 });
  await capture?.shutdown(Infinity);
  await log?.close();
}

main(JSON.parse(process.argv[2]!) as TrainerConfig).catch((error: unknown) => {
  process.stderr.write(`trainer failed: ${String(error)}\n`);
  process.exit(1);
});
