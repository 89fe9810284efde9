/** Persistent instance ids under a data directory: one slot per live process, a dead process's slot taken over. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimInstanceId } from '@provml/service';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A process of its own that claims an id in `dir`, prints it, and stays alive until killed. */
async function claimingProcess(dir: string): Promise<{ id: string; kill: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { claimInstanceId } from '@provml/service';
       console.log(claimInstanceId(${JSON.stringify(dir)}).id);
       setInterval(() => {}, 1000);`,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const id = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`claiming process exited with ${code}`)));
  });
  return {
    id,
    kill: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('claimInstanceId', () => {
  it('keeps an id across claims, and gives a second holder another', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provml-instance-'));
    const first = claimInstanceId(dir);
    const second = claimInstanceId(dir);
    expect(first.id).toMatch(/^i0-[0-9a-f]{8}$/);
    expect(second.id).toMatch(/^i1-[0-9a-f]{8}$/);
    first.release();
    first.release();
    expect(claimInstanceId(dir).id).toBe(first.id);
    second.release();
  });

  it('gives a live process its own id and a SIGKILLed one’s id to the next process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'provml-instance-'));
    const holder = await claimingProcess(dir);
    const mine = claimInstanceId(dir);
    expect(mine.id).not.toBe(holder.id);
    mine.release();
    await holder.kill(); // its lock stays behind, naming a dead pid
    const successor = claimInstanceId(dir);
    expect(successor.id).toBe(holder.id);
    successor.release();
  }, 30_000);
});
