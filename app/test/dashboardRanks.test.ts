/**
 * Runs the comparison used to miss, in a real browser: runs that never used a training set are in
 * `/v1/runs` and can be compared, and a distributed job (two ranks, as torchrun sets the variables)
 * is one run whose ranks the comparison shows separately, each with its own curve and row, and
 * selectable together as a group. Screenshots go to test-output/dashboard/ and, with
 * PROVML_DOCS_SCREENSHOTS=1, to query-api/docs/.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRow } from '@provml/query-api';
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
  CLASSIFIER_CORPUS,
  CLASSIFIER_EPOCHS,
  CLASSIFIER_SPEC,
  macroF1,
  type ClassifierRun,
} from './fixtures/comparisonRuns.ts';

const ci = process.env.CI === 'true';
const SHOTS = fileURLToPath(new URL('../../test-output/dashboard/', import.meta.url));
const DOCS = fileURLToPath(new URL('../../query-api/docs/', import.meta.url));
const LAST = CLASSIFIER_EPOCHS - 1;
const JOB = `clf-job-${randomBytes(3).toString('hex')}`;

/** Runs without a training set, one with, and a job of two ranks (each rank its own macro F1). */
const NO_SET: readonly ClassifierRun[] = [
  { id: 'clf-noset-lr-0.20', learningRate: 0.2, dropout: 0.1, layers: 2 },
  { id: 'clf-noset-lr-0.05', learningRate: 0.05, dropout: 0.2, layers: 3 },
];
const WITH_SET: ClassifierRun = { id: 'clf-set-lr-0.10', learningRate: 0.1, dropout: 0.3, layers: 4 };
const JOB_RUN: ClassifierRun = { id: JOB, learningRate: 0.3, dropout: 0.1, layers: 2 };
/** Rank r's macro F1 at epoch e: the job's, less 0.05 per rank (their shards differ). */
const rankF1 = (rank: number, e: number): number => Number((macroF1(JOB_RUN, e) - 0.05 * rank).toFixed(4));

/** One run through one capture: `withSet` says whether it reads the corpus; f1 gives its macro F1. */
async function train(
  stack: EmbeddedStack,
  env: Record<string, string>,
  r: ClassifierRun,
  withSet: boolean,
  f1: (e: number) => number,
  id?: string,
): Promise<void> {
  const capture = await stack.capture({ spec: CLASSIFIER_SPEC, env });
  const training = capture.workflowExecution(id).begin('training', {
    values: { learning_rate: r.learningRate, dropout: r.dropout, layers: r.layers },
    ...(withSet ? { dataRefs: [{ name: 'corpus', uri: CLASSIFIER_CORPUS }] } : {}),
  });
  for (let e = 0; e < CLASSIFIER_EPOCHS; e++) {
    await new Promise((resolve) => setTimeout(resolve, 2)); // epochs start at distinct times
    const checkpoint = `file:///checkpoints/${id ?? JOB}/${env.RANK ?? 0}/epoch-${e}.safetensors`;
    training
      .begin('epoch', { values: { epoch: e } })
      .end({ dataRefs: [{ name: 'checkpoint', uri: checkpoint }] });
    training
      .begin('evaluation', { dataRefs: [{ name: 'checkpoint', uri: checkpoint }] })
      .end({ values: { macro_f1: f1(e) } });
  }
  training.end({ values: { final_f1: f1(LAST) } });
  await capture.flush();
}

/** What torchrun sets in rank `rank` of a job of two. */
const torchrun = (rank: number): Record<string, string> => ({
  RANK: String(rank),
  LOCAL_RANK: String(rank),
  WORLD_SIZE: '2',
  TORCHELASTIC_RUN_ID: JOB,
  TORCHELASTIC_RESTART_COUNT: '0',
});

// Skips outside CI only when /usr/bin/chromium is missing (the title says so); under CI=true it runs and fails instead.
describe.skipIf(missing !== '' && !ci)(
  `dashboard: runs without a training set, ranks apart ${missing}`,
  () => {
    let stack: EmbeddedStack;
    let browser: Browser;
    let page: Page;
    let problems: string[];

    beforeAll(async () => {
      if (missing !== '') throw new Error(`${CHROMIUM} is missing (CI=true: this test may not be skipped)`);
      await mkdir(SHOTS, { recursive: true });
      stack = await startStack();
      for (const r of NO_SET) await train(stack, {}, r, false, (e) => macroF1(r, e), r.id);
      await train(stack, {}, WITH_SET, true, (e) => macroF1(WITH_SET, e), WITH_SET.id);
      await Promise.all(
        [0, 1].map((rank) => train(stack, torchrun(rank), JOB_RUN, true, (e) => rankF1(rank, e))),
      );
      await stack.settle();
      ({ browser, page, problems } = await openPage(1400, 1000));
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await stack?.shutdown();
    });

    const shown = () => comparisonShown(page);
    const column = (key: string): Promise<string[]> => comparisonColumn(page, key);

    it('lists runs that used no training set, and the job as one run with its ranks', async () => {
      const { runs } = (await (await fetch(`${stack.queryUrl}/v1/runs`)).json()) as { runs: RunRow[] };
      expect(runs).toHaveLength(4);
      const byRun = new Map(runs.map((r) => [r.workflowExecution, r]));
      for (const r of NO_SET) {
        const row = byRun.get(`urn:provml:execution/${r.id}`)!;
        expect(row.trainingSet).toBeNull();
        expect(row.hyperparameters).toEqual({
          learning_rate: r.learningRate,
          dropout: r.dropout,
          layers: r.layers,
        });
        expect(row.outputs.final_f1).toBe(macroF1(r, LAST));
      }
      expect(byRun.get(`urn:provml:execution/${WITH_SET.id}`)!.trainingSet).toBe(CLASSIFIER_CORPUS);
      const job = runs.find((r) => r.ranks !== null)!;
      expect(job.worldSize).toBe(2);
      expect(job.ranks!.map((r) => [r.rank, r.outputs.final_f1])).toEqual([
        [0, rankF1(0, LAST)],
        [1, rankF1(1, LAST)],
      ]);
      // a preparation or hyperparameter filter still works beside them
      const filtered = (await (await fetch(`${stack.queryUrl}/v1/runs?hp.layers=3`)).json()) as {
        runs: RunRow[];
      };
      expect(filtered.runs.map((r) => r.workflowExecution)).toEqual([
        `urn:provml:execution/${NO_SET[1]!.id}`,
      ]);
    });

    it('compares every run, each rank of the job on its own, with its own curve and values', async () => {
      await page.goto(`${stack.queryUrl}/dashboard/`);
      const rows = page.locator('#compare-table tbody tr[data-run]');
      // the workflow's group is the largest: every run, the job's two ranks apart
      await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(5);
      await expect.poll(async () => (await shown()).measure, { timeout: 15_000 }).toBe('macro_f1');
      const names = await column('run');
      for (const r of [...NO_SET, WITH_SET]) expect(names).toContain(r.id);
      const rank0 = names.find((n) => n.startsWith('rank 0 · '))!;
      const rank1 = names.find((n) => n.startsWith('rank 1 · '))!;
      expect(rank0).toContain(JOB);
      expect(rank1).toBe(rank0.replace('rank 0', 'rank 1'));
      const finals = await column('final');
      expect(Number(finals[names.indexOf(rank0)])).toBeCloseTo(rankF1(0, LAST), 3);
      expect(Number(finals[names.indexOf(rank1)])).toBeCloseTo(rankF1(1, LAST), 3);
      for (const r of NO_SET) expect(Number(finals[names.indexOf(r.id)])).toBeCloseTo(macroF1(r, LAST), 3);
      expect(await page.locator('#compare-curves polyline').count()).toBe(5);
      expect(await page.locator('#compare-parallel polyline').count()).toBe(5);
      await shootCompare('dashboard-compare-ranks.png');
      expect(problems).toEqual([]);
    }, 60_000);

    it('offers the job’s ranks as a group, and no training-set group for runs without one', async () => {
      const groups = await page.locator('#compare-group option').allInnerTexts();
      expect(groups).toContain(`training set ${CLASSIFIER_CORPUS.split('/').slice(-2).join('/')} (3)`);
      expect(groups.filter((g) => g.startsWith('training set'))).toHaveLength(1);
      const jobGroup = groups.find((g) => g.startsWith('ranks of '))!;
      expect(jobGroup).toMatch(/\(2\)$/);
      await page.selectOption('#compare-group', { label: jobGroup });
      await expect.poll(() => page.locator('#compare-curves polyline').count(), { timeout: 15_000 }).toBe(2);
      expect((await column('run')).map((n) => n.slice(0, 6)).sort()).toEqual(['rank 0', 'rank 1']);
      expect(problems).toEqual([]);
    }, 60_000);

    async function shootCompare(name: string): Promise<void> {
      const paths = [
        join(SHOTS, name),
        ...(process.env.PROVML_DOCS_SCREENSHOTS === '1' ? [join(DOCS, name)] : []),
      ];
      for (const path of paths) await page.locator('#compare-card').screenshot({ path });
    }
  },
);
