/**
 * A draft prospective spec from what a lenient run saw (pure): the lines the capture clients write
 * with PROVML_SPEC_DRAFT set (capture-agent/python/provml_client/_draft.py, capture-agent/src/
 * draft/DraftRecorder.ts), merged, with each name's semantics guessed from its name and direction.
 * The guesses are marked in each attribute's description so that the user knows what to check.
 */
import {
  compileSpec,
  type AttributeSpec,
  type LifecyclePhase,
  type ProspectiveSpec,
  type Semantics,
  type TaskSpec,
} from '@provml/schemas';

/** A name a task used, as a client recorded it. */
export interface SeenName {
  name: string;
  kind: 'value' | 'reference';
  /** JSON types of the values seen (values only). */
  types?: string[];
  /** One URI it referred to (references only). */
  uri?: string;
}

/** A task a client saw, with its parent task and the names it used on begin (inputs) and end (outputs). */
export interface SeenTask {
  id: string;
  parent: string | null;
  executions: number;
  inputs: SeenName[];
  outputs: SeenName[];
}

/** A task of a spec as written (its attribute lists may be left out). */
export type WrittenTask = Omit<TaskSpec, 'inputs' | 'outputs'> & {
  inputs?: AttributeSpec[];
  outputs?: AttributeSpec[];
};

/** A spec as written: what a draft keeps and writes (not the parsed form, which fills in defaults). */
export type WrittenSpec = Omit<ProspectiveSpec, 'tasks'> & { tasks: WrittenTask[] };

/** One line of a draft file: what one client saw. */
export interface DraftLine {
  workflow: string;
  /** The spec the client was given, when it could read one: its declarations are kept. */
  spec: WrittenSpec | null;
  tasks: SeenTask[];
}

/** What `draftSpec` made, and how much of it it guessed. */
export interface DraftedSpec {
  spec: WrittenSpec;
  /** Attributes added from the run (not in the spec the script was given). */
  added: number;
}

const MEASURE =
  /(loss|nll|acc|accuracy|f1|precision|recall|auc|error|mse|mae|rmse|score|perplexity|bleu|rouge|iou|dice|r2)(_|$)/i;
const PARAMETER = /(^|_)(seed|index|idx|step|rank|device|workers?|epoch|batch_index|iteration|fold)$/i;
const MODEL = /(model|checkpoint|ckpt|weights)/i;
const DATASET = /(data|dataset|set|train|valid|val|test|corpus|split|features|labels)/i;
const STAGE: [RegExp, TaskSpec['stage']][] = [
  [/^(train|training|fit)$/i, 'training'],
  [/^(val|valid|validation|validate|eval|evaluation)$/i, 'validation'],
  [/^(test|testing)$/i, 'testing'],
];

/** A loop index that says which model a task wrote (when it writes one). */
const MODEL_INDEX = /^(epoch|step|global_step|iteration)$/i;

/**
 * The semantics guessed for a name a task used on begin (`input`) or end (`output`); `writesModel`:
 * the task also used a model reference, so its epoch (or step) index is that model's hyperparameter.
 */
export function guessSemantics(
  seen: SeenName,
  direction: 'input' | 'output',
  writesModel = false,
): Semantics {
  if (seen.kind === 'value' && writesModel && MODEL_INDEX.test(seen.name)) return 'model-hyperparameter';
  if (seen.kind === 'reference') {
    if (MODEL.test(seen.name)) return 'model-reference';
    if (DATASET.test(seen.name)) return 'dataset-reference';
    return 'data-reference';
  }
  if (seen.name.startsWith('sys_')) return 'output-value';
  if (direction === 'input') return PARAMETER.test(seen.name) ? 'parameter' : 'hyperparameter';
  return MEASURE.test(seen.name) ? 'evaluation-measure' : 'output-value';
}

function attribute(seen: SeenName, direction: 'input' | 'output', writesModel: boolean): AttributeSpec {
  const semantics = guessSemantics(seen, direction, writesModel);
  const what =
    seen.kind === 'reference' ? `a reference, e.g. ${seen.uri ?? '?'}` : (seen.types ?? []).join(' or ');
  return {
    name: seen.name,
    semantics,
    description: `drafted by provml spec init from a run (${what}; ${semantics} guessed from the name)`,
  };
}

/**
 * Merges what the clients saw into one spec: the given spec's tasks and attributes first, unchanged,
 * then each task and name the run used that it lacks, in first-seen order.
 * @throws ValidationError when the lines cannot make a valid spec (a bug: the result is checked).
 */
export function draftSpec(
  lines: readonly DraftLine[],
  options: { workflow?: string; phase?: LifecyclePhase } = {},
): DraftedSpec {
  const base = lines.find((l) => l.spec !== null)?.spec ?? null;
  const tasks = new Map<string, WrittenTask>((base?.tasks ?? []).map((t) => [t.id, t]));
  let added = 0;
  const learning = (options.phase ?? base?.phase ?? 'learning') === 'learning';
  for (const line of lines) {
    for (const seen of line.tasks) {
      let task = tasks.get(seen.id);
      if (task === undefined) {
        const stage = learning ? STAGE.find(([re]) => re.test(seen.id))?.[1] : undefined;
        task = {
          id: seen.id,
          ...(seen.parent === null ? {} : { parent: seen.parent }),
          ...(stage === undefined ? {} : { stage }),
          inputs: [],
          outputs: [],
        };
      }
      const declared = new Set([...(task.inputs ?? []), ...(task.outputs ?? [])].map((a) => a.name));
      const writesModel = [...seen.inputs, ...seen.outputs].some(
        (n) => n.kind === 'reference' && guessSemantics(n, 'output') === 'model-reference',
      );
      const fresh = (names: SeenName[], direction: 'input' | 'output'): AttributeSpec[] =>
        names
          .filter((n) => !declared.has(n.name))
          .map((n) => (declared.add(n.name), attribute(n, direction, writesModel)));
      const inputs = fresh(seen.inputs, 'input');
      const outputs = fresh(seen.outputs, 'output');
      if (inputs.length > 0) task = { ...task, inputs: [...(task.inputs ?? []), ...inputs] };
      if (outputs.length > 0) task = { ...task, outputs: [...(task.outputs ?? []), ...outputs] };
      tasks.set(seen.id, task);
      added += inputs.length + outputs.length;
    }
  }
  const workflow = base?.workflow ?? options.workflow ?? lines[0]?.workflow ?? 'workflow';
  const spec: WrittenSpec = {
    ...(base ?? {}),
    workflow,
    phase: options.phase ?? base?.phase ?? 'learning',
    tasks: [...tasks.values()],
  };
  if (base === null)
    spec.description = `Drafted by provml spec init from a run: check each semantics, then add stages and units.`;
  compileSpec(spec);
  return { spec, added };
}

/** The lines of a draft file (one JSON object per line, blank lines skipped). */
export function parseDraftLines(text: string): DraftLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as DraftLine);
}
