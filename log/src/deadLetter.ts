/** Dead letters: a record the pipeline cannot use, with the reason, code, source and stage in headers. */
import { ProvmlError } from '@provml/schemas';
import type { ConsumedRecord, ProducedRecord } from './ports.ts';
import { DLQ_HEADERS } from './topics.ts';

/** Builds a dead-letter record for a record that could not be processed. */
export function deadLetter(record: ConsumedRecord, error: unknown, stage: string): ProducedRecord {
  const e = error instanceof ProvmlError ? error : undefined;
  const detail =
    e !== undefined && 'issues' in e
      ? (e as ProvmlError & { issues: { path: string; message: string }[] }).issues
          .map((i) => (i.path ? `${i.path}: ${i.message}` : i.message))
          .join('; ')
      : '';
  const message = error instanceof Error ? error.message : String(error);
  return {
    key: record.key,
    value: record.value,
    headers: {
      ...record.headers,
      [DLQ_HEADERS.reason]: detail ? `${message}: ${detail}` : message,
      [DLQ_HEADERS.code]: e?.code ?? 'internal',
      [DLQ_HEADERS.sourceTopic]: record.topic,
      [DLQ_HEADERS.sourcePartition]: String(record.partition),
      [DLQ_HEADERS.sourceOffset]: record.offset,
      [DLQ_HEADERS.stage]: stage,
    },
  };
}
