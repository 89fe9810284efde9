/** Conversions between kafkajs messages and the log ports' records, and produce-request sizing. */
import type { ConsumedRecord, ProducedRecord } from '../ports.ts';

/** A consumed kafkajs message as a port record (headers as strings; the last of repeated ones wins). */
export const toRecord = (
  topic: string,
  partition: number,
  m: {
    offset: string;
    key: Buffer | null;
    value: Buffer | null;
    headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
    timestamp: string;
  },
): ConsumedRecord => {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {}))
    if (v !== undefined) headers[k] = Array.isArray(v) ? String(v[v.length - 1]) : String(v);
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key === null ? null : m.key.toString('utf8'),
    value: m.value ?? Buffer.alloc(0),
    headers,
    timestamp: Number(m.timestamp),
  };
};

/** Port records as kafkajs messages; an empty value is written as Kafka's tombstone (null). */
export const toMessages = (records: readonly ProducedRecord[]) =>
  records.map((r) => ({ key: r.key, value: r.value.length === 0 ? null : r.value, headers: r.headers }));

/** Bytes per produce request at most: a request's batch for one partition must fit the broker's 1 MB default. */
const MAX_REQUEST_BYTES = 512 * 1024;

/** Splits records into runs whose values add up to at most MAX_REQUEST_BYTES (a larger single record goes alone). */
export function chunks(records: readonly ProducedRecord[]): ProducedRecord[][] {
  const out: ProducedRecord[][] = [];
  let current: ProducedRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    if (current.length > 0 && bytes + r.value.length > MAX_REQUEST_BYTES) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += r.value.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}
