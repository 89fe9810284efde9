/**
 * Capture events in the Confluent wire format (magic 0, 4-byte schema id, Avro body) through a
 * Confluent-compatible schema registry (Apicurio's ccompat API, Confluent Schema Registry). One wire
 * format per topic: a topic read through the registry holds only this framing, so a stock Confluent
 * deserializer reads every record of it; a single-object-encoded record there is refused (dead letter).
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import {
  CAPTURE_EVENT_SCHEMA,
  DecodeError,
  DependencyError,
  isSingleObjectEncoded,
  withoutNullDigests,
  type AvroSchema,
  type CaptureEvent,
} from '@provml/schemas';
import { isConfluentEncoded } from '../eventFraming.ts';

export { CONFLUENT_MAGIC, isConfluentEncoded } from '../eventFraming.ts';

/** Settings of the registry codec. */
export interface RegistryCodecOptions {
  /** Base URL of the Confluent-compatible API, e.g. `http://127.0.0.1:18081/apis/ccompat/v7`. */
  url: string;
  /** Subject the writer schema is registered under. Default `provml.events-value`. */
  subject?: string;
  /** Schema events are written with. Default the current CaptureEvent schema (v2). */
  writerSchema?: AvroSchema;
  /**
   * Schema events are read into (schema resolution from each record's writer schema). Default the
   * current CaptureEvent schema (v2).
   */
  readerSchema?: AvroSchema;
}

/** avsc's messages when it cannot build a resolver from a writer schema to the reader schema. */
const INCOMPATIBLE_SCHEMAS = /cannot read|no matching branch|no alias found|no matching field|missing/i;

const isHttp4xx = (error: unknown): boolean => {
  const status = (error as { status?: number }).status;
  return typeof status === 'number' && status >= 400 && status < 500;
};

/** Encodes with a registered schema id; decodes registry-framed and single-object-encoded events. */
export class RegistryEventCodec {
  private readonly registry: SchemaRegistry;
  private id: Promise<number> | undefined;
  private readonly subject: string;
  private readonly writer: string;
  private readonly reader: object;

  constructor(options: RegistryCodecOptions) {
    this.registry = new SchemaRegistry({ host: options.url, retry: { retries: 2 } });
    this.subject = options.subject ?? 'provml.events-value';
    this.writer = JSON.stringify(options.writerSchema ?? CAPTURE_EVENT_SCHEMA);
    this.reader = (options.readerSchema ?? CAPTURE_EVENT_SCHEMA) as object;
  }

  /** Registers the writer schema (once) and returns its id. */
  schemaId(): Promise<number> {
    this.id ??= this.registry
      .register({ type: SchemaType.AVRO, schema: this.writer }, { subject: this.subject })
      .then((r) => r.id)
      .catch((error: unknown) => {
        this.id = undefined;
        throw new DependencyError(
          'registry-unavailable',
          `cannot register the event schema: ${(error as Error).message}`,
          {
            retriable: !isHttp4xx(error),
            cause: error,
          },
        );
      });
    return this.id;
  }

  /** Encodes one event in the Confluent wire format. */
  async encode(event: CaptureEvent): Promise<Buffer> {
    return this.registry.encode(await this.schemaId(), event);
  }

  /**
   * Decodes a registry-framed event into the reader schema.
   * @throws DecodeError for an Avro single-object-encoded record (the other wire format: written by
   *   a producer without the registry), bytes in neither format, an unknown schema id, a writer
   *   schema the reader cannot resolve or a corrupt body (dead-letter material); DependencyError
   *   (retriable) when the registry cannot be reached.
   */
  async decode(bytes: Buffer): Promise<CaptureEvent> {
    if (isSingleObjectEncoded(bytes))
      throw new DecodeError(
        'wrong wire format for this topic: it carries the Confluent wire format (a schema registry is configured), this record is Avro single-object encoded (c3 01), written by a producer without the registry',
        { context: { expected: 'confluent', found: 'single-object' } },
      );
    if (!isConfluentEncoded(bytes))
      throw new DecodeError(
        `neither Confluent wire format (magic 0x00) nor Avro single-object encoding (C3 01): starts with ${bytes.subarray(0, 2).toString('hex') || 'nothing'}`,
      );
    const id = bytes.readInt32BE(1);
    try {
      return withoutNullDigests(
        (await this.registry.decode(bytes, {
          [SchemaType.AVRO]: { readerSchema: this.reader as never },
        })) as CaptureEvent,
      );
    } catch (error) {
      if (isHttp4xx(error))
        throw new DecodeError(`unknown schema id ${id} in the registry`, {
          cause: error,
          context: { schemaId: id },
        });
      if (
        (error as { status?: number }).status !== undefined ||
        /ECONNREFUSED|fetch failed|socket/i.test(String(error))
      )
        throw new DependencyError(
          'registry-unavailable',
          `schema registry unreachable: ${(error as Error).message}`,
          {
            retriable: true,
            cause: error,
          },
        );
      // avsc refuses to build a resolver between incompatible schemas: "cannot read … as …", "no
      // alias found for <other record>" (a record of another name), "no matching field for
      // default-less …" (a field the reader needs and the writer lacks)
      if (INCOMPATIBLE_SCHEMAS.test((error as Error).message))
        throw new DecodeError(
          `writer schema id ${id} is incompatible with the reader schema (CaptureEvent): ${(error as Error).message}`,
          { cause: error, context: { schemaId: id } },
        );
      throw new DecodeError(`corrupt Avro body for schema id ${id}: ${(error as Error).message}`, {
        cause: error,
        context: { schemaId: id },
      });
    }
  }
}
