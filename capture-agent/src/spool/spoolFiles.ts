/** The spool's small files: the LOCK (one writer, stale-pid takeover) and the atomic `published` cursor. */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
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
 * Takes `<dir>/LOCK` for this process: created exclusively with our pid; a LOCK whose pid is not
 * alive (or unreadable) is taken over.
 * @returns whether a stale lock was taken over
 * @throws SpoolLockedError when a live process (this one included) holds it
 */
export function acquireLock(dir: string): { tookOver: boolean; previousPid?: number } {
  const file = join(dir, 'LOCK');
  let stalePid: number | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      try {
        writeSync(fd, `${process.pid}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      fsyncDir(dir);
      return attempt === 0 ? { tookOver: false } : { tookOver: true, previousPid: stalePid };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // vanished meanwhile: try again
    }
    const pid = Number(text.trim());
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid))
      throw new SpoolLockedError(`spool ${dir} is locked by live process ${pid}`, { pid, path: dir });
    stalePid = Number.isInteger(pid) && pid > 0 ? pid : undefined;
    rmSync(file, { force: true });
  }
  throw new SpoolLockedError(`could not take the lock of spool ${dir}`, { path: dir });
}

/** Removes our LOCK (only if it still holds our pid). */
export function releaseLock(dir: string): void {
  const file = join(dir, 'LOCK');
  try {
    if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true });
  } catch {
    // already gone
  }
}

/** The `published` cursor: the first sequence number not yet acknowledged (absent or malformed = 0). */
export function readPublished(dir: string): number {
  try {
    return parsePublished(readFileSync(join(dir, 'published'), 'utf8')) ?? 0;
  } catch {
    return 0;
  }
}

/** Replaces the `published` cursor atomically: write a temporary file, fsync it, rename, fsync the directory. */
export function writePublished(dir: string, sequence: number): void {
  const tmp = join(dir, `published.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${sequence}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, 'published'));
  fsyncDir(dir);
}
