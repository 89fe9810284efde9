/**
 * Every benchmark answers `--help` with what it measures and its command line, and starts nothing.
 * Before: eleven of them failed on the unknown option with a stack trace, and `bench/reliability.ts`
 * ignored it and started Kafka, the registry and the fault suites.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
/** Entry points: every bench/*.ts but the training loop module the Fig. 5 benches share. */
const BENCHES = readdirSync(`${ROOT}bench`).filter((f) => f.endsWith('.ts') && f !== 'fig5-loop.ts');

function help(file: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `bench/${file}`, '--help'], { cwd: ROOT });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('bench --help', () => {
  it('prints each benchmark’s usage and exits 0 without starting anything', async () => {
    expect(BENCHES.length).toBeGreaterThan(15);
    const answers = await Promise.all(BENCHES.map(async (f) => [f, await help(f)] as const));
    for (const [file, { code, out }] of answers) {
      expect(code, `${file}: ${out.slice(0, 300)}`).toBe(0);
      // its own command line (the bench runner is started as `npm run bench`)
      expect(out, file).toContain(file === 'run.ts' ? 'npm run bench' : `bench/${file}`);
    }
  }, 120_000);
});
