/** The REST views in embedded mode, on the demo lifecycle. */
import { afterAll, beforeAll, describe } from 'vitest';
import { startDemoStack, type DemoStack } from '../../../deploy/testing/stack.ts';
import { viewsContract } from './viewsContract.ts';

describe('REST views, embedded mode', () => {
  let demo: DemoStack;
  beforeAll(async () => {
    demo = await startDemoStack();
  }, 120_000);
  afterAll(() => demo.close());

  viewsContract({ queryUrl: () => demo.stack.queryUrl, report: () => demo.report });
});
