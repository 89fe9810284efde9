// The thread side of SystemMetrics: samples this process's CPU time and RSS, and the GPUs through
// nvidia-smi, every `intervalMs`, into the shared window the trainer's thread reads (layout in
// SystemMetrics.ts). Plain JavaScript so that it starts the same under tsx, vitest and compiled builds.
import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { threadId, workerData } from 'node:worker_threads';

const { buffer, intervalMs, indexes, smi } = workerData;
const lock = new Int32Array(buffer, 0, 2); // [lock, stop]
const w = new Float64Array(buffer, 8);
// window slots: 0 t0, 1 cpu0, 2 t1, 3 cpu1, 4 rss max (NaN: none), 5 gpu util sum, 6 gpu util n,
// 7 gpu memory max (NaN: none), 8 samples, 9 the sampling thread's id

/** The query: index, utilisation and memory used of each GPU, as bare CSV. */
const NVIDIA_SMI_QUERY = ['--query-gpu=index,utilization.gpu,memory.used', '--format=csv,noheader,nounits'];

/**
 * [utilisation %, memory used MiB] per GPU; GPUs not in `indexes` (when given) and fields that are not
 * numbers (`[N/A]`, `[Not Supported]`) are left out.
 * @param {string} text
 * @param {number[] | undefined} [indexes]
 * @returns {[number, number][]}
 */
function parseNvidiaSmi(text, indexes) {
  /** @type {[number, number][]} */
  const out = [];
  for (const line of text.split('\n')) {
    const parts = line.split(',').map((p) => p.trim());
    if (parts.length !== 3 || parts.some((p) => p === '' || Number.isNaN(Number(p)))) continue;
    const [index, util, mem] = parts.map(Number);
    if (indexes === undefined || indexes.includes(index)) out.push([util, mem]);
  }
  return out;
}

function locked(fn) {
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0);
  try {
    fn();
  } finally {
    Atomics.store(lock, 0, 0);
  }
}

function gpuSample() {
  if (smi === undefined) return [];
  try {
    const text = execFileSync(smi, NVIDIA_SMI_QUERY, { encoding: 'utf8', timeout: 10_000 });
    return parseNvidiaSmi(text, indexes);
  } catch {
    return []; // a GPU that went away or a hung nvidia-smi costs only the GPU values
  }
}

function sample() {
  const g = gpuSample();
  const rss = process.memoryUsage.rss() / 1048576;
  const cpu = process.cpuUsage(); // the whole process, all threads
  const now = Number(process.hrtime.bigint()) / 1e9; // one clock for every thread
  locked(() => {
    w[2] = now;
    w[3] = (cpu.user + cpu.system) / 1e6;
    w[4] = Number.isNaN(w[4]) ? rss : Math.max(w[4], rss);
    if (g.length > 0) {
      w[5] += g.reduce((s, [u]) => s + u, 0) / g.length;
      w[6] += 1;
      const used = g.reduce((s, [, m]) => s + m, 0);
      w[7] = Number.isNaN(w[7]) ? used : Math.max(w[7], used);
    }
    w[8] += 1;
  });
}

w[9] = threadId;
while (Atomics.load(lock, 1) === 0) {
  sample();
  // sleeps until the interval passes or stop() wakes it
  Atomics.wait(lock, 1, 0, intervalMs);
}
