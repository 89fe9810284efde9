// The agent's essential process metrics: the names, kinds and help of prom-client's default collector
// (dashboards read them unchanged), real readings of this process, and none of the collector's others.
import { describe, expect, it } from 'vitest';
import { createMetrics, PROCESS_METRIC_NAMES } from '@provml/service';

/** `# TYPE` and `# HELP` lines and sample values of an exposition, by metric name. */
function parse(text: string): Map<string, { type: string; help: string; values: number[] }> {
  const out = new Map<string, { type: string; help: string; values: number[] }>();
  const entry = (name: string) => {
    if (!out.has(name)) out.set(name, { type: '', help: '', values: [] });
    return out.get(name)!;
  };
  for (const line of text.split('\n')) {
    const meta = /^# (TYPE|HELP) (\S+) (.*)$/.exec(line);
    if (meta !== null) entry(meta[2]!)[meta[1] === 'TYPE' ? 'type' : 'help'] = meta[3]!;
    const sample = /^([a-z_]+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (sample !== null) entry(sample[1]!).values.push(Number(sample[2]));
  }
  return out;
}

describe('essential process metrics', () => {
  it("are prom-client's default metrics of the same names, kinds and help, and only those", async () => {
    const full = parse(await createMetrics({}).registry.metrics());
    const essential = parse(await createMetrics({}, 'essential').registry.metrics());
    const processNames = (m: typeof full) => [...m.keys()].filter((n) => /^provml_(process|nodejs)_/.test(n));
    expect(processNames(essential).sort()).toEqual(PROCESS_METRIC_NAMES.map((n) => `provml_${n}`).sort());
    for (const name of processNames(essential)) {
      expect(full.get(name), name).toBeDefined();
      expect(essential.get(name)!.type, name).toBe(full.get(name)!.type);
      expect(essential.get(name)!.help, name).toBe(full.get(name)!.help);
    }
    // the component metrics are the same in both
    const others = (m: typeof full) =>
      [...m.keys()].filter((n) => !/^provml_(process|nodejs)_/.test(n)).sort();
    expect(others(essential)).toEqual(others(full));
  });

  it('read this process: resident memory, heap, CPU seconds that grow with work, start time, lag', async () => {
    const { registry } = createMetrics({}, 'essential');
    const read = async () => {
      const m = parse(await registry.metrics());
      return (name: string) => m.get(`provml_${name}`)!.values[0]!;
    };
    const before = await read();
    const until = Date.now() + 50;
    let spin = 0;
    while (Date.now() < until) spin++;
    expect(spin).toBeGreaterThan(0);
    const after = await read();
    const rss = process.memoryUsage.rss();
    expect(after('process_resident_memory_bytes')).toBeGreaterThan(rss / 2);
    expect(after('process_resident_memory_bytes')).toBeLessThan(rss * 2);
    expect(after('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(after('nodejs_heap_size_total_bytes')).toBeGreaterThanOrEqual(
      after('nodejs_heap_size_used_bytes'),
    );
    expect(after('nodejs_external_memory_bytes')).toBeGreaterThan(0);
    expect(after('process_cpu_seconds_total')).toBeGreaterThan(before('process_cpu_seconds_total'));
    expect(after('process_cpu_seconds_total')).toBeCloseTo(
      after('process_cpu_user_seconds_total') + after('process_cpu_system_seconds_total'),
      6,
    );
    const started = Date.now() / 1000 - process.uptime();
    expect(Math.abs(after('process_start_time_seconds') - started)).toBeLessThanOrEqual(1);
    expect(after('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });
});
