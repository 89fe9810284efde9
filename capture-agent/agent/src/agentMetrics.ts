/** Prometheus metrics of the sidecar agent: spool depth, publish lag, records accepted, rejected, published and dropped. */
import { Counter, type Registry } from 'prom-client';
import { gauge as registerGauge, mirroredCounter } from '@provml/service';
import type { SpoolPublisherStats, SpoolStats } from '@provml/capture-agent';

/** What the agent's metrics read at scrape time. */
export interface AgentMetricSources {
  spool: () => SpoolStats;
  publisher: () => Readonly<SpoolPublisherStats> | undefined;
}

/** Registers the agent's metrics; returns the counter the protocol handlers update. */
export function registerAgentMetrics(
  registry: Registry,
  sources: AgentMetricSources,
): { records: Counter<'protocol' | 'outcome'> } {
  const gauge = (name: string, help: string, read: () => number | undefined): void =>
    registerGauge(registry, name, help, read);
  const mirrored = (name: string, help: string, read: () => number | undefined): void =>
    mirroredCounter(registry, name, help, read);
  gauge(
    'provml_spool_depth_records',
    'Records in the spool not yet acknowledged by Kafka',
    () => sources.spool().depthRecords,
  );
  gauge(
    'provml_spool_depth_bytes',
    'Bytes in the spool not yet acknowledged by Kafka',
    () => sources.spool().depthBytes,
  );
  gauge(
    'provml_spool_publish_lag_seconds',
    'Age of the oldest record not yet acknowledged by Kafka (0 when none)',
    () => sources.spool().lagSeconds,
  );
  mirrored(
    'provml_spool_appended_records_total',
    'Records appended to the spool',
    () => sources.spool().appendedRecords,
  );
  mirrored(
    'provml_spool_dropped_records_total',
    'Records dropped by the drop-oldest cap policy',
    () => sources.spool().droppedRecords,
  );
  mirrored(
    'provml_spool_rejected_batches_total',
    'Batches refused at the cap (spool-full)',
    () => sources.spool().rejectedBatches,
  );
  mirrored(
    'provml_spool_corrupt_tails_total',
    'Segment tails moved to corrupt/ by recovery',
    () => sources.spool().corruptTails,
  );
  mirrored('provml_spool_published_records_total', 'Records acknowledged by Kafka', () => {
    const p = sources.publisher();
    return p === undefined ? undefined : p.events + p.specs + p.annotations;
  });
  mirrored(
    'provml_spool_invalid_records_total',
    'Spool records skipped as invalid',
    () => sources.publisher()?.invalid,
  );
  mirrored(
    'provml_spool_publish_retries_total',
    'Publishes tried again after a failure',
    () => sources.publisher()?.retries,
  );
  return {
    records: new Counter({
      name: 'provml_agent_records_total',
      help: 'Records received by the agent, by protocol (socket, http) and outcome (accepted, rejected)',
      labelNames: ['protocol', 'outcome'],
      registers: [registry],
    }),
  };
}
