/**
 * PNG plots for results files, drawn by Chart.js (the dashboard's chart library) in headless Chromium
 * (Debian's, driven by playwright-core): no plotting stack of its own to install. Box plots are drawn
 * as floating bars (min–max whisker, p25–p75 box) with the median as a line point.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(new URL('../../query-api/package.json', import.meta.url));

/** Where Debian's Chromium is. */
export const CHROMIUM = process.env['PROVML_CHROMIUM'] ?? '/usr/bin/chromium';

/**
 * Renders a Chart.js configuration to a PNG file.
 * @param config a Chart.js config (`{ type, data, options }`), JSON-serialisable
 */
export async function plot(path: string, config: object, size = { width: 900, height: 500 }): Promise<void> {
  const chartJs = await readFile(join(dirname(require.resolve('chart.js')), 'chart.umd.js'), 'utf8');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage({ viewport: size, deviceScaleFactor: 2 });
    await page.setContent(
      `<!doctype html><html><body style="margin:0;background:#fff"><canvas id="c" width="${size.width}" height="${size.height}"></canvas></body></html>`,
    );
    await page.addScriptTag({ content: chartJs });
    // runs in the page: the config goes in as JSON, Chart.js is the UMD global there
    await page.evaluate(`(() => {
      const c = ${JSON.stringify(config)};
      c.options = { ...c.options, animation: false, responsive: false };
      new Chart(document.getElementById('c'), c);
    })()`);
    await mkdir(dirname(path), { recursive: true });
    await page.locator('#c').screenshot({ path });
  } finally {
    await browser.close();
  }
}

/** One box of a box plot. */
export interface BoxStats {
  label: string;
  min: number;
  p25: number;
  median: number;
  p75: number;
  max: number;
}

/** Box statistics of a sample. */
export function boxOf(label: string, xs: readonly number[]): BoxStats {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => {
    const i = (s.length - 1) * p;
    const lo = Math.floor(i);
    return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (i - lo);
  };
  return { label, min: s[0]!, p25: q(0.25), median: q(0.5), p75: q(0.75), max: s[s.length - 1]! };
}

/** A Chart.js config drawing box plots (whisker min–max, box p25–p75, median point). */
export function boxPlotConfig(title: string, yLabel: string, boxes: readonly BoxStats[]): object {
  const labels = boxes.map((b) => b.label);
  return {
    type: 'bar',
    data: {
      labels,
      datasets: [
        {
          label: 'min–max',
          data: boxes.map((b) => [b.min, b.max]),
          backgroundColor: 'rgb(100,116,139)',
          maxBarThickness: 3,
          grouped: false,
          order: 3,
        },
        {
          label: 'p25–p75',
          data: boxes.map((b) => [b.p25, b.p75]),
          backgroundColor: 'rgb(191,208,250)',
          borderColor: 'rgb(37,99,235)',
          borderWidth: 1.5,
          barPercentage: 0.5,
          grouped: false,
          order: 2,
        },
        {
          type: 'line',
          label: 'median',
          data: boxes.map((b) => b.median),
          showLine: false,
          pointStyle: 'line',
          pointRadius: 18,
          pointBorderWidth: 3,
          borderColor: 'rgb(220,38,38)',
          backgroundColor: 'rgb(220,38,38)',
          order: 1,
        },
      ],
    },
    options: {
      plugins: { title: { display: true, text: title, font: { size: 16 } }, legend: { position: 'bottom' } },
      scales: { y: { title: { display: true, text: yLabel } } },
    },
  };
}
