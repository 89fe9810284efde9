/** CRC-64-AVRO: the 64-bit Rabin fingerprint of the Avro specification ("Schema Fingerprints"). */

/** Fingerprint of the empty input; also the polynomial the table is built from. */
export const CRC64_AVRO_EMPTY = 0xc15d_213a_a4d7_a795n;

/** One entry per byte value, built once at module load exactly as the specification's `initFPTable`. */
const TABLE: readonly bigint[] = (() => {
  const table: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) {
      // Java's `EMPTY & -(fp & 1L)`: the polynomial where the low bit is set, 0 otherwise.
      fp = (fp >> 1n) ^ ((fp & 1n) === 1n ? CRC64_AVRO_EMPTY : 0n);
    }
    table.push(fp);
  }
  return table;
})();

/**
 * Computes the CRC-64-AVRO (Rabin) fingerprint of `bytes`, as an unsigned 64-bit value.
 *
 * The Avro test vectors print fingerprints as signed Java longs: compare with
 * `BigInt.asIntN(64, crc64Avro(bytes))`. The single-object encoding writes it little-endian.
 */
export function crc64Avro(bytes: Uint8Array): bigint {
  let fp = CRC64_AVRO_EMPTY;
  for (const byte of bytes) {
    // `fp` stays within 64 bits: `>> 8n` shrinks it and every table entry is below 2^64.
    fp = (fp >> 8n) ^ (TABLE[Number(fp & 0xffn) ^ byte] as bigint);
  }
  return fp;
}
