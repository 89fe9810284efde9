/** `provml replay <dir>`: publishes a spool written offline exactly like the online publisher, skipping what `published` says was sent. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SpoolPublisher, SpoolWriter } from '@provml/capture-agent';
import { ValidationError, type Logger } from '@provml/schemas';
import { kafkaPublishPort } from './agentService.ts';
import type { ServiceConfig } from '@provml/service';

/** Where a replay stands. */
export interface ReplayProgress {
  /** Records handled so far, and in all. */
  done: number;
  total: number;
  events: number;
  specs: number;
  annotations: number;
  /** Failed sends tried again (the broker is away). */
  retries: number;
  seconds: number;
}

/** What a replay did. */
export interface ReplaySummary extends ReplayProgress {
  /** Records the `published` cursor said were already sent (not sent again). */
  alreadyPublished: number;
  /** Records that were not valid envelopes, skipped. */
  invalid: number;
  /** Sequence numbers with no record (moved to corrupt/ by recovery). */
  missing: number;
}

/**
 * Publishes every record of the spool at `dir` from its `published` cursor on to the configured
 * Kafka topics, advancing the cursor as the broker acknowledges. Takes the spool's LOCK (a stale
 * one is taken over; a live agent's is refused), so it runs with no agent on that spool.
 * @throws ValidationError when `dir` is not a spool; SpoolLockedError when a live process holds it
 */
export async function replaySpool(
  dir: string,
  config: ServiceConfig,
  logger: Logger,
  onProgress: (p: ReplayProgress) => void = () => undefined,
  progressIntervalMs = 500,
): Promise<ReplaySummary> {
  if (!existsSync(join(dir, 'segments')))
    throw new ValidationError(`${dir} is not a spool`, [
      { path: 'dir', message: 'it has no segments/ folder' },
    ]);
  const started = performance.now();
  const writer = SpoolWriter.open(dir, { logger: logger.child('spool') });
  const kafka = kafkaPublishPort(config, logger);
  const publisher = new SpoolPublisher(writer, kafka, { logger: logger.child('publisher') });
  const alreadyPublished = writer.stats.published;
  const total = writer.stats.depthRecords;
  const from = writer.stats.published;
  const progress = (): ReplayProgress => {
    const s = publisher.stats;
    return {
      done: Math.min(total, s.events + s.specs + s.annotations + s.invalid),
      total,
      events: s.events,
      specs: s.specs,
      annotations: s.annotations,
      retries: s.retries,
      seconds: (performance.now() - started) / 1000,
    };
  };
  const timer = setInterval(() => onProgress(progress()), progressIntervalMs);
  try {
    await publisher.drain();
  } finally {
    clearInterval(timer);
    await publisher.shutdown();
    await writer.close();
    await kafka.close();
  }
  const last = progress();
  onProgress(last);
  const s = publisher.stats;
  return {
    ...last,
    alreadyPublished,
    invalid: s.invalid,
    missing: Math.max(0, s.position - from - (s.events + s.specs + s.annotations + s.invalid)),
  };
}

/** One progress line: a bar of `width` cells when drawn on a terminal. */
export function formatProgress(p: ReplayProgress, width = 30): string {
  const fraction = p.total === 0 ? 1 : p.done / p.total;
  const filled = Math.round(fraction * width);
  const rate = p.seconds > 0 ? Math.round(p.done / p.seconds) : 0;
  const retrying = p.retries > 0 ? `, ${p.retries} retries` : '';
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${p.done}/${p.total} records, ${rate}/s${retrying}`;
}

/** The summary printed at the end of a replay. */
export function formatSummary(s: ReplaySummary): string {
  return [
    `replayed ${s.done} records in ${s.seconds.toFixed(1)} s: ${s.events} events, ${s.specs} specs, ${s.annotations} annotations`,
    `skipped ${s.alreadyPublished} already published${s.invalid > 0 ? `, ${s.invalid} invalid` : ''}${s.missing > 0 ? `, ${s.missing} missing (see corrupt/)` : ''}`,
  ].join('\n');
}
