/**
 * The exporter of a draft run (`provml spec init`): keeps the names each task used on begin (inputs)
 * and end (outputs), with their value types, sends nothing, and at shutdown appends one JSON line to
 * the draft file — the format of the Python client's `_draft.py`, read by app/src/cli/specDraft.ts.
 */
import { appendFileSync } from 'node:fs';
import type { CaptureEvent, ProspectiveSpec } from '@provml/schemas';
import type { CaptureExporter, ExportResult } from '../CaptureExporter.ts';

interface SeenName {
  name: string;
  kind: 'value' | 'reference';
  types?: string[];
  uri?: string;
}

interface SeenTask {
  id: string;
  parent: string | null;
  executions: number;
  inputs: Map<string, SeenName>;
  outputs: Map<string, SeenName>;
}

const NON_FINITE = new Set(['NaN', 'Infinity', '-Infinity']);

/** The JSON type of a value, as the draft records it. */
export function jsonType(v: unknown): string {
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'string' && NON_FINITE.has(v) ? 'number' : 'string';
}

export class DraftRecorder implements CaptureExporter {
  private readonly tasks = new Map<string, SeenTask>();
  private readonly taskOf = new Map<string, string>();
  private written = false;

  constructor(
    private readonly path: string,
    private readonly workflow: string,
    /** The spec the script gave, when it could be read: its declarations are kept. */
    private readonly spec: ProspectiveSpec | null,
  ) {}

  exportSpec(): Promise<ExportResult> {
    return Promise.resolve({ kind: 'success' });
  }

  exportEvents(events: readonly CaptureEvent[]): Promise<ExportResult> {
    for (const e of events) this.record(e);
    return Promise.resolve({ kind: 'success' });
  }

  private record(e: CaptureEvent): void {
    this.taskOf.set(e.taskExecution, e.task);
    let t = this.tasks.get(e.task);
    if (t === undefined) {
      const parent = e.parentTaskExecution === null ? null : (this.taskOf.get(e.parentTaskExecution) ?? null);
      t = { id: e.task, parent, executions: 0, inputs: new Map(), outputs: new Map() };
      this.tasks.set(e.task, t);
    }
    const begin = e.phase === 'begin';
    if (begin) t.executions++;
    const [seen, other] = begin ? [t.inputs, t.outputs] : [t.outputs, t.inputs];
    for (const [name, v] of Object.entries(e.values)) {
      if (other.has(name)) continue;
      const entry = seen.get(name) ?? { name, kind: 'value' as const, types: [] };
      seen.set(name, entry);
      if (!entry.types!.includes(jsonType(v))) entry.types!.push(jsonType(v));
    }
    for (const r of e.dataRefs)
      if (!other.has(r.name) && !seen.has(r.name))
        seen.set(r.name, { name: r.name, kind: 'reference', uri: r.uri });
  }

  shutdown(): Promise<void> {
    if (this.written) return Promise.resolve();
    this.written = true;
    const line = {
      workflow: this.workflow,
      spec: this.spec,
      tasks: [...this.tasks.values()].map((t) => ({
        ...t,
        inputs: [...t.inputs.values()],
        outputs: [...t.outputs.values()],
      })),
    };
    // one line per capture, appended whole: several processes (ranks) may draft at once
    appendFileSync(this.path, `${JSON.stringify(line)}\n`);
    return Promise.resolve();
  }
}
