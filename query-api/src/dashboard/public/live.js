// @ts-check
/** Subscriptions to the live feed (`/v1/live`, server-sent events), with their connection state. */

/**
 * @typedef {{ seq: number, workflow: string, workflowExecution: string, task: string, taskExecution: string,
 *   parentTaskExecution: string | null, phase: 'begin' | 'end', time: string,
 *   values: Record<string, unknown>, status: string | null }} LiveEvent
 */

/**
 * Opens a subscription. The browser's EventSource reconnects by itself and sends `Last-Event-ID`,
 * so the feed resumes where it stopped.
 * @param {Record<string, string | undefined>} filters workflow, execution, task, metric, since
 * @param {(event: LiveEvent) => void} onEvent
 * @param {(state: 'live' | 'reconnecting') => void} [onState]
 * @returns {() => void} closes the subscription
 */
export function subscribe(filters, onEvent, onState = () => undefined) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v !== undefined) query.set(k, v);
  const source = new EventSource(`/v1/live?${query}`);
  source.addEventListener('capture', (message) => onEvent(JSON.parse(message.data)));
  source.addEventListener('open', () => onState('live'));
  source.addEventListener('error', () => onState('reconnecting'));
  return () => source.close();
}
