/** Kafka's default partitioner hash (murmur2, seed 0x9747b28c), so both modes place a key alike. */

/** murmur2 of the UTF-8 bytes of `key`, as a signed 32-bit integer (as Kafka's Utils.murmur2). */
export function murmur2(key: string): number {
  const data = Buffer.from(key, 'utf8');
  const length = data.length;
  const m = 0x5bd1e995;
  const r = 24;
  let h = 0x9747b28c ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length4 * 4;
  switch (length % 4) {
    case 3:
      h ^= data[tail + 2]! << 16;
    // falls through
    case 2:
      h ^= data[tail + 1]! << 8;
    // falls through
    case 1:
      h ^= data[tail]!;
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Partition of a key among `partitions`, as Kafka's default partitioner computes it. */
export function partitionFor(key: string, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

/**
 * Whether a keyed record sits on another partition than murmur2 of its key puts it: written by a
 * producer with another partitioner (librdkafka's default is CRC32; `partitioner=murmur2_random`
 * makes it agree), so one workflow execution's events may be split over partitions and members.
 */
export const isForeignPartitioned = (
  record: { key: string | null; partition: number },
  partitions: number,
): boolean =>
  record.key !== null && partitions > 0 && partitionFor(record.key, partitions) !== record.partition;
