/** The README's annotation-source example (contract 6), run as written step by step against an embedded stack, its answers checked. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { startStack } from '../../deploy/testing/stack.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

describe('README: annotation sources', () => {
  let stack: EmbeddedStack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.shutdown());

  it('replaces, attributes and withdraws as the example says', async () => {
    const readme = await readFile(`${ROOT}README.md`, 'utf8');
    const section = readme.slice(
      readme.indexOf('### 6. Annotation sources'),
      readme.indexOf('## The dashboard and the query API by example'),
    );
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    // steps are separated by empty lines; the first sets the URLs for the others
    const [setup, ...steps] = script
      .replace('http://127.0.0.1:7071', stack.ingestUrl)
      .replace('http://127.0.0.1:7070', stack.queryUrl)
      .split('\n\n');
    const outputs: { step: string; stdout: string }[] = [];
    for (const step of [setup!.slice(setup!.indexOf('\n') + 1), ...steps]) {
      const { stdout } = await run('bash', ['-eu', '-c', `${setup!.split('\n')[0]!}\n${step}`], {
        cwd: ROOT,
      });
      outputs.push({ step, stdout });
      await stack.settle();
    }
    expect(outputs).toHaveLength(5);
    // each answer is written as `# ` lines under its command, or a JSON one at the end of its line
    for (const { step, stdout } of outputs) {
      const lines = step.split('\n');
      const first = lines.findIndex((l) => !l.startsWith('#'));
      const inline = /# (\{.*\})$/.exec(lines[first]!)?.[1];
      const expected =
        inline === undefined
          ? lines
              .slice(first + 1)
              .filter((l) => l.startsWith('# '))
              .map((l) => l.slice(2))
          : [inline];
      expect(expected.length, step).toBeGreaterThan(0);
      if (expected[0]!.startsWith('{')) expect(JSON.parse(stdout), step).toEqual(JSON.parse(expected[0]!));
      else
        expect(
          stdout.split(/\r?\n/).filter((l) => l !== ''),
          step,
        ).toEqual(expected);
    }
  });
});
