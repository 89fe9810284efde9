/**
 * The compiled sidecar agent (`npm run build:agent`: one JavaScript file run with plain Node) as a
 * real process on a real broker: it starts without the TypeScript loader, carries none of the
 * store or processor code, takes a training stream over its socket and publishes every event once.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCaptureEvent } from '@provml/schemas';
import type { ConsumedRecord } from '@provml/log';
import { AGENT_NODE_OPTIONS, buildAgent } from '../../../deploy/build-agent.ts';
import { kafka, kafkaLog, unique, until } from '../../../deploy/testing/kafkaTest.ts';
import { resolveServiceConfig, topicNames } from '@provml/service';
import {
  AGENT_SPEC,
  chunk,
  sendAll,
  startAgentProcess,
  stopChild,
  trainingStream,
} from '../../../deploy/testing/agentTest.ts';

describe('the compiled agent bundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'provml-agent-build-'));
  let script = '';
  beforeAll(async () => {
    script = await buildAgent(join(dir, 'provml-agent.mjs'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the agent and not the store, the processor or the demo', () => {
    const code = readFileSync(script, 'utf8');
    const holds = (name: string): boolean => code.includes(name); // (the bundle is megabytes: no diff)
    expect(holds('class SpoolWriter') || holds('SpoolWriter=class')).toBe(true);
    expect(holds('KafkaJSError')).toBe(true);
    for (const absent of ['node_bg.wasm', 'SinkService', 'ProcessorService', 'runDemo', 'sparqljs'])
      expect(holds(absent), absent).toBe(false);
  });

  it('carries no web framework, and loads the schema-registry client only when a registry is configured', () => {
    const map = JSON.parse(readFileSync(`${script}.map`, 'utf8')) as { sources: string[] };
    const packages = new Set(map.sources.map((s) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(s)?.[1]));
    for (const absent of ['express', 'body-parser', 'iconv-lite', 'mime-db', 'qs'])
      expect(packages.has(absent), absent).toBe(false);
    // the registry codec is in the file but initialized only on first use, never at start
    const inits = readFileSync(script, 'utf8').match(/.{30}init_RegistryEventCodec\(\)/g) ?? [];
    expect(inits).toHaveLength(1);
    expect(inits[0]).toMatch(/Promise\.resolve\(\)\.then\(\(\)=>\(init_RegistryEventCodec\(\)$/);
  });

  it("carries zod's English messages and not its other locales or JSON Schema conversion (import * as z)", () => {
    const map = JSON.parse(readFileSync(`${script}.map`, 'utf8')) as { sources: string[] };
    const zod = map.sources.filter((s) => s.includes('node_modules/zod/'));
    expect(zod.length).toBeGreaterThan(0);
    expect(
      zod.filter((s) => /\/locales\/(?!en\.js|index\.js)|from-json-schema|json-schema-generator/.test(s)),
    ).toEqual([]);
  });

  it('is what npm run agent starts, with the agent Node options', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.agent).toBe(`node ${AGENT_NODE_OPTIONS.join(' ')} dist/provml-agent.mjs`);
    expect(pkg.scripts['build:agent']).toBe('node --import tsx deploy/build-agent.ts');
  });

  it('prints its usage with plain Node (no TypeScript loader)', () => {
    const r = spawnSync(process.execPath, [...AGENT_NODE_OPTIONS, script, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: provml-agent /);
  });

  it('refuses a bad option with a message that names it', () => {
    const r = spawnSync(process.execPath, [script, '--fsync', 'sometimes', '--offline'], {
      encoding: 'utf8',
      env: { ...process.env, PROVML_AUTH_DISABLED: 'true' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^provml-agent: /);
    expect(r.stderr).toMatch(
      /^ {2}agent\.fsync: Invalid option: expected one of "batch"\|"interval"\|"never"$/m,
    );
  });

  // Skips only when the global test setup could not start Kafka outside CI; under CI=true that setup fails the run instead.
  it.skipIf(kafka.bootstrap === '')(
    `spools a training stream from its socket and publishes every event once ${kafka.unavailable}`,
    async () => {
      const prefix = `compiled-agent-${unique()}.`;
      const topics = topicNames(resolveServiceConfig({ topics: { prefix } }, {}));
      const log = await kafkaLog(topics, 4);
      const spool = mkdtempSync(join(tmpdir(), 'provml-compiled-agent-'));
      const child = startAgentProcess({
        spool,
        bootstrap: kafka.bootstrap,
        prefix,
        name: `compiled-${unique()}`,
        compiled: { script, nodeArgs: AGENT_NODE_OPTIONS },
      });
      const received: ConsumedRecord[] = [];
      const reader = log.consumer({ groupId: `reader-${unique()}`, topics: [topics.events] });
      const reading = reader.run(async (batch) => void received.push(...batch.records));
      try {
        const { lines, eventIds } = trainingStream(3, 30);
        await sendAll(join(spool, 'agent.sock'), [
          [JSON.stringify({ spec: AGENT_SPEC })],
          ...chunk(lines, 25),
        ]);
        await until(
          () => received.length >= eventIds.length,
          `${eventIds.length} events on ${topics.events}`,
        );
        await new Promise((r) => setTimeout(r, 300));
        const ids = received.map((r) => decodeCaptureEvent(r.value).eventId);
        expect(ids.length).toBe(eventIds.length);
        expect(new Set(ids)).toEqual(new Set(eventIds));
      } finally {
        await stopChild(child, 'SIGTERM');
        await reader.stop();
        await reading.catch(() => undefined);
        await log.close();
        rmSync(spool, { recursive: true, force: true });
      }
      expect(child.exitCode).toBe(0); // SIGTERM: flushed and stopped cleanly
    },
    60_000,
  );
});
