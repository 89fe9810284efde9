/**
 * The README's "Distributed mode (Kafka)" run as written against the local stack: `npm run stack:up --
 * --services`, the first session's requests against the services, `stack:status`, and the services
 * started by hand; the query must print the README's answer and no service may log an `error` line.
 * What it changes is only what the README names as per deployment (ports, topic prefix, groups,
 * repository, spool, the services' directory) so that it shares the broker and the store with other
 * tests; and it runs the README's `npm run stack:down` with `-- --keep-servers`: the servers are shared.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_PORTS, PORT_ENV, type ServiceName } from '@provml/service';
import { stopServices } from '../../../deploy/local/services.ts';
import { kafka, unique, until } from '../../../deploy/testing/kafkaTest.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const readme = readFileSync(`${ROOT}README.md`, 'utf8');
const between = (from: string, to: string): string => readme.slice(readme.indexOf(from), readme.indexOf(to));
const blocksOf = (text: string) =>
  [...text.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, body: m[2]! }));

const distributed = between('## Distributed mode (Kafka)', '- **Topics**');
const [upBlock, statusBlock, byHandBlock] = blocksOf(distributed).filter((b) => b.lang === 'sh');
const firstSession = blocksOf(between('## A first session', '## Public contracts'));
const [register, send, query] = firstSession.filter((b) => b.lang === 'sh');
const answer = firstSession[firstSession.indexOf(query!) + 1]!;

/** One deployment of the README's commands: its own ports, topics, groups, repository and files. */
interface Deployment {
  ports: Record<ServiceName, number>;
  repository: string;
  dir: string;
  env: NodeJS.ProcessEnv;
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>(
          (resolve) =>
            void createServer().listen(0, '127.0.0.1', function (this: Server) {
              resolve(this);
            }),
        ),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function deployment(): Promise<Deployment> {
  const id = unique();
  const [query, ingest, processor, sink] = await freePorts(4);
  const ports = { 'query-api': query!, agent: ingest!, processor: processor!, sink: sink! };
  const dir = await mkdtemp(join(tmpdir(), 'provml-readme-'));
  const repository = `readme-${id}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PROVML_TOPIC_PREFIX: `readme-${id}.`,
    PROVML_PROCESSOR_GROUP: `readme-${id}-processor`,
    PROVML_SINK_GROUP: `readme-${id}-sink`,
    PROVML_STORE_REPOSITORY: repository,
    PROVML_AGENT_SPOOL: join(dir, 'spool'),
    PROVML_STACK_DIR: join(dir, 'services'),
    ...Object.fromEntries(Object.entries(PORT_ENV).map(([s, v]) => [v, String(ports[s as ServiceName])])),
  };
  return { ports, repository, dir, env };
}

/** Runs a shell script as the README's reader would (bash, strict), in the repository root. */
async function sh(script: string, env: NodeJS.ProcessEnv, timeoutMs = 240_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      ['-euo', 'pipefail', '-c', script],
      { cwd: ROOT, env, maxBuffer: 16 << 20, timeout: timeoutMs },
      (error, stdout, stderr) =>
        error === null ? resolve(stdout) : reject(new Error(`${script}\n${stderr}${stdout}`)),
    );
  });
}

/** The first session's requests against this deployment's agent and query API; resolves with the query's answer. */
async function firstSessionAgainst(d: Deployment): Promise<string> {
  const ported = (script: string): string =>
    script
      .replaceAll('127.0.0.1:7071', `127.0.0.1:${d.ports.agent}`)
      .replaceAll('127.0.0.1:7070', `127.0.0.1:${d.ports['query-api']}`);
  expect(JSON.parse(await sh(ported(register!.body), d.env))).toEqual({
    workflow: 'seismic-preparation',
    tasks: 4,
  });
  expect(JSON.parse(await sh(ported(send!.body), d.env))).toEqual({ accepted: 2 });
  // the pipeline carries the events asynchronously (agent → Kafka → processor → sink → RDF4J)
  let printed = '';
  await until(
    async () => (printed = (await sh(ported(query!.body), d.env)).replaceAll('\r\n', '\n')) === answer.body,
    'the README query to print its answer',
    120_000,
  );
  return printed;
}

/** Lines logged at error level in some output. */
const errorLines = (output: string): string[] =>
  output.split('\n').filter((l) => l.includes('"level":"error"'));

async function dropRepository(repository: string): Promise<void> {
  await fetch(`http://127.0.0.1:18080/rdf4j-server/repositories/${repository}`, { method: 'DELETE' }).catch(
    () => undefined,
  );
}

describe('README, distributed mode: the ports table', () => {
  it('documents each service’s default port and variable as the services take them', () => {
    const rows = [
      ...distributed.matchAll(/^\| `provml ([a-z-]+)` \|[^|]*\| (\d+) \| `--port` \| `(\w+)` \|$/gm),
    ];
    expect(Object.fromEntries(rows.map((r) => [r[1], Number(r[2])]))).toEqual(DEFAULT_PORTS);
    expect(Object.fromEntries(rows.map((r) => [r[1], r[3]]))).toEqual(PORT_ENV);
  });
});

// Skips only when the global test setup could not start Kafka outside CI; under CI=true that setup fails the run instead.
describe.skipIf(kafka.bootstrap === '')(
  `README, distributed mode, run as written ${kafka.unavailable}`,
  () => {
    const cleanup: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    it('npm run stack:up -- --services brings up the pipeline; the first session answers; stack:status shows it; stack:down stops it', async () => {
      const d = await deployment();
      cleanup.push(async () => {
        await stopServices({ dir: d.env.PROVML_STACK_DIR }); // never the servers: they are shared
        await dropRepository(d.repository);
        await rm(d.dir, { recursive: true, force: true });
      });
      expect(upBlock!.body.trim()).toMatch(/^npm run stack:up -- --services\s+#/);
      // on a fresh machine this fetches and starts the servers the other tests have not (RDF4J, Oxigraph)
      const up = await sh(upBlock!.body, d.env, 900_000);
      for (const [name, port] of Object.entries(d.ports))
        expect(up).toMatch(
          new RegExp(`^${name}\\s+http://127\\.0\\.0\\.1:${port}\\s+healthy \\(pid \\d+\\)`, 'm'),
        );

      expect(await firstSessionAgainst(d)).toBe(answer.body);

      const [statusLine, downLine] = statusBlock!.body.trim().split('\n');
      expect(statusLine).toMatch(/^npm run stack:status\s+#/);
      const status = await sh(statusLine!, d.env);
      expect(status).toMatch(/^kafka\s+127\.0\.0\.1:19092\s+reachable$/m);
      expect(status).toMatch(/^processor\s+\S+\s+healthy \(pid \d+\)\s+\d+ records behind/m);
      expect(status).toMatch(/^sink\s+\S+\s+healthy \(pid \d+\)\s+\d+ records behind/m);
      expect(status).toMatch(/^query-api\s+\S+\s+healthy \(pid \d+\)/m);
      expect(status).toMatch(/^agent\s+\S+\s+healthy \(pid \d+\)\s+\d+ unpublished in the spool/m);

      // the README's last line stops the servers too; here they are shared with the other tests
      expect(downLine).toMatch(/^npm run stack:down\s+#/);
      const down = await sh('npm run stack:down -- --keep-servers', d.env);
      expect(down).toContain('services stopped: agent, query-api, sink, processor');
      for (const name of Object.keys(d.ports))
        expect(await sh(statusLine!, d.env)).toMatch(new RegExp(`^${name}\\s+\\S+\\s+not running`, 'm'));

      const logs = join(d.dir, 'services');
      const logged = readdirSync(logs)
        .filter((f) => f.endsWith('.log'))
        .map((f) => readFileSync(join(logs, f), 'utf8'))
        .join('\n');
      expect(logged).toContain('provml processor running');
      expect(errorLines(logged)).toEqual([]);
    }, 1_200_000);

    it('the services started by hand, as the README lists them, answer the first session and log no error', async () => {
      const d = await deployment();
      // by hand, the repository is the sink's and the query API's --repository (the processor and the agent take no store)
      delete d.env.PROVML_STORE_REPOSITORY;
      const script = byHandBlock!.body.replaceAll('--repository provml', `--repository ${d.repository}`);
      expect(script).not.toBe(byHandBlock!.body);
      const child = spawn('bash', ['-euo', 'pipefail', '-c', `${script}\nwait\n`], {
        cwd: ROOT,
        env: d.env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (b: Buffer) => (output += b.toString()));
      child.stderr.on('data', (b: Buffer) => (output += b.toString()));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      cleanup.push(async () => {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          // already gone
        }
        await exited;
        await dropRepository(d.repository);
        await rm(d.dir, { recursive: true, force: true });
      });
      const running = (name: string): boolean => {
        if (output.includes(`provml ${name}: `)) throw new Error(`provml ${name} did not start:\n${output}`);
        return output.includes(`provml ${name} running`);
      };
      for (const name of ['processor', 'sink', 'query-api', 'agent'])
        await until(() => running(name), `provml ${name} to run`, 180_000);
      expect(await firstSessionAgainst(d)).toBe(answer.body);
      expect(errorLines(output)).toEqual([]);
    }, 300_000);
  },
);
