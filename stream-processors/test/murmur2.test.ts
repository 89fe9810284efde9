/** murmur2 and partitionFor against Kafka's Java `Utils.murmur2` and default partitioner, with published vectors. */
import { describe, expect, it } from 'vitest';
import { murmur2, partitionFor } from '@provml/stream-processors';

/**
 * Kafka's own vectors: apache/kafka
 * clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, `testMurmur2`
 * (UTF-8 bytes of the key → Java `int`). Lengths cover 0, 2 and 3 mod 4.
 */
const KAFKA_UTILS_TEST: readonly (readonly [string, number])[] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

/**
 * kafkajs's vectors: tulios/kafkajs src/producer/partitioners/default/murmur2.spec.js
 * (its murmur2 mirrors the Java client). Lengths cover 0, 1, 2 and 3 mod 4.
 */
const KAFKAJS_SPEC: readonly (readonly [string, number])[] = [
  ['0', 272173970],
  ['1', 1311020360],
  ['128', 2053105854],
  ['2187', -2081355488],
  ['16384', 204404061],
  ['78125', -677491393],
  ['279936', -622460209],
  ['823543', 651276451],
  ['2097152', 944683677],
  ['4782969', -892695770],
  ['10000000', -1778616326],
  ['19487171', -518311627],
  ['35831808', 556972389],
  ['62748517', -233806557],
  ['105413504', -109398538],
  ['170859375', 102939717],
];

/**
 * Partition among 1000 partitions, "compared with output from Kafka's
 * org.apache.kafka.clients.producer.Partitioner": dpkp/kafka-python test/test_partitioner.py
 * (`test_murmur2_java_compatibility`, same table in aio-libs/aiokafka tests/test_partitioner.py).
 * Includes the empty key; the last key is NUL followed by a space.
 */
const KAFKA_PYTHON_PARTITIONS_OF_1000: readonly (readonly [string, number])[] = [
  ['', 681],
  ['a', 524],
  ['ab', 434],
  ['abc', 107],
  ['123456789', 566],
  ['\u0000 ', 742],
];

/**
 * Non-ASCII keys (UTF-8 multi-byte and a surrogate pair). No published table has them, so these were
 * computed by running Kafka's `Utils.murmur2` (apache/kafka clients/src/main/java/org/apache/kafka/common/
 * utils/Utils.java, copied verbatim) on the JVM over `key.getBytes(StandardCharsets.UTF_8)`; the same
 * program reproduces every value of the two tables above. Columns: key, UTF-8 length, murmur2,
 * toPositive(h) % 1000, % 7.
 */
const JVM_NON_ASCII: readonly (readonly [string, number, number, number, number])[] = [
  ['é', 2, 186971271, 271, 4],
  ['café', 5, -1358007374, 274, 6],
  ['日本語', 9, 1431860170, 170, 6],
  ['wf-ü', 5, -383483036, 612, 3],
  ['🚀', 4, 761778625, 625, 6],
  ['Ωμέγα', 10, 1250134017, 17, 6],
  ['run-été-中', 13, -12460254, 394, 0],
];

describe('murmur2', () => {
  it.each(KAFKA_UTILS_TEST)('matches Kafka UtilsTest.testMurmur2 for %j', (key, expected) => {
    expect(murmur2(key)).toBe(expected);
  });

  it.each(KAFKAJS_SPEC)('matches the kafkajs murmur2 spec for %j', (key, expected) => {
    expect(murmur2(key)).toBe(expected);
  });

  it.each(JVM_NON_ASCII)('hashes the UTF-8 bytes of the non-ASCII key %j (%i bytes) as Java does', (key, bytes, expected) => {
    expect(Buffer.byteLength(key, 'utf8')).toBe(bytes);
    expect(murmur2(key)).toBe(expected);
  });

  it('covers every tail length (0–3 mod 4) across the vectors', () => {
    const tails = new Set(
      [...KAFKA_UTILS_TEST, ...KAFKAJS_SPEC, ...KAFKA_PYTHON_PARTITIONS_OF_1000].map(
        ([key]) => Buffer.byteLength(key, 'utf8') % 4,
      ),
    );
    expect([...tails].sort()).toEqual([0, 1, 2, 3]);
  });

  it('returns a signed 32-bit integer', () => {
    for (const [key] of [...KAFKA_UTILS_TEST, ...KAFKAJS_SPEC, ...JVM_NON_ASCII]) {
      const h = murmur2(key);
      expect(Number.isInteger(h)).toBe(true);
      expect(h | 0).toBe(h);
    }
  });
});

describe('partitionFor', () => {
  it.each(KAFKA_PYTHON_PARTITIONS_OF_1000)('places %j on the partition Kafka picks among 1000', (key, partition) => {
    expect(partitionFor(key, 1000)).toBe(partition);
  });

  it.each(JVM_NON_ASCII)('places the non-ASCII key %j as Java does', (key, _bytes, _hash, of1000, of7) => {
    expect(partitionFor(key, 1000)).toBe(of1000);
    expect(partitionFor(key, 7)).toBe(of7);
  });

  it('masks the sign bit (toPositive) rather than taking an absolute value', () => {
    // murmur2('21') = -973932308; Kafka: (h & 0x7fffffff) % n, not Math.abs(h) % n.
    const h = murmur2('21');
    expect(h).toBeLessThan(0);
    expect(partitionFor('21', 1000)).toBe((h & 0x7fffffff) % 1000);
    expect(partitionFor('21', 1000)).toBe(340);
    expect(Math.abs(h) % 1000).not.toBe(340);
  });

  it('stays within range for every key and partition count', () => {
    for (const [key] of [...KAFKA_UTILS_TEST, ...KAFKAJS_SPEC, ...JVM_NON_ASCII]) {
      for (const n of [1, 2, 3, 4, 12, 1000]) {
        const p = partitionFor(key, n);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
      }
    }
  });
});
