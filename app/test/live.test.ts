/** The live feed at /v1/live: server-sent events straight from the events topic, filtered and resumable. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';
import type { LiveEvent } from '@provml/query-api';
import { example, startStack } from '../../deploy/testing/stack.ts';

/** Reads SSE `capture` events from /v1/live until `count` arrived (bounded), then closes. */
async function readLive(
  url: string,
  count: number,
  headers: Record<string, string> = {},
): Promise<{ events: LiveEvent[]; raw: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15_000);
  const response = await fetch(url, { headers, signal: controller.signal });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let raw = '';
  const events: LiveEvent[] = [];
  try {
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      raw += decoder.decode(value, { stream: true });
      const blocks = raw.split('\n\n');
      events.length = 0;
      for (const b of blocks)
        if (b.includes('event: capture'))
          events.push(
            JSON.parse(
              b
                .split('\n')
                .find((l) => l.startsWith('data: '))!
                .slice(6),
            ) as LiveEvent,
          );
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { events, raw };
}

describe('live feed', () => {
  let stack: EmbeddedStack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.shutdown());

  it('streams task begin/end and metric values as they are captured, filtered by metric', async () => {
    const capture = await stack.capture({ spec: example('seismic-training.json'), env: {} });
    const run = capture.workflowExecution('live-1');
    const listening = readLive(`${stack.queryUrl}/v1/live?execution=live-1&metric=batch_loss`, 5);
    // subscribed before the events exist, so they arrive live (waits for the feed to have the subscriber)
    for (let i = 0; i < 300 && stack.live.stats.subscribers === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(stack.live.stats.subscribers).toBeGreaterThan(0);
    const training = run.begin('training', { values: { learning_rate: 0.1, epochs: 1, batch_size: 8 } });
    const epoch = training.begin('epoch');
    for (let b = 0; b < 5; b++) epoch.begin('batch').end({ values: { batch_loss: 1 / (b + 1) } });
    await capture.flush();
    const { events } = await listening;
    expect(events.map((e) => e.values.batch_loss)).toEqual([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5]);
    expect(
      events.every((e) => e.workflowExecution === 'live-1' && e.task === 'batch' && e.phase === 'end'),
    ).toBe(true);
    expect(new Set(events.map((e) => e.seq)).size).toBe(5);
  });

  it('resumes after Last-Event-ID without repeating or losing events', async () => {
    const capture = await stack.capture({ spec: example('seismic-training.json'), env: {} });
    const run = capture.workflowExecution('live-2');
    const training = run.begin('training');
    const epoch = training.begin('epoch');
    for (let b = 0; b < 6; b++) epoch.begin('batch').end({ values: { batch_loss: b } });
    await capture.flush();
    await stack.settle();
    const all = (await readLive(`${stack.queryUrl}/v1/live?execution=live-2&since=0`, 14)).events;
    expect(all).toHaveLength(14); // training + epoch begins, 6 × batch begin/end
    const middle = all[6]!.seq;
    const rest = (
      await readLive(`${stack.queryUrl}/v1/live?execution=live-2`, 7, { 'last-event-id': String(middle) })
    ).events;
    expect(rest.map((e) => e.seq)).toEqual(all.slice(7).map((e) => e.seq));
  });
});
