/** Generic helpers for the local stack's server processes: verified downloads, detached starts, pid files, readiness, stops. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
} from 'node:fs';
import { mkdir, rename, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DependencyError } from '@provml/schemas';

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Checksums a downloaded file must match. Hex digests, case-insensitive. */
export interface DownloadOptions {
  /** Expected SHA-1. When neither digest is given, `${url}.sha1` is fetched (Maven Central serves one per file). */
  sha1?: string;
  /** Expected SHA-256, checked in addition to (or instead of) SHA-1. */
  sha256?: string;
  /** Limit for the whole transfer, ms. Default 600000. */
  timeoutMs?: number;
}

async function digestsOf(file: string): Promise<{ sha1: string; sha256: string }> {
  const sha1 = createHash('sha1');
  const sha256 = createHash('sha256');
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    sha1.update(chunk);
    sha256.update(chunk);
  }
  return { sha1: sha1.digest('hex'), sha256: sha256.digest('hex') };
}

/** The expected digests: the pinned ones, or the `.sha1` published beside the file. */
async function expectedDigests(
  url: string,
  options: DownloadOptions,
): Promise<{ sha1?: string; sha256?: string }> {
  if (options.sha1 !== undefined || options.sha256 !== undefined)
    return { sha1: options.sha1?.toLowerCase(), sha256: options.sha256?.toLowerCase() };
  const response = await fetch(`${url}.sha1`, { signal: AbortSignal.timeout(30_000) }).catch(
    (error: unknown) => {
      throw new DependencyError('download-failed', `cannot fetch ${url}.sha1: ${String(error)}`, {
        retriable: true,
        cause: error,
      });
    },
  );
  if (!response.ok)
    throw new DependencyError(
      'checksum-unavailable',
      `${url}.sha1 answered ${response.status}; pass a pinned sha1/sha256 to download() for this file`,
      { retriable: false },
    );
  // Maven's .sha1 holds the digest, sometimes followed by the file name
  const sha1 = /^\s*([0-9a-f]{40})\b/i.exec(await response.text())?.[1];
  if (sha1 === undefined)
    throw new DependencyError('checksum-unavailable', `${url}.sha1 holds no SHA-1 digest`, {
      retriable: false,
    });
  return { sha1: sha1.toLowerCase() };
}

function mismatch(
  file: string,
  expected: { sha1?: string; sha256?: string },
  actual: { sha1: string; sha256: string },
): string | undefined {
  if (expected.sha1 !== undefined && expected.sha1 !== actual.sha1)
    return `${file}: SHA-1 ${actual.sha1}, expected ${expected.sha1}`;
  if (expected.sha256 !== undefined && expected.sha256 !== actual.sha256)
    return `${file}: SHA-256 ${actual.sha256}, expected ${expected.sha256}`;
  return undefined;
}

/**
 * Downloads `url` to `dest` once and verifies it. A file already at `dest` is reused when it matches
 * the expected checksum (a pinned one, or the digest recorded in `dest + '.sha1'` when it was fetched);
 * otherwise it is fetched again into a temporary file, checked, and renamed into place, so `dest` is
 * never a partial or unverified file.
 *
 * @returns `dest`
 * @throws DependencyError `download-failed` (retriable: network, 5xx), `checksum-unavailable`,
 *   `checksum-mismatch` (not retriable)
 */
export async function download(url: string, dest: string, options: DownloadOptions = {}): Promise<string> {
  const pinned = options.sha1 !== undefined || options.sha256 !== undefined;
  const recorded = `${dest}.sha1`;
  if (existsSync(dest)) {
    const expected = pinned
      ? { sha1: options.sha1?.toLowerCase(), sha256: options.sha256?.toLowerCase() }
      : existsSync(recorded)
        ? { sha1: readFileSync(recorded, 'utf8').trim().toLowerCase() }
        : undefined;
    if (expected !== undefined && mismatch(dest, expected, await digestsOf(dest)) === undefined) return dest;
  }
  const expected = await expectedDigests(url, options);
  await mkdir(dirname(dest), { recursive: true });
  const part = `${dest}.part-${process.pid}`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 600_000) });
    if (!response.ok || response.body === null)
      throw new DependencyError('download-failed', `GET ${url} answered ${response.status}`, {
        retriable: response.status >= 500 || response.status === 429,
      });
    const sha1 = createHash('sha1');
    const sha256 = createHash('sha256');
    const hasher = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sha1.update(chunk);
        sha256.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(response.body), hasher, createWriteStream(part));
    const problem = mismatch(url, expected, { sha1: sha1.digest('hex'), sha256: sha256.digest('hex') });
    if (problem !== undefined) throw new DependencyError('checksum-mismatch', problem, { retriable: false });
    await rename(part, dest);
    if (!pinned && expected.sha1 !== undefined) await writeFile(recorded, expected.sha1 + '\n');
    return dest;
  } catch (error) {
    await rm(part, { force: true });
    if (error instanceof DependencyError) throw error;
    throw new DependencyError('download-failed', `GET ${url} failed: ${String(error)}`, {
      retriable: true,
      cause: error,
    });
  }
}

/** What to start. */
export interface StartOptions {
  command: string;
  args: readonly string[];
  /** Holds the pid (one line, the number only) while the process runs. */
  pidFile: string;
  /** Receives stdout and stderr, appended, with a header line per start. */
  logFile: string;
  cwd?: string;
  /** The whole environment of the process. Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts a process detached from this one (`setsid`: its own session and process group, so it outlives
 * the caller and `stopProcess` can end it with all its children) and writes its pid file.
 *
 * @returns the pid (also the process group id)
 * @throws DependencyError `process-start-failed` when the command cannot be run (not found, not executable)
 */
export async function startProcess(options: StartOptions): Promise<number> {
  await mkdir(dirname(options.logFile), { recursive: true });
  await mkdir(dirname(options.pidFile), { recursive: true });
  await writeFile(
    options.logFile,
    `--- ${new Date().toISOString()} ${options.command} ${options.args.join(' ')}\n`,
    { flag: 'a' },
  );
  const fd = openSync(options.logFile, 'a');
  try {
    const child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', reject);
    }).catch((error: unknown) => {
      throw new DependencyError('process-start-failed', `cannot run ${options.command}: ${String(error)}`, {
        retriable: false,
        cause: error,
      });
    });
    child.unref();
    await writeFile(options.pidFile, `${pid}\n`);
    return pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether `pid` is a zombie: exited, awaiting its parent. A leader that shows Z while other threads of
 * its process still run (they are shutting down, and may still hold its ports) is not one.
 */
function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z') return false;
    return readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return false; // no /proc (not Linux), or gone meanwhile
  }
}

/** Whether `pid` is a live process (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !zombie(pid);
}

/** Whether a live (non-zombie) process of the group `pgid` is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!existsSync('/proc')) return true; // not Linux: kill(0) is all we know
  // kill(0) counts zombies too: look for a member that is not one
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const pgrp = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2];
      if (Number(pgrp) === pgid && !zombie(Number(entry))) return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}

/** The pid in a pid file (first line), or undefined. */
function pidIn(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]!.trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When `pid` started, ms since the epoch, from /proc (boot time plus start ticks; USER_HZ is 100 on
 * Linux); undefined without /proc.
 */
function startedAt(pid: number): number | undefined {
  try {
    const bootSeconds = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(bootSeconds) && Number.isFinite(ticks)
      ? bootSeconds * 1000 + ticks * 10
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid recorded in `pidFile` when that process is alive; `undefined` when there is no pid file,
 * it is unreadable, or the process is gone. A pid file older than its process by more than a minute
 * is stale (the pid was reused, e.g. after a reboot) and counts as not running.
 */
export function isRunning(pidFile: string): number | undefined {
  const pid = pidIn(pidFile);
  if (pid === undefined || !alive(pid)) return undefined;
  const started = startedAt(pid);
  if (started === undefined) return pid;
  const written = statSync(pidFile, { throwIfNoEntry: false })?.mtimeMs ?? started;
  return Math.abs(written - started) < 60_000 ? pid : undefined;
}

/** How to stop. */
export interface StopOptions {
  /** How long to wait after SIGTERM before SIGKILL, ms. Default 20000. */
  graceMs?: number;
}

/**
 * Stops the process group recorded in `pidFile`: SIGTERM to the whole group, SIGKILL after the grace
 * period, then waits until no member is left and removes the pid file. Idempotent.
 *
 * @returns whether a running process was stopped
 */
export async function stopProcess(pidFile: string, options: StopOptions = {}): Promise<boolean> {
  const pid = isRunning(pidFile);
  if (pid === undefined) {
    await rm(pidFile, { force: true });
    return false;
  }
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig); // not a group leader (started by something else)
      } catch {
        // already gone
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + (options.graceMs ?? 20_000);
  while (groupAlive(pid) && Date.now() < deadline) await sleep(50);
  if (groupAlive(pid)) {
    signal('SIGKILL');
    const killDeadline = Date.now() + 10_000;
    while (groupAlive(pid) && Date.now() < killDeadline) await sleep(50);
  }
  await rm(pidFile, { force: true });
  return true;
}

/** The last `lines` lines of a log file ('' when it does not exist). */
export async function tailFile(file: string, lines = 40): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n')
    .trimEnd();
}

/** Whether something accepts TCP connections on `host:port`. */
export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** How to wait for a server. */
export interface WaitOptions {
  /** Give up after this long, ms. Default 120000. */
  timeoutMs?: number;
  /** Pause between probes, ms. Default 100. */
  intervalMs?: number;
  /** The server's pid file: waiting stops early, with an error, when its process has died. */
  pidFile?: string;
  /** The server's log: its tail is put in the error message. */
  logFile?: string;
  /** Name used in messages. Default: what is probed. */
  name?: string;
}

/**
 * Calls `probe` until it answers `true`, the process behind it dies, or time runs out. `probe` answers
 * `true` when ready, or a short text saying what it saw (put in the error message).
 *
 * @returns the milliseconds waited
 * @throws DependencyError `not-ready` (retriable) with the log's tail in its message
 */
export async function waitUntil(
  probe: () => Promise<true | string>,
  what: string,
  options: WaitOptions = {},
): Promise<number> {
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 120_000);
  for (;;) {
    const last = await probe().catch((error: unknown) => String((error as Error).cause ?? error));
    if (last === true) return Date.now() - started;
    const died = options.pidFile !== undefined && isRunning(options.pidFile) === undefined;
    if (died || Date.now() > deadline) {
      const tail = options.logFile === undefined ? '' : await tailFile(options.logFile);
      const why = died ? 'its process exited' : `not ready after ${Date.now() - started} ms`;
      throw new DependencyError(
        'not-ready',
        `${options.name ?? what}: ${why} (last probe of ${what}: ${last})` +
          (tail === '' ? '' : `\n--- last lines of ${options.logFile}:\n${tail}`),
        { retriable: true },
      );
    }
    await sleep(options.intervalMs ?? 100);
  }
}

/** How to wait for an HTTP server. */
export interface WaitForHttpOptions extends WaitOptions {
  /** Request to send. Default a GET. */
  init?: RequestInit;
  /** Whether a response means ready. Default: a 2xx status. */
  ready?: (response: Response) => boolean | Promise<boolean>;
}

/**
 * Polls `url` until it answers ready (see {@link waitUntil}).
 *
 * @returns the milliseconds waited
 * @throws DependencyError `not-ready` (retriable) with the log's tail in its message
 */
export function waitForHttp(url: string, options: WaitForHttpOptions = {}): Promise<number> {
  const probe = async (): Promise<true | string> => {
    const response = await fetch(url, { ...options.init, signal: AbortSignal.timeout(5000) });
    const ready = await (options.ready ?? ((r: Response) => r.ok))(response);
    if (!response.bodyUsed) await response.body?.cancel();
    return ready ? true : `HTTP ${response.status}`;
  };
  return waitUntil(probe, url, options);
}

/**
 * Waits until something accepts TCP connections on `host:port` (a broker, a database; see
 * {@link waitUntil}).
 *
 * @returns the milliseconds waited
 * @throws DependencyError `not-ready` (retriable) with the log's tail in its message
 */
export function waitForPort(port: number, options: WaitOptions & { host?: string } = {}): Promise<number> {
  const host = options.host ?? '127.0.0.1';
  return waitUntil(
    async () => ((await isPortOpen(port, host)) ? true : 'connection refused'),
    `${host}:${port}`,
    options,
  );
}

/**
 * Runs `fn` while holding an exclusive lock file (created with O_EXCL, holding this pid), so that two
 * processes (test workers, a CLI) do not start the same server twice. A lock left by a dead process is
 * taken over.
 *
 * @throws DependencyError `lock-timeout` (retriable) when the lock is still held after `timeoutMs`
 */
export async function withLock<T>(lockFile: string, fn: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await writeFile(lockFile, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = pidIn(lockFile);
      const held = holder !== undefined && alive(holder);
      const age = Date.now() - (await stat(lockFile).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (!held && age > 1000) {
        await rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new DependencyError('lock-timeout', `${lockFile} is held by pid ${holder ?? '?'}`, {
          retriable: true,
        });
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockFile, { force: true });
  }
}
