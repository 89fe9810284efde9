/** murmur2 and partitionFor against Kafka's Java `Utils.murmur2` and default partitioner, with published vectors. */
import { describe, expect, it } from 'vitest';
import { murmur2, partitionFor } from '@provml/log';

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
 * kafkajs's Java-compatible table: tulios/kafkajs src/producer/partitioners/defaultJava/murmur2.spec.js
 * ("Generated with src/producer/partitioners/defaultJava/Test.java", i.e. by Kafka's Utils.murmur2).
 * Not the table of kafkajs's legacy partitioner (legacy/ and older default/murmur2.spec.js, e.g.
 * '1' → 1311020360), whose hash is deliberately not Java-compatible. Lengths cover 0–3 mod 4.
 */
const KAFKAJS_DEFAULT_JAVA_SPEC: readonly (readonly [string, number])[] = [
  ['0', 971027396],
  ['1', -1993445489],
  ['128', -326012175],
  ['2187', -1508407203],
  ['16384', -325739742],
  ['78125', -1654490814],
  ['279936', 1462227128],
  ['823543', -2014198330],
  ['2097152', 607668903],
  ['4782969', -1182699775],
  ['10000000', -1830336757],
  ['19487171', -1603849305],
  ['35831808', -857013643],
  ['62748517', -1167431028],
  ['105413504', -381294639],
  ['170859375', -1658323481],
  ['100:48069', 1009543857],
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

  it.each(KAFKAJS_DEFAULT_JAVA_SPEC)(
    'matches the Java-compatible kafkajs defaultJava spec for %j',
    (key, expected) => {
      expect(murmur2(key)).toBe(expected);
    },
  );

  it.each(JVM_NON_ASCII)(
    'hashes the UTF-8 bytes of the non-ASCII key %j (%i bytes) as Java does',
    (key, bytes, expected) => {
      expect(Buffer.byteLength(key, 'utf8')).toBe(bytes);
      expect(murmur2(key)).toBe(expected);
    },
  );

  it('covers every tail length (0–3 mod 4) across the vectors', () => {
    const tails = new Set(
      [...KAFKA_UTILS_TEST, ...KAFKAJS_DEFAULT_JAVA_SPEC, ...KAFKA_PYTHON_PARTITIONS_OF_1000].map(
        ([key]) => Buffer.byteLength(key, 'utf8') % 4,
      ),
    );
    expect([...tails].sort()).toEqual([0, 1, 2, 3]);
  });

  it('returns a signed 32-bit integer', () => {
    for (const [key] of [...KAFKA_UTILS_TEST, ...KAFKAJS_DEFAULT_JAVA_SPEC, ...JVM_NON_ASCII]) {
      const h = murmur2(key);
      expect(Number.isInteger(h)).toBe(true);
      expect(h | 0).toBe(h);
    }
  });
});

describe('partitionFor', () => {
  it.each(KAFKA_PYTHON_PARTITIONS_OF_1000)(
    'places %j on the partition Kafka picks among 1000',
    (key, partition) => {
      expect(partitionFor(key, 1000)).toBe(partition);
    },
  );

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
    for (const [key] of [...KAFKA_UTILS_TEST, ...KAFKAJS_DEFAULT_JAVA_SPEC, ...JVM_NON_ASCII]) {
      for (const n of [1, 2, 3, 4, 12, 1000]) {
        const p = partitionFor(key, n);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
      }
    }
  });
});
