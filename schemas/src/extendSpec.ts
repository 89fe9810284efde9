/**
 * Spec versions of one workflow add up: a later version adds tasks and attributes to what earlier
 * versions declared and changes what it restates, but never takes a name back. Events of earlier
 * runs (or of runs still going, captured with the earlier version) stay valid against the latest
 * spec, wherever it is read: at the ingest, in the processor, after the compacted specs topic kept
 * only the last record of the workflow.
 */
import { compileSpec, type AttributeSpec, type CompiledSpec, type TaskSpec } from './ProspectiveSpec.ts';

/** `next`'s attributes, then `previous`'s names that `next` does not declare (as input or output). */
function extendTask(previous: TaskSpec, next: TaskSpec): { task: TaskSpec; added: number } {
  const declared = new Set([...next.inputs, ...next.outputs].map((a) => a.name));
  const missing = (list: AttributeSpec[]): AttributeSpec[] => list.filter((a) => !declared.has(a.name));
  const inputs = missing(previous.inputs);
  const outputs = missing(previous.outputs);
  return {
    task: { ...next, inputs: [...next.inputs, ...inputs], outputs: [...next.outputs, ...outputs] },
    added: inputs.length + outputs.length,
  };
}

/**
 * The spec a workflow has once `next` is registered after `previous`: `next`'s fields win, tasks
 * and attributes only `previous` declares are kept. Where keeping them would make the spec invalid
 * (e.g. a kept task's parent or a kept characteristic's dataset no longer fits), `next` alone.
 */
export function extendSpec(previous: CompiledSpec | undefined, next: CompiledSpec): CompiledSpec {
  if (previous === undefined || previous.spec.workflow !== next.spec.workflow) return next;
  const before = new Map(previous.spec.tasks.map((t) => [t.id, t]));
  let added = 0;
  const tasks = next.spec.tasks.map((task) => {
    const old = before.get(task.id);
    if (old === undefined) return task;
    const extended = extendTask(old, task);
    added += extended.added;
    return extended.task;
  });
  const ids = new Set(next.spec.tasks.map((t) => t.id));
  const kept = previous.spec.tasks.filter((t) => !ids.has(t.id));
  if (added === 0 && kept.length === 0) return next;
  try {
    return compileSpec({ ...next.spec, tasks: [...tasks, ...kept] });
  } catch {
    return next;
  }
}
