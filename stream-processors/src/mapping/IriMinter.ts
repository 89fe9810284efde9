/** Deterministic IRIs for everything the mapper emits: the same input always gives the same IRI. */

const seg = (s: string): string => encodeURIComponent(s);

/** Default base of instance IRIs. Configurable per deployment (e.g. an https namespace of the team). */
export const DEFAULT_IRI_BASE = 'urn:provml:';

/**
 * Mints instance IRIs under a base. A data reference's own URI is the IRI of its stable entity, which
 * is what makes the same file the same entity in every workflow; each generation of it is a version
 * minted under the generating task execution (`dataVersion`).
 */
export class IriMinter {
  constructor(readonly base: string = DEFAULT_IRI_BASE) {}

  workflow(workflow: string): string {
    return `${this.base}workflow/${seg(workflow)}`;
  }
  task(workflow: string, task: string): string {
    return `${this.base}workflow/${seg(workflow)}/task/${seg(task)}`;
  }
  attribute(workflow: string, task: string, name: string): string {
    return `${this.base}workflow/${seg(workflow)}/task/${seg(task)}/attribute/${seg(name)}`;
  }
  workflowExecution(workflowExecution: string): string {
    return `${this.base}execution/${seg(workflowExecution)}`;
  }
  taskExecution(workflowExecution: string, taskExecution: string): string {
    return `${this.base}execution/${seg(workflowExecution)}/${seg(taskExecution)}`;
  }
  /** A value, usage or generation node of a task execution, by attribute name. */
  executionPart(taskExecutionIri: string, name: string): string {
    return `${taskExecutionIri}/${seg(name)}`;
  }
  /** The version of a data URI that a task execution generated (`prov:specializationOf` the URI). */
  dataVersion(taskExecutionIri: string, uri: string): string {
    return `${taskExecutionIri}/version/${seg(uri)}`;
  }
  /** The timing statistics of one task's executions inside a task execution. */
  timingStatistics(taskExecutionIri: string, task: string): string {
    return `${taskExecutionIri}/timing/${seg(task)}`;
  }
  contextValue(taskExecutionIri: string, key: string): string {
    return `${taskExecutionIri}/context/${seg(key)}`;
  }
  dataStore(store: string): string {
    return `${this.base}store/${seg(store)}`;
  }
  hostAgent(host: string): string {
    return `${this.base}agent/host/${seg(host)}`;
  }
  userAgent(user: string): string {
    return `${this.base}agent/user/${seg(user)}`;
  }
  /** A rank of a distributed job: one per rank of its workflow execution. */
  rankAgent(workflowExecution: string, rank: number): string {
    return `${this.base}agent/rank/${seg(workflowExecution)}/${rank}`;
  }
  /** Who posted annotations: an annotator id the ingest derived from the bearer token, or `anonymous`. */
  annotator(id: string): string {
    return `${this.base}agent/annotator/${seg(id)}`;
  }
  executionGraph(workflowExecution: string): string {
    return `${this.base}graph/execution/${seg(workflowExecution)}`;
  }
  specGraph(workflow: string): string {
    return `${this.base}graph/spec/${seg(workflow)}`;
  }
  /** The graph holding domain annotations (a named one per source when given). */
  domainGraph(source?: string): string {
    return source === undefined ? `${this.base}graph/domain` : `${this.base}graph/domain/${seg(source)}`;
  }
}

/** The data store of a URI when the event names none: the scheme plus authority (`s3://bucket`, `file`). */
export function defaultStoreOf(uri: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/([^/?#]*))?/.exec(uri);
  if (m === null) return 'unknown';
  const scheme = m[1]!.toLowerCase();
  return m[3] ? `${scheme}://${m[3]}` : scheme;
}
