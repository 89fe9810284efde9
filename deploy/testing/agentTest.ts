/** Helpers for tests of the sidecar agent as a real process: start it, talk its socket protocol, build capture streams. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Starts `provml agent` as one node process (tsx loader), so SIGKILL kills the agent itself; or,
 * with `compiled`, that compiled agent (`npm run build:agent`) with plain Node and the agent's options;
 * with `binary`, that executable (the Go agent, `npm run build:agent-go`).
 */
export function startAgentProcess(options: {
  spool: string;
  bootstrap: string;
  prefix: string;
  name: string;
  extra?: string[];
  compiled?: { script: string; nodeArgs: readonly string[] };
  /** An agent executable to run instead of Node (the Go agent, dist/provml-agent-go). */
  binary?: string;
  /** A command that runs the agent, e.g. `unshare … --` to run it as PID 1 of a new PID namespace. */
  wrap?: readonly string[];
}): ChildProcess {
  mkdirSync(`${ROOT}test-output`, { recursive: true });
  const log = openSync(`${ROOT}test-output/agent-${options.name}.log`, 'a');
  const entry =
    options.binary !== undefined
      ? []
      : options.compiled === undefined
        ? ['--import', 'tsx', 'app/src/cli/main.ts', 'agent']
        : [...options.compiled.nodeArgs, options.compiled.script];
  const [command = process.execPath, ...prefix] = [
    ...(options.wrap ?? []),
    options.binary ?? process.execPath,
  ];
  return spawn(
    command,
    [
      ...prefix,
      ...entry,
      '--spool',
      options.spool,
      '--port',
      '0',
      '--kafka',
      options.bootstrap,
      '--topic-prefix',
      options.prefix,
      '--log-level',
      'warn',
      ...(options.extra ?? []),
    ],
    // access control is tested in app/test/auth; these tests exercise the spool and the socket
    { cwd: ROOT, stdio: ['ignore', log, log], env: { ...process.env, PROVML_AUTH_DISABLED: 'true' } },
  );
}

/** `provml agent --offline` on `spool` (spool only, no Kafka); resolves once its socket `<spool>/agent.sock` is there. */
export async function startOfflineAgent(spool: string, name: string): Promise<ChildProcess> {
  const child = startAgentProcess({
    spool,
    bootstrap: '127.0.0.1:1',
    prefix: 'unused',
    name,
    extra: ['--offline'],
  });
  const deadline = Date.now() + 60_000;
  while (!existsSync(`${spool}/agent.sock`)) {
    if (child.exitCode !== null)
      throw new Error(`the agent exited (${child.exitCode}): test-output/agent-${name}.log`);
    if (Date.now() > deadline) throw new Error(`no agent socket after 60 s: test-output/agent-${name}.log`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

/** Ends a child process with `signal` and waits for it to exit. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

/** The answer line of one batch. */
export type AgentAnswer = { accepted: number } | { error: string; message: string; issues?: unknown[] };

/** A client of the agent's socket: one batch at a time, each answered by one line. */
export class AgentSocketClient {
  private socket: Socket | undefined;
  private buffer = '';
  private pending: { resolve: (a: AgentAnswer) => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly path: string) {}

  /** Connects, trying again until the agent listens (or `timeoutMs` passed). */
  async connect(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        this.socket = await new Promise<Socket>((resolve, reject) => {
          if (!existsSync(this.path)) return reject(new Error('no socket yet'));
          const s = connect(this.path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const s = this.socket;
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      this.buffer += chunk;
      const i = this.buffer.indexOf('\n');
      if (i < 0) return;
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 1);
      const p = this.pending;
      this.pending = undefined;
      p?.resolve(JSON.parse(line) as AgentAnswer);
    });
    const fail = (): void => {
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new Error('connection closed'));
    };
    s.on('close', fail);
    s.on('error', fail);
  }

  /** Sends one batch of envelope lines and resolves with its answer; rejects if the connection drops. */
  send(lines: readonly string[]): Promise<AgentAnswer> {
    return new Promise((resolve, reject) => {
      const s = this.socket;
      if (s === undefined || s.destroyed) return reject(new Error('not connected'));
      this.pending = { resolve, reject };
      s.write(`${lines.join('\n')}\n\n`);
    });
  }

  close(): void {
    this.socket?.destroy();
  }
}

/**
 * Sends every batch in order, at least once: a batch whose answer did not arrive (the agent died)
 * is sent again after reconnecting. Calls `onAccepted` with the number of batches acknowledged.
 */
export async function sendAll(
  path: string,
  batches: readonly string[][],
  onAccepted: (n: number) => void | Promise<void> = () => undefined,
  timeoutMs = 60_000,
): Promise<{ resent: number }> {
  let client = new AgentSocketClient(path);
  await client.connect(timeoutMs);
  let resent = 0;
  for (let i = 0; i < batches.length; i++) {
    for (;;) {
      let answer: AgentAnswer | undefined;
      try {
        answer = await client.send(batches[i]!);
      } catch {
        answer = undefined;
      }
      if (answer !== undefined && 'accepted' in answer) break;
      if (answer !== undefined && answer.error !== 'spool-full')
        throw new Error(`batch ${i} refused: ${JSON.stringify(answer)}`);
      resent++;
      client.close();
      client = new AgentSocketClient(path);
      await client.connect(timeoutMs);
    }
    await onAccepted(i + 1);
  }
  client.close();
  return { resent };
}

/** A learning spec with a training task and its batches. */
export const AGENT_SPEC = {
  workflow: 'agent-crash',
  phase: 'learning',
  tasks: [
    { id: 'training', stage: 'training' },
    { id: 'batch', parent: 'training', outputs: [{ name: 'loss', semantics: 'output-value' }] },
  ],
};

/** Envelope lines of `runs` training runs of `batches` batches each (begin/end), in run order, and their event ids. */
export function trainingStream(runs: number, batches: number): { lines: string[]; eventIds: string[] } {
  const lines: string[] = [];
  const eventIds: string[] = [];
  let t = 1_700_000_000_000_000;
  const push = (e: Record<string, unknown>): void => {
    lines.push(JSON.stringify({ event: e }));
    eventIds.push(e.eventId as string);
  };
  for (let r = 0; r < runs; r++) {
    const base = { workflow: 'agent-crash', workflowExecution: `run-${r}` };
    const training = { ...base, task: 'training', taskExecution: `${r}-t` };
    push({ ...training, eventId: `${r}-b`, phase: 'begin', time: t++ });
    for (let b = 0; b < batches; b++) {
      const x = { ...base, task: 'batch', taskExecution: `${r}-${b}`, parentTaskExecution: `${r}-t` };
      push({ ...x, eventId: `${r}-${b}-b`, phase: 'begin', time: t++ });
      push({
        ...x,
        eventId: `${r}-${b}-e`,
        phase: 'end',
        time: t++,
        values: { loss: b },
        status: 'finished',
      });
    }
    push({ ...training, eventId: `${r}-e`, phase: 'end', time: t++, status: 'finished' });
  }
  return { lines, eventIds };
}

/** Splits lines into batches of `size`. */
export const chunk = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
