/** Bounded lists of validation issues: the first 100 are reported, parsing stops at 10 000 (a rejection costs a bounded amount). */
import type { IssueReport, ValidationIssue } from '@provml/schemas';

export type { IssueReport };

/** Issues reported in one answer at most; the rest are only counted. */
export const MAX_REPORTED_ISSUES = 100;
/** Issues counted at most: parsing stops at this many, the answer says it stopped (`complete: false`). */
export const MAX_COUNTED_ISSUES = 10_000;

/**
 * Collects issues while parsing: keeps the first `MAX_REPORTED_ISSUES`, counts the rest, and says
 * when the parser should stop (`full`).
 */
export class IssueList {
  private readonly kept: ValidationIssue[] = [];
  private counted = 0;
  private stopped = false;

  /** Adds issues (kept while fewer than `MAX_REPORTED_ISSUES` are, counted always). */
  push(...issues: readonly ValidationIssue[]): void {
    for (const issue of issues) {
      if (this.kept.length < MAX_REPORTED_ISSUES) this.kept.push(issue);
      this.counted++;
    }
  }

  /** How many issues were found. */
  get count(): number {
    return this.counted;
  }

  /** Whether enough issues were found that the parser should stop (it then calls `stop`). */
  get full(): boolean {
    return this.counted >= MAX_COUNTED_ISSUES;
  }

  /** Records that parsing stopped before the end of the input. */
  stop(): void {
    this.stopped = true;
  }

  /** The report of what was found. */
  report(): IssueReport {
    return { issues: [...this.kept], issueCount: this.counted, complete: !this.stopped };
  }
}

/** The report of a list of issues found some other way (a spec, an annotation document): capped the same way. */
export function reportOf(issues: readonly ValidationIssue[], complete = true): IssueReport {
  return { issues: issues.slice(0, MAX_REPORTED_ISSUES), issueCount: issues.length, complete };
}
