/** Pure mapping of a prospective spec to PROV-ML prospective quads in the spec's named graph. */
import type { Quad } from 'n3';
import {
  PROV,
  PROVML,
  RDFS,
  type CompiledSpec,
  type LearningStage,
  type LifecyclePhase,
  type Semantics,
} from '@provml/schemas';
import type { IriMinter } from './IriMinter.ts';
import { iri, QuadCollector, str } from './terms.ts';

/** The prospective class of each semantics (the paper's Table II, left column). */
export const PROSPECTIVE_CLASS: Readonly<Record<Semantics, string>> = {
  hyperparameter: PROVML.LearningHyperParameter,
  'model-hyperparameter': PROVML.ModelHyperParameter,
  'evaluation-measure': PROVML.EvaluationMeasure,
  'dataset-reference': PROVML.LearningDatasetReference,
  'dataset-characteristic': PROVML.DatasetCharacteristic,
  'model-reference': PROVML.ModelReference,
  'data-reference': PROVML.DataReference,
  parameter: PROVML.Parameter,
  'output-value': PROVML.OutputValue,
};

const PHASE_CLASS: Readonly<Record<LifecyclePhase, string>> = {
  'data-curation': PROVML.DataCurationWorkflow,
  'learning-data-preparation': PROVML.LearningDataPreparationWorkflow,
  learning: PROVML.LearningProcess,
};

/** The stage-type individual of each learning stage. */
export const STAGE_TYPE: Readonly<Record<LearningStage, string>> = {
  training: PROVML.Training,
  validation: PROVML.Validation,
  testing: PROVML.Testing,
};

/** Maps a spec to its prospective provenance: workflow, tasks, stages and declared attributes. */
export function mapSpec(compiled: CompiledSpec, iris: IriMinter): Quad[] {
  const { spec } = compiled;
  const out = new QuadCollector(iri(iris.specGraph(spec.workflow)));
  const wf = iri(iris.workflow(spec.workflow));
  out.type(wf, PROVML.Workflow, PROV.Plan, PHASE_CLASS[spec.phase]);
  out.add(wf, PROVML.lifecyclePhase, str(spec.phase));
  out.add(wf, RDFS.label, str(spec.name ?? spec.workflow));
  if (spec.description !== undefined) out.add(wf, RDFS.comment, str(spec.description));
  for (const task of spec.tasks) {
    const t = iri(iris.task(spec.workflow, task.id));
    out.type(t, PROVML.DataTransformation, PROV.Plan);
    out.add(t, PROVML.partOfWorkflow, wf);
    out.add(t, RDFS.label, str(task.id));
    if (task.description !== undefined) out.add(t, RDFS.comment, str(task.description));
    if (task.parent != null) out.add(t, PROVML.hasParentTask, iri(iris.task(spec.workflow, task.parent)));
    if (task.stage !== undefined) {
      out.type(t, PROVML.LearningStage);
      out.add(t, PROVML.hasStageType, iri(STAGE_TYPE[task.stage]));
    }
    for (const [list, link] of [
      [task.inputs, PROVML.hasInput],
      [task.outputs, PROVML.hasOutput],
    ] as const) {
      for (const a of list) {
        const attr = iri(iris.attribute(spec.workflow, task.id, a.name));
        out.add(t, link, attr);
        out.type(attr, PROVML.Attribute, PROSPECTIVE_CLASS[a.semantics]);
        out.add(attr, RDFS.label, str(a.name));
        out.add(attr, PROVML.semantics, str(a.semantics));
        if (a.description !== undefined) out.add(attr, RDFS.comment, str(a.description));
        if (a.characterizes !== undefined)
          out.add(attr, PROVML.characterizes, iri(iris.attribute(spec.workflow, task.id, a.characterizes)));
      }
    }
  }
  return out.quads;
}
