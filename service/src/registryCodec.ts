/**
 * The schema-registry codec of a configuration, when it names a registry (events in the Confluent
 * wire format). The registry client (with its Avro, Protobuf and JSON Schema support) is loaded only
 * then: an agent or processor without a registry does not carry it.
 */
import type { RegistryEventCodec } from '@provml/log';
import { topicNames, type ServiceConfig } from './ServiceConfig.ts';

export async function registryCodec(config: ServiceConfig): Promise<RegistryEventCodec | undefined> {
  const { url, subject } = config.registry;
  if (url === undefined) return undefined;
  const { RegistryEventCodec: Codec } = await import('@provml/log/registry');
  return new Codec({ url, subject: subject ?? `${topicNames(config).events}-value` });
}
