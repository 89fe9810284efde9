/** Prometheus metrics of a process, read from the components' own counters when scraped. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchProcessorStats } from '@provml/capture-agent';
import type { ProcessorStats } from '@provml/stream-processors';
import type { SinkStats } from '@provml/sinks';

/** The components whose counters are exported; any may be absent in a given process. */
export interface MetricSources {
  capture?: () => readonly Readonly<BatchProcessorStats>[];
  processor?: () => Readonly<ProcessorStats> | undefined;
  sink?: () => Readonly<SinkStats> | undefined;
  /** Records not yet processed by the processor and the sink groups. */
  lag?: () => { processor: number; sink: number };
}

/** The metrics handles that request handlers update directly. */
export interface Metrics {
  registry: Registry;
  queryDuration: Histogram<'outcome'>;
  ingestRequests: Counter<'route' | 'outcome'>;
  /** Seconds from capture to the store's acknowledgement (sinks observe it per loaded record). */
  eventToStore: Histogram;
  /** Seconds of each acknowledged store load. */
  loadDuration: Histogram;
}

/** A counter mirroring a monotonically growing total read at scrape time. */
export function mirroredCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => number | undefined,
): void {
  let last = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now !== undefined && now > last) {
        this.inc(now - last);
        last = now;
      }
    },
  });
}

/** A gauge set from a value read at scrape time (left unset while `read` gives undefined). */
export function gauge(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      if (v !== undefined) this.set(v);
    },
  });
}

const sum = (
  list: readonly Readonly<BatchProcessorStats>[] | undefined,
  key: keyof BatchProcessorStats,
): number | undefined => list?.reduce((s, x) => s + x[key], 0);

/** Creates a registry with process metrics and every component's counters. */
export function createMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'provml_' });
  const cap = () => sources.capture?.();
  mirroredCounter(
    registry,
    'provml_capture_events_total',
    'Events captured by in-process capture libraries',
    () => sum(cap(), 'enqueued'),
  );
  mirroredCounter(registry, 'provml_capture_published_total', 'Events published by capture libraries', () =>
    sum(cap(), 'exported'),
  );
  mirroredCounter(registry, 'provml_capture_dropped_total', 'Events dropped by the overflow policy', () =>
    sum(cap(), 'dropped'),
  );
  mirroredCounter(registry, 'provml_capture_failed_total', 'Events whose export failed for good', () =>
    sum(cap(), 'failed'),
  );
  gauge(registry, 'provml_capture_queue_depth', 'Events waiting in capture queues', () =>
    sum(cap(), 'queueDepth'),
  );
  gauge(registry, 'provml_capture_publish_latency_seconds', 'Duration of the last capture export', () => {
    const l = cap();
    return l === undefined || l.length === 0 ? undefined : Math.max(...l.map((s) => s.lastExportMs)) / 1000;
  });
  mirroredCounter(
    registry,
    'provml_processor_events_total',
    'Events mapped to PROV-ML',
    () => sources.processor?.()?.eventsProcessed,
  );
  mirroredCounter(
    registry,
    'provml_processor_quads_total',
    'Quads emitted by processors',
    () => sources.processor?.()?.quadsEmitted,
  );
  mirroredCounter(
    registry,
    'provml_processor_dead_letters_total',
    'Records sent to the dead-letter topic by processors',
    () => sources.processor?.()?.deadLettered,
  );
  mirroredCounter(
    registry,
    'provml_processor_unmatched_ends_total',
    'End events whose begin the processor never saw (mapped without a duration)',
    () => sources.processor?.()?.unmatchedEnds,
  );
  mirroredCounter(
    registry,
    'provml_processor_incomplete_closed_total',
    'Task executions closed as failed because they never ended',
    () => sources.processor?.()?.incompleteClosed,
  );
  gauge(registry, 'provml_processor_event_age_seconds', 'Capture-to-mapped age of the last event', () => {
    const p = sources.processor?.();
    return p === undefined ? undefined : p.lastEventAgeMs / 1000;
  });
  mirroredCounter(
    registry,
    'provml_sink_records_total',
    'Triple records loaded into the store',
    () => sources.sink?.()?.recordsLoaded,
  );
  mirroredCounter(
    registry,
    'provml_sink_batches_total',
    'Loads acknowledged by the store',
    () => sources.sink?.()?.batchesLoaded,
  );
  mirroredCounter(
    registry,
    'provml_sink_retries_total',
    'Loads retried after a retryable store failure',
    () => sources.sink?.()?.retries,
  );
  mirroredCounter(
    registry,
    'provml_sink_dead_letters_total',
    'Records the store rejected for good',
    () => sources.sink?.()?.deadLettered,
  );
  gauge(registry, 'provml_sink_load_latency_seconds', 'Duration of the last load', () => {
    const s = sources.sink?.();
    return s === undefined ? undefined : s.lastLoadMs / 1000;
  });
  gauge(registry, 'provml_sink_paused', '1 while the sink waits for a failing store', () => {
    const s = sources.sink?.();
    return s === undefined ? undefined : Number(s.paused);
  });
  gauge(
    registry,
    'provml_processor_lag_records',
    'Records not yet processed by the processor group',
    () => sources.lag?.().processor,
  );
  gauge(
    registry,
    'provml_sink_lag_records',
    'Records not yet loaded by the sink group',
    () => sources.lag?.().sink,
  );
  const queryDuration = new Histogram({
    name: 'provml_query_duration_seconds',
    help: 'SPARQL query latency',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 5],
    registers: [registry],
  });
  const ingestRequests = new Counter({
    name: 'provml_ingest_total',
    help: 'Ingest outcomes: accepted events and rejected requests',
    labelNames: ['route', 'outcome'] as const,
    registers: [registry],
  });
  const eventToStore = new Histogram({
    name: 'provml_event_to_store_seconds',
    help: 'Latency from capture (earliest event of a triples record) to the store acknowledging it',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const loadDuration = new Histogram({
    name: 'provml_sink_load_duration_seconds',
    help: 'Duration of acknowledged store loads',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return { registry, queryDuration, ingestRequests, eventToStore, loadDuration };
}
