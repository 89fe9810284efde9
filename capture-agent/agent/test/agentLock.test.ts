/**
 * The spool LOCK against real agent processes: an agent running as PID 1 (as in its container) and
 * SIGKILLed starts again on its spool; a stale LOCK naming a live pid of another process or boot is
 * taken over; a LOCK whose writer still runs is refused. Segments are private (0600).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bootId, formatLock, parseLock, processStart } from '@provml/capture-agent';
import {
  AGENT_SPEC,
  AgentSocketClient,
  startAgentProcess,
  stopChild,
} from '../../../deploy/testing/agentTest.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** Runs a command as PID 1 of a new PID namespace; SIGKILL of the wrapper kills it (Linux, root or user namespaces). */
const AS_PID_1 = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', '--'];
const asPid1 = (): string[] | undefined => {
  for (const wrap of [AS_PID_1, ['unshare', '--user', '--map-root-user', ...AS_PID_1.slice(1)]]) {
    const r = spawnSync(wrap[0]!, [...wrap.slice(1), 'sh', '-c', 'echo $$'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() === '1') return wrap;
  }
  return undefined;
};
const PID_1 = process.platform === 'linux' ? asPid1() : undefined;
const LINUX = processStart(process.pid) !== undefined;
/** Under CI=true nothing here may skip: a missing `unshare` or /proc fails the test instead. */
const CI = process.env.CI === 'true';

/** Sends the spec as one batch and expects it accepted: the agent runs and owns its spool. */
async function expectServing(spool: string): Promise<void> {
  const client = new AgentSocketClient(join(spool, 'agent.sock'));
  await client.connect(30_000);
  try {
    expect(await client.send([JSON.stringify({ spec: AGENT_SPEC })])).toEqual({ accepted: 1 });
  } finally {
    client.close();
  }
}

/** Waits for a child to exit, failing after `timeoutMs`; resolves with its exit code. */
function exitOf(child: ChildProcess, timeoutMs = 30_000): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the agent did not exit')), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('spool LOCK (real agent processes)', () => {
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) await stopChild(c, 'SIGKILL');
  });
  const agent = (spool: string, name: string, wrap?: string[]): ChildProcess => {
    const c = startAgentProcess({
      spool,
      bootstrap: '127.0.0.1:9',
      prefix: 'lock.',
      name,
      extra: ['--offline'],
      wrap,
    });
    children.push(c);
    return c;
  };

  // skipped only off CI where `unshare` cannot make a PID namespace (no util-linux, or no user namespaces)
  it.skipIf(PID_1 === undefined && !CI)(
    'starts again as PID 1 after a SIGKILL left a LOCK naming pid 1',
    async () => {
      const spool = mkdtempSync(join(tmpdir(), 'agent-pid1-'));
      const first = agent(spool, 'pid1-a', PID_1);
      await expectServing(spool);
      await stopChild(first, 'SIGKILL'); // the wrapper, and with it the agent (PID 1 of its namespace)
      await new Promise((r) => setTimeout(r, 200));
      expect(parseLock(readFileSync(join(spool, 'LOCK'), 'utf8'))?.pid).toBe(1);
      // the restarted container: PID 1 again, a stale LOCK that names it
      agent(spool, 'pid1-b', PID_1);
      await expectServing(spool);
      const segments = readdirSync(join(spool, 'segments'));
      expect(segments.length).toBeGreaterThan(0);
      for (const s of segments) expect(statSync(join(spool, 'segments', s)).mode & 0o777).toBe(0o600);
    },
    90_000,
  );

  // skipped only off CI on systems without /proc (process start times are read from /proc/<pid>/stat)
  it.skipIf(!LINUX && !CI)(
    'takes over a stale LOCK naming a live pid of another process or another boot',
    async () => {
      const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
      children.push(other);
      await new Promise((r) => other.once('spawn', r));
      const pid = other.pid!;
      const stale = [
        formatLock({ pid, boot: bootId(), start: '1' }), // the pid was reused by a later process
        formatLock({ pid, boot: 'another-boot', start: processStart(pid) }), // written before a reboot
      ];
      for (const [i, lock] of stale.entries()) {
        const spool = mkdtempSync(join(tmpdir(), 'agent-stale-'));
        writeFileSync(join(spool, 'LOCK'), lock);
        const a = agent(spool, `stale-${i}`);
        await expectServing(spool);
        expect(parseLock(readFileSync(join(spool, 'LOCK'), 'utf8'))?.pid).toBe(a.pid);
        await stopChild(a, 'SIGTERM');
      }
    },
    90_000,
  );

  // skipped only off CI on systems without /proc (as above)
  it.skipIf(!LINUX && !CI)(
    'refuses a LOCK whose writer still runs',
    async () => {
      const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
      children.push(other);
      await new Promise((r) => other.once('spawn', r));
      const spool = mkdtempSync(join(tmpdir(), 'agent-live-'));
      const pid = other.pid!;
      writeFileSync(join(spool, 'LOCK'), formatLock({ pid, boot: bootId(), start: processStart(pid) }));
      const name = `live-${Date.now()}`;
      const a = agent(spool, name);
      expect(await exitOf(a)).not.toBe(0);
      expect(readFileSync(`${ROOT}test-output/agent-${name}.log`, 'utf8')).toContain(
        `locked by live process ${pid}`,
      );
    },
    60_000,
  );
});
