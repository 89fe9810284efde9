/** Pure mapping of a rank's execution context (distributed training) to PROV: the rank as a software agent. */
import type { NamedNode } from 'n3';
import { PROV, PROVML, RDFS } from '@provml/schemas';
import type { IriMinter } from './IriMinter.ts';
import { int, iri, str, type QuadCollector } from './terms.ts';

/** Context keys of a rank stated as integers on the execution (the capture clients send them). */
const RANK_PROPERTIES: Readonly<Record<string, string>> = {
  rank: PROVML.rank,
  localRank: PROVML.localRank,
  worldSize: PROVML.worldSize,
  attempt: PROVML.attempt,
};

const NON_NEGATIVE = /^(0|[1-9][0-9]{0,8})$/;

/** Whether `mapRank` states this context entry (so it is not also an ExecutionContextValue). */
export function isRankContext(key: string, value: string): boolean {
  return RANK_PROPERTIES[key] !== undefined && NON_NEGATIVE.test(value);
}

/**
 * States a rank's context on its task execution (`provml:rank`, `localRank`, `worldSize`, `attempt`)
 * and associates the execution with the rank's agent: a `provml:Rank` (`prov:SoftwareAgent`), one per
 * rank of the workflow execution (the job), the same across the job's attempts.
 */
export function mapRank(
  context: Record<string, string>,
  workflowExecution: string,
  tex: NamedNode,
  out: QuadCollector,
  iris: IriMinter,
): void {
  for (const [key, value] of Object.entries(context))
    if (isRankContext(key, value)) out.add(tex, RANK_PROPERTIES[key]!, int(Number(value)));
  const rank = context.rank;
  if (rank === undefined || !NON_NEGATIVE.test(rank)) return;
  const agent = iri(iris.rankAgent(workflowExecution, Number(rank)));
  out.add(tex, PROV.wasAssociatedWith, agent);
  out.type(agent, PROVML.Rank, PROV.SoftwareAgent, PROV.Agent);
  out.add(agent, PROVML.rank, int(Number(rank)));
  out.add(agent, RDFS.label, str(`rank ${rank}`));
}
