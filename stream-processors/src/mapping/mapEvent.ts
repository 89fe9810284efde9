/** Pure mapping of one capture event, joined with its spec and the domain annotations, to PROV-ML quads. */
import type { NamedNode, Quad } from 'n3';
import {
  MLS,
  PROV,
  PROVML,
  RDFS,
  type CaptureEvent,
  type CompiledSpec,
  type DataRef,
  type ResolvedAttribute,
  type Semantics,
} from '@provml/schemas';
import { LINKED_REFERENCES, LINKING_VALUES, newLinks, type ExecutionFacts } from './executionFacts.ts';
import { defaultStoreOf, type IriMinter } from './IriMinter.ts';
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

  let inputs: string[];
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
    inputs = [...(state.open.get(parentIri)?.inputs ?? [])];
    open = {
      startUs: event.time,
      inputs,
      ...(event.parentTaskExecution === null ? {} : { parent: parentIri }),
    };
    state.open.set(texIri, open);
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
    if (LINKED_REFERENCES.has(a.semantics))
      facts.refs.push({ name: ref.name, semantics: a.semantics, entity: ref.uri });
    mapDataRef(ref, a, event, tex, texIri, out, state, iris);
    if (a.direction === 'input') inputs.push(ref.uri);
    else outputs.push(ref.uri);
  }
  for (const o of outputs)
    for (const i of inputs.slice(0, MAX_DERIVATIONS))
      if (i !== o) out.add(iri(o), PROV.wasDerivedFrom, iri(i));

  for (const [name, value] of Object.entries(event.values)) {
    const a = attrs.get(name)!;
    const v = iri(iris.executionPart(texIri, name));
    out.type(v, PROVML.AttributeValue, RETROSPECTIVE_VALUE_CLASS[a.semantics]!);
    out.add(v, MLS.specifiedBy, iri(iris.attribute(event.workflow, event.task, name)));
    out.add(v, PROVML.valueName, str(name));
    out.add(v, PROV.value, valueLiteral(value));
    out.add(tex, a.direction === 'input' ? MLS.hasInput : MLS.hasOutput, v);
    if (LINKING_VALUES.has(a.semantics))
      facts.values.push({
        iri: v.value,
        semantics: a.semantics,
        ...(a.characterizes === undefined ? {} : { characterizes: a.characterizes }),
      });
  }
  // a begin's facts wait in the open execution for its end (bounded with it; lost with it on restart)
  for (const [s, p, o] of newLinks(event.phase === 'end' ? open?.facts : undefined, facts))
    out.add(iri(s), p, iri(o));
  if (event.phase === 'begin' && open !== undefined && (facts.refs.length > 0 || facts.values.length > 0))
    open.facts = facts;
  return out.quads;
}

function mapDataRef(
  ref: DataRef,
  a: ResolvedAttribute,
  event: CaptureEvent,
  tex: NamedNode,
  texIri: string,
  out: QuadCollector,
  state: MappingState,
  iris: IriMinter,
): void {
  const entity = iri(ref.uri);
  out.type(entity, PROV.Entity, PROVML.DataEntity);
  const cls = REFERENCE_CLASS[a.semantics];
  if (cls !== undefined) out.type(entity, cls);
  const storeName = ref.store ?? defaultStoreOf(ref.uri);
  const store = iri(iris.dataStore(storeName));
  out.add(entity, PROVML.storedIn, store);
  out.type(store, PROVML.DataStoreInstance);
  out.add(store, RDFS.label, str(storeName));
  const role = iri(iris.attribute(event.workflow, event.task, ref.name));
  const qualified = iri(iris.executionPart(texIri, ref.name));
  if (a.direction === 'input') {
    out.add(tex, PROV.used, entity);
    out.add(tex, PROV.qualifiedUsage, qualified);
    out.type(qualified, PROV.Usage);
    const generator = state.generatedBy.get(ref.uri);
    if (generator !== undefined && generator !== texIri) out.add(tex, PROV.wasInformedBy, iri(generator));
  } else {
    out.add(entity, PROV.wasGeneratedBy, tex);
    out.add(entity, PROV.qualifiedGeneration, qualified);
    out.type(qualified, PROV.Generation);
    out.add(qualified, PROV.activity, tex);
    state.generatedBy.set(ref.uri, texIri);
  }
  out.add(qualified, PROV.entity, entity);
  out.add(qualified, PROV.hadRole, role);
  for (const annotation of state.annotations.get(ref.uri) ?? [])
    out.add(entity, PROVML.hasDomainAnnotation, iri(annotation));
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
