/** The README's first session, run as written (ports swapped for free ones), so the docs cannot drift. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { startStack } from '../../deploy/testing/stack.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const readme = readFileSync(`${ROOT}README.md`, 'utf8');
const session = readme.slice(readme.indexOf('## A first session'), readme.indexOf('## Public contracts'));
const blocks = [...session.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, body: m[2]! }));

describe('README', () => {
  let stack: EmbeddedStack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.shutdown());

  const sh = async (script: string): Promise<string> => {
    const ports = script
      .replaceAll('127.0.0.1:7071', new URL(stack.ingestUrl).host)
      .replaceAll('127.0.0.1:7070', new URL(stack.queryUrl).host);
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', ports], { cwd: ROOT });
    return stdout;
  };

  it('starts with the two commands', () => {
    const head = readme.split('\n').slice(0, 6).join('\n');
    expect(head).toContain('npm start');
    expect(head).toContain('npm test');
  });

  it('runs the first session as written and prints what it says', async () => {
    const shell = blocks.filter((b) => b.lang === 'sh');
    expect(shell.length).toBe(4);
    await sh(shell[0]!.body);
    expect(JSON.parse(await sh(shell[1]!.body))).toEqual({ accepted: 2 });
    await stack.settle();
    const printed = blocks[blocks.indexOf(shell[2]!) + 1]!;
    expect(printed.lang).toBe('');
    expect((await sh(shell[2]!.body)).replaceAll('\r\n', '\n')).toBe(printed.body);
    const rejected = JSON.parse(await sh(shell[3]!.body)) as { issues: { path: string; line: number }[] };
    const documented = shell[3]!.body
      .split('\n')
      .filter((l) => l.startsWith('# '))
      .map((l) => l.slice(2))
      .join('');
    expect(rejected).toEqual(JSON.parse(documented));
  });

  it('shows the capture library as the quickstart example runs it', async () => {
    const ts = blocks.find((b) => b.lang === 'ts')!.body;
    const example = readFileSync(`${ROOT}app/examples/quickstart.ts`, 'utf8');
    for (const line of [
      "run.begin('training', {",
      "epoch.begin('batch').end({ values: { batch_loss: 1 / (b + 1) } });",
      'training.end({ values: { final_loss: 0.25 } });',
    ]) {
      expect(ts).toContain(line);
      expect(example).toContain(line);
    }
    const { stdout } = await run(`${ROOT}node_modules/.bin/tsx`, ['app/examples/quickstart.ts'], {
      cwd: ROOT,
    });
    const json = JSON.parse(stdout) as {
      results: { bindings: { model: { value: string }; dataset: { value: string } }[] };
    };
    expect(json.results.bindings).toHaveLength(2);
    expect(json.results.bindings.every((b) => b.dataset.value === 'file:///data/tiles/train.npz')).toBe(true);
    // the model files (each written by one epoch, so a version of it derives from the set)
    const models = json.results.bindings.map((b) => b.model.value);
    expect(models.map((m, e) => m.startsWith('file:///models/') && m.endsWith(`/epoch-${e}.pt`))).toEqual([
      true,
      true,
    ]);
  });
});
