/** Types of the kafkajs internal module the group-less partition reader uses (kafkajs ships none). */
declare module 'kafkajs/src/consumer/batch.js' {
  import type { KafkaMessage } from 'kafkajs';

  /** A fetched partition's messages without aborted records and transaction markers. */
  export default class Batch {
    constructor(topic: string, fetchedOffset: string, partitionData: object);
    readonly messages: (KafkaMessage & { offset: string; timestamp: string })[];
    isEmptyIncludingFiltered(): boolean;
    lastOffset(): string;
  }
}
