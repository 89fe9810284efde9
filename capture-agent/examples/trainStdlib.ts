/**
 * The Python example `python/examples/train_stdlib.py` in TypeScript: a small two-layer network in
 * plain TypeScript trained on synthetic seismic-like tiles, every epoch, batch and validation
 * captured with `@provml/capture-agent` (same spec, same settings, same task and value names).
 *
 *   node --import tsx capture-agent/examples/trainStdlib.ts --setting D --http-url http://127.0.0.1:7071
 *   node --import tsx capture-agent/examples/trainStdlib.ts --setting E --socket .data/agent/spool/agent.sock
 *   node --import tsx capture-agent/examples/trainStdlib.ts            # setting F: offline spool
 *   npm run provml -- replay .data/ts-example/spool                     # publish it later
 *
 * It prints a line per epoch and, at the end, where the events went (`delivery: {…}`, the
 * `DeliveryResult` of `shutdown()`); the exit status is 0 only when every event was delivered.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  HttpCaptureExporter,
  init,
  SocketCaptureExporter,
  type CaptureOptions,
  type DeliveryResult,
} from '@provml/capture-agent';

const ROOT = resolve(import.meta.dirname, '../..');

/** A seeded generator (mulberry32) with Gaussian draws: the example is reproducible. */
class Random {
  constructor(private state: number) {}
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  gauss(mean: number, sd: number): number {
    return mean + sd * Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next());
  }
  shuffle<T>(items: T[]): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
  }
}

type Tile = { x: number[]; y: number };

/** `n` tiles of 8×8 amplitudes: label 0 = flat reflectors, 1 = dipping reflectors, plus noise. */
function syntheticTiles(n: number, seed: number, size = 8): Tile[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => {
    const y = rng.next() < 0.5 ? 0 : 1;
    const freq = 0.6 + 0.8 * rng.next();
    const dip = y === 0 ? 0 : (rng.next() < 0.5 ? -1 : 1) * (0.5 + 0.5 * rng.next());
    const phase = 2 * Math.PI * rng.next();
    const x: number[] = [];
    for (let r = 0; r < size; r++)
      for (let c = 0; c < size; c++) x.push(Math.sin(freq * (r + dip * c) + phase) + rng.gauss(0, 0.3));
    return { x, y };
  });
}

/** inputs → tanh hidden layer → sigmoid: the probability of dipping reflectors. */
class TinyNet {
  readonly w1: number[][];
  readonly b1: number[];
  readonly w2: number[];
  b2 = 0;

  constructor(inputs: number, hidden: number, seed: number) {
    const rng = new Random(seed);
    this.w1 = Array.from({ length: hidden }, () =>
      Array.from({ length: inputs }, () => rng.gauss(0, 1 / Math.sqrt(inputs))),
    );
    this.b1 = new Array<number>(hidden).fill(0);
    this.w2 = Array.from({ length: hidden }, () => rng.gauss(0, 1 / Math.sqrt(hidden)));
  }

  forward(x: readonly number[]): { h: number[]; p: number } {
    const h = this.w1.map((row, j) => Math.tanh(row.reduce((s, w, k) => s + w * x[k]!, this.b1[j]!)));
    const z = h.reduce((s, hj, j) => s + this.w2[j]! * hj, this.b2);
    return { h, p: 1 / (1 + Math.exp(-Math.max(-30, Math.min(30, z)))) };
  }

  /** One SGD step on a batch: its mean cross-entropy and accuracy. */
  step(batch: readonly Tile[], lr: number): { loss: number; accuracy: number } {
    const g1 = this.w1.map((row) => new Array<number>(row.length).fill(0));
    const gb1 = new Array<number>(this.b1.length).fill(0);
    const g2 = new Array<number>(this.w2.length).fill(0);
    let gb2 = 0;
    let loss = 0;
    let correct = 0;
    for (const { x, y } of batch) {
      const { h, p } = this.forward(x);
      loss -= Math.log(Math.max(y === 1 ? p : 1 - p, 1e-12));
      if (p >= 0.5 === (y === 1)) correct++;
      const d = p - y;
      gb2 += d;
      h.forEach((hj, j) => {
        g2[j]! += d * hj;
        const dh = d * this.w2[j]! * (1 - hj * hj);
        gb1[j]! += dh;
        x.forEach((v, k) => (g1[j]![k]! += dh * v));
      });
    }
    const n = batch.length;
    this.w1.forEach((row, j) => {
      this.b1[j]! -= (lr * gb1[j]!) / n;
      this.w2[j]! -= (lr * g2[j]!) / n;
      row.forEach((_, k) => (row[k]! -= (lr * g1[j]![k]!) / n));
    });
    this.b2 -= (lr * gb2) / n;
    return { loss: loss / n, accuracy: correct / n };
  }

  evaluate(data: readonly Tile[]): { loss: number; accuracy: number } {
    let loss = 0;
    let correct = 0;
    for (const { x, y } of data) {
      const { p } = this.forward(x);
      loss -= Math.log(Math.max(y === 1 ? p : 1 - p, 1e-12));
      if (p >= 0.5 === (y === 1)) correct++;
    }
    return { loss: loss / data.length, accuracy: correct / data.length };
  }

  save(path: string): Promise<void> {
    return writeFile(path, JSON.stringify({ w1: this.w1, b1: this.b1, w2: this.w2, b2: this.b2 }));
  }
}

const { values: args } = parseArgs({
  options: {
    spec: { type: 'string', default: join(ROOT, 'schemas/examples/seismic-training.json') },
    setting: { type: 'string', default: 'F' },
    'spool-dir': { type: 'string', default: join(ROOT, '.data/ts-example/spool') },
    socket: { type: 'string' },
    'http-url': { type: 'string' },
    'spill-dir': { type: 'string' },
    'model-dir': { type: 'string', default: join(ROOT, '.data/ts-example/models') },
    epochs: { type: 'string', default: '3' },
    tiles: { type: 'string', default: '512' },
    'batch-size': { type: 'string', default: '32' },
    'learning-rate': { type: 'string', default: '0.5' },
    'hidden-units': { type: 'string', default: '16' },
    seed: { type: 'string', default: '42' },
    'run-id': { type: 'string' },
  },
});
const setting = args.setting;
const epochs = Number(args.epochs);
const tiles = Number(args.tiles);
const batchSize = Number(args['batch-size']);
const learningRate = Number(args['learning-rate']);
const hiddenUnits = Number(args['hidden-units']);
const seed = Number(args.seed);

/** The capture options of a setting (AGENT.md): A/D an HTTP ingest, B/E the sidecar's socket, C/F an offline spool. */
function settingOptions(): Partial<CaptureOptions> {
  const queueSize = 'ABC'.includes(setting) ? 1 : 512;
  const spill = args['spill-dir'] === undefined ? {} : { spill: { dir: args['spill-dir'] } };
  if ('AD'.includes(setting)) {
    if (args['http-url'] === undefined) throw new Error(`setting ${setting} needs --http-url`);
    return { queueSize, exporter: new HttpCaptureExporter({ url: args['http-url'] }), ...spill };
  }
  if ('BE'.includes(setting)) {
    const path = args.socket ?? process.env.PROVML_AGENT_SOCKET;
    if (path === undefined) throw new Error(`setting ${setting} needs --socket (or PROVML_AGENT_SOCKET)`);
    return { queueSize, exporter: new SocketCaptureExporter({ path }), ...spill };
  }
  if ('CF'.includes(setting)) return { queueSize, spool: { dir: args['spool-dir'] }, offline: true };
  throw new Error(`--setting must be one of A–F, not ${setting}`);
}

/** Runs a capture call and keeps the longest time one took: what capture cost the trainer. */
let longestCaptureMs = 0;
function captured<T>(call: () => T): T {
  const started = performance.now();
  const result = call();
  longestCaptureMs = Math.max(longestCaptureMs, performance.now() - started);
  return result;
}

const train = syntheticTiles(tiles, seed);
const val = syntheticTiles(Math.max(64, Math.floor(tiles / 4)), seed + 1);
await mkdir(args['model-dir'], { recursive: true });
const net = new TinyNet(train[0]!.x.length, hiddenUnits, seed);
const rng = new Random(seed);

const capture = await init({
  spec: args.spec,
  ...settingOptions(),
  context: { example: 'trainStdlib.ts' },
});
const run = capture.workflowExecution(args['run-id']);
const training = captured(() =>
  run.begin('training', {
    values: {
      learning_rate: learningRate,
      epochs,
      batch_size: batchSize,
      hidden_units: hiddenUnits,
      seed,
    },
    dataRefs: { training_set: `synthetic://seismic-tiles/train?seed=${seed}&n=${tiles}` },
  }),
);
// Ctrl-C (SIGINT) or SIGTERM: stop after the epoch in progress, end the training as failed, deliver
let interrupted = false;
const interrupt = (): void => void (interrupted = true);
process.once('SIGINT', interrupt).once('SIGTERM', interrupt);
let last = { loss: Number.NaN, accuracy: Number.NaN };
for (let e = 0; e < epochs && !interrupted; e++) {
  rng.shuffle(train);
  const epoch = captured(() => training.begin('epoch', { values: { epoch: e } }));
  let loss = 0;
  let accuracy = 0;
  let batches = 0;
  for (let i = 0; i < train.length; i += batchSize, batches++) {
    const batch = captured(() => epoch.begin('batch', { values: { batch_index: batches } }));
    const step = net.step(train.slice(i, i + batchSize), learningRate);
    captured(() => batch.end({ values: { batch_loss: step.loss } }));
    loss += step.loss;
    accuracy += step.accuracy;
  }
  const modelPath = resolve(args['model-dir'], `model-epoch-${e}.json`);
  await net.save(modelPath); // the same path every run: each write is a version of the file
  const model = pathToFileURL(modelPath).href;
  captured(() =>
    epoch.end({
      values: { loss: loss / batches, accuracy: accuracy / batches },
      dataRefs: [{ name: 'model', uri: model, store: 'local' }],
    }),
  );
  const validation = captured(() =>
    training.begin('validation', {
      dataRefs: { validation_set: `synthetic://seismic-tiles/val?seed=${seed + 1}`, model },
    }),
  );
  last = net.evaluate(val);
  captured(() => validation.end({ values: { val_loss: last.loss, val_accuracy: last.accuracy } }));
  console.log(
    `epoch ${e}  loss ${(loss / batches).toFixed(4)}  accuracy ${(accuracy / batches).toFixed(3)}  ` +
      `val_loss ${last.loss.toFixed(4)}  val_accuracy ${last.accuracy.toFixed(3)}`,
  );
}
captured(() =>
  training.end({
    values: { final_loss: last.loss, final_accuracy: last.accuracy },
    status: interrupted ? 'failed' : 'finished',
  }),
);

// at most 5 s, also with the transport down: what it did not take waits in the spill spool
const result: DeliveryResult = await capture.shutdown();
console.log(
  `captured ${capture.stats.enqueued} events (setting ${setting}, workflow execution ${run.id}): ` +
    `${result.delivered} ${'CF'.includes(setting) ? 'written to the spool' : 'delivered'}, ` +
    `${result.rejected} rejected, ${result.dropped} dropped, ${result.spooled} spooled; ` +
    `the longest capture call took ${longestCaptureMs.toFixed(2)} ms`,
);
if (result.spooled > 0)
  console.log(
    `the transport was not reachable: ${result.spooled} events wait in ${result.spoolPath} ` +
      `(rerun with --spill-dir ${result.spoolPath} to send them, or npm run provml -- replay ${result.spoolPath})`,
  );
console.log(`delivery: ${JSON.stringify(result)}`);
process.exitCode = result.ok ? 0 : 1;
