/**
 * kafkajs 2.2.4 arms a timer per broker connection that re-arms itself every millisecond while
 * nothing is pending and nothing throttled (`RequestQueue.scheduleCheckPendingRequests` with a
 * negative delay: kafkajs issues #1556 and #1704, fix proposed in PR #1667, unreleased): an idle
 * agent burned 15–25 ms of CPU per second on it (bench/results/capture-cost-online.md, issue #21).
 * This skips the check when there is nothing to check: a request that cannot go at once is queued
 * by `push`, which schedules the check itself, and every answer checks the queue again.
 */
// the module kafkajs's connections use (a static import: the compiled agent bundles the same one)
import RequestQueueClass from 'kafkajs/src/network/requestQueue/index.js';

interface RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  scheduleCheckPendingRequests: (this: RequestQueue) => void;
}

let applied = false;

/** The RequestQueue class of kafkajs. */
export function kafkajsRequestQueue(): { prototype: RequestQueue } {
  return RequestQueueClass as { prototype: RequestQueue };
}

/** Stops the idle 1 ms timer loop of kafkajs's request queues in this process. Idempotent. */
export function stopKafkajsIdleLoop(): void {
  if (applied) return;
  applied = true;
  const proto = kafkajsRequestQueue().prototype;
  const schedule = proto.scheduleCheckPendingRequests;
  proto.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.pending.length === 0 && this.throttledUntil <= Date.now()) return;
    schedule.call(this);
  };
}
