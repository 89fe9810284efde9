/**
 * Box plot of samples written by a benchmark in another language (bench/capture_cost_python.py):
 * `node --import tsx bench/plot-box.ts SAMPLES.json OUT.png`, where the JSON is
 * `{ "title": …, "yLabel": …, "samples": { "<label>": [numbers…], … } }`. Same look as the
 * TypeScript benchmarks' plots (bench/lib/plot.ts, headless Chromium).
 */
import { readFileSync } from 'node:fs';
import { boxOf, boxPlotConfig, plot } from './lib/plot.ts';
import { helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const [input, output] = process.argv.slice(2);
if (input === undefined || output === undefined) {
  process.stderr.write('usage: node --import tsx bench/plot-box.ts SAMPLES.json OUT.png\n');
  process.exit(2);
}
const { title, yLabel, samples } = JSON.parse(readFileSync(input, 'utf8')) as {
  title: string;
  yLabel: string;
  samples: Record<string, number[]>;
};
await plot(
  output,
  boxPlotConfig(
    title,
    yLabel,
    Object.entries(samples).map(([label, xs]) => boxOf(label, xs)),
  ),
);
process.stdout.write(`wrote ${output}\n`);
