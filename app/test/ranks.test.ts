/**
 * Distributed training with the TypeScript library: 2 and 4 real processes started with the variables
 * torchrun and srun set, each a rank, are one run (one workflow execution) with an execution per rank
 * in the executions and runs views; a restart is an attempt of the same run.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionRow, RunRow } from '@provml/query-api';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { startStack } from '../../deploy/testing/stack.ts';

const run = promisify(execFile);
const SCRIPT = new URL('./fixtures/rankTraining.ts', import.meta.url).pathname;

/** What torchrun sets in each process it starts (one node). */
const torchrun = (rank: number, world: number, job: string): Record<string, string> => ({
  RANK: String(rank),
  LOCAL_RANK: String(rank),
  WORLD_SIZE: String(world),
  TORCHELASTIC_RUN_ID: job,
  TORCHELASTIC_RESTART_COUNT: '0',
});

/** What srun sets in each task of `srun --ntasks world` (two tasks a node). */
const srun = (rank: number, world: number, job: string, restart = 0): Record<string, string> => ({
  SLURM_JOB_ID: job,
  SLURM_PROCID: String(rank),
  SLURM_LOCALID: String(rank % 2),
  SLURM_NTASKS: String(world),
  SLURM_RESTART_COUNT: String(restart),
});

describe('distributed training, ranks as real processes (TypeScript library)', () => {
  let stack: EmbeddedStack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.shutdown());

  /** Starts one process per rank environment, all at once, and returns what each printed. */
  async function launch(envs: Record<string, string>[], seed: number): Promise<string[]> {
    const base = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !/^(PROVML_|SLURM_|TORCHELASTIC_|RANK$|WORLD_SIZE$)/.test(k),
      ),
    );
    const outs = await Promise.all(
      envs.map((env) =>
        run(process.execPath, ['--import', 'tsx', SCRIPT], {
          env: { ...base, ...env, PROVML_TEST_INGEST: stack.ingestUrl, PROVML_TEST_SEED: String(seed) },
        }),
      ),
    );
    await stack.settle();
    return outs.map((o) => o.stdout.trim());
  }

  const view = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${stack.queryUrl}${path}`);
    expect(response.status, path).toBe(200);
    return (await response.json()) as T;
  };
  const executionsOf = async (job: string): Promise<ExecutionRow[]> =>
    (
      await view<{ executions: ExecutionRow[] }>('/v1/executions?workflow=seismic-training&limit=1000')
    ).executions.filter((e) => e.workflowExecution === `urn:provml:execution/${job}`);
  const runsOf = async (seed: number): Promise<RunRow[]> =>
    (await view<{ runs: RunRow[] }>(`/v1/runs?hp.seed=${seed}`)).runs;

  it.each([
    ['torchrun', 2],
    ['torchrun', 4],
    ['srun', 2],
    ['srun', 4],
  ] as const)('a %s job of %i ranks is one run with an execution per rank', async (launcher, world) => {
    const job = `ts-${launcher}-${randomBytes(4).toString('hex')}`;
    const seed = randomBytes(3).readUIntBE(0, 3);
    const envs = Array.from({ length: world }, (_, r) =>
      launcher === 'torchrun' ? torchrun(r, world, job) : srun(r, world, job),
    );
    const ids = await launch(envs, seed);
    const id = `seismic-training-${launcher === 'torchrun' ? 'torchelastic' : 'slurm'}-${job}`;
    expect(ids).toEqual(envs.map(() => id));

    const rows = await executionsOf(id);
    expect(rows.map((r) => r.rank).sort()).toEqual(Array.from({ length: world }, (_, r) => r));
    expect(rows.every((r) => r.status === 'finished' && r.worldSize === world && r.attempt === 0)).toBe(true);
    expect(new Set(rows.map((r) => r.execution)).size).toBe(world);

    const runs = await runsOf(seed);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.workflowExecution).toBe(`urn:provml:execution/${id}`);
    expect(runs[0]!.ranks!.map((r) => [r.attempt, r.rank])).toEqual(
      Array.from({ length: world }, (_, r) => [0, r]),
    );
    expect(runs[0]!.training).toBe(rows.find((r) => r.rank === 0)!.execution);
  });

  it('a restarted job (SLURM_RESTART_COUNT=1) is an attempt of the same run, not a new run', async () => {
    const job = `ts-requeue-${randomBytes(4).toString('hex')}`;
    const seed = randomBytes(3).readUIntBE(0, 3);
    await launch([srun(0, 2, job), srun(1, 2, job)], seed);
    await launch([srun(0, 2, job, 1), srun(1, 2, job, 1)], seed);
    const rows = await executionsOf(`seismic-training-slurm-${job}`);
    expect(rows.map((r) => [r.attempt, r.rank]).sort()).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ]);
    const runs = await runsOf(seed);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.ranks!.map((r) => [r.attempt, r.rank])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ]);
  });
});
