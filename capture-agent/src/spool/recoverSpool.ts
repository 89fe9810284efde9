/** Opening a spool directory: lists its segments and recovers torn tails and corrupt records (AGENT.md "Recovery"). */
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fsyncDir } from './spoolFiles.ts';
import { parseSegmentName, scanRecords, segmentName } from './spoolFormat.ts';

/** What the spool knows about one segment file. */
export interface SegmentInfo {
  /** Sequence number of its first record (its name). */
  first: number;
  /** Records in it. */
  count: number;
  /** Bytes in it (all good records). */
  bytes: number;
}

/** Where a reader stands: the next record's sequence number, its segment and byte offset there. */
export interface SpoolPosition {
  sequence: number;
  /** First sequence number of the segment (its name). */
  segment: number;
  offset: number;
}

/** What recovery found and did. */
export interface RecoveryReport {
  segments: SegmentInfo[];
  /** Bytes truncated from the last segment (a torn write). */
  tornBytes: number;
  /** Earlier segments whose tail was moved to `corrupt/`. */
  corruptTails: number;
  corruptBytes: number;
  /** Where the record `published` names lies (or the first record after it). */
  publishedPosition: SpoolPosition;
  /** Segments deleted because every record in them was published. */
  deletedSegments: number;
}

/** Lists the segment files of `<dir>/segments`, oldest first. */
export function listSegments(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, 'segments'));
  } catch {
    return [];
  }
  return names
    .map(parseSegmentName)
    .filter((n): n is number => n !== undefined)
    .sort((a, b) => a - b);
}

/** Cuts a segment file at `end`, keeping the bytes from `end` on in `corrupt/` when `keep` is set. */
function cut(dir: string, first: number, buf: Buffer, end: number, keep: boolean): void {
  const path = join(dir, 'segments', segmentName(first));
  if (keep) {
    mkdirSync(join(dir, 'corrupt'), { recursive: true });
    const target = join(dir, 'corrupt', `${segmentName(first)}.${end}.corrupt`);
    writeFileSync(target, buf.subarray(end));
    const cfd = openSync(target, 'r');
    fsyncSync(cfd);
    closeSync(cfd);
    fsyncDir(join(dir, 'corrupt'));
  }
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, end);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Scans every segment: a record whose length runs past the end of the last segment, or whose CRC
 * does not match, ends that segment; in the last segment the rest is truncated (a torn write), in
 * an earlier one it is moved to `<dir>/corrupt/`. Segments wholly below `published` are deleted.
 */
export function recoverSpool(dir: string, published: number): RecoveryReport {
  mkdirSync(join(dir, 'segments'), { recursive: true });
  const firsts = listSegments(dir);
  const report: RecoveryReport = {
    segments: [],
    tornBytes: 0,
    corruptTails: 0,
    corruptBytes: 0,
    publishedPosition: { sequence: published, segment: published, offset: 0 },
    deletedSegments: 0,
  };
  let positioned = false;
  firsts.forEach((first, i) => {
    const last = i === firsts.length - 1;
    const path = join(dir, 'segments', segmentName(first));
    const buf = readFileSync(path);
    const scan = scanRecords(buf);
    if (scan.stop !== 'complete') {
      if (last) report.tornBytes += buf.length - scan.end;
      else {
        report.corruptTails++;
        report.corruptBytes += buf.length - scan.end;
      }
      cut(dir, first, buf, scan.end, !last);
    }
    const info: SegmentInfo = { first, count: scan.records.length, bytes: scan.end };
    if (info.first + info.count <= published && !last) {
      rmSync(path, { force: true });
      report.deletedSegments++;
      return;
    }
    if (!positioned && info.first + info.count > published) {
      positioned = true;
      const index = Math.max(0, published - first);
      report.publishedPosition = {
        sequence: Math.max(published, first),
        segment: first,
        offset: scan.records[index]?.offset ?? 0,
      };
    }
    report.segments.push(info);
  });
  if (report.deletedSegments > 0) fsyncDir(join(dir, 'segments'));
  if (!positioned) {
    const lastSeg = report.segments[report.segments.length - 1];
    if (lastSeg !== undefined && lastSeg.first + lastSeg.count === published)
      report.publishedPosition = { sequence: published, segment: lastSeg.first, offset: lastSeg.bytes };
  }
  return report;
}
