/** Whether any bootstrap broker answers: a TCP connect, tried for a few seconds, before kafkajs retries for minutes. */
import { connect } from 'node:net';
import { DependencyError } from '@provml/schemas';

/** How long to look for a broker. */
export interface BrokerProbeOptions {
  /** Give up after this long, ms. Default 5000. */
  timeoutMs?: number;
  /** Pause between rounds over the brokers, ms. Default 250. */
  intervalMs?: number;
}

/** Whether `host:port` accepts a TCP connection within `timeoutMs`. */
function answers(broker: string, timeoutMs: number): Promise<boolean> {
  const at = broker.lastIndexOf(':');
  const host = broker.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(broker.slice(at + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Resolves with the first of `brokers` (`host:port`) that accepts a connection; tries them all in
 * rounds until `timeoutMs` has passed.
 *
 * @throws DependencyError `kafka-unreachable` (retriable) naming the brokers tried
 */
export async function probeBrokers(
  brokers: readonly string[],
  options: BrokerProbeOptions = {},
): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(100, Math.min(1000, deadline - Date.now()));
    const answered = await Promise.all(brokers.map((b) => answers(b, left)));
    const first = brokers.find((_, i) => answered[i]);
    if (first !== undefined) return first;
    if (Date.now() >= deadline)
      throw new DependencyError(
        'kafka-unreachable',
        `no Kafka broker answers at ${brokers.join(',')} within ${Math.round(timeoutMs / 1000)} s`,
        { retriable: true, context: { brokers: brokers.join(',') } },
      );
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 250));
  }
}
