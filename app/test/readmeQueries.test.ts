/** The README's query-API examples, run as written (port swapped for a free one) against the default demo. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveDemoConfig, runDemo } from '@provml/demo';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { startStack } from '../../deploy/testing/stack.ts';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

describe('README: the query API by example', () => {
  let stack: EmbeddedStack;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-readme-q-'));
    stack = await startStack();
    await runDemo(
      { capture: (spec) => stack.capture({ spec, env: {} }), annotate: (t, s) => stack.annotate(t, s) },
      resolveDemoConfig({ outputDir: dir }), // the demo `npm start` loads
    );
    await stack.settle();
  }, 120_000);
  afterAll(async () => {
    await stack.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows the dashboard screenshot that exists', async () => {
    const readme = await readFile(`${ROOT}README.md`, 'utf8');
    const [, image] = /!\[[^\]]*\]\((query-api\/docs\/[^)]+\.png)\)/.exec(readme) ?? [];
    expect(image).toBeDefined();
    expect((await readFile(`${ROOT}${image}`)).subarray(1, 4).toString()).toBe('PNG');
  });

  it('answers every curl of the section, one per endpoint', async () => {
    const readme = await readFile(`${ROOT}README.md`, 'utf8');
    const section = readme.slice(
      readme.indexOf('## The dashboard and the query API by example'),
      readme.indexOf('## Distributed mode (Kafka)'),
    );
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    for (const path of ['/v1/executions', '/v1/models', '/v1/models/best', '/v1/timing', '/v1/runs'])
      expect(script).toContain(`$Q${path}`);
    for (const path of [
      '/v1/lineage/backward',
      '/v1/lineage/forward',
      '/v1/live',
      '/sparql',
      '/openapi.json',
    ])
      expect(script).toContain(`$Q${path}`);
    const { stdout } = await run(
      'bash',
      ['-eu', '-c', script.replace('http://127.0.0.1:7070', stack.queryUrl)],
      { cwd: ROOT, maxBuffer: 64 << 20 },
    );
    expect(stdout).toContain('"executions":[');
    expect(stdout).toContain('"measure":"accuracy"');
    expect(stdout).toContain('"epochs":[');
    expect(stdout).toContain('"runs":[{');
    expect(stdout).toContain('"hasDomainAnnotation"');
    expect(stdout).toContain('triples\r\n');
    expect(stdout).toContain('event: capture');
    expect(stdout).toMatch(/provml_event_to_store_seconds_count [1-9]/);
    expect(stdout).toContain('"status":"ok"');
  }, 60_000);
});
