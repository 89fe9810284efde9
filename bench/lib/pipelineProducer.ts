/**
 * A paced producer process of the pipeline benchmarks: the real capture library (setting D: queue
 * ≥ 50, diskless, online) offering an exact event rate, open loop, through Kafka (LogCaptureExporter)
 * or the sidecar agent's socket (SocketCaptureExporter). Reports progress as JSON lines on stdout.
 * Run by the benchmarks: `node --import tsx bench/lib/pipelineProducer.ts '<json config>'`.
 */
import { init, SocketCaptureExporter, type CaptureExporter } from '@provml/capture-agent';
import { encodeCaptureEvent } from '@provml/schemas';
import { KafkaEventLog, LogCaptureExporter } from '@provml/log';
import { KAFKA, sleep, topicsOf } from './pipeline.ts';
import { BENCH_SPEC, Fig5Loop } from './pipelineWorkload.ts';

/** What a producer is told to do. */
export interface ProducerConfig {
  id: string;
  prefix: string;
  transport: 'kafka' | 'socket';
  socketPath?: string;
  /** Offered rate (events/s) and duration of each step, one after the other. */
  steps: { rate: number; seconds: number }[];
  /** The capture queue size (events per export). */
  queueSize: number;
  /** Epochs per training run. */
  epochs: number;
}

const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

async function main(config: ProducerConfig): Promise<void> {
  const log =
    config.transport === 'kafka'
      ? new KafkaEventLog({ brokers: [KAFKA], clientId: `bench-${config.id}` })
      : undefined;
  const exporter: CaptureExporter =
    log !== undefined
      ? new LogCaptureExporter(log.producer(), encodeCaptureEvent, topicsOf(config.prefix))
      : new SocketCaptureExporter({ path: config.socketPath! });
  const capture = await init({
    spec: BENCH_SPEC,
    exporter,
    env: {},
    context: { host: 'bench', producer: config.id },
    queueSize: config.queueSize,
    maxQueueSize: 1 << 22,
  });
  const loop = new Fig5Loop(capture, config.epochs, `${config.id}-${Date.now().toString(36)}`);
  say({ type: 'ready' });
  // the parent answers with the wall-clock start time (ms since the epoch) once every producer is ready
  const startAt = await new Promise<number>((resolve) =>
    process.stdin.once('data', (d) => resolve(Number(String(d).trim()))),
  );
  process.stdin.unref();
  await sleep(Math.max(0, startAt - Date.now()));
  const t0 = performance.now();
  // cumulative schedule: events due by each step's end
  const ends: { at: number; due: number; rate: number }[] = [];
  let at = 0;
  let due = 0;
  for (const s of config.steps) {
    at += s.seconds * 1000;
    due += s.rate * s.seconds;
    ends.push({ at, due, rate: s.rate });
  }
  const dueAt = (ms: number): number => {
    let prevAt = 0;
    let prevDue = 0;
    for (const e of ends) {
      if (ms < e.at) return prevDue + ((ms - prevAt) / 1000) * e.rate;
      prevAt = e.at;
      prevDue = e.due;
    }
    return prevDue;
  };
  let nextReport = 1000;
  let behindMax = 0;
  for (;;) {
    const now = performance.now() - t0;
    const target = Math.floor(dueAt(now));
    behindMax = Math.max(behindMax, target - loop.events);
    // at most 2 ms of calls per turn so that exports (in the background) get the event loop
    const stopAt = performance.now() + 2;
    while (loop.events < target && performance.now() < stopAt)
      for (let i = 0; i < 16 && loop.events < target; i++) loop.step();
    if (now >= nextReport) {
      const s = capture.stats;
      say({ type: 'tick', t: Math.round(now), made: loop.events, exported: s.exported, queue: s.queueDepth });
      nextReport += 1000;
    }
    if (now >= at) break;
    await sleep(loop.events < target ? 0 : 2);
  }
  await capture.flush();
  const s = capture.stats;
  say({
    type: 'done',
    made: loop.events,
    exported: s.exported,
    failed: s.failed,
    dropped: s.dropped,
    behindMax,
    seconds: (performance.now() - t0) / 1000,
  });
  await capture.shutdown(Infinity);
  await log?.close();
}

main(JSON.parse(process.argv[2]!) as ProducerConfig).catch((error: unknown) => {
  process.stderr.write(`producer failed: ${String(error)}\n`);
  process.exit(1);
});
