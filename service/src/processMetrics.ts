/**
 * The few process metrics a small process exports instead of prom-client's default collector: the
 * same names, help and units as prom-client's (dashboards and alerts read them unchanged), read when
 * scraped, with nothing running between scrapes. prom-client's collector also keeps an event-loop
 * delay histogram (a native timer sampling every 10 ms), a `gc` performance observer that allocates
 * an entry per collection, and file-descriptor, handle and heap-space gauges (bench/results/memory.md).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { gauge } from './statMetrics.ts';

/** The names registered (without the prefix), as prom-client's default metrics of the same names. */
export const PROCESS_METRIC_NAMES = [
  'process_cpu_user_seconds_total',
  'process_cpu_system_seconds_total',
  'process_cpu_seconds_total',
  'process_start_time_seconds',
  'process_resident_memory_bytes',
  'nodejs_heap_size_total_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_external_memory_bytes',
  'nodejs_eventloop_lag_seconds',
] as const;

/**
 * Registers CPU seconds (user, system, both), start time, resident memory, V8 heap total and used,
 * external memory and event-loop lag (the delay of a `setImmediate` at scrape time, as prom-client's
 * `nodejs_eventloop_lag_seconds`) under `prefix`.
 */
export function registerProcessMetrics(registry: Registry, prefix: string): void {
  const registers = [registry];
  const [cpuUser, cpuSystem, cpuTotal, startTime, resident, heapTotal, heapUsed, external, lag] =
    PROCESS_METRIC_NAMES.map((n) => prefix + n) as unknown as typeof PROCESS_METRIC_NAMES;
  let last = process.cpuUsage();
  const user = new Counter({ name: cpuUser, help: 'Total user CPU time spent in seconds.', registers });
  const system = new Counter({ name: cpuSystem, help: 'Total system CPU time spent in seconds.', registers });
  new Counter({
    name: cpuTotal,
    help: 'Total user and system CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      const u = (now.user - last.user) / 1e6;
      const s = (now.system - last.system) / 1e6;
      last = now;
      user.inc(u);
      system.inc(s);
      this.inc(u + s);
    },
  });
  const started = Math.round(Date.now() / 1000 - process.uptime());
  gauge(registry, startTime, 'Start time of the process since unix epoch in seconds.', () => started);
  gauge(registry, resident, 'Resident memory size in bytes.', () => process.memoryUsage.rss());
  gauge(
    registry,
    heapTotal,
    'Process heap size from Node.js in bytes.',
    () => process.memoryUsage().heapTotal,
  );
  gauge(
    registry,
    heapUsed,
    'Process heap size used from Node.js in bytes.',
    () => process.memoryUsage().heapUsed,
  );
  gauge(registry, external, 'Node.js external memory size in bytes.', () => process.memoryUsage().external);
  new Gauge({
    name: lag,
    help: 'Lag of event loop in seconds.',
    registers,
    collect() {
      const start = process.hrtime.bigint();
      return new Promise<void>((done) =>
        setImmediate(() => {
          this.set(Number(process.hrtime.bigint() - start) / 1e9);
          done();
        }),
      );
    },
  });
}
