/**
 * What `init` makes of a draft run (`PROVML_SPEC_DRAFT` set, as `provml spec init` does): the spec the
 * script gave when it can be read (else a workflow named by `PROVML_SPEC_WORKFLOW`), a recorder that
 * sends nothing, and a checker that declares every name.
 */
import { readFile } from 'node:fs/promises';
import { compileSpec, type CompiledSpec, type ProspectiveSpec } from '@provml/schemas';
import { DraftRecorder } from './DraftRecorder.ts';
import { DraftSpecChecker } from './DraftSpecChecker.ts';

/** The environment variable naming the draft file. */
export const DRAFT_ENV = 'PROVML_SPEC_DRAFT';
/** The workflow id of a draft whose spec the script cannot read yet. */
export const DRAFT_WORKFLOW_ENV = 'PROVML_SPEC_WORKFLOW';

/** The parts of a draft capture session. */
export interface DraftParts {
  compiled: CompiledSpec;
  recorder: DraftRecorder;
  checker: DraftSpecChecker;
}

async function readableSpec(spec: unknown): Promise<ProspectiveSpec | null> {
  try {
    const source = typeof spec === 'string' ? await readFile(spec, 'utf8') : spec;
    compileSpec(source);
    return (typeof source === 'string' ? JSON.parse(source) : source) as ProspectiveSpec;
  } catch {
    return null; // not written yet (or not JSON): the draft makes it
  }
}

/** The parts of a draft run recording into `path`. */
export async function draftParts(
  spec: unknown,
  path: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<DraftParts> {
  const base = await readableSpec(spec);
  const workflow = base?.workflow ?? (env[DRAFT_WORKFLOW_ENV] || 'workflow');
  const compiled = compileSpec({ workflow, phase: 'learning', tasks: [{ id: 'draft' }] });
  return {
    compiled,
    recorder: new DraftRecorder(path, workflow, base),
    checker: new DraftSpecChecker(compiled, false, () => undefined),
  };
}
