// Distributed training: ranks, jobs and attempts read from torchrun's, srun's and MPI's variables; captureRanks.
import { describe, expect, it } from 'vitest';
import {
  detectDistributed,
  InMemoryCaptureExporter,
  init,
  jobWorkflowExecution,
} from '@provml/capture-agent';
import { ValidationError } from '@provml/schemas';

const SPEC = {
  workflow: 'w',
  phase: 'learning',
  tasks: [
    { id: 'training', stage: 'training' },
    { id: 'epoch', parent: 'training' },
  ],
};

describe('detectDistributed', () => {
  it('reads torchrun: the rank, the run id as the job, its restarts as the attempt', () => {
    const d = detectDistributed({
      RANK: '3',
      LOCAL_RANK: '1',
      WORLD_SIZE: '4',
      TORCHELASTIC_RUN_ID: 'abc',
      TORCHELASTIC_RESTART_COUNT: '2',
    });
    expect(d).toEqual({
      rank: 3,
      localRank: 1,
      worldSize: 4,
      job: { launcher: 'torchelastic', id: 'abc' },
      attempt: 2,
    });
    expect(jobWorkflowExecution(d!, 'w', 0)).toBe('w-torchelastic-abc');
    expect(jobWorkflowExecution(d!, 'w', 1)).toBe('w-torchelastic-abc-2');
  });

  it("prefers torchrun's rank under srun, and the Slurm job (with its step) when torchrun has no run id", () => {
    const d = detectDistributed({
      RANK: '5',
      WORLD_SIZE: '8',
      TORCHELASTIC_RUN_ID: 'none',
      SLURM_PROCID: '1',
      SLURM_NTASKS: '2',
      SLURM_JOB_ID: '881234',
      SLURM_STEP_ID: '0',
      SLURM_RESTART_COUNT: '1',
    });
    expect(d).toMatchObject({
      rank: 5,
      worldSize: 8,
      job: { launcher: 'slurm', id: '881234.0' },
      attempt: 1,
    });
  });

  it('reads MPI ranks with a PBS job, and is undefined for a world of one or a plain batch job', () => {
    expect(
      detectDistributed({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2', PBS_JOBID: '9.pbs' }),
    ).toMatchObject({ rank: 1, job: { launcher: 'pbs', id: '9.pbs' } });
    expect(detectDistributed({ SLURM_JOB_ID: '77', SLURM_PROCID: '0', SLURM_NTASKS: '1' })).toBeUndefined();
    expect(detectDistributed({ SLURM_JOB_ID: '77' })).toBeUndefined();
    expect(detectDistributed({ RANK: '2', WORLD_SIZE: '2' })).toBeUndefined();
  });
});

describe('init in a distributed job', () => {
  const rank = (r: number): Record<string, string> => ({
    RANK: String(r),
    WORLD_SIZE: '2',
    TORCHELASTIC_RUN_ID: 'j',
  });

  it("names the job's workflow execution and sends the rank in the context", async () => {
    const exporter = new InMemoryCaptureExporter();
    const capture = await init({ spec: SPEC, exporter, env: rank(1) });
    const run = capture.workflowExecution();
    run.begin('training').end();
    await capture.shutdown();
    expect(run.id).toBe('w-torchelastic-j');
    expect(exporter.events[0]!.context).toMatchObject({
      rank: '1',
      worldSize: '2',
      attempt: '0',
      distributedJob: 'torchelastic:j',
    });
  });

  it("captureRanks 'zero' queues nothing on the other ranks", async () => {
    const counts: number[] = [];
    for (const r of [0, 1]) {
      const exporter = new InMemoryCaptureExporter();
      const capture = await init({ spec: SPEC, exporter, env: rank(r), captureRanks: 'zero' });
      const training = capture.workflowExecution().begin('training');
      training.begin('epoch').end();
      training.end();
      await capture.shutdown();
      counts.push(exporter.events.length);
    }
    expect(counts).toEqual([4, 0]);
  });

  it('checks captureRanks, also from PROVML_CAPTURE_RANKS', async () => {
    const exporter = new InMemoryCaptureExporter();
    await expect(
      init({ spec: SPEC, exporter, env: { ...rank(1), PROVML_CAPTURE_RANKS: 'first' } }),
    ).rejects.toThrow(ValidationError);
    const capture = await init({ spec: SPEC, exporter, env: { ...rank(1), PROVML_CAPTURE_RANKS: 'zero' } });
    expect(capture.silent).toBe(true);
    await capture.shutdown();
  });
});
