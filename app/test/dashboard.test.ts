/** The dashboard in a real browser (Debian's headless Chromium via playwright-core) over an embedded stack running the demo. */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveDemoConfig, fileUri, runDemo, type DemoReport, DEMO_SPECS } from '@provml/demo';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import { SMALL_DEMO, startStack } from '../../deploy/testing/stack.ts';
import { CHROMIUM, chromiumMissing as missing, openPage } from './fixtures/browser.ts';

const ci = process.env.CI === 'true';
/** Where the screenshots go (ignored by git; CI keeps them as artifacts). */
const SHOTS = fileURLToPath(new URL('../../test-output/dashboard/', import.meta.url));
const LIVE_RUN = 'training-live-browser';

/** What the page exposes as `window.provmlDashboard`. */
interface DashboardHandle {
  /** Task executions drawn in the run's charts, by task. */
  pointCount(): Record<string, number>;
  selectedRun(): string | null;
  lineageNodes(): { id: string; label: string; kind: string }[];
}
/** The page's global, as code run in the page (`page.evaluate`, `waitForFunction`) reaches it. */
type InPage = typeof globalThis & { provmlDashboard: DashboardHandle };

// Skips outside CI only when /usr/bin/chromium is missing (the title says so); under CI=true it runs and fails instead.
describe.skipIf(missing !== '' && !ci)(`dashboard in headless Chromium ${missing}`, () => {
  let stack: EmbeddedStack;
  let report: DemoReport;
  let dir: string;
  let browser: Browser;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    if (missing !== '') throw new Error(`${CHROMIUM} is missing (CI=true: this test may not be skipped)`);
    dir = await mkdtemp(join(tmpdir(), 'provml-dashboard-'));
    await mkdir(SHOTS, { recursive: true });
    stack = await startStack();
    report = await runDemo(
      { capture: (spec) => stack.capture({ spec, env: {} }), annotate: (t, s) => stack.annotate(t, s) },
      resolveDemoConfig({ ...SMALL_DEMO, outputDir: dir }),
    );
    await stack.settle();
    ({ browser, page, problems } = await openPage());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.shutdown();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('loads from / and lists the demo executions with their status', async () => {
    await page.goto(`${stack.queryUrl}/`);
    expect(new URL(page.url()).pathname).toBe('/dashboard/');
    await expect(page.title()).resolves.toContain('PROV-ML');
    const rows = page.locator('#executions tbody tr[data-execution]');
    await rows.nth(5).waitFor();
    const text = await page.locator('#executions').innerText();
    for (const t of report.trainings) expect(text).toContain(t.workflowExecution);
    expect(text).toContain(`curation-${SMALL_DEMO.survey.name}-`);
    expect(text).toContain('preparation-a-');
    // one row per top-level execution the API lists, every one finished
    const api = (await (await fetch(`${stack.queryUrl}/v1/executions`)).json()) as {
      executions: { status: string }[];
    };
    expect(api.executions.length).toBeGreaterThanOrEqual(6);
    expect(await rows.count()).toBe(api.executions.length);
    expect(await page.locator('#executions .badge.finished').count()).toBe(api.executions.length);
    // the newest run is shown with its history: every batch and epoch the store holds
    await page.waitForFunction(
      () => (globalThis as InPage).provmlDashboard.pointCount().epoch === 2,
      undefined,
      { timeout: 15_000 },
    );
    // the measures offered are those the demo's spec declares, the batch loss first shown
    const options = await page.locator('#measure-select option').allInnerTexts();
    expect(options.sort()).toEqual(
      [
        'accuracy · epoch',
        'batch_loss · batch',
        'final_accuracy · training',
        'final_loss · training',
        'loss · epoch',
        'val_accuracy · validation',
        'val_loss · validation',
      ].sort(),
    );
    await expect(page.locator('#focus-caption').innerText()).resolves.toBe('batch_loss per batch');
    // seismic data: the domain wording and Q1–Q6 are shown
    await page.locator('#query-grid [data-query="q6"] dd').first().waitFor();
    await expect(page.locator('#queries-card').isVisible()).resolves.toBe(true);
    await expect
      .poll(() => page.locator('#lineage-hint').innerText(), { timeout: 15_000 })
      .toContain('SEG-Y');
    // the largest group of runs, every training of the demo's workflow, is compared: a row and a curve each
    const compared = page.locator('#compare-table tbody tr[data-run]');
    await compared.first().waitFor();
    expect(await compared.count()).toBe(report.trainings.length);
    expect(await page.locator('#compare-curves polyline').count()).toBe(report.trainings.length);
    await page.screenshot({ path: join(SHOTS, 'overview.png') });
    expect(problems).toEqual([]);
  }, 60_000);

  it('adds points to the training charts as a run publishes batches and epochs', async () => {
    const capture = await stack.capture({ spec: DEMO_SPECS.training, env: {} });
    const run = capture.workflowExecution(LIVE_RUN);
    const training = run.begin('training', {
      values: { learning_rate: 0.1, epochs: 3, batch_size: 16, hidden_units: 8, seed: 7 },
      dataRefs: [{ name: 'training_set', uri: report.preparations[0]!.trainingSet, store: 'project-fs' }],
    });
    let loss = 1.2;
    const epochOf = async (e: number, batches: number): Promise<void> => {
      const epoch = training.begin('epoch');
      for (let b = 0; b < batches; b++) {
        const batch = epoch.begin('batch', { values: { batch_index: b } });
        await new Promise((r) => setTimeout(r, 5));
        batch.end({ values: { batch_loss: (loss *= 0.93) } });
      }
      const model = `file:///models/${LIVE_RUN}/epoch-${e}.json`;
      epoch.end({
        values: { epoch: e, loss, accuracy: 1 - loss / 2 },
        dataRefs: [{ name: 'model', uri: model, store: 'model-registry' }],
      });
      training
        .begin('validation', {
          dataRefs: [{ name: 'validation_set', uri: report.preparations[0]!.validationSet }],
        })
        .end({
          values: { val_loss: loss * 1.1, val_accuracy: 0.95 - loss / 2 },
          dataRefs: [{ name: 'model', uri: model, store: 'model-registry' }],
        });
      await capture.flush();
    };

    await epochOf(0, 8);
    // the page follows the newest running training: it appears live and its charts switch to it
    await page.waitForFunction(
      (id) => (globalThis as InPage).provmlDashboard.selectedRun() === id,
      LIVE_RUN,
      { timeout: 15_000 },
    );
    await page.waitForFunction(
      () => (globalThis as InPage).provmlDashboard.pointCount().batch === 8,
      undefined,
      { timeout: 15_000 },
    );
    const row = page.locator(`#executions tr:has-text("${LIVE_RUN}")`);
    await expect(row.locator('.badge').innerText()).resolves.toBe('running');
    const before = await page.evaluate(() => (globalThis as InPage).provmlDashboard.pointCount());

    await epochOf(1, 8);
    await epochOf(2, 8);
    await page.waitForFunction(
      (n) =>
        (globalThis as InPage).provmlDashboard.pointCount().batch === n.batch! + 16 &&
        (globalThis as InPage).provmlDashboard.pointCount().epoch === n.epoch! + 2,
      before,
      { timeout: 15_000 },
    );
    const after = await page.evaluate(() => (globalThis as InPage).provmlDashboard.pointCount());
    expect(after.batch).toBe(before.batch! + 16);
    expect(after.epoch).toBe(before.epoch! + 2);

    training.end({ values: { final_loss: loss, final_accuracy: 1 - loss / 2 } });
    await capture.flush();
    await expect.poll(() => row.locator('.badge').innerText(), { timeout: 15_000 }).toBe('finished');
    await page.locator('#timing tbody tr:nth-child(3)').waitFor();
    await page.screenshot({ path: join(SHOTS, 'live-training.png') });
    await page.screenshot({ path: join(SHOTS, 'full-page.png'), fullPage: true });
    expect(problems).toEqual([]);
  }, 60_000);

  it('traces a demo model back to the raw SEG-Y file and its basin and field', async () => {
    const first = report.trainings[0]!;
    await page.selectOption('#training-select', first.workflowExecution);
    // its least-loss model (the version of its file the epoch wrote) is picked, and the lineage drawn from it
    const file = first.epochResults.reduce((a, b) => (b.loss < a.loss ? b : a)).model;
    const picked = () => page.locator('#model-select').inputValue();
    await expect
      .poll(async () => (await picked()).endsWith(`/version/${encodeURIComponent(file)}`), {
        timeout: 15_000,
      })
      .toBe(true);
    const best = await picked();
    await page.waitForFunction(
      ([model, raw]) => {
        const nodes = (globalThis as InPage).provmlDashboard.lineageNodes();
        return nodes.some((n) => n.id === model) && nodes.some((n) => n.id === raw);
      },
      [best, fileUri(report.rawSegyPath)],
      { timeout: 15_000 },
    );
    const nodes = await page.evaluate(() => (globalThis as InPage).provmlDashboard.lineageNodes());
    expect(nodes.find((n) => n.id === best)?.kind).toBe('model');
    expect(nodes.find((n) => n.id === report.preparations[0]!.trainingSet)?.kind).toBe('dataset');
    const raw = nodes.find((n) => n.id === fileUri(report.rawSegyPath))!;
    expect(raw.label).toMatch(/\.sgy$/);
    const annotation = nodes.find((n) => n.kind === 'annotation');
    expect(annotation?.label).toContain(report.config.annotations.basin);
    expect(annotation?.label).toContain(report.config.annotations.field);
    await page.locator('#lineage-card').screenshot({ path: join(SHOTS, 'lineage.png') });
    await page.screenshot({ path: join(SHOTS, 'dashboard.png') });
    expect(problems).toEqual([]);
  }, 60_000);
});
