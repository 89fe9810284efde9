/**
 * The distributed pipeline on the local stack: a processor, a sink, the query API and an agent, each a
 * detached `provml` process with its pid file and log under one directory (default
 * `.data/stack/services`), configured by the environment (PROVML_*) over the local stack's defaults.
 */
import { join, relative, resolve } from 'node:path';
import { DEFAULT_PORTS, PORT_ENV, type ServiceName } from '@provml/service';
import { readFile } from 'node:fs/promises';
import { isRunning, startProcess, stopProcess, waitUntil } from './processes.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/** The services in the order they start (consumers before producers) and stop (the reverse). */
export const PIPELINE: readonly ServiceName[] = ['processor', 'sink', 'query-api', 'agent'];

/** Where the services' pid files and logs are, and the environment they run with. */
export interface ServicesOptions {
  /** Pid files and logs (and the agent's spool unless PROVML_AGENT_SPOOL names one). Default `.data/stack/services`. */
  dir?: string;
  /** The environment the services are configured from (PROVML_*). Default this process's. */
  env?: NodeJS.ProcessEnv;
  /** The RDF4J Server the sink and the query API use unless PROVML_STORE_URL names a store. */
  rdf4jUrl?: string;
}

/** One service as `up` and `status` report it. */
export interface ServiceState {
  name: ServiceName;
  /** Its pid while it runs. */
  pid?: number;
  url: string;
  log: string;
  /** `/healthz` answered 200. */
  healthy: boolean;
  /** What waits for it: records behind (processor, sink) or unpublished in the spool (agent). */
  backlog?: string;
}

const dirOf = (options: ServicesOptions): string => resolve(ROOT, options.dir ?? '.data/stack/services');
const files = (dir: string, name: ServiceName) => ({
  pid: join(dir, `${name}.pid`),
  log: join(dir, `${name}.log`),
});

/** The port a service is given: its own variable, the shared one, else its default. */
function portOf(name: ServiceName, env: NodeJS.ProcessEnv): number {
  const given = env[PORT_ENV[name]] || env.PROVML_HTTP_PORT;
  return given ? Number(given) : DEFAULT_PORTS[name];
}

const TOKEN_ENV = /^PROVML_(INGEST|QUERY|ADMIN)_TOKENS?(_FILE)?$/;

/**
 * The environment of the services: the caller's, over the local stack's defaults (the RDF4J
 * repository `provml`, created when missing; the agent's spool beside the logs; access control off
 * unless a token variable is set: a local trial on 127.0.0.1).
 */
function serviceEnv(options: ServicesOptions, dir: string): NodeJS.ProcessEnv {
  const env = options.env ?? process.env;
  const tokens = Object.keys(env).some((k) => TOKEN_ENV.test(k) && env[k] !== '');
  return {
    PROVML_STORE: 'rdf4j',
    PROVML_STORE_URL: options.rdf4jUrl ?? 'http://127.0.0.1:18080/rdf4j-server',
    PROVML_STORE_REPOSITORY: 'provml',
    PROVML_AGENT_SPOOL: join(dir, 'agent-spool'),
    ...(tokens ? {} : { PROVML_AUTH_DISABLED: 'true' }),
    ...env,
  };
}

/**
 * Starts every service that does not run yet, detached (they outlive this process), and waits until
 * each says it runs.
 *
 * @throws DependencyError `not-ready` with the tail of the service's log when one does not come up
 */
export async function startServices(options: ServicesOptions = {}): Promise<ServiceState[]> {
  const dir = dirOf(options);
  const env = serviceEnv(options, dir);
  for (const name of PIPELINE) {
    const f = files(dir, name);
    if (isRunning(f.pid) === undefined)
      await startProcess({
        command: process.execPath,
        args: ['--import', 'tsx', 'app/src/cli/main.ts', name],
        cwd: ROOT,
        env,
        pidFile: f.pid,
        logFile: f.log,
      });
  }
  for (const name of PIPELINE) {
    const f = files(dir, name);
    // its own line, not just an answer on its port: another program may hold that port
    await waitUntil(
      async () => ((await runningAt(f.log, name)) === undefined ? 'not running yet' : true),
      `provml ${name}`,
      { pidFile: f.pid, logFile: f.log, timeoutMs: 180_000, intervalMs: 250 },
    );
  }
  return servicesStatus(options);
}

/** The URL of the service's latest start, from its line `provml NAME running at URL` in its log. */
async function runningAt(log: string, name: ServiceName): Promise<string | undefined> {
  const text = await readFile(log, 'utf8').catch(() => '');
  const latest = text.slice(text.lastIndexOf('\n--- ') + 1);
  return new RegExp(`^provml ${name} running at (\\S+)`, 'm').exec(latest)?.[1];
}

/** A gauge's value from a Prometheus text answer, summed over its series. */
function gauge(text: string, metric: string): number | undefined {
  const values = text
    .split('\n')
    .filter((l) => l.startsWith(`${metric} `) || l.startsWith(`${metric}{`))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
}

/** What waits for a service, from its `/metrics`. */
async function backlogOf(name: ServiceName, url: string): Promise<string | undefined> {
  const text = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(2000) })
    .then((r) => (r.ok ? r.text() : ''))
    .catch(() => '');
  const [metric, unit] =
    name === 'processor'
      ? ['provml_processor_lag_records', 'records behind']
      : name === 'sink'
        ? ['provml_sink_lag_records', 'records behind']
        : name === 'agent'
          ? ['provml_spool_depth_records', 'unpublished in the spool']
          : [undefined, ''];
  const value = metric === undefined ? undefined : gauge(text, metric);
  return value === undefined ? undefined : `${value} ${unit}`;
}

/** Each service: whether it runs, where, its health and its backlog. */
export async function servicesStatus(options: ServicesOptions = {}): Promise<ServiceState[]> {
  const dir = dirOf(options);
  const env = serviceEnv(options, dir);
  return Promise.all(
    PIPELINE.map(async (name) => {
      const f = files(dir, name);
      const pid = isRunning(f.pid);
      const url =
        (pid === undefined ? undefined : await runningAt(f.log, name)) ??
        `http://127.0.0.1:${portOf(name, env)}`;
      const healthy =
        pid !== undefined &&
        (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })
          .then(async (r) => (await r.body?.cancel(), r.ok))
          .catch(() => false));
      const backlog = pid === undefined ? undefined : await backlogOf(name, url);
      const log = relative(process.cwd(), f.log);
      return { name, pid, url, log: log.startsWith('..') ? f.log : log, healthy, backlog };
    }),
  );
}

/**
 * Stops the services (SIGTERM: each flushes; SIGKILL after 20 s), the producers first.
 *
 * @returns the names of those that were running
 */
export async function stopServices(options: ServicesOptions = {}): Promise<ServiceName[]> {
  const dir = dirOf(options);
  const stopped: ServiceName[] = [];
  for (const name of [...PIPELINE].reverse()) if (await stopProcess(files(dir, name).pid)) stopped.push(name);
  return stopped;
}
