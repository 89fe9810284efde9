/** The prospective workflow spec (README, Public contracts §2): format, validation and lookup. */
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import { ValidationError, type ValidationIssue } from './errors.ts';

/** The PROV-ML meaning of a task input or output. */
export const SEMANTICS = [
  'hyperparameter',
  'model-hyperparameter',
  'evaluation-measure',
  'dataset-reference',
  'dataset-characteristic',
  'model-reference',
  'data-reference',
  'parameter',
  'output-value',
] as const;
export type Semantics = (typeof SEMANTICS)[number];

/** Semantics whose values arrive as `dataRefs` (URIs), not as `values`. */
export const REFERENCE_SEMANTICS: ReadonlySet<Semantics> = new Set([
  'dataset-reference',
  'model-reference',
  'data-reference',
]);

export const LIFECYCLE_PHASES = ['data-curation', 'learning-data-preparation', 'learning'] as const;
export type LifecyclePhase = (typeof LIFECYCLE_PHASES)[number];

export const LEARNING_STAGES = ['training', 'validation', 'testing'] as const;
export type LearningStage = (typeof LEARNING_STAGES)[number];

const identifier = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._~:-]*$/, 'use letters, digits and . _ ~ : - only');

const attributeSchema = z
  .object({
    name: identifier,
    semantics: z.enum(SEMANTICS),
    description: z.string().max(2000).optional(),
    unit: z.string().max(100).optional(),
    /** For `dataset-characteristic`: the dataset-reference it describes. */
    characterizes: identifier.optional(),
  })
  .strict();

const taskSchema = z
  .object({
    id: identifier,
    description: z.string().max(2000).optional(),
    parent: identifier.nullable().optional(),
    stage: z.enum(LEARNING_STAGES).optional(),
    inputs: z.array(attributeSchema).default([]),
    outputs: z.array(attributeSchema).default([]),
  })
  .strict();

/** A prospective spec as written (also the source of the Go agent's JSON Schema: deploy/agent-go-schemas.ts). */
export const specSchema = z
  .object({
    workflow: identifier,
    name: z.string().max(500).optional(),
    description: z.string().max(5000).optional(),
    phase: z.enum(LIFECYCLE_PHASES),
    version: z.string().max(100).optional(),
    tasks: z.array(taskSchema).min(1),
  })
  .strict();

/** A declared task input or output. */
export type AttributeSpec = z.infer<typeof attributeSchema>;
/** A task (data transformation) of a workflow. */
export type TaskSpec = z.infer<typeof taskSchema>;
/** A prospective workflow spec as written by a user. */
export type ProspectiveSpec = z.infer<typeof specSchema>;

/** Where an attribute was declared: as an input or an output of its task. */
export type AttributeDirection = 'input' | 'output';

/** A declared attribute with its direction, as looked up by the mapper. */
export interface ResolvedAttribute extends AttributeSpec {
  direction: AttributeDirection;
}

/** A validated spec with indexes for the lookups the ingest and the mapper make per event. */
export interface CompiledSpec {
  readonly spec: ProspectiveSpec;
  readonly tasks: ReadonlyMap<string, TaskSpec>;
  /** task id → attribute name → attribute. */
  readonly attributes: ReadonlyMap<string, ReadonlyMap<string, ResolvedAttribute>>;
}

const zodIssues = (error: z.ZodError): ValidationIssue[] =>
  error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));

/** Checks that cannot be expressed per field: unique ids, known parents, no parent cycles. */
function crossChecks(spec: ProspectiveSpec): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const ids = new Map<string, TaskSpec>();
  spec.tasks.forEach((t, i) => {
    if (ids.has(t.id)) issues.push({ path: `tasks.${i}.id`, message: `duplicate task id '${t.id}'` });
    ids.set(t.id, t);
  });
  spec.tasks.forEach((t, i) => {
    if (t.parent != null && !ids.has(t.parent))
      issues.push({ path: `tasks.${i}.parent`, message: `unknown parent task '${t.parent}'` });
    const names = new Set<string>();
    const all = [...t.inputs, ...t.outputs];
    for (const a of all) {
      if (names.has(a.name))
        issues.push({
          path: `tasks.${i}`,
          message: `attribute '${a.name}' declared twice in task '${t.id}'`,
        });
      names.add(a.name);
    }
    for (const a of all) {
      if (a.characterizes === undefined) continue;
      const target = all.find((b) => b.name === a.characterizes);
      if (a.semantics !== 'dataset-characteristic' || target?.semantics !== 'dataset-reference')
        issues.push({
          path: `tasks.${i}`,
          message: `'${a.name}.characterizes' must name a dataset-reference of task '${t.id}' and only dataset-characteristic may use it`,
        });
    }
  });
  for (const t of spec.tasks) {
    const seen = new Set<string>([t.id]);
    let p = t.parent;
    while (p != null) {
      if (seen.has(p)) {
        issues.push({ path: 'tasks', message: `parent cycle through task '${t.id}'` });
        break;
      }
      seen.add(p);
      p = ids.get(p)?.parent;
    }
  }
  return issues;
}

/**
 * Validates a spec given as an object, JSON text or YAML text and indexes it.
 * @throws ValidationError naming every problem with its path.
 */
export function compileSpec(input: unknown): CompiledSpec {
  let raw = input;
  if (typeof input === 'string') {
    try {
      raw = parseYaml(input); // YAML is a superset of JSON
    } catch (cause) {
      throw new ValidationError('spec is neither JSON nor YAML', [
        { path: '', message: (cause as Error).message },
      ]);
    }
  }
  const parsed = specSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError('invalid prospective spec', zodIssues(parsed.error));
  const spec = parsed.data;
  const issues = crossChecks(spec);
  if (issues.length > 0)
    throw new ValidationError(`invalid prospective spec '${spec.workflow}'`, issues, {
      workflow: spec.workflow,
    });
  const tasks = new Map(spec.tasks.map((t) => [t.id, t]));
  const attributes = new Map(
    spec.tasks.map((t) => [
      t.id,
      new Map<string, ResolvedAttribute>([
        ...t.inputs.map((a): [string, ResolvedAttribute] => [a.name, { ...a, direction: 'input' }]),
        ...t.outputs.map((a): [string, ResolvedAttribute] => [a.name, { ...a, direction: 'output' }]),
      ]),
    ]),
  );
  return { spec, tasks, attributes };
}
