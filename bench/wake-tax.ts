/**
 * The wake-up tax (issue #21): what the first code after a GPU-like wait costs on this machine, with and
 * without capture. Times (median, µs) a capture `end` + `begin` pair and, apart, a fixed piece of plain
 * code (JSON of a small object), each back to back ("hot") and as the first thing after a 5 ms wait
 * ("after a wait"), in one process, the TS library in setting F. Prints one JSON line.
 *
 * Run: `node --import tsx bench/wake-tax.ts [--n 3000] [--wait-ms 5]`
 * (the Python twin: `python3 bench/wake_tax.py`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { init } from '@provml/capture-agent';
import { FIG5_SPEC } from './fig5-loop.ts';
import { helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const { values: args } = parseArgs({
  options: { n: { type: 'string', default: '3000' }, 'wait-ms': { type: 'string', default: '5' } },
});
const n = Number(args.n);
const waitMs = Number(args['wait-ms']);
const dir = await mkdtemp(join(tmpdir(), 'wake-tax-'));
const capture = await init({ spec: FIG5_SPEC, queueSize: 50, spool: { dir }, offline: true, env: {} });
const epoch = capture
  .workflowExecution()
  .begin('training')
  .begin('epoch', { values: { epoch: 0 } });
const now = (): number => performance.now();
let sink = 0;
const plain = (i: number): number => JSON.stringify({ step: i, loss: i / 7, tag: 'x' }).length;

/** Median µs of `f` over the second half of `n` rounds, each after `before`. */
async function time(f: (i: number) => void, before: () => Promise<void> | void): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    await before();
    const t = now();
    f(i);
    xs.push(now() - t);
  }
  const s = xs.slice(n >> 1).sort((a, b) => a - b);
  return Math.round(s[s.length >> 1]! * 1000 * 100) / 100;
}
let batch = epoch.begin('batch');
const pair = (i: number): void => {
  batch.end({ values: { loss: i / 7 } });
  batch = epoch.begin('batch');
};
const wait = (): Promise<void> => sleep(waitMs);
const nothing = (): void => undefined;
const result = {
  captureHotUs: await time(pair, nothing),
  captureAfterWaitUs: await time(pair, wait),
  plainHotUs: await time((i) => (sink += plain(i)), nothing),
  plainAfterWaitUs: await time((i) => (sink += plain(i)), wait),
  waitMs,
  n,
};
await capture.shutdown();
await rm(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(result)}${sink < 0 ? ' ' : ''}\n`);
