/**
 * The local triple-store servers as plain processes on 127.0.0.1: Eclipse RDF4J Server 5 (war under
 * jetty-runner 9.4, Java 17+, native repositories on disk) and Oxigraph server (PyPI `oxigraph`, RocksDB).
 * CLI: `npx tsx deploy/local/stores.ts up|down|status [rdf4j|oxigraph]`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DependencyError } from '@provml/schemas';
import {
  download,
  isPortOpen,
  isRunning,
  sleep,
  startProcess,
  stopProcess,
  waitForHttp,
  withLock,
} from './processes.ts';

const run = promisify(execFile);

const ROOT = resolve(import.meta.dirname, '../..');
const CACHE = join(ROOT, '.cache/stack');
const RUN = join(CACHE, 'run');
const DATA = join(ROOT, '.data/stack');

const MAVEN = 'https://repo1.maven.org/maven2';
/** RDF4J Server: `org.eclipse.rdf4j:rdf4j-http-server:5.0.3:war`. */
export const RDF4J_VERSION = '5.0.3';
const RDF4J_WAR = `${MAVEN}/org/eclipse/rdf4j/rdf4j-http-server/${RDF4J_VERSION}/rdf4j-http-server-${RDF4J_VERSION}.war`;
/** Central serves no .sha1 beside this war: its digest is pinned here (checked on every first download). */
const RDF4J_WAR_SHA1 = '1c5feb23713903b9e6ff39029018c972b502e7be';
/** `org.eclipse.jetty:jetty-runner:9.4.58.v20250814` (Servlet 3.1, what the RDF4J 5 war targets). */
export const JETTY_RUNNER_VERSION = '9.4.58.v20250814';
const JETTY_RUNNER = `${MAVEN}/org/eclipse/jetty/jetty-runner/${JETTY_RUNNER_VERSION}/jetty-runner-${JETTY_RUNNER_VERSION}.jar`;
/** Oxigraph server: the PyPI package `oxigraph` (the `oxigraph` CLI, a native binary in the wheel). */
export const OXIGRAPH_VERSION = '0.5.13';

/** The two servers this script runs. */
export type StoreServer = 'rdf4j' | 'oxigraph';

/** Where a server answers, and whether this call started it. */
export interface StoreServerInfo {
  /** Base URL: `http://127.0.0.1:PORT/rdf4j-server` (RDF4J) or `http://127.0.0.1:PORT` (Oxigraph). */
  url: string;
  /** Pid of the server process when this script manages it. */
  pid?: number;
  /** True when a healthy server was already there. */
  reused: boolean;
  /** Milliseconds from process start to ready (0 when reused). */
  readyMs: number;
}

/** Settings shared by both servers. */
export interface ServerOptions {
  /** Port on 127.0.0.1. Defaults 18080 (RDF4J) and 17878 (Oxigraph). */
  port?: number;
  /**
   * Instance name: pid file, log and data folder are named after it (`.cache/stack/run/<instance>.pid`,
   * `.data/stack/<instance>/`). Defaults `rdf4j` and `oxigraph`; tests use their own instances.
   */
  instance?: string;
  /** How long to wait for readiness, ms. Default 180000. */
  timeoutMs?: number;
}

/** RDF4J Server settings. */
export interface Rdf4jOptions extends ServerOptions {
  /** The Java 17+ launcher. Default `java` from PATH. */
  javaCommand?: string;
  /** Maximum heap. Default `2g`. */
  heap?: string;
}

/** Oxigraph server settings. */
export interface OxigraphOptions extends ServerOptions {
  /** Python 3 used to make the virtual environment. Default `python3`. */
  pythonCommand?: string;
}

/** The data folder of a server instance (`.data/stack/<instance>`). */
export const dataDirOf = (instance: string): string => join(DATA, instance);

const files = (instance: string) => ({
  pidFile: join(RUN, `${instance}.pid`),
  logFile: join(RUN, `${instance}.log`),
  urlFile: join(RUN, `${instance}.url`),
  lockFile: join(RUN, `${instance}.lock`),
  dataDir: dataDirOf(instance),
});

/** RDF4J answers its protocol version (a number) at `/protocol`. */
async function rdf4jHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/protocol`, { signal: AbortSignal.timeout(3000) });
    return response.ok && /^\d+$/.test((await response.text()).trim());
  } catch {
    return false;
  }
}

/** Oxigraph answers a SPARQL ASK. */
async function oxigraphHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/query?query=${encodeURIComponent('ASK {}')}`, {
      headers: { accept: 'application/sparql-results+json' },
      signal: AbortSignal.timeout(3000),
    });
    return response.ok && (JSON.parse(await response.text()) as { boolean?: unknown }).boolean === true;
  } catch {
    return false;
  }
}

interface Launch {
  name: string;
  instance: string;
  url: string;
  port: number;
  probeUrl: string;
  healthy: (url: string) => Promise<boolean>;
  prepare: () => Promise<{ command: string; args: string[]; env?: NodeJS.ProcessEnv }>;
  timeoutMs: number;
}

/** Reuses a healthy server or starts one, under a lock so concurrent callers start it once. */
async function ensure(launch: Launch): Promise<StoreServerInfo> {
  const f = files(launch.instance);
  return withLock(f.lockFile, async () => {
    const pid = isRunning(f.pidFile);
    if (await launch.healthy(launch.url)) return { url: launch.url, pid, reused: true, readyMs: 0 };
    if (pid !== undefined) {
      const at = (await readFile(f.urlFile, 'utf8').catch(() => '')).trim();
      if (at !== '' && at !== launch.url)
        throw new DependencyError(
          'server-elsewhere',
          `${launch.name} (${launch.instance}, pid ${pid}) runs at ${at}, not ${launch.url}: stop it first (stores.ts down)`,
          { retriable: false },
        );
      // ours, at this URL, not answering yet: still booting (or hung: the wait says which)
      await waitForHttp(launch.probeUrl, {
        ...waitOptions(launch, f),
        ready: () => launch.healthy(launch.url),
      });
      return { url: launch.url, pid, reused: true, readyMs: 0 };
    }
    // a server stopped a moment ago may still be closing its socket
    for (let i = 0; i < 30 && (await isPortOpen(launch.port)); i++) await sleep(100);
    if (await isPortOpen(launch.port))
      throw new DependencyError(
        'port-in-use',
        `127.0.0.1:${launch.port} is taken by another program (no ${launch.name} answers at ${launch.url}); choose another port`,
        { retriable: false },
      );
    const { command, args, env } = await launch.prepare();
    await mkdir(f.dataDir, { recursive: true });
    const started = await startProcess({ command, args, env, pidFile: f.pidFile, logFile: f.logFile });
    await writeFile(f.urlFile, `${launch.url}\n`);
    try {
      const readyMs = await waitForHttp(launch.probeUrl, {
        ...waitOptions(launch, f),
        ready: () => launch.healthy(launch.url),
      });
      return { url: launch.url, pid: started, reused: false, readyMs };
    } catch (error) {
      await stopProcess(f.pidFile, { graceMs: 5000 });
      throw error;
    }
  });
}

const waitOptions = (launch: Launch, f: ReturnType<typeof files>) => ({
  timeoutMs: launch.timeoutMs,
  pidFile: f.pidFile,
  logFile: f.logFile,
  name: `${launch.name} (${launch.instance})`,
  intervalMs: 100,
});

/** Checks that `java` is there and is Java 17 or newer. */
async function checkJava(java: string): Promise<void> {
  const out = await run(java, ['-version'], { timeout: 30_000 }).catch((error: unknown) => {
    throw new DependencyError(
      'java-missing',
      `cannot run ${java} -version (Java 17+ is needed): ${String(error)}`,
      {
        retriable: false,
        cause: error,
      },
    );
  });
  const major = Number(/version "(\d+)/.exec(out.stderr + out.stdout)?.[1] ?? 0);
  if (major < 17)
    throw new DependencyError('java-too-old', `${java} is Java ${major}; RDF4J Server 5 needs Java 17+`, {
      retriable: false,
    });
}

/**
 * RDF4J Server 5 on 127.0.0.1: reused when healthy, otherwise fetched (once, verified) and started,
 * with its data (repositories) under `.data/stack/<instance>/`.
 *
 * @returns `url` = `http://127.0.0.1:PORT/rdf4j-server`
 * @throws DependencyError with the server log's tail when it cannot be started
 */
export function ensureRdf4j(options: Rdf4jOptions = {}): Promise<StoreServerInfo> {
  const port = options.port ?? 18080;
  const instance = options.instance ?? 'rdf4j';
  const url = `http://127.0.0.1:${port}/rdf4j-server`;
  const f = files(instance);
  return ensure({
    name: 'RDF4J Server',
    instance,
    url,
    port,
    probeUrl: `${url}/protocol`,
    healthy: rdf4jHealthy,
    timeoutMs: options.timeoutMs ?? 180_000,
    prepare: async () => {
      const java = options.javaCommand ?? 'java';
      await checkJava(java);
      const war = await download(RDF4J_WAR, join(CACHE, 'rdf4j', `rdf4j-server-${RDF4J_VERSION}.war`), {
        sha1: RDF4J_WAR_SHA1,
      });
      const jetty = await download(
        JETTY_RUNNER,
        join(CACHE, 'rdf4j', `jetty-runner-${JETTY_RUNNER_VERSION}.jar`),
      );
      const tmp = join(RUN, `${instance}-tmp`);
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
      return {
        command: java,
        args: [
          `-Xmx${options.heap ?? '2g'}`,
          `-Djava.io.tmpdir=${tmp}`,
          `-Dorg.eclipse.rdf4j.appdata.basedir=${f.dataDir}`,
          '-jar',
          jetty,
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--path',
          '/rdf4j-server',
          war,
        ],
      };
    },
  });
}

/** The project-local virtual environment holding the pinned `oxigraph` CLI; made on first use. */
async function oxigraphCli(python: string): Promise<string> {
  const venv = join(CACHE, `oxigraph-${OXIGRAPH_VERSION}-venv`);
  const cli = join(venv, 'bin', 'oxigraph');
  const version = existsSync(cli)
    ? await run(cli, ['--version'], { timeout: 30_000 }).then(
        (r) => r.stdout.trim(),
        () => '',
      )
    : '';
  if (version === `oxigraph ${OXIGRAPH_VERSION}`) return cli;
  return withLock(join(CACHE, 'oxigraph-venv.lock'), async () => {
    await rm(venv, { recursive: true, force: true });
    const step = async (what: string, command: string, args: string[]): Promise<void> => {
      await run(command, args, { timeout: 600_000 }).catch((error: unknown) => {
        const e = error as { stderr?: string; message: string };
        throw new DependencyError(
          'oxigraph-install-failed',
          `${what} failed: ${e.stderr?.trim() || e.message}`,
          {
            retriable: false,
            cause: error,
          },
        );
      });
    };
    await step(`${python} -m venv (on Debian: apt-get install python3-venv)`, python, ['-m', 'venv', venv]);
    await step(`pip install oxigraph==${OXIGRAPH_VERSION}`, join(venv, 'bin', 'python'), [
      '-m',
      'pip',
      'install',
      '--quiet',
      '--disable-pip-version-check',
      '--no-input',
      `oxigraph==${OXIGRAPH_VERSION}`,
    ]);
    return cli;
  });
}

/**
 * Oxigraph server on 127.0.0.1 (`oxigraph serve --location .data/stack/<instance> --bind 127.0.0.1:PORT`):
 * reused when healthy, otherwise installed (once, into `.cache/stack/`) and started.
 *
 * @returns `url` = `http://127.0.0.1:PORT` (SPARQL at `/query`, `/update`; Graph Store Protocol at `/store`)
 * @throws DependencyError with the server log's tail when it cannot be started
 */
export function ensureOxigraph(options: OxigraphOptions = {}): Promise<StoreServerInfo> {
  const port = options.port ?? 17878;
  const instance = options.instance ?? 'oxigraph';
  const url = `http://127.0.0.1:${port}`;
  return ensure({
    name: 'Oxigraph server',
    instance,
    url,
    port,
    probeUrl: `${url}/query?query=${encodeURIComponent('ASK {}')}`,
    healthy: oxigraphHealthy,
    timeoutMs: options.timeoutMs ?? 60_000,
    prepare: async () => ({
      command: await oxigraphCli(options.pythonCommand ?? 'python3'),
      args: ['serve', '--location', files(instance).dataDir, '--bind', `127.0.0.1:${port}`],
    }),
  });
}

/**
 * Stops one server instance started by this script (its whole process group) and waits until it is
 * gone. Idempotent.
 *
 * @returns whether it was running
 */
export async function stopStore(instance: string): Promise<boolean> {
  const f = files(instance);
  const stopped = await stopProcess(f.pidFile);
  await rm(f.urlFile, { force: true });
  await rm(join(RUN, `${instance}-tmp`), { recursive: true, force: true }); // Jetty's unpacked war
  return stopped;
}

/** Stops the default instances (`rdf4j`, `oxigraph`, or the ones named). @returns the ones that ran */
export async function stopStores(names: readonly string[] = ['rdf4j', 'oxigraph']): Promise<string[]> {
  const stopped: string[] = [];
  for (const name of names) if (await stopStore(name)) stopped.push(name);
  return stopped;
}

/**
 * Stops and starts a server again on the same data folder (what a crash-and-restart test needs).
 * Only an instance this script started can be restarted.
 */
export async function restartStore(
  name: StoreServer,
  options: Rdf4jOptions & OxigraphOptions = {},
): Promise<StoreServerInfo> {
  const instance = options.instance ?? name;
  if (isRunning(files(instance).pidFile) === undefined)
    throw new DependencyError('not-managed', `${instance} was not started by stores.ts; cannot restart it`, {
      retriable: false,
    });
  await stopStore(instance);
  return name === 'rdf4j' ? ensureRdf4j(options) : ensureOxigraph(options);
}

/** What `status` reports for one instance. */
export interface StoreStatus {
  instance: string;
  pid?: number;
  url?: string;
  healthy: boolean;
}

/** The state of the default instances. */
export async function storeStatus(): Promise<StoreStatus[]> {
  const out: StoreStatus[] = [];
  for (const instance of ['rdf4j', 'oxigraph'] as const) {
    const f = files(instance);
    const pid = isRunning(f.pidFile);
    const url =
      pid === undefined ? undefined : (await readFile(f.urlFile, 'utf8').catch(() => '')).trim() || undefined;
    const healthy =
      url !== undefined && (instance === 'rdf4j' ? await rdf4jHealthy(url) : await oxigraphHealthy(url));
    out.push({ instance, pid, url, healthy });
  }
  return out;
}

/** CLI entry: `up|down|status [rdf4j|oxigraph]`, ports from PROVML_RDF4J_PORT and PROVML_OXIGRAPH_PORT. */
async function main(argv: readonly string[]): Promise<number> {
  const [command, which] = argv;
  const names: StoreServer[] =
    which === 'rdf4j' || which === 'oxigraph' ? [which] : which === undefined ? ['rdf4j', 'oxigraph'] : [];
  if (!['up', 'down', 'status'].includes(command ?? '') || names.length === 0) {
    process.stderr.write('usage: stores.ts up|down|status [rdf4j|oxigraph]\n');
    return 2;
  }
  const env = process.env;
  const port = (value: string | undefined, fallback: number): number => {
    const n = Number(value ?? fallback);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`not a port: ${value}`);
    return n;
  };
  const rdf4j: Rdf4jOptions = {
    port: port(env['PROVML_RDF4J_PORT'], 18080),
    javaCommand: env['JAVA_HOME'] ? join(env['JAVA_HOME'], 'bin', 'java') : undefined,
  };
  const oxigraph: OxigraphOptions = { port: port(env['PROVML_OXIGRAPH_PORT'], 17878) };
  if (command === 'status') {
    for (const s of (await storeStatus()).filter((s) => names.includes(s.instance as StoreServer)))
      process.stdout.write(
        `${s.instance}: ${s.pid === undefined ? 'not running' : `pid ${s.pid} at ${s.url} (${s.healthy ? 'healthy' : 'NOT answering'})`}\n`,
      );
    return 0;
  }
  if (command === 'down') {
    const stopped = await stopStores(names);
    process.stdout.write(`stopped: ${stopped.join(', ') || 'nothing was running'}\n`);
    return 0;
  }
  let failed = 0;
  for (const name of names) {
    try {
      const info = name === 'rdf4j' ? await ensureRdf4j(rdf4j) : await ensureOxigraph(oxigraph);
      process.stdout.write(
        `${name}: ${info.url} ${info.reused ? '(already running)' : `(started, ready in ${info.readyMs} ms)`}\n`,
      );
    } catch (error) {
      failed++;
      process.stderr.write(`${name}: ${(error as Error).message}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename))
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
