/** What the ingest answers (README, Public contracts §3; capture-agent/AGENT.md): the issue report and the socket's answer line. */
import type { ValidationIssue } from './errors.ts';

/** The issues of a refused request: capped, counted, and whether parsing saw all of it. */
export interface IssueReport {
  /** The first issues found (at most 100), in the order found. */
  issues: ValidationIssue[];
  /** Every issue found (reported or not). */
  issueCount: number;
  /** False when parsing stopped early: there may be more. */
  complete: boolean;
}

/**
 * The agent socket's answer to one batch, one JSON line: `accepted` (the batch is in the spool), a
 * refusal naming each bad line (`invalid-event`, never worth sending again), or a retryable
 * `spool-full` / `unavailable` (send the whole batch again).
 */
export type SocketAnswer =
  | { accepted: number }
  | ({ error: 'invalid-event'; message: string } & IssueReport)
  | { error: 'spool-full' | 'unavailable'; message: string };
