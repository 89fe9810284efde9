/**
 * The dashboard in a real browser on a lifecycle that is not seismic: five runs of a text classifier
 * compared (their curves, a sortable table, parallel coordinates), every measure offered from the
 * data, and no seismic wording or Q1–Q6. Screenshots go to test-output/dashboard/ and, with
 * PROVML_DOCS_SCREENSHOTS=1, to query-api/docs/.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { startStack } from '../../deploy/testing/stack.ts';
import {
  CHROMIUM,
  chromiumMissing as missing,
  comparisonColumn,
  comparisonShown,
  openPage,
} from './fixtures/browser.ts';
import {
  CLASSIFIER_EPOCHS,
  CLASSIFIER_RUNS,
  captureClassifierRuns,
  macroF1,
  perplexity,
} from './fixtures/comparisonRuns.ts';

const ci = process.env.CI === 'true';
const SHOTS = fileURLToPath(new URL('../../test-output/dashboard/', import.meta.url));
const DOCS = fileURLToPath(new URL('../../query-api/docs/', import.meta.url));
const LAST = CLASSIFIER_EPOCHS - 1;

/** What the page exposes as `window.provmlDashboard`. */
interface DashboardHandle {
  lineageNodes(): { id: string; label: string; kind: string }[];
}
type InPage = typeof globalThis & { provmlDashboard: DashboardHandle };

/** The points of each polyline a locator finds, as `x,y` pairs. */
async function pointsOf(lines: Locator): Promise<string[][]> {
  const attributes = await Promise.all((await lines.all()).map((l) => l.getAttribute('points')));
  return attributes.map((p) => (p ?? '').trim().split(/\s+/));
}

/** Writes a screenshot to test-output and, when asked, to the docs. */
async function shoot(page: Page, selector: string | null, name: string): Promise<void> {
  const paths = [
    join(SHOTS, name),
    ...(process.env.PROVML_DOCS_SCREENSHOTS === '1' ? [join(DOCS, name)] : []),
  ];
  for (const path of paths)
    if (selector === null) await page.screenshot({ path, fullPage: true });
    else await page.locator(selector).screenshot({ path });
}

// Skips outside CI only when /usr/bin/chromium is missing (the title says so); under CI=true it runs and fails instead.
describe.skipIf(missing !== '' && !ci)(
  `dashboard comparing runs of a non-seismic lifecycle ${missing}`,
  () => {
    let stack: EmbeddedStack;
    let browser: Browser;
    let page: Page;
    let problems: string[];

    beforeAll(async () => {
      if (missing !== '') throw new Error(`${CHROMIUM} is missing (CI=true: this test may not be skipped)`);
      await mkdir(SHOTS, { recursive: true });
      stack = await startStack();
      await captureClassifierRuns(stack);
      ({ browser, page, problems } = await openPage(1400, 1000));
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await stack?.shutdown();
    });

    const shown = () => comparisonShown(page);
    /** The table's cells of one column, in row order. */
    const column = (key: string): Promise<string[]> => comparisonColumn(page, key);
    /** The run ids of the table's rows, in order. */
    const runOrder = async (): Promise<string[]> => column('run');

    it('compares every run of the training set: a curve, a line of parallel coordinates and a row each', async () => {
      await page.goto(`${stack.queryUrl}/dashboard/`);
      const rows = page.locator('#compare-table tbody tr[data-run]');
      await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(CLASSIFIER_RUNS.length);
      // the measures offered are the evaluation measures the classifier's spec declares
      const options = await page.locator('#compare-measure option').allInnerTexts();
      expect(options).toEqual(['final_f1', 'macro_f1', 'perplexity', 'train_nll']);
      await expect(page.locator('#compare-measure').inputValue()).resolves.toBe('macro_f1');
      // one polyline per run in each plot; a curve has a point per epoch, a parallel line one per axis
      const curves = page.locator('#compare-curves polyline');
      expect(await curves.count()).toBe(CLASSIFIER_RUNS.length);
      for (const points of await pointsOf(curves)) expect(points).toHaveLength(CLASSIFIER_EPOCHS);
      const axes = await page.locator('#compare-parallel .pc-axis .axis-label').allTextContents();
      expect(axes).toEqual(['dropout', 'layers', 'learning_rate', 'macro_f1 (final)']);
      const lines = page.locator('#compare-parallel polyline');
      expect(await lines.count()).toBe(CLASSIFIER_RUNS.length);
      for (const points of await pointsOf(lines)) expect(points).toHaveLength(axes.length);
      // the table: hyperparameters and the measure's final value of each run, sorted by it
      const s = await shown();
      expect(s.measure).toBe('macro_f1');
      for (const key of [
        'run',
        'hp:dropout',
        'hp:layers',
        'hp:learning_rate',
        'final',
        'min',
        'max',
        'out:final_f1',
      ])
        expect(s.columns).toContain(key);
      const ids = await runOrder();
      expect([...ids].sort()).toEqual(CLASSIFIER_RUNS.map((r) => r.id).sort());
      const finals = (await column('final')).map(Number);
      for (const [i, id] of ids.entries()) {
        const run = CLASSIFIER_RUNS.find((r) => r.id === id)!;
        expect(finals[i]).toBeCloseTo(macroF1(run, LAST), 3); // shown to four significant digits
        expect(Number((await column('hp:learning_rate'))[i])).toBe(run.learningRate);
        expect(Number((await column('hp:layers'))[i])).toBe(run.layers);
      }
      expect(finals).toEqual([...finals].sort((a, b) => a - b));
      await shoot(page, '#compare-card', 'dashboard-compare.png');
      expect(problems).toEqual([]);
    }, 60_000);

    it('sorts by a column clicked, both ways, and compares another measure', async () => {
      const byRate = [...CLASSIFIER_RUNS].sort((a, b) => a.learningRate - b.learningRate || 0);
      await page.locator('#compare-table th[data-key="hp:learning_rate"]').click();
      expect((await column('hp:learning_rate')).map(Number)).toEqual(byRate.map((r) => r.learningRate));
      await page.locator('#compare-table th[data-key="hp:learning_rate"]').click();
      expect((await column('hp:learning_rate')).map(Number)).toEqual(
        byRate.map((r) => r.learningRate).reverse(),
      );

      await page.selectOption('#compare-measure', 'perplexity');
      await expect.poll(async () => (await shown()).measure, { timeout: 15_000 }).toBe('perplexity');
      await page.locator('#compare-table th[data-key="final"]').click();
      const ids = await runOrder();
      const expected = [...CLASSIFIER_RUNS]
        .sort((a, b) => perplexity(a, LAST) - perplexity(b, LAST))
        .map((r) => r.id);
      expect(ids).toEqual(expected);
      // shown to four significant digits
      for (const [i, value] of (await column('final')).entries())
        expect(Number(value)).toBeCloseTo(
          perplexity(
            CLASSIFIER_RUNS.find((r) => r.id === expected[i])!,
            LAST,
          ),
          3,
        );
      expect(await page.locator('#compare-parallel .pc-axis .axis-label').last().textContent()).toBe(
        'perplexity (final)',
      );
      expect(problems).toEqual([]);
    }, 60_000);

    it('leaves out a run unticked, and picks runs back by their group', async () => {
      const dropped = CLASSIFIER_RUNS[2]!;
      await page.locator(`#compare-runs label:has-text("${dropped.id}") input`).uncheck();
      await expect.poll(() => page.locator('#compare-curves polyline').count(), { timeout: 15_000 }).toBe(4);
      expect(await runOrder()).not.toContain(dropped.id);
      expect(await page.locator('#compare-parallel polyline').count()).toBe(4);
      await page.selectOption('#compare-group', {
        label: `workflow Sentiment classifier (${CLASSIFIER_RUNS.length})`,
      });
      await expect
        .poll(() => page.locator('#compare-curves polyline').count(), { timeout: 15_000 })
        .toBe(CLASSIFIER_RUNS.length);
      await page.selectOption('#compare-measure', 'macro_f1');
      await expect.poll(async () => (await shown()).measure, { timeout: 15_000 }).toBe('macro_f1');
      expect(problems).toEqual([]);
    }, 60_000);

    it('plots any measure of one run, and shows no seismic wording nor Q1–Q6', async () => {
      const options = await page.locator('#measure-select option').allInnerTexts();
      expect(options.sort()).toEqual(
        [
          'final_f1 · training',
          'macro_f1 · evaluation',
          'perplexity · evaluation',
          'train_nll · epoch',
        ].sort(),
      );
      const caption = () => page.locator('#focus-caption').innerText();
      await expect.poll(caption, { timeout: 15_000 }).toBe('macro_f1 per evaluation');
      await page.selectOption('#measure-select', 'epoch:train_nll');
      await expect.poll(caption, { timeout: 15_000 }).toBe('train_nll per epoch');
      // a checkpoint's lineage is drawn, in plain words
      await page.waitForFunction(
        () => (globalThis as InPage).provmlDashboard.lineageNodes().length > 2,
        undefined,
        {
          timeout: 15_000,
        },
      );
      const legend = await page.locator('#lineage-legend').innerText();
      expect(legend).not.toMatch(/SEG-Y|basin|field/);
      expect(await page.locator('#lineage-hint').innerText()).not.toContain('SEG-Y');
      expect(await page.locator('#queries-card').isVisible()).toBe(false);
      // no batches: no batch timing
      expect(await page.locator('#timing-card').isVisible()).toBe(false);
      await shoot(page, null, 'dashboard-generic.png');
      expect(problems).toEqual([]);
    }, 60_000);
  },
);
