/** A distributed job is one run: the runs view's rows of its ranks' trainings gathered into one. */
import type { RankRun, RunRow } from './runs.ts';

const mean = (values: readonly (number | null)[]): number | null => {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : known.reduce((s, v) => s + v, 0) / known.length;
};

/** The status of an attempt: failed when a rank failed, running while one runs, else finished. */
function attemptStatus(ranks: readonly RankRun[]): string | null {
  const statuses = ranks.map((r) => r.status);
  if (statuses.includes('failed')) return 'failed';
  if (statuses.includes('running')) return 'running';
  return statuses.every((s) => s === null) ? null : 'finished';
}

/**
 * Gathers the rows of ranks (`ranks` set) by workflow execution into one row per job: rank 0's of the
 * latest attempt (else its lowest rank) with every rank's training in `ranks`, by attempt then rank;
 * rows outside a job are kept as they are, in order.
 */
export function gatherRanks(runs: readonly RunRow[]): RunRow[] {
  const jobs = new Map<string, RunRow[]>();
  const out: (RunRow | string)[] = [];
  for (const run of runs) {
    if (run.ranks === null || run.workflowExecution === null) {
      out.push(run);
      continue;
    }
    let rows = jobs.get(run.workflowExecution);
    if (rows === undefined) {
      jobs.set(run.workflowExecution, (rows = []));
      out.push(run.workflowExecution);
    }
    rows.push(run);
  }
  return out.map((entry) => {
    if (typeof entry !== 'string') return entry;
    const rows = jobs.get(entry)!;
    const ranks = rows.flatMap((r) => r.ranks!).sort((a, b) => a.attempt - b.attempt || a.rank - b.rank);
    const latest = ranks[ranks.length - 1]!.attempt;
    const last = ranks.filter((r) => r.attempt === latest);
    const lead = rows.find((r) => r.training === last[0]!.training)!;
    const started = ranks.map((r) => r.started).filter((s): s is string => s !== null);
    return {
      ...lead,
      started: started.length === 0 ? null : started.sort()[0]!,
      status: attemptStatus(last),
      meanBatchSeconds: mean(last.map((r) => r.meanBatchSeconds)),
      meanEpochSeconds: mean(last.map((r) => r.meanEpochSeconds)),
      ranks,
    };
  });
}
