/** The spool's small files: the LOCK (one writer; a stale one, even naming a live pid, is taken over) and the atomic `published` cursor. */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SpoolLockedError } from '@provml/schemas';
import { parsePublished } from './spoolFormat.ts';

/** Whether a process with this pid is alive (EPERM: alive, someone else's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** fsyncs a directory so that creations, renames and deletions in it are durable. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // some file systems refuse fsync on directories; nothing more can be done there
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Who wrote a LOCK: its pid and, where the OS tells (Linux), the boot it ran in and its start time
 * in clock ticks since that boot. A pid alone names a process only while it lives: after a reboot,
 * or a container restart where the agent is PID 1 again, the same pid is another process.
 */
export interface LockOwner {
  pid: number;
  /** `/proc/sys/kernel/random/boot_id` when the lock was written. */
  boot?: string;
  /** Field 22 of `/proc/<pid>/stat`: start time in clock ticks after boot. */
  start?: string;
}

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** The id of the running boot (Linux), undefined where the OS does not say. */
export function bootId(): string | undefined {
  return readText('/proc/sys/kernel/random/boot_id')?.trim() || undefined;
}

/** When process `pid` started, in clock ticks after boot (Linux), undefined where unknown or gone. */
export function processStart(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // "pid (comm) state ppid …": comm may hold spaces and parentheses; fields 3… follow its last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19]; // field 22 of the line is the 20th after comm
}

/** The LOCK text of `owner`: its pid on the first line (what older readers read), then `boot=… start=…`. */
export function formatLock(owner: LockOwner): string {
  const extra = [
    owner.boot === undefined ? '' : `boot=${owner.boot}`,
    owner.start === undefined ? '' : `start=${owner.start}`,
  ].filter((x) => x !== '');
  return `${owner.pid}\n${extra.length > 0 ? `${extra.join(' ')}\n` : ''}`;
}

/** Parses LOCK text (a pid line, optionally `boot=… start=…`); undefined when it names no pid. */
export function parseLock(text: string): LockOwner | undefined {
  const [first = '', ...rest] = text.split('\n');
  const pid = Number(first.trim());
  if (!Number.isInteger(pid) || pid <= 0 || first.trim() === '') return undefined;
  const fields = new Map(
    rest
      .join(' ')
      .split(/\s+/)
      .map((kv) => kv.split('=', 2) as [string, string | undefined])
      .filter((kv): kv is [string, string] => kv[1] !== undefined && kv[1] !== ''),
  );
  return {
    pid,
    ...(fields.has('boot') ? { boot: fields.get('boot') } : {}),
    ...(fields.has('start') ? { start: fields.get('start') } : {}),
  };
}

/** Spool directories whose LOCK this process holds (so its own pid in a LOCK it does not hold is stale). */
const held = new Set<string>();

/**
 * Whether the LOCK's writer is still running. Our own pid is live only if this process took the
 * lock (otherwise an earlier process had our pid: PID 1 of a restarted container); another boot
 * is stale; a pid that is gone, or that started at another time than the one recorded (reused),
 * is stale.
 */
export function lockOwnerAlive(owner: LockOwner, dir: string): boolean {
  if (owner.pid === process.pid) return held.has(resolve(dir));
  if (owner.boot !== undefined && owner.boot !== bootId() && bootId() !== undefined) return false;
  if (!pidAlive(owner.pid)) return false;
  if (owner.start === undefined) return true;
  const start = processStart(owner.pid);
  return start === undefined || start === owner.start;
}

/**
 * Takes `<dir>/LOCK` for this process: created exclusively with our pid, boot id and start time;
 * a LOCK whose writer is not running (see `lockOwnerAlive`), or that is unreadable, is taken over.
 * Protects a spool among the processes of one PID namespace: two containers must not share one.
 * @returns whether a stale lock was taken over
 * @throws SpoolLockedError when a live process (this one included) holds it
 */
export function acquireLock(dir: string): { tookOver: boolean; previousPid?: number } {
  const file = join(dir, 'LOCK');
  let stalePid: number | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      try {
        writeSync(fd, formatLock({ pid: process.pid, boot: bootId(), start: processStart(process.pid) }));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      fsyncDir(dir);
      held.add(resolve(dir));
      return attempt === 0 ? { tookOver: false } : { tookOver: true, previousPid: stalePid };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = parseLock(readText(file) ?? ''); // vanished meanwhile: try again
    if (owner !== undefined && lockOwnerAlive(owner, dir))
      throw new SpoolLockedError(`spool ${dir} is locked by live process ${owner.pid}`, {
        pid: owner.pid,
        path: dir,
      });
    stalePid = owner?.pid;
    rmSync(file, { force: true });
  }
  throw new SpoolLockedError(`could not take the lock of spool ${dir}`, { path: dir });
}

/** Removes our LOCK (only if this process holds it and it still names our pid). */
export function releaseLock(dir: string): void {
  const file = join(dir, 'LOCK');
  if (!held.delete(resolve(dir))) return;
  if (parseLock(readText(file) ?? '')?.pid === process.pid) rmSync(file, { force: true });
}

/** The `published` cursor: the first sequence number not yet acknowledged (absent or malformed = 0). */
export function readPublished(dir: string): number {
  try {
    return parsePublished(readFileSync(join(dir, 'published'), 'utf8')) ?? 0;
  } catch {
    return 0;
  }
}

/**
 * Replaces the `published` cursor atomically: write a temporary file, fsync it, rename, fsync the
 * directory. `durable: false` leaves out both fsyncs: the new cursor then survives a crash of this
 * process (the kernel holds the file) but not necessarily one of the machine, after which the file
 * holds an earlier cursor or none (read as 0): records are sent again, never lost.
 */
export function writePublished(dir: string, sequence: number, durable = true): void {
  const tmp = join(dir, `published.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${sequence}\n`);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, 'published'));
  if (durable) fsyncDir(dir);
}
