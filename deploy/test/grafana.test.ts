/**
 * The Grafana dashboard (deploy/grafana/provml-dashboard.json) asks only for metrics the services
 * export: every `provml_*` name in its queries is registered by createMetrics or the agent's metrics,
 * with the right type (histogram quantiles over histograms, rates over counters).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '@provml/service';
import { registerAgentMetrics } from '@provml/agent';

interface Panel {
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string }[];
}

const dashboard = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../grafana/provml-dashboard.json'), 'utf8'),
) as { title: string; uid: string; panels: Panel[] };

async function exported(): Promise<Map<string, string>> {
  // every source a service may pass (the embedded stack passes them all)
  const none = () => undefined;
  const { registry } = createMetrics({
    capture: () => [],
    processor: none,
    sink: none,
    lag: () => ({ processor: 0, sink: 0 }),
  });
  const agent = new Registry();
  const zeros = new Proxy({}, { get: () => 0 }) as never; // every counter of the spool at 0
  registerAgentMetrics(agent, { spool: () => zeros, publisher: () => zeros });
  const types = new Map<string, string>();
  for (const r of [registry, agent])
    for (const m of await r.getMetricsAsJSON()) types.set(m.name, String(m.type));
  return types;
}

describe('Grafana dashboard', () => {
  it('queries only metrics the services export, each as its type allows', async () => {
    const types = await exported();
    const targets = dashboard.panels.flatMap((p) => p.targets ?? []);
    expect(targets.length).toBeGreaterThan(15);
    const used = new Set<string>();
    for (const { expr } of targets)
      for (const [name] of expr.matchAll(/provml_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        used.add(base);
        expect(types.has(base), `${name} in "${expr}"`).toBe(true);
        if (name.endsWith('_bucket')) expect(types.get(base), name).toBe('histogram');
        if (/rate\(provml_[a-z_]+_total/.test(expr) && name.endsWith('_total'))
          expect(types.get(base), name).toBe('counter');
      }
    for (const needed of [
      'provml_capture_events_total',
      'provml_capture_queue_depth',
      'provml_processor_lag_records',
      'provml_sink_load_duration_seconds',
      'provml_event_to_store_seconds',
      'provml_query_duration_seconds',
      'provml_spool_depth_records',
    ])
      expect(used, needed).toContain(needed);
  });

  it('lays panels out on the 24-column grid without overlaps', () => {
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });
});
