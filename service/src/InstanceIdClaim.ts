/**
 * A stable default instance id for a process without `kafka.instanceId`: a persistent id kept under
 * the service's data directory, so a processor restarted there keeps its predecessor's name in logs
 * and metrics (fencing does not depend on it: transactional ids are per input partition). Several processes sharing the directory each claim a slot of their own
 * (`slot-<n>.id`, held by `slot-<n>.lock` naming the live holder's pid); the slot of a process that
 * died (even by SIGKILL) is taken over by the next one to start.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';

/** A claimed instance id; `release()` gives its slot back (idempotent). */
export interface InstanceIdClaim {
  id: string;
  /** The slot file holding the id. */
  file: string;
  release(): void;
}

/** Slot locks this process holds (a second claim in the same process takes another slot). */
const held = new Set<string>();

/** Whether a process with this pid runs (EPERM: it does, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock file for this process, or says who holds it. */
function tryLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(readFileSync(lock, 'utf8').trim());
    // a lock naming this pid but not held here was left by an earlier process (e.g. pid 1 in a container)
    const stale = !Number.isInteger(holder) || holder <= 0 || holder === process.pid || !alive(holder);
    if (!stale) return false;
    unlinkSync(lock); // its holder died: the slot is free, take it on the next attempt
  }
  return false;
}

/**
 * Claims the first free slot under `dir` (created when missing) and returns its persistent id,
 * creating the id on the slot's first use.
 */
export function claimInstanceId(dir: string): InstanceIdClaim {
  mkdirSync(dir, { recursive: true });
  for (let slot = 0; ; slot++) {
    const lock = join(dir, `slot-${slot}.lock`);
    if (held.has(lock) || !tryLock(lock)) continue;
    held.add(lock);
    const file = join(dir, `slot-${slot}.id`);
    let id: string;
    try {
      id = readFileSync(file, 'utf8').trim();
    } catch {
      id = '';
    }
    if (!/^[\w.-]+$/.test(id)) {
      id = `i${slot}-${randomBytes(4).toString('hex')}`;
      writeFileSync(file, `${id}\n`);
    }
    let released = false;
    return {
      id,
      file,
      release: () => {
        if (released) return;
        released = true;
        held.delete(lock);
        try {
          if (Number(readFileSync(lock, 'utf8').trim()) === process.pid) unlinkSync(lock);
        } catch {
          // gone already
        }
      },
    };
  }
}
