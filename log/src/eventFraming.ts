/**
 * One wire format per events topic: Avro single-object encoding (no registry) or the Confluent wire
 * format (a schema registry). A record in the other framing is refused with a reason naming both,
 * so it becomes a dead letter instead of a record a stock deserializer of the topic fails on.
 */
import { DecodeError, decodeCaptureEvent, type CaptureEvent } from '@provml/schemas';

/** Confluent wire-format magic byte. */
export const CONFLUENT_MAGIC = 0x00;

/** Whether bytes start like the Confluent wire format (magic 0 and a 4-byte schema id). */
export const isConfluentEncoded = (bytes: Uint8Array): boolean =>
  bytes.length > 5 && bytes[0] === CONFLUENT_MAGIC;

/**
 * Decodes a record of a topic whose wire format is Avro single-object encoding.
 * @throws DecodeError for a Confluent-framed record (written by a producer that uses a schema
 *   registry the reader is not configured with), and for anything else `decodeCaptureEvent` refuses
 */
export function decodeSingleObjectEvent(bytes: Buffer): CaptureEvent {
  if (isConfluentEncoded(bytes))
    throw new DecodeError(
      `wrong wire format for this topic: it carries Avro single-object encoding (no schema registry is configured), this record is in the Confluent wire format (magic 0x00, schema id ${bytes.readInt32BE(1)}), written by a producer that uses a registry`,
      { context: { expected: 'single-object', found: 'confluent', schemaId: bytes.readInt32BE(1) } },
    );
  return decodeCaptureEvent(bytes);
}
