/**
 * The local Apicurio Registry 3.x (Confluent-compatible API at /apis/ccompat/v7) for development and
 * CI, as a plain Java process from the Maven Central `all` tar.gz. In-memory storage: schemas are
 * registered again by producers after a restart.
 * CLI: `npx tsx deploy/local/registry.ts up|down|status`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { download, isRunning, startProcess, stopProcess, waitForHttp, withLock } from './processes.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const VERSION = '3.0.9';
const URL_ = `https://repo1.maven.org/maven2/io/apicurio/apicurio-registry-app/${VERSION}/apicurio-registry-app-${VERSION}-all.tar.gz`;
const HOME = join(ROOT, '.cache/stack/apicurio', VERSION);
const RUN = join(ROOT, '.cache/stack/run');
const PID = join(RUN, 'registry.pid');
const LOG = join(RUN, 'registry.log');

/** Base URL of the Confluent-compatible API of a registry on `port`. */
export const ccompatUrl = (port: number): string => `http://127.0.0.1:${port}/apis/ccompat/v7`;

/** Fetches (checksum-verified) and unpacks the registry once. */
async function fetchRegistry(): Promise<string> {
  // 3.0.x ships a runner jar (Java 17); later 3.x a quarkus-app layout compiled for Java 21
  const jar = join(HOME, `apicurio-registry-app-${VERSION}-runner.jar`);
  if (existsSync(jar)) return jar;
  const archive = await download(
    URL_,
    join(ROOT, '.cache/stack/apicurio', `apicurio-registry-app-${VERSION}-all.tar.gz`),
  );
  const untar = spawnSync('tar', ['xzf', archive, '-C', HOME], { encoding: 'utf8' });
  if (untar.status !== 0) {
    spawnSync('mkdir', ['-p', HOME]);
    const again = spawnSync('tar', ['xzf', archive, '-C', HOME], { encoding: 'utf8' });
    if (again.status !== 0) throw new Error(`cannot unpack ${archive}: ${again.stderr}`);
  }
  return jar;
}

/**
 * Starts the registry unless it already answers, and waits until its Confluent-compatible API does.
 * @returns the ccompat base URL
 */
export async function ensureRegistry(port = 18081): Promise<{ url: string }> {
  const url = ccompatUrl(port);
  const probe = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
  if (probe?.ok === true) return { url };
  return withLock(join(RUN, 'registry.lock'), async () => {
    if (isRunning(PID) === undefined) {
      const jar = await fetchRegistry();
      await startProcess({
        command: 'java',
        args: [
          '-Xms128m',
          '-Xmx512m',
          `-Dquarkus.http.port=${port}`,
          '-Dquarkus.http.host=127.0.0.1',
          '-Dquarkus.log.level=WARN',
          '-Dapicurio.rest.deletion.artifact.enabled=true',
          '-jar',
          jar,
        ],
        cwd: HOME,
        pidFile: PID,
        logFile: LOG,
      });
    }
    await waitForHttp(`${url}/subjects`, {
      pidFile: PID,
      logFile: LOG,
      name: 'Apicurio Registry',
      timeoutMs: 180_000,
    });
    return { url };
  });
}

/** Stops the registry started by `ensureRegistry`. */
export async function stopRegistry(): Promise<void> {
  await stopProcess(PID);
}

async function main(command: string | undefined): Promise<void> {
  const port = Number(process.env.PROVML_REGISTRY_PORT ?? 18081);
  if (command === 'up') {
    const started = performance.now();
    const { url } = await ensureRegistry(port);
    process.stdout.write(
      `registry ${url}   (ready after ${((performance.now() - started) / 1000).toFixed(1)} s; log ${LOG})\n`,
    );
  } else if (command === 'down') {
    await stopRegistry();
    process.stdout.write('registry stopped\n');
  } else if (command === 'status') {
    const pid = isRunning(PID);
    process.stdout.write(pid === undefined ? 'registry not running\n' : `registry running (pid ${pid})\n`);
  } else {
    process.stderr.write('usage: tsx deploy/local/registry.ts up|down|status\n');
    process.exitCode = 2;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename))
  main(process.argv[2]).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
