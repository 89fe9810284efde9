/** Execution context captured automatically: host, process and cluster job. */
import { hostname, userInfo } from 'node:os';

/** Environment variables of the schedulers whose job ids are recognised. */
const SCHEDULERS: readonly { scheduler: string; jobId: string; nodes?: string }[] = [
  { scheduler: 'slurm', jobId: 'SLURM_JOB_ID', nodes: 'SLURM_JOB_NODELIST' },
  { scheduler: 'pbs', jobId: 'PBS_JOBID', nodes: 'PBS_NODEFILE' },
  { scheduler: 'lsf', jobId: 'LSB_JOBID', nodes: 'LSB_HOSTS' },
];

/**
 * Collects host, pid, user, cluster job id and scheduler (SLURM, PBS or LSF, when their
 * variables are set) and visible GPUs. `env` is passed in by the caller (an entry point).
 */
export function collectExecutionContext(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const context: Record<string, string> = {
    host: hostname(),
    pid: String(process.pid),
    runtime: `node ${process.version}`,
  };
  try {
    context.user = userInfo().username;
  } catch {
    // no passwd entry (some containers): leave the user out
  }
  for (const s of SCHEDULERS) {
    const jobId = env[s.jobId];
    if (jobId === undefined || jobId === '') continue;
    context.scheduler = s.scheduler;
    context.jobId = jobId;
    const nodes = s.nodes === undefined ? undefined : env[s.nodes];
    if (nodes !== undefined && nodes !== '') context.nodes = nodes;
    break;
  }
  const gpus = env.CUDA_VISIBLE_DEVICES ?? env.ROCR_VISIBLE_DEVICES;
  if (gpus !== undefined && gpus !== '') context.gpus = gpus;
  return context;
}
