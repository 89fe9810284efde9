/** The event codec of a configuration: plain Avro, or the schema registry's wire format. */
import { decodeSingleObjectEvent, type RegistryEventCodec } from '@provml/log';
import { encodeCaptureEvent, type CaptureEvent } from '@provml/schemas';
import { topicNames, type ServiceConfig } from './ServiceConfig.ts';

/**
 * The schema-registry codec of a configuration, when it names a registry (events in the Confluent
 * wire format). The registry client (with its Avro, Protobuf and JSON Schema support) is loaded only
 * then: an agent or processor without a registry does not carry it.
 */
export async function registryCodec(config: ServiceConfig): Promise<RegistryEventCodec | undefined> {
  const { url, subject } = config.registry;
  if (url === undefined) return undefined;
  const { RegistryEventCodec: Codec } = await import('@provml/log/registry');
  return new Codec({ url, subject: subject ?? `${topicNames(config).events}-value` });
}

/** How capture events are written to and read from a configuration's events topic. */
export interface EventCodec {
  encode: (event: CaptureEvent) => Buffer | Promise<Buffer>;
  decode: (bytes: Buffer) => CaptureEvent | Promise<CaptureEvent>;
}

/**
 * The registry's wire format when the configuration names a registry, else Avro single-object
 * encoding: one wire format per events topic, and a record in the other one is refused on reading
 * (a DecodeError, so the processor dead-letters it with a reason naming both formats).
 */
export async function eventCodec(config: ServiceConfig): Promise<EventCodec> {
  const codec = await registryCodec(config);
  if (codec === undefined) return { encode: encodeCaptureEvent, decode: decodeSingleObjectEvent };
  return { encode: (event) => codec.encode(event), decode: (bytes) => codec.decode(bytes) };
}
