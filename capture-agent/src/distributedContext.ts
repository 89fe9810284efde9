/**
 * Distributed training: the rank, world size, job and attempt that torchrun, Slurm, MPI, PBS or LSF set
 * in each process's environment. Mirrors the Python client's `_distributed.py`.
 */
import { ValidationError } from '@provml/schemas';

/** Where this process stands in a distributed job. */
export interface Distributed {
  /** This process's rank, 0 … worldSize - 1. */
  rank: number;
  /** How many ranks the job has (> 1). */
  worldSize: number;
  /** The rank on this node, when the launcher says. */
  localRank?: number;
  /** Who named the job (`torchelastic`, `slurm`, `pbs`, `lsf`, `mpi`) and its id; absent when nothing did. */
  job?: { launcher: string; id: string };
  /** How many times the job was restarted before this process started (0 on the first attempt). */
  attempt: number;
}

/** `captureRanks`: every rank captures, or only rank 0. */
export type CaptureRanks = 'all' | 'zero';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Rank variables, first match wins: torchrun's RANK over the MPI library's over the scheduler's task
 * id (under srun + torchrun, SLURM_PROCID numbers the nodes' launchers, not the ranks).
 */
const RANKS: readonly { rank: string; size: string; local: string }[] = [
  { rank: 'RANK', size: 'WORLD_SIZE', local: 'LOCAL_RANK' },
  { rank: 'OMPI_COMM_WORLD_RANK', size: 'OMPI_COMM_WORLD_SIZE', local: 'OMPI_COMM_WORLD_LOCAL_RANK' },
  { rank: 'PMI_RANK', size: 'PMI_SIZE', local: 'MPI_LOCALRANKID' },
  { rank: 'SLURM_PROCID', size: 'SLURM_NTASKS', local: 'SLURM_LOCALID' },
  { rank: 'JSM_NAMESPACE_RANK', size: 'JSM_NAMESPACE_SIZE', local: 'JSM_NAMESPACE_LOCAL_RANK' },
];

/** Job id variables, first match wins: torchrun's run id (`--rdzv-id`; "none" when not given) first. */
const JOBS: readonly { launcher: string; id: string; restarts?: string }[] = [
  { launcher: 'torchelastic', id: 'TORCHELASTIC_RUN_ID', restarts: 'TORCHELASTIC_RESTART_COUNT' },
  { launcher: 'slurm', id: 'SLURM_JOB_ID', restarts: 'SLURM_RESTART_COUNT' },
  { launcher: 'pbs', id: 'PBS_JOBID' },
  { launcher: 'lsf', id: 'LSB_JOBID' },
  { launcher: 'mpi', id: 'PMIX_NAMESPACE' },
];

const count = (env: Env, name: string | undefined): number | undefined => {
  const v = name === undefined ? undefined : env[name]?.trim();
  return v !== undefined && /^[0-9]{1,9}$/.test(v) ? Number(v) : undefined;
};

/**
 * The distributed job this process is a rank of, or undefined: no rank variable, or a world of one (a
 * plain script inside a batch job, whose later scripts must stay runs of their own).
 */
export function detectDistributed(env: Env): Distributed | undefined {
  for (const r of RANKS) {
    const rank = count(env, r.rank);
    const worldSize = count(env, r.size);
    if (rank === undefined || worldSize === undefined) continue;
    if (worldSize < 2 || rank >= worldSize) return undefined;
    const localRank = count(env, r.local);
    const found: Distributed = {
      rank,
      worldSize,
      attempt: 0,
      ...(localRank === undefined ? {} : { localRank }),
    };
    for (const j of JOBS) {
      const id = env[j.id]?.trim();
      if (id === undefined || id === '' || id === 'none') continue;
      const step = j.launcher === 'slurm' ? count(env, 'SLURM_STEP_ID') : undefined;
      found.job = { launcher: j.launcher, id: step === undefined ? id : `${id}.${step}` };
      found.attempt = count(env, j.restarts) ?? 0;
      break;
    }
    return found;
  }
  return undefined;
}

/** The execution context keys of a rank (contract 1's `context`). */
export function distributedContext(d: Distributed): Record<string, string> {
  return {
    rank: String(d.rank),
    worldSize: String(d.worldSize),
    attempt: String(d.attempt),
    ...(d.localRank === undefined ? {} : { localRank: String(d.localRank) }),
    ...(d.job === undefined ? {} : { distributedJob: `${d.job.launcher}:${d.job.id}` }),
  };
}

/** The id every rank gives its `n`-th workflow execution of `workflow`; undefined without a job id. */
export function jobWorkflowExecution(d: Distributed, workflow: string, n: number): string | undefined {
  if (d.job === undefined) return undefined;
  const base = `${workflow}-${d.job.launcher}-${d.job.id}`;
  return n === 0 ? base : `${base}-${n + 1}`;
}

/** `captureRanks`, else `PROVML_CAPTURE_RANKS`, else `all`. */
export function resolveCaptureRanks(value: string | undefined, env: Env): CaptureRanks {
  const v = (value ?? env.PROVML_CAPTURE_RANKS ?? 'all').trim().toLowerCase();
  if (v !== 'all' && v !== 'zero')
    throw new ValidationError(`captureRanks must be 'all' or 'zero', got '${v}'`, [
      { path: 'captureRanks', message: "'all' (every rank captures) or 'zero' (only rank 0)" },
    ]);
  return v;
}
