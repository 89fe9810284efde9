/** Pure mapping of one capture event, joined with its spec and the domain annotations, to PROV-ML quads. */
import type { NamedNode, Quad } from 'n3';
import {
  MLS,
  PROV,
  PROVML,
  RDF,
  RDFS,
  REFERENCE_SEMANTICS,
  type CaptureEvent,
  type CompiledSpec,
  type DataRef,
  type ResolvedAttribute,
  type Semantics,
} from '@provml/schemas';
import { entityOf, link, resolveUse, versionKey, type EntityRef, type PendingUse } from './dataVersions.ts';
import { LINKED_REFERENCES, LINKING_VALUES, newLinks, type ExecutionFacts } from './executionFacts.ts';
import { defaultStoreOf, type IriMinter } from './IriMinter.ts';
import { isRankContext, mapRank } from './mapRank.ts';
import { mergeSummary, type DurationSummary, type MappingState, type OpenExecution } from './MappingState.ts';
import { dateTime, dbl, int, iri, QuadCollector, str, valueLiteral } from './terms.ts';

/** The retrospective class of each value semantics (the paper's Table II, right column). */
export const RETROSPECTIVE_VALUE_CLASS: Readonly<Partial<Record<Semantics, string>>> = {
  hyperparameter: PROVML.LearningHyperParameterSetting,
  'model-hyperparameter': PROVML.ModelHyperParameterValue,
  'evaluation-measure': PROVML.ModelEvaluation,
  'dataset-characteristic': PROVML.DatasetCharacteristicValue,
  parameter: PROVML.ParameterValue,
  'output-value': PROVML.OutputValueValue,
};

const REFERENCE_CLASS: Readonly<Partial<Record<Semantics, string>>> = {
  'dataset-reference': PROVML.LearningDatasetReferenceValue,
  'model-reference': PROVML.ModelReferenceValue,
};

/** Most derivation links written for one output (guards against huge fan-in). */
const MAX_DERIVATIONS = 64;

/** Context keys mapped to their own properties; every other key becomes an ExecutionContextValue. */
const CONTEXT_PROPERTIES: Readonly<Record<string, string>> = {
  host: PROVML.hostName,
  pid: PROVML.processId,
  jobId: PROVML.jobId,
};

/**
 * Maps an event already checked against `spec` to quads in its workflow execution's named graph.
 * Reads and updates `state` (open executions, generators, annotations); does no I/O.
 */
export function mapEvent(
  event: CaptureEvent,
  spec: CompiledSpec,
  state: MappingState,
  iris: IriMinter,
): Quad[] {
  const graph = iri(iris.executionGraph(event.workflowExecution));
  const out = new QuadCollector(graph);
  const wfExecIri = iris.workflowExecution(event.workflowExecution);
  const texIri = iris.taskExecution(event.workflowExecution, event.taskExecution);
  const tex = iri(texIri);
  const attrs = spec.attributes.get(event.task)!;
  const taskSpec = spec.tasks.get(event.task)!;

  if (!state.workflowExecutions.has(wfExecIri)) {
    state.workflowExecutions.set(wfExecIri, true);
    const w = iri(wfExecIri);
    out.type(w, PROVML.WorkflowExecution, PROV.Activity);
    if (spec.spec.phase === 'learning') out.type(w, PROVML.LearningProcessExecution, MLS.Run);
    out.add(w, PROVML.executesWorkflow, iri(iris.workflow(event.workflow)));
    out.add(w, RDFS.label, str(event.workflowExecution));
  }

  let inputs: EntityRef[];
  let open: OpenExecution | undefined;
  if (event.phase === 'begin') {
    const parentIri =
      event.parentTaskExecution === null
        ? wfExecIri
        : iris.taskExecution(event.workflowExecution, event.parentTaskExecution);
    out.type(tex, PROVML.TaskExecution, PROV.Activity);
    if (taskSpec.stage !== undefined) out.type(tex, PROVML.LearningStageExecution);
    out.add(tex, PROVML.executesTask, iri(iris.task(event.workflow, event.task)));
    out.add(tex, PROVML.partOfExecution, iri(parentIri));
    out.add(tex, PROV.startedAtTime, dateTime(event.time));
    mapContext(event.context, tex, texIri, out, iris);
    mapRank(event.context, event.workflowExecution, tex, out, iris);
    inputs = [...(state.open.get(parentIri)?.inputs ?? [])];
    open = {
      startUs: event.time,
      inputs,
      ...(event.parentTaskExecution === null ? {} : { parent: parentIri }),
    };
    state.open.set(texIri, open);
    if (declaresReferenceOutput(attrs)) {
      let generators = state.openGenerators.get(wfExecIri);
      if (generators === undefined) state.openGenerators.set(wfExecIri, (generators = new Set()));
      generators.add(texIri);
    }
  } else {
    out.add(tex, PROV.endedAtTime, dateTime(event.time));
    out.add(tex, PROVML.status, str(event.status ?? 'finished'));
    mapContext(event.context, tex, texIri, out, iris); // e.g. why the processor closed unfinished work
    open = state.open.get(texIri);
    if (open !== undefined) {
      const seconds = Math.max(0, event.time - open.startUs) / 1e6;
      out.add(tex, PROVML.durationSeconds, dbl(seconds));
      state.open.delete(texIri);
      summarizeTimings(event, texIri, seconds, open, state, out, iris);
    }
    inputs = open?.inputs ?? [];
  }

  // what this event carried that links to the rest of the execution's facts (any of its events)
  const facts: ExecutionFacts = { refs: [], values: [] };
  const outputs: string[] = [];
  for (const ref of event.dataRefs) {
    const a = attrs.get(ref.name)!;
    const entity = mapDataRef(ref, a, event, tex, texIri, wfExecIri, open, out, state, iris);
    if (LINKED_REFERENCES.has(a.semantics))
      facts.refs.push({ name: ref.name, semantics: a.semantics, entity });
    if (a.direction === 'input') inputs.push(entity);
    else outputs.push(entity as string);
    const runLink = runLinkOf(spec, a);
    if (runLink !== undefined) link(out, wfExecIri, runLink, entity);
  }
  for (const o of outputs)
    for (const i of inputs.slice(0, MAX_DERIVATIONS))
      if (entityOf(i) !== o) link(out, o, PROV.wasDerivedFrom, i);

  for (const [name, value] of Object.entries(event.values)) {
    const a = attrs.get(name)!;
    const v = iri(iris.executionPart(texIri, name));
    out.type(v, PROVML.AttributeValue, RETROSPECTIVE_VALUE_CLASS[a.semantics]!);
    out.add(v, MLS.specifiedBy, iri(iris.attribute(event.workflow, event.task, name)));
    out.add(v, PROVML.valueName, str(name));
    out.add(v, PROV.value, valueLiteral(value));
    out.add(tex, a.direction === 'input' ? PROVML.hasInputValue : PROVML.hasOutputValue, v);
    const runLink = runLinkOf(spec, a);
    if (runLink !== undefined) out.add(iri(wfExecIri), runLink, v);
    if (LINKING_VALUES.has(a.semantics))
      facts.values.push({
        iri: v.value,
        semantics: a.semantics,
        ...(a.characterizes === undefined ? {} : { characterizes: a.characterizes }),
      });
  }
  // a begin's facts wait in the open execution for its end (bounded with it; lost with it on restart)
  for (const [s, p, o] of newLinks(event.phase === 'end' ? open?.facts : undefined, facts))
    link(out, s, p, o);
  if (event.phase === 'begin' && open !== undefined && (facts.refs.length > 0 || facts.values.length > 0))
    open.facts = facts;
  if (event.phase === 'end' && open !== undefined) settleAwaitedUses(texIri, wfExecIri, open, state, out);
  return out.quads;
}

/**
 * The ML Schema link from the learning process execution (the mls:Run) to a value or data of one of its
 * task executions, where the object is in the property's range: mls:hasInput a hyperparameter setting or a
 * dataset used, mls:hasOutput a model evaluation or a model generated. Nothing for other values, other
 * directions or other phases (docs/conformance/prov-o-mls.md).
 */
function runLinkOf(spec: CompiledSpec, a: ResolvedAttribute): string | undefined {
  if (spec.spec.phase !== 'learning') return undefined;
  if (a.direction === 'input')
    return a.semantics === 'hyperparameter' || a.semantics === 'dataset-reference' ? MLS.hasInput : undefined;
  return a.semantics === 'evaluation-measure' || a.semantics === 'model-reference'
    ? MLS.hasOutput
    : undefined;
}

const REFERENCE_OUTPUTS = new WeakMap<ReadonlyMap<string, ResolvedAttribute>, boolean>();

/** Whether a task declares a reference output: its executions may report generating data (cached per spec). */
function declaresReferenceOutput(attrs: ReadonlyMap<string, ResolvedAttribute>): boolean {
  let declares = REFERENCE_OUTPUTS.get(attrs);
  if (declares === undefined) {
    declares = false;
    for (const a of attrs.values())
      if (a.direction === 'output' && REFERENCE_SEMANTICS.has(a.semantics)) declares = true;
    REFERENCE_OUTPUTS.set(attrs, declares);
  }
  return declares;
}

/**
 * An execution ended: the uses that waited for it resolve to the version it reported of their URI, or,
 * once no execution they wait for is left, to what they would have read without it (dataVersions.ts).
 */
function settleAwaitedUses(
  texIri: string,
  wfExecIri: string,
  open: OpenExecution,
  state: MappingState,
  out: QuadCollector,
): void {
  const generators = state.openGenerators.get(wfExecIri);
  generators?.delete(texIri);
  if (generators?.size === 0) state.openGenerators.delete(wfExecIri);
  for (const use of open.awaitedBy ?? []) {
    if (use.entity !== undefined) continue;
    use.awaiting.delete(texIri);
    const version = open.generated?.get(use.uri);
    if (version !== undefined) resolveUse(use, { entity: version, generator: texIri }, out);
    else if (use.awaiting.size === 0) resolveUse(use, undefined, out);
  }
}

function mapDataRef(
  ref: DataRef,
  a: ResolvedAttribute,
  event: CaptureEvent,
  tex: NamedNode,
  texIri: string,
  wfExecIri: string,
  open: OpenExecution | undefined,
  out: QuadCollector,
  state: MappingState,
  iris: IriMinter,
): EntityRef {
  // the URI's own entity: the file, the same in every workflow (where lineage across workflows meets)
  const file = iri(ref.uri);
  out.type(file, PROV.Entity, PROVML.DataEntity);
  const storeName = ref.store ?? defaultStoreOf(ref.uri);
  const store = iri(iris.dataStore(storeName));
  out.add(file, PROVML.storedIn, store);
  out.type(store, PROVML.DataStoreInstance);
  out.add(store, RDFS.label, str(storeName));
  for (const annotation of state.annotations.get(ref.uri) ?? [])
    out.add(file, PROVML.hasDomainAnnotation, iri(annotation));
  const cls = REFERENCE_CLASS[a.semantics];
  const role = iri(iris.attribute(event.workflow, event.task, ref.name));
  const qualified = iri(iris.executionPart(texIri, ref.name));
  out.add(qualified, PROV.hadRole, role);
  if (a.direction === 'output') {
    // this generation: a version of its own
    const versionIri = iris.dataVersion(texIri, ref.uri);
    const version = iri(versionIri);
    out.type(version, PROV.Entity, PROVML.DataEntity);
    if (cls !== undefined) out.type(version, cls);
    out.add(version, PROV.specializationOf, file);
    out.add(version, PROVML.storedIn, store);
    // its content: the same digest is the same content in any workflow
    if (ref.digest !== undefined) out.add(version, PROVML.contentDigest, str(ref.digest));
    out.add(version, PROV.wasGeneratedBy, tex);
    out.add(version, PROV.qualifiedGeneration, qualified);
    out.type(qualified, PROV.Generation);
    out.add(qualified, PROV.activity, tex); // a Generation is an ActivityInfluence: it names the activity only
    state.versions.set(versionKey(wfExecIri, ref.uri), { entity: versionIri, generator: texIri });
    state.generatedBy.set(ref.uri, texIri);
    if (open !== undefined) (open.generated ??= new Map()).set(ref.uri, versionIri);
    return versionIri;
  }
  // a use: of the version generated last before it in this workflow execution, else of the file
  out.add(tex, PROV.qualifiedUsage, qualified);
  out.type(qualified, PROV.Usage);
  if (ref.digest !== undefined) out.add(qualified, PROVML.contentDigest, str(ref.digest)); // what it read
  const prior = state.versions.get(versionKey(wfExecIri, ref.uri));
  const priorGenerator = prior?.generator ?? state.generatedBy.get(ref.uri);
  const awaiting = [...(state.openGenerators.get(wfExecIri) ?? [])].filter(
    (g) => g !== texIri && state.open.has(g),
  );
  let entity: EntityRef;
  if (awaiting.length === 0) {
    entity = prior?.entity ?? ref.uri;
    if (priorGenerator !== undefined && priorGenerator !== texIri)
      out.add(tex, PROV.wasInformedBy, iri(priorGenerator));
  } else {
    // a running execution may yet report generating it: the use waits for it (dataVersions.ts)
    const use: PendingUse = {
      uri: ref.uri,
      user: texIri,
      prior: prior?.entity ?? ref.uri,
      ...(priorGenerator === undefined ? {} : { priorGenerator }),
      awaiting: new Set(awaiting),
      held: [],
    };
    for (const g of awaiting) (state.open.get(g)!.awaitedBy ??= []).push(use);
    entity = use;
  }
  link(out, texIri, PROV.used, entity);
  link(out, qualified.value, PROV.entity, entity);
  if (cls !== undefined) link(out, entity, RDF.type, cls);
  return entity;
}

/**
 * Adds an ended execution's duration, and the durations summarised inside it, to the execution it is
 * part of (while that is open), and states its own summaries: one provml:TimingStatistics per task
 * whose executions ended inside it. Only an execution whose begin this state saw has summaries, and
 * then every execution inside it began after it and was counted.
 */
function summarizeTimings(
  event: CaptureEvent,
  texIri: string,
  seconds: number,
  open: OpenExecution,
  state: MappingState,
  out: QuadCollector,
  iris: IriMinter,
): void {
  const parent = open.parent === undefined ? undefined : state.open.get(open.parent);
  if (parent !== undefined) {
    const into = (parent.timings ??= new Map<string, DurationSummary>());
    mergeSummary(into, event.task, { count: 1, sum: seconds, min: seconds, max: seconds });
    for (const [task, summary] of open.timings ?? []) mergeSummary(into, task, summary);
  }
  const tex = iri(texIri);
  for (const [task, summary] of open.timings ?? []) {
    const node = iri(iris.timingStatistics(texIri, task));
    out.add(tex, PROVML.hasTimingStatistics, node);
    out.type(node, PROVML.TimingStatistics);
    out.add(node, PROVML.ofTask, iri(iris.task(event.workflow, task)));
    out.add(node, PROVML.executionCount, int(summary.count));
    out.add(node, PROVML.minSeconds, dbl(summary.min));
    out.add(node, PROVML.meanSeconds, dbl(summary.sum / summary.count));
    out.add(node, PROVML.maxSeconds, dbl(summary.max));
  }
}

function mapContext(
  context: Record<string, string>,
  tex: NamedNode,
  texIri: string,
  out: QuadCollector,
  iris: IriMinter,
): void {
  for (const [key, value] of Object.entries(context)) {
    if (isRankContext(key, value)) continue; // mapRank.ts
    const property = CONTEXT_PROPERTIES[key];
    if (property !== undefined) out.add(tex, property, str(value));
    if (key === 'host') {
      const agent = iri(iris.hostAgent(value));
      out.add(tex, PROV.wasAssociatedWith, agent);
      out.type(agent, PROVML.ComputeNode, PROV.Agent);
      out.add(agent, RDFS.label, str(value));
    } else if (key === 'user') {
      const agent = iri(iris.userAgent(value));
      out.add(tex, PROV.wasAssociatedWith, agent);
      out.type(agent, PROV.Person, PROV.Agent);
      out.add(agent, RDFS.label, str(value));
    } else if (property === undefined) {
      const c = iri(iris.contextValue(texIri, key));
      out.type(c, PROVML.ExecutionContextValue);
      out.add(c, PROVML.contextKey, str(key));
      out.add(c, PROV.value, str(value));
      out.add(tex, PROVML.hasValue, c);
    }
  }
}
