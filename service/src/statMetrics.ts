/** Metrics read from a component's own counters when scraped: mirrored counters and gauges. */
import { Counter, Gauge, type Registry } from 'prom-client';

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

/** One metric of a component: its kind, its help, and how to read it from the component's stats. */
export type StatMetric<S> = readonly [
  kind: 'counter' | 'gauge',
  help: string,
  value: (stats: S) => number | undefined,
];

/**
 * Registers a component's metrics by name, read from its stats at scrape time: counters mirror a
 * growing total, gauges take the value; both stay unset while the component has no stats.
 */
export function registerStats<S>(
  registry: Registry,
  stats: () => S | undefined,
  metrics: Readonly<Record<string, StatMetric<S>>>,
): void {
  for (const [name, [kind, help, value]] of Object.entries(metrics)) {
    const read = (): number | undefined => {
      const s = stats();
      return s === undefined ? undefined : value(s);
    };
    (kind === 'counter' ? mirroredCounter : gauge)(registry, name, help, read);
  }
}
