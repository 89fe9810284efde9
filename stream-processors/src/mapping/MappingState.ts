/** The bounded state the event mapper keeps between events: open executions, generators, versions, annotations. */
import type { DataVersion, EntityRef, PendingUse } from './dataVersions.ts';
import type { ExecutionFacts } from './executionFacts.ts';

/** Durations of the ended executions of one task: count, sum, min and max in seconds. */
export interface DurationSummary {
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** What is remembered of a task execution between its begin and its end. */
export interface OpenExecution {
  startUs: number;
  /** The data entities it (or an ancestor) used: what its outputs derive from. */
  inputs: EntityRef[];
  /** IRI of the task execution it is part of (undefined for a workflow execution's top-level tasks). */
  parent?: string;
  /**
   * Durations of the executions that ended inside it (children and their descendants), by task id;
   * created by the first of them.
   */
  timings?: Map<string, DurationSummary>;
  /** What its begin carried that values link to or by (models, datasets, evaluations, …), for its end. */
  facts?: ExecutionFacts;
  /** The data URIs it generated, with their versions' IRIs. */
  generated?: Map<string, string>;
  /** Uses made while it ran that wait for its end: it may report generating what they used. */
  awaitedBy?: PendingUse[];
}

/** Adds `other` into `into`. */
export function mergeSummary(into: Map<string, DurationSummary>, task: string, other: DurationSummary): void {
  const s = into.get(task);
  if (s === undefined) into.set(task, { ...other });
  else {
    s.count += other.count;
    s.sum += other.sum;
    s.min = Math.min(s.min, other.min);
    s.max = Math.max(s.max, other.max);
  }
}

/** A Map that forgets its oldest entries past a size limit. */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }
  override set(key: K, value: V): this {
    if (this.size >= this.limit && !this.has(key)) {
      const oldest = this.keys().next();
      if (oldest.done !== true) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}

/** Size limits of the mapping state. */
export interface MappingStateLimits {
  openExecutions?: number;
  generators?: number;
  workflowExecutions?: number;
}

/**
 * Everything the mapper remembers. Losing it (restart) loses only derived links (and the uses still
 * waiting for a running generator, dataVersions.ts), never events.
 */
export class MappingState {
  /** taskExecution IRI → open execution. */
  readonly open: BoundedMap<string, OpenExecution>;
  /** data URI → IRI of the activity that generated it last, in any workflow execution. */
  readonly generatedBy: BoundedMap<string, string>;
  /** `versionKey(workflow execution IRI, data URI)` → the version it generated last there. */
  readonly versions: BoundedMap<string, DataVersion>;
  /**
   * workflow execution IRI → its open task executions whose task declares a reference output: a use
   * made meanwhile waits for them (dataVersions.ts).
   */
  readonly openGenerators: BoundedMap<string, Set<string>>;
  /** workflow execution IRIs already described. */
  readonly workflowExecutions: BoundedMap<string, true>;
  /** data entity IRI → IRIs of the domain annotation resources about it (every source together). */
  readonly annotations = new Map<string, Set<string>>();
  /**
   * annotation source (`''`: the one without a name) → data entity IRI → its annotation resources:
   * what each source says, so that replacing or withdrawing one takes back what it said.
   */
  readonly annotationsBySource = new Map<string, Map<string, Set<string>>>();

  constructor(limits: MappingStateLimits = {}) {
    this.open = new BoundedMap(limits.openExecutions ?? 1_000_000);
    this.generatedBy = new BoundedMap(limits.generators ?? 1_000_000);
    this.versions = new BoundedMap(limits.generators ?? 1_000_000);
    this.openGenerators = new BoundedMap(limits.workflowExecutions ?? 100_000);
    this.workflowExecutions = new BoundedMap(limits.workflowExecutions ?? 100_000);
  }
}
