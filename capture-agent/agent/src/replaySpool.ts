/** `provml replay <dir>`: publishes a spool written offline exactly like the online publisher, skipping what `published` says was sent, to Kafka or to an HTTP ingest. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SpoolPublisher, SpoolWriter } from '@provml/capture-agent';
import { ValidationError, type Logger } from '@provml/schemas';
import { kafkaPublishPort } from './agentService.ts';
import { HttpPublishPort } from './ingest/HttpPublishPort.ts';
import { LogPublishPort } from './ingest/LogPublishPort.ts';
import type { ServiceConfig } from '@provml/service';

/** Where a replay sends and how long it keeps trying. */
export interface ReplayOptions {
  /** An HTTP ingest (contract 3) instead of the configured Kafka topics. */
  http?: { url: string; token?: string };
  /**
   * Longest time one send may keep failing (broker or ingest away), ms, back-off included; then the
   * replay stops with a `DependencyError` (code `publish-gave-up`). Default 60000.
   */
  maxWaitMs?: number;
  onProgress?: (p: ReplayProgress) => void;
  /** How often `onProgress` is called, ms. Default 500. */
  progressIntervalMs?: number;
}

/** Where a replay stands. */
export interface ReplayProgress {
  /** Records handled so far, and in all. */
  done: number;
  total: number;
  events: number;
  specs: number;
  annotations: number;
  /** Records the destination refused for good (400, 413, 415 from an HTTP ingest): skipped. */
  refused: number;
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
 * Kafka topics (or to the HTTP ingest of `options.http`), advancing the cursor as the destination
 * acknowledges. Takes the spool's LOCK (a stale one is taken over; a live agent's is refused), so
 * it runs with no agent on that spool. A send that keeps failing is tried again with back-off (one
 * log line per step) for at most `maxWaitMs`; then the replay stops, the cursor where it got to.
 * @throws ValidationError when `dir` is not a spool; SpoolLockedError when a live process holds it;
 *   DependencyError (code `publish-gave-up`) when the destination stayed away past `maxWaitMs`
 */
export async function replaySpool(
  dir: string,
  config: ServiceConfig,
  logger: Logger,
  options: ReplayOptions = {},
): Promise<ReplaySummary> {
  const onProgress = options.onProgress ?? (() => undefined);
  if (!existsSync(join(dir, 'segments')))
    throw new ValidationError(`${dir} is not a spool`, [
      { path: 'dir', message: 'it has no segments/ folder' },
    ]);
  const started = performance.now();
  const writer = SpoolWriter.open(dir, { logger: logger.child('spool') });
  // the Kafka client's own connection errors go to debug: the publisher logs each back-off step
  const port =
    options.http === undefined ? kafkaPublishPort(config, quiet(logger)) : new HttpPublishPort(options.http);
  const publisher = new SpoolPublisher(writer, port, {
    logger: logger.child('publisher'),
    giveUpAfterMs: options.maxWaitMs ?? 60_000,
  });
  const alreadyPublished = writer.stats.published;
  const total = writer.stats.depthRecords;
  const from = writer.stats.published;
  const progress = (): ReplayProgress => {
    const s = publisher.stats;
    return {
      done: Math.min(total, s.events + s.specs + s.annotations + s.invalid + s.refused),
      total,
      events: s.events,
      specs: s.specs,
      annotations: s.annotations,
      refused: s.refused,
      retries: s.retries,
      seconds: (performance.now() - started) / 1000,
    };
  };
  const timer = setInterval(() => onProgress(progress()), options.progressIntervalMs ?? 500);
  try {
    await publisher.drain();
  } finally {
    clearInterval(timer);
    await publisher.shutdown();
    await writer.close();
    if (port instanceof LogPublishPort) await port.close();
  }
  const last = progress();
  onProgress(last);
  const s = publisher.stats;
  return {
    ...last,
    alreadyPublished,
    invalid: s.invalid,
    missing: Math.max(0, s.position - from - (s.events + s.specs + s.annotations + s.invalid + s.refused)),
  };
}

/** A logger whose errors and warnings go to debug (for the Kafka client's retries during a replay). */
function quiet(logger: Logger): Logger {
  return {
    debug: (m, f) => logger.debug(m, f),
    info: (m, f) => logger.info(m, f),
    warn: (m, f) => logger.debug(m, f),
    error: (m, f) => logger.debug(m, f),
    child: (c) => quiet(logger.child(c)),
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
    `skipped ${s.alreadyPublished} already published${s.invalid > 0 ? `, ${s.invalid} invalid` : ''}${s.refused > 0 ? `, ${s.refused} refused by the ingest` : ''}${s.missing > 0 ? `, ${s.missing} missing (see corrupt/)` : ''}`,
  ].join('\n');
}
