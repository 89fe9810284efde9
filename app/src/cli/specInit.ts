/**
 * `provml spec init`: runs a training script once with PROVML_SPEC_DRAFT set, so that its capture
 * client (Python or TypeScript) accepts every name, sends nothing and records what it saw, then writes
 * a draft spec from that (specDraft.ts) for the user to check and the script to use from then on.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { LIFECYCLE_PHASES, type LifecyclePhase } from '@provml/schemas';
import { draftSpec, parseDraftLines } from './specDraft.ts';

export const SPEC_INIT_USAGE = `usage: provml spec init [--out FILE] [--workflow ID] [--phase P] -- COMMAND [ARG...]

  Runs COMMAND (e.g. python train.py, node train.mjs) once as a lenient draft run: its capture
  client accepts every task, value and data reference, sends nothing, and records each name with
  its value types. Then writes a draft spec declaring them (semantics guessed from the names and
  marked in each description: check them). Run the script with that spec from then on.

  --out FILE      where to write the spec (default: standard output)
  --workflow ID   the workflow id when the script's spec does not exist yet (default: the
                  script's file name without extension); a spec the script could read keeps its own
  --phase P       ${LIFECYCLE_PHASES.join(' | ')} (default learning)`;

/** The environment variables the capture clients read in a draft run. */
export const DRAFT_ENV = 'PROVML_SPEC_DRAFT';
export const DRAFT_WORKFLOW_ENV = 'PROVML_SPEC_WORKFLOW';

const SCRIPT = /\.(py|mjs|cjs|js|ts|mts)$/;

/** The workflow id drawn from a command: its script's file name, made an identifier. */
export function workflowOfCommand(command: readonly string[]): string {
  const script = command.find((a) => SCRIPT.test(a));
  const name = script === undefined ? 'workflow' : basename(script, extname(script));
  return name.replace(/[^A-Za-z0-9._~:-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'workflow';
}

function run(command: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolveRun(code ?? (signal === null ? 1 : 128)));
  });
}

/** Runs `provml spec init` with its arguments; returns the exit code. */
export async function specInitCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  const { values } = parseArgs({
    args: own,
    options: {
      out: { type: 'string' },
      workflow: { type: 'string' },
      phase: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return (console.log(SPEC_INIT_USAGE), 0);
  if (command.length === 0) return usageError('give the command to run after --');
  const phase = values.phase as LifecyclePhase | undefined;
  if (phase !== undefined && !LIFECYCLE_PHASES.includes(phase))
    return usageError(`--phase must be one of ${LIFECYCLE_PHASES.join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'provml-spec-init-'));
  try {
    const draftFile = join(dir, 'draft.jsonl');
    const workflow = values.workflow ?? workflowOfCommand(command);
    let code: number;
    try {
      code = await run(command, { ...env, [DRAFT_ENV]: draftFile, [DRAFT_WORKFLOW_ENV]: workflow });
    } catch (error) {
      console.error(`provml spec init: cannot run ${command[0]}: ${(error as Error).message}`);
      return 1;
    }
    if (code !== 0) {
      console.error(`provml spec init: ${command.join(' ')} exited with ${code}: no spec written`);
      return code;
    }
    const text = await readFile(draftFile, 'utf8').catch(() => '');
    const lines = parseDraftLines(text);
    if (lines.every((l) => l.tasks.length === 0)) {
      console.error(
        'provml spec init: the command captured nothing (does it create a capture client — provml_client.init or createCapture — and run a task?): no spec written',
      );
      return 1;
    }
    const { spec, added } = draftSpec(lines, { workflow, phase });
    const json = `${JSON.stringify(spec, null, 2)}\n`;
    if (values.out === undefined) process.stdout.write(json);
    else await writeFile(values.out, json);
    console.error(
      `provml spec init: ${values.out ?? 'the spec'}: workflow ${spec.workflow}, ${spec.tasks.length} tasks, ${added} names drafted from the run — check the guessed semantics, then run the script with it`,
    );
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function usageError(message: string): number {
  console.error(`provml spec init: ${message}\n\n${SPEC_INIT_USAGE}`);
  return 2;
}
