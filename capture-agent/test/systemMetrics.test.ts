/**
 * System metrics in the TypeScript library: CPU and RSS sampled on a worker thread of a real trainer
 * process (also while its main thread computes without yielding) and captured as declared output
 * values, per epoch or at an interval; the sampler thread stops; the GPU values through nvidia-smi.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaptureEvent } from '@provml/schemas';
import { declareSystemMetrics, SystemMetrics, systemMetricOutputs } from '../src/index.ts';

const run = promisify(execFile);
const SCRIPT = new URL('./fixtures/sysmetricsTraining.ts', import.meta.url).pathname;
const MAX_CPU = 100 * cpus().length + 10;

interface Report {
  events: CaptureEvent[];
  runningInside: boolean;
  runningAfter: boolean;
  samplingThread: number;
  samples: number;
  recorded: number;
  gpuSource: string | null;
  info: string[];
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provml-sysmetrics-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Runs the trainer with PATH holding only `extra` and the system's directories (no nvidia-smi here). */
async function trainer(mode: 'epoch' | 'interval', extra: string[] = []): Promise<Report> {
  const env = { ...process.env, PATH: [...extra, '/usr/local/bin', '/usr/bin', '/bin'].join(':') };
  const { stdout } = await run(process.execPath, ['--import', 'tsx', SCRIPT, mode], {
    env,
    maxBuffer: 2 ** 24,
  });
  return JSON.parse(stdout) as Report;
}

const ends = (r: Report, task: string) => r.events.filter((e) => e.task === task && e.phase === 'end');

describe('SystemMetrics (TypeScript library), real trainer processes', () => {
  it('captures CPU and RSS per epoch, sampled on its own thread, and stops', async () => {
    const r = await trainer('epoch');
    const epochs = ends(r, 'epoch');
    expect(epochs).toHaveLength(3);
    for (const e of epochs) {
      expect(Object.keys(e.values).sort()).toEqual(['sys_cpu_percent', 'sys_rss_mib']);
      // the epoch computes on the main thread for all of it: above idle, at most the cores
      expect(e.values.sys_cpu_percent).toBeGreaterThanOrEqual(5);
      expect(e.values.sys_cpu_percent).toBeLessThanOrEqual(MAX_CPU);
      expect(e.values.sys_rss_mib).toBeGreaterThan(5);
      expect(e.values.sys_rss_mib).toBeLessThan(4096);
    }
    const rss = epochs.map((e) => e.values.sys_rss_mib as number);
    expect(rss[1]! - rss[0]!).toBeGreaterThanOrEqual(50); // the second epoch's 64 MiB shows
    // sampled while the main thread never yielded: by the worker thread (id ≠ 0), not the trainer's
    expect(r.samplingThread).toBeGreaterThan(0);
    expect(r.samples).toBeGreaterThanOrEqual(3);
    expect(r.runningInside).toBe(true);
    expect(r.runningAfter).toBe(false);
    expect(r.gpuSource).toBeNull();
    expect(r.info).toEqual(['provml system metrics: no GPU metrics: nvidia-smi is not on PATH']);
  }, 120_000);

  it('records its own task runs at an interval under the task named, and stops with the stop', async () => {
    const r = await trainer('interval');
    const training = r.events.find((e) => e.task === 'training' && e.phase === 'begin')!;
    const begins = r.events.filter((e) => e.task === 'system' && e.phase === 'begin');
    const systems = ends(r, 'system');
    expect(r.recorded).toBeGreaterThanOrEqual(1);
    expect(begins).toHaveLength(r.recorded);
    expect(systems).toHaveLength(r.recorded);
    for (const b of begins) expect(b.parentTaskExecution).toBe(training.taskExecution);
    for (const e of systems) {
      expect(e.values.sys_cpu_percent).toBeGreaterThanOrEqual(0);
      expect(e.values.sys_cpu_percent).toBeLessThanOrEqual(MAX_CPU);
      expect(e.values.sys_rss_mib).toBeGreaterThan(5);
    }
    for (const e of ends(r, 'epoch')) expect(e.values).toEqual({});
    expect(r.runningAfter).toBe(false);
  }, 120_000);

  it('reads the GPUs through nvidia-smi when it is on PATH', async () => {
    // A stand-in for nvidia-smi placed on PATH: this machine has no NVIDIA GPU. It answers the
    // sampler's one query in nvidia-smi's csv,noheader,nounits form and logs its arguments.
    const log = join(dir, 'smi.log');
    await writeFile(
      join(dir, 'nvidia-smi'),
      `#!/bin/sh\necho "$@" >> ${log}\nprintf '0, 40, 1000\\n1, 80, 3000\\n2, [N/A], [N/A]\\n'\n`,
    );
    await chmod(join(dir, 'nvidia-smi'), 0o755);
    const r = await trainer('epoch', [dir]);
    expect(r.gpuSource).toBe('nvidia-smi');
    expect(r.info).toEqual([]);
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    expect(calls).toHaveLength(r.samples);
    expect(calls[0]).toBe('--query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits');
    for (const e of ends(r, 'epoch')) {
      expect(e.values.sys_gpu_utilization_percent).toBe(60); // GPUs 0 and 1; GPU 2 says N/A
      expect(e.values.sys_gpu_memory_mib).toBe(4000);
    }
  }, 120_000);

  it('declares the outputs once, and needs the parent of a task the spec lacks', async () => {
    const spec = { workflow: 'w', phase: 'learning', tasks: [{ id: 'epoch' }] };
    const twice = declareSystemMetrics(declareSystemMetrics(spec, 'epoch'), 'epoch');
    expect((twice.tasks[0] as unknown as { outputs: unknown[] }).outputs).toEqual(systemMetricOutputs());
    expect(spec.tasks[0]).toEqual({ id: 'epoch' });
    expect(() => declareSystemMetrics(spec, 'system')).toThrow(/parent/);
    const idle = new SystemMetrics({ gpu: false });
    expect(idle.read()).toEqual({});
    await idle.stop();
    await idle.stop();
    expect(idle.running).toBe(false);
  });
});
