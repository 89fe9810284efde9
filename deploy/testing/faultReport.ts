/** What each fault test measured, written to test-output/faults/ for bench/reliability.ts to report. */
import { mkdirSync, writeFileSync } from 'node:fs';

const DIR = new URL('../../test-output/faults/', import.meta.url).pathname;

/** The outcome of one fault-injection run. */
export interface FaultRecord {
  /** Short name (file name of the record). */
  fault: string;
  /** One line: what was done. */
  title: string;
  /** Whether this was the full variant (PROVML_FAULTS_FULL=1). */
  full: boolean;
  /** Capture events produced. */
  events: number;
  /** Task executions expected in the store (each one begin and one end event). */
  executions: number;
  /** Executions missing a begin or end in the store: lost records. */
  lost: number;
  /** Executions with more than one begin or end. */
  duplicated: number;
  deadLettered: number;
  /** Wall time of the test. */
  seconds: number;
  notes: string;
}

/** Writes `test-output/faults/<fault>-<short|full>.json`. */
export function recordFault(record: FaultRecord): void {
  mkdirSync(DIR, { recursive: true });
  writeFileSync(
    `${DIR}${record.fault}-${record.full ? 'full' : 'short'}.json`,
    `${JSON.stringify({ ...record, at: new Date().toISOString() }, null, 2)}\n`,
  );
}
