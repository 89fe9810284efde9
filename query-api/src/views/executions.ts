/** Running and finished executions: the top-level task executions of every workflow run, newest first. */
import { fragment, integerValue, iriTerm, nameValue, oneOf, sparql } from './terms.ts';
import { irisOf, num, rows, type ViewContext } from './ViewContext.ts';

/** One top-level task execution (a curation, preparation or training run). */
export interface ExecutionRow {
  execution: string;
  workflowExecution: string;
  workflow: string;
  workflowLabel: string | null;
  lifecyclePhase: string | null;
  /** The task's label (`training`, `curation`, …). */
  label: string;
  started: string | null;
  ended: string | null;
  /** `running` until its end is captured. */
  status: 'running' | 'finished' | 'failed';
  durationSeconds: number | null;
  /** In a distributed job (its workflow execution): the rank that ran it, else null. */
  rank: number | null;
  /** In a distributed job: how many ranks it has, else null. */
  worldSize: number | null;
  /** In a distributed job: the job's restarts before this rank started (0 on the first attempt). */
  attempt: number | null;
}

const STATUS = ['running', 'finished', 'failed'] as const;

/** Lists executions, optionally of one workflow (id or IRI) and in one status. */
export async function listExecutions(
  context: ViewContext,
  params: Readonly<Record<string, unknown>>,
): Promise<{ executions: ExecutionRow[] }> {
  const workflow =
    params.workflow === undefined
      ? undefined
      : typeof params.workflow === 'string' && params.workflow.includes(':')
        ? iriTerm('workflow', params.workflow)
        : iriTerm('workflow', irisOf(context).workflow(nameValue('workflow', params.workflow)));
  const status = params.status === undefined ? undefined : oneOf('status', params.status, STATUS);
  const limit = params.limit === undefined ? 200 : integerValue('limit', params.limit, 1, 10_000);
  const filters = [
    workflow === undefined ? '' : sparql`FILTER(?workflow = ${workflow})`,
    status === undefined
      ? ''
      : status === 'running'
        ? 'FILTER(!BOUND(?ended))'
        : `FILTER(BOUND(?ended) && ?status = "${status}")`,
  ].join('\n');
  const found = await rows(
    context,
    sparql`SELECT DISTINCT ?execution ?workflowExecution ?workflow ?workflowLabel ?lifecyclePhase ?label
       ?started ?ended ?status ?durationSeconds ?rank ?worldSize ?attempt WHERE {
  ?workflowExecution a provml:WorkflowExecution ; provml:executesWorkflow ?workflow .
  ?execution provml:partOfExecution ?workflowExecution ; provml:executesTask/rdfs:label ?label .
  OPTIONAL { ?workflow rdfs:label ?workflowLabel }
  OPTIONAL { ?workflow provml:lifecyclePhase ?lifecyclePhase }
  OPTIONAL { ?execution prov:startedAtTime ?started }
  OPTIONAL { ?execution prov:endedAtTime ?ended }
  OPTIONAL { ?execution provml:status ?status }
  OPTIONAL { ?execution provml:durationSeconds ?durationSeconds }
  OPTIONAL { ?execution provml:rank ?rank }
  OPTIONAL { ?execution provml:worldSize ?worldSize }
  OPTIONAL { ?execution provml:attempt ?attempt }
  ${fragment(filters)}
} ORDER BY DESC(?started) ?execution ?rank LIMIT ${fragment(String(limit))}`,
  );
  return {
    executions: found.map((r) => ({
      execution: r.execution!,
      workflowExecution: r.workflowExecution!,
      workflow: r.workflow!,
      workflowLabel: r.workflowLabel ?? null,
      lifecyclePhase: r.lifecyclePhase ?? null,
      label: r.label!,
      started: r.started ?? null,
      ended: r.ended ?? null,
      status: r.ended === undefined ? 'running' : r.status === 'failed' ? 'failed' : 'finished',
      durationSeconds: num(r.durationSeconds),
      rank: num(r.rank),
      worldSize: num(r.worldSize),
      attempt: num(r.attempt),
    })),
  };
}
