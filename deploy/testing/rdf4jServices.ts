/** Test helper: an RDF4J Server and a fresh repository for a distributed test, with the service configuration of its own topics and groups. */
import { randomUUID } from 'node:crypto';
import { resolveServiceConfig, type ServiceConfig } from '@provml/service';
import { createRdf4jRepository, createStore, deleteRdf4jRepository, type TripleStore } from '@provml/stores';
import { ensureRdf4j, stopStore, type Rdf4jOptions } from '../local/stores.ts';
import { kafka, unique } from './kafkaTest.ts';

/** What `rdf4jServices` set up; `release` undoes it. */
export interface Rdf4jServices {
  /** Undefined when the server could not be had (outside CI only; `unavailable` says why). */
  config?: ServiceConfig;
  unavailable: string;
  release(): Promise<void>;
}

/**
 * Starts (or reuses) an RDF4J Server, creates a repository `<name>-<id>` and resolves a service
 * configuration on it: topics `<name>-<id>.`, 3 partitions, groups and instance id of its own,
 * HTTP on a free port, no access control, `settings` merged over that. Under CI=true a server
 * that cannot be had throws; otherwise `unavailable` says why.
 */
export async function rdf4jServices(
  name: string,
  server: Rdf4jOptions = {},
  settings: Record<string, unknown> = {},
): Promise<Rdf4jServices> {
  let url: string;
  let started = false;
  try {
    const info = await ensureRdf4j(server);
    url = info.url;
    started = !info.reused;
  } catch (error) {
    if (process.env['CI'] === 'true') throw error;
    return {
      unavailable: `RDF4J Server unavailable: ${(error as Error).message}`,
      release: () => Promise.resolve(),
    };
  }
  const id = unique();
  const repository = `${name}-${id}`;
  await createRdf4jRepository(url, repository);
  const config = resolveServiceConfig(
    {
      kafka: { brokers: [kafka.bootstrap], instanceId: `${name}-${id}` },
      topics: { prefix: `${name}-${id}.`, partitions: 3 },
      groups: { processor: `p-${id}`, sink: `s-${id}` },
      store: { kind: 'rdf4j', url, repository },
      http: { host: '127.0.0.1', port: 0 },
      auth: { disabled: true },
      ...settings,
    },
    {},
  );
  return {
    config,
    unavailable: '',
    release: async () => {
      await deleteRdf4jRepository(url, repository).catch(() => undefined);
      if (started) await stopStore(server.instance ?? 'rdf4j');
    },
  };
}

/**
 * A store on an RDF4J repository of its own (`<prefix>-<uuid>`) on the local server (started or
 * reused); `release` closes it, deletes the repository and stops a server it started. Throws when
 * the server cannot be had (the caller decides whether that may skip).
 */
export async function rdf4jRepositoryStore(
  prefix: string,
): Promise<{ store: TripleStore; release: () => Promise<void> }> {
  const info = await ensureRdf4j();
  const repository = `${prefix}-${randomUUID()}`;
  await createRdf4jRepository(info.url, repository);
  const store = await createStore({ store: 'rdf4j', url: info.url, repository, timeoutMs: 30_000 });
  return {
    store,
    release: async () => {
      await store.close();
      await deleteRdf4jRepository(info.url, repository);
      if (!info.reused) await stopStore('rdf4j');
    },
  };
}
