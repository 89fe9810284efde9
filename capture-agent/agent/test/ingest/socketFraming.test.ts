// The socket's framing (pure): batches split as bytes arrive, limits enforced while reading, strict UTF-8.
import { describe, expect, it } from 'vitest';
import { BatchFramer, type Frame } from '../../src/ingest/socketFraming.ts';

const feed = (framer: BatchFramer, ...chunks: (string | Buffer)[]): Frame[] =>
  chunks.flatMap((c) => framer.push(typeof c === 'string' ? Buffer.from(c) : c));

describe('BatchFramer', () => {
  it('splits batches at empty lines, across chunk boundaries, with CRLF and blank lines between batches', () => {
    const framer = new BatchFramer();
    expect(feed(framer, '{"a":1}\r\n{"b"', ':2}\n', '\r\n', '\n \n{"c":3}\n\n')).toEqual([
      { kind: 'batch', lines: ['{"a":1}', '{"b":2}'] },
      { kind: 'batch', lines: ['{"c":3}'] },
    ]);
  });

  it('refuses a line at its limit, before its end arrives, and drops the rest of its batch', () => {
    const framer = new BatchFramer({ maxLineBytes: 10 });
    const frames = feed(framer, '{"a":1}\n', 'x'.repeat(8), 'x'.repeat(8));
    expect(frames).toMatchObject([{ kind: 'refused', reason: 'limit', lines: 1, issues: [{ line: 2 }] }]);
    // the rest of the refused batch is dropped, whatever its size; the next batch is read again
    expect(feed(framer, 'x'.repeat(1000), '\n{"b":2}\n', '\n', '{"c":3}\n\n')).toEqual([
      { kind: 'batch', lines: ['{"c":3}'] },
    ]);
  });

  it('refuses a batch at its byte and line limits without waiting for its end', () => {
    const bytes = new BatchFramer({ maxBatchBytes: 20 });
    expect(feed(bytes, '{"a":1}\n{"a":2}\n{"a":3}\n')).toMatchObject([
      { kind: 'refused', reason: 'limit', lines: 2, issues: [{ message: 'batch longer than 20 bytes' }] },
    ]);
    const lines = new BatchFramer({ maxBatchLines: 2 });
    expect(feed(lines, '1\n2\n3\n4\n5\n')).toMatchObject([
      { kind: 'refused', reason: 'limit', issues: [{ line: 3, message: 'more than 2 lines in one batch' }] },
    ]);
    expect(feed(lines, '\n7\n\n')).toEqual([{ kind: 'batch', lines: ['7'] }]);
  });

  it('refuses lines that are not valid UTF-8, naming each, at the end of their batch', () => {
    const framer = new BatchFramer();
    const frames = feed(
      framer,
      '{"a":"',
      Buffer.from([0xed, 0xa0, 0x80]),
      '"}\n{"b":1}\n',
      Buffer.from([0xff]),
      '\n\n',
    );
    expect(frames).toMatchObject([{ kind: 'refused', reason: 'utf8', lines: 3, issueCount: 2 }]);
    expect((frames[0] as { issues: { line: number }[] }).issues.map((i) => i.line)).toEqual([1, 3]);
  });

  it('keeps no more than a line limit of one endless line', () => {
    const framer = new BatchFramer({ maxLineBytes: 1024 });
    const chunk = Buffer.alloc(64 * 1024, 0x78);
    const frames: Frame[] = [];
    for (let i = 0; i < 100; i++) frames.push(...framer.push(chunk));
    expect(frames).toHaveLength(1);
    expect((framer as unknown as { pieces: Buffer[] }).pieces).toEqual([]);
  });
});
