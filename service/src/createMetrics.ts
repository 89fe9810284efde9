/** Prometheus metrics of a process, read from the components' own counters when scraped. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchProcessorStats } from '@provml/capture-agent';
import type { ProcessorStats } from '@provml/stream-processors';
import type { SinkStats } from '@provml/sinks';
import { registerProcessMetrics } from './processMetrics.ts';
import { registerStats, type StatMetric } from './statMetrics.ts';

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

const PREFIX = 'provml_';

type CaptureStats = readonly Readonly<BatchProcessorStats>[];
const sum = (list: CaptureStats, key: keyof BatchProcessorStats): number =>
  list.reduce((s, x) => s + x[key], 0);

// prettier-ignore
const CAPTURE_METRICS: Record<string, StatMetric<CaptureStats>> = {
  provml_capture_events_total: ['counter', 'Events captured by in-process capture libraries', (l) => sum(l, 'enqueued')],
  provml_capture_published_total: ['counter', 'Events published by capture libraries', (l) => sum(l, 'exported')],
  provml_capture_dropped_total: ['counter', 'Events dropped by the overflow policy', (l) => sum(l, 'dropped')],
  provml_capture_failed_total: ['counter', 'Events whose export failed for good', (l) => sum(l, 'failed')],
  provml_capture_queue_depth: ['gauge', 'Events waiting in capture queues', (l) => sum(l, 'queueDepth')],
  provml_capture_publish_latency_seconds: ['gauge', 'Duration of the last capture export',
    (l) => (l.length === 0 ? undefined : Math.max(...l.map((s) => s.lastExportMs)) / 1000)],
};

// prettier-ignore
const PROCESSOR_METRICS: Record<string, StatMetric<Readonly<ProcessorStats>>> = {
  provml_processor_events_total: ['counter', 'Events mapped to PROV-ML', (s) => s.eventsProcessed],
  provml_processor_quads_total: ['counter', 'Quads emitted by processors', (s) => s.quadsEmitted],
  provml_processor_dead_letters_total: ['counter', 'Records sent to the dead-letter topic by processors', (s) => s.deadLettered],
  provml_processor_unmatched_ends_total: ['counter', 'End events whose begin the processor never saw (mapped without a duration)', (s) => s.unmatchedEnds],
  provml_processor_incomplete_closed_total: ['counter', 'Task executions closed as failed because they never ended', (s) => s.incompleteClosed],
  provml_processor_foreign_partitioned_total: ['counter', 'Events on another partition than murmur2 of their key puts them (a producer with another partitioner)', (s) => s.foreignPartitioned],
  provml_processor_event_age_seconds: ['gauge', 'Capture-to-mapped age of the last event', (s) => s.lastEventAgeMs / 1000],
};

// prettier-ignore
const SINK_METRICS: Record<string, StatMetric<Readonly<SinkStats>>> = {
  provml_sink_records_total: ['counter', 'Triple records loaded into the store', (s) => s.recordsLoaded],
  provml_sink_batches_total: ['counter', 'Loads acknowledged by the store', (s) => s.batchesLoaded],
  provml_sink_retries_total: ['counter', 'Loads retried after a retryable store failure', (s) => s.retries],
  provml_sink_dead_letters_total: ['counter', 'Records the store rejected for good', (s) => s.deadLettered],
  provml_sink_graphs_dropped_total: ['counter', 'Named graphs dropped (annotation sources replaced or withdrawn)', (s) => s.graphsDropped],
  provml_sink_load_latency_seconds: ['gauge', 'Duration of the last load', (s) => s.lastLoadMs / 1000],
  provml_sink_paused: ['gauge', '1 while the sink waits for a failing store', (s) => Number(s.paused)],
};

// prettier-ignore
const LAG_METRICS: Record<string, StatMetric<{ processor: number; sink: number }>> = {
  provml_processor_lag_records: ['gauge', 'Records not yet processed by the processor group', (l) => l.processor],
  provml_sink_lag_records: ['gauge', 'Records not yet loaded by the sink group', (l) => l.sink],
};

/**
 * Creates a registry with process metrics and every component's counters.
 * @param processMetrics `default`: prom-client's default collector (GC, event-loop delay histogram,
 *   heap spaces, handles, file descriptors); `essential`: only CPU, start time, resident memory, heap
 *   and event-loop lag, under the same names (registerProcessMetrics), for the sidecar agent, whose
 *   resident set must stay small. Default `default`.
 */
export function createMetrics(
  sources: MetricSources,
  processMetrics: 'default' | 'essential' = 'default',
): Metrics {
  const registry = new Registry();
  if (processMetrics === 'default') collectDefaultMetrics({ register: registry, prefix: PREFIX });
  else registerProcessMetrics(registry, PREFIX);
  // only what this process has: the agent's /metrics lists no processor or sink counters
  if (sources.capture) registerStats(registry, sources.capture, CAPTURE_METRICS);
  if (sources.processor) registerStats(registry, sources.processor, PROCESSOR_METRICS);
  if (sources.sink) registerStats(registry, sources.sink, SINK_METRICS);
  if (sources.lag) registerStats(registry, sources.lag, LAG_METRICS);
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
