/** Splits the agent's socket stream into batches as bytes arrive, enforcing line and batch limits while reading (AGENT.md). */
import { MAX_PAYLOAD_BYTES } from '@provml/capture-agent';
import type { ValidationIssue } from '@provml/schemas';
import { IssueList, type IssueReport } from './issueList.ts';

/** Limits on what one connection may make the agent hold. */
export interface FramingLimits {
  /** Bytes in one line at most (its `\n` not counted). Default 1 MiB, the spool's record limit. */
  maxLineBytes: number;
  /** Lines in one batch at most. Default 100 000. */
  maxBatchLines: number;
  /** Bytes in one batch at most (lines and their `\n`). Default 32 MiB, the HTTP body limit. */
  maxBatchBytes: number;
}

/** The limits of AGENT.md. */
export const DEFAULT_FRAMING_LIMITS: Readonly<FramingLimits> = {
  maxLineBytes: MAX_PAYLOAD_BYTES,
  maxBatchLines: 100_000,
  maxBatchBytes: 32 * 1024 * 1024,
};

/**
 * What the stream yields: a complete batch of lines (each valid UTF-8, `\r\n` allowed), or a
 * refused one: invalid UTF-8 in some lines (answered at the batch's end, like a bad line), or a
 * limit passed (answered at once; the rest of that batch, up to its empty line, is read and dropped).
 */
export type Frame =
  | { kind: 'batch'; lines: string[] }
  | ({ kind: 'refused'; reason: 'utf8' | 'limit'; lines: number } & IssueReport);

/**
 * A line and batch splitter over raw bytes. Memory per connection is bounded by the limits: a line
 * is kept only up to `maxLineBytes` and a batch up to `maxBatchBytes`; past either the batch is
 * refused at once and what follows of it is dropped as it arrives (no quadratic re-scanning: each
 * byte is looked at once).
 */
export class BatchFramer {
  private readonly limits: FramingLimits;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  /** The line being read: its pieces and their length. */
  private pieces: Buffer[] = [];
  private lineBytes = 0;
  /** The batch being read. */
  private lines: string[] = [];
  private batchBytes = 0;
  private bad = new IssueList();
  /** Whether the line being read holds only ASCII white space so far (then it ends a batch). */
  private blank = true;
  /** Dropping the rest of the batch being read, up to its empty line (it was refused at a limit). */
  private droppingBatch = false;

  constructor(limits: Partial<FramingLimits> = {}) {
    this.limits = { ...DEFAULT_FRAMING_LIMITS, ...limits };
  }

  /** Consumes the next bytes of the stream; returns the batches they completed or refused, in order. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let pos = 0;
    while (pos <= chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (end > pos) {
        if (this.blank) this.blank = isBlank(chunk, pos, end);
        this.lineBytes += end - pos;
        if (this.droppingBatch) {
          // nothing of a refused batch is kept
        } else if (this.lineBytes > this.limits.maxLineBytes)
          this.refuse(frames, {
            path: '',
            message: `line ${this.lines.length + 1} is longer than ${this.limits.maxLineBytes} bytes`,
            line: this.lines.length + 1,
          });
        else this.pieces.push(chunk.subarray(pos, end));
      }
      if (nl < 0) break;
      this.endLine(frames);
      pos = nl + 1;
    }
    return frames;
  }

  /** A `\n` ended the line being read. */
  private endLine(frames: Frame[]): void {
    const { pieces, lineBytes, blank } = this;
    this.pieces = [];
    this.lineBytes = 0;
    this.blank = true;
    if (blank) return this.endBatch(frames);
    if (this.droppingBatch) return;
    const line = this.lines.length + 1;
    if (line > this.limits.maxBatchLines)
      return this.refuse(frames, {
        path: '',
        message: `more than ${this.limits.maxBatchLines} lines in one batch`,
        line,
      });
    this.batchBytes += lineBytes + 1;
    if (this.batchBytes > this.limits.maxBatchBytes)
      return this.refuse(frames, {
        path: '',
        message: `batch longer than ${this.limits.maxBatchBytes} bytes`,
        line,
      });
    let text: string | undefined;
    try {
      text = this.utf8.decode(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, lineBytes));
    } catch {
      text = undefined;
    }
    if (text === undefined) this.bad.push({ path: '', message: 'invalid UTF-8 byte sequence', line });
    this.lines.push(text === undefined ? '' : text.endsWith('\r') ? text.slice(0, -1) : text);
  }

  /** An empty line ended the batch being read. */
  private endBatch(frames: Frame[]): void {
    const lines = this.lines;
    const bad = this.bad;
    const dropped = this.droppingBatch;
    this.resetBatch();
    if (dropped || lines.length === 0) return; // the end of a refused batch, or blank lines between batches
    if (bad.count > 0) frames.push({ kind: 'refused', reason: 'utf8', lines: lines.length, ...bad.report() });
    else frames.push({ kind: 'batch', lines });
  }

  /** Refuses the batch being read at a limit, and drops the rest of it as it arrives. */
  private refuse(frames: Frame[], issue: ValidationIssue): void {
    const lines = this.lines.length;
    this.resetBatch();
    this.droppingBatch = true;
    frames.push({ kind: 'refused', reason: 'limit', lines, issues: [issue], issueCount: 1, complete: true });
  }

  private resetBatch(): void {
    this.pieces = [];
    this.lines = [];
    this.batchBytes = 0;
    this.bad = new IssueList();
    this.droppingBatch = false;
  }
}

/** Whether bytes `[from, to)` are all ASCII white space (space, tab, CR, vertical tab, form feed). */
function isBlank(bytes: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const b = bytes[i]!;
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0b && b !== 0x0c) return false;
  }
  return true;
}
