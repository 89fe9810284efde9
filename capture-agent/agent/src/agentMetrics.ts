/** Prometheus metrics of the sidecar agent: spool depth, publish lag, records accepted, rejected, published and dropped. */
import { Counter, type Registry } from 'prom-client';
import { registerStats, type StatMetric } from '@provml/service';
import type { SpoolPublisherStats, SpoolStats } from '@provml/capture-agent';

/** What the agent's metrics read at scrape time. */
export interface AgentMetricSources {
  spool: () => SpoolStats;
  publisher: () => Readonly<SpoolPublisherStats> | undefined;
}

// prettier-ignore
const SPOOL_METRICS: Record<string, StatMetric<SpoolStats>> = {
  provml_spool_depth_records: ['gauge', 'Records in the spool not yet acknowledged by Kafka', (s) => s.depthRecords],
  provml_spool_depth_bytes: ['gauge', 'Bytes in the spool not yet acknowledged by Kafka', (s) => s.depthBytes],
  provml_spool_publish_lag_seconds: ['gauge', 'Age of the oldest record not yet acknowledged by Kafka (0 when none)', (s) => s.lagSeconds],
  provml_spool_appended_records_total: ['counter', 'Records appended to the spool', (s) => s.appendedRecords],
  provml_spool_dropped_records_total: ['counter', 'Records dropped by the drop-oldest cap policy', (s) => s.droppedRecords],
  provml_spool_rejected_batches_total: ['counter', 'Batches refused at the cap (spool-full)', (s) => s.rejectedBatches],
  provml_spool_corrupt_tails_total: ['counter', 'Segment tails moved to corrupt/ by recovery', (s) => s.corruptTails],
};

// prettier-ignore
const PUBLISHER_METRICS: Record<string, StatMetric<Readonly<SpoolPublisherStats>>> = {
  provml_spool_published_records_total: ['counter', 'Records acknowledged by Kafka', (p) => p.events + p.specs + p.annotations],
  provml_spool_invalid_records_total: ['counter', 'Spool records skipped as invalid', (p) => p.invalid],
  provml_spool_publish_retries_total: ['counter', 'Publishes tried again after a failure', (p) => p.retries],
};

/** Registers the agent's metrics; returns the counter the protocol handlers update. */
export function registerAgentMetrics(
  registry: Registry,
  sources: AgentMetricSources,
): { records: Counter<'protocol' | 'outcome'> } {
  registerStats(registry, sources.spool, SPOOL_METRICS);
  registerStats(registry, sources.publisher, PUBLISHER_METRICS);
  return {
    records: new Counter({
      name: 'provml_agent_records_total',
      help: 'Records received by the agent, by protocol (socket, http) and outcome (accepted, rejected)',
      labelNames: ['protocol', 'outcome'],
      registers: [registry],
    }),
  };
}
