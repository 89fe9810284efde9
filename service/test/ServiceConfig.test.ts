// The service configuration: the store section is the stores' own schema; shared settings have one set of limits.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@provml/schemas';
import { DEFAULT_PORTS, kafkaLogOptions, resolveServiceConfig, type ServiceName } from '@provml/service';
import { resolveEmbeddedConfig } from '@provml/app';

describe('service configuration, store section', () => {
  it('takes every adapter setting of the stores (flavor, bulk load, credentials, timeouts) from a file, env or options', () => {
    const config = resolveServiceConfig(
      { store: { kind: 'sparql', url: 'http://127.0.0.1:17878' } },
      { PROVML_STORE_BULK_LOAD: 'true', PROVML_STORE_TIMEOUT_MS: '5000', PROVML_STORE_FLAVOR: 'oxigraph' },
    );
    expect(config.store).toMatchObject({
      store: 'sparql',
      url: 'http://127.0.0.1:17878',
      flavor: 'oxigraph',
      bulkLoad: true,
      timeoutMs: 5000,
    });
    const rdf4j = resolveServiceConfig(
      {},
      {
        PROVML_STORE_URL: 'http://127.0.0.1:18080/rdf4j-server',
        PROVML_STORE_REPOSITORY: 'provml',
        PROVML_STORE_USERNAME: 'reader',
        PROVML_STORE_PASSWORD: 'secret-password',
      },
    );
    // without a kind it is rdf4j, creating its repository when missing (as before)
    expect(rdf4j.store).toMatchObject({
      store: 'rdf4j',
      repository: 'provml',
      username: 'reader',
      createRepository: true,
    });
  });

  it('needs no store where none is used (processor, agent), and names a bad store setting', () => {
    expect(resolveServiceConfig({}, {}).store).toBeUndefined();
    expect(() =>
      resolveServiceConfig({ store: { kind: 'sparql', url: 'http://h', bulkLoad: 'yes' } }, {}),
    ).toThrow(/invalid configuration/);
    expect(() =>
      resolveServiceConfig({ store: { kind: 'rdf4j', url: 'ftp://h', repository: 'r' } }, {}),
    ).toThrow(/invalid configuration/);
  });
});

describe('settings shared by the embedded process and the services', () => {
  it('have the same limits in both', () => {
    const env = { PROVML_PARTITIONS: '1025' };
    expect(() => resolveEmbeddedConfig({}, env)).toThrow(/invalid configuration/);
    expect(() => resolveServiceConfig({}, env)).toThrow(/invalid configuration/);
    const iri = { PROVML_IRI_BASE: 'not an iri' };
    expect(() => resolveEmbeddedConfig({}, iri)).toThrow(/invalid configuration/);
    expect(() => resolveServiceConfig({}, iri)).toThrow(/invalid configuration/);
    const ok = { PROVML_QUERY_TIMEOUT_MS: '1234', PROVML_ALLOW_SERVICE: 'true', PROVML_PARTITIONS: '8' };
    expect(resolveEmbeddedConfig({}, ok)).toMatchObject({
      queryTimeoutMs: 1234,
      allowService: true,
      partitions: 8,
    });
    expect(resolveServiceConfig({}, ok)).toMatchObject({
      query: { timeoutMs: 1234, allowService: true },
      topics: { partitions: 8 },
    });
  });
});

describe('service configuration, ports', () => {
  const services = Object.keys(DEFAULT_PORTS) as ServiceName[];

  it('gives each service a port of its own, so the four run side by side with no option', () => {
    const ports = services.map((s) => resolveServiceConfig({}, {}, undefined, s).http.port);
    expect(ports).toEqual([7070, 7071, 7072, 7073]);
    expect(new Set(ports).size).toBe(services.length);
  });

  it('takes --port over the service’s own variable over PROVML_HTTP_PORT over its default', () => {
    const env = { PROVML_HTTP_PORT: '9000', PROVML_SINK_PORT: '9003' };
    expect(resolveServiceConfig({}, env, undefined, 'sink').http.port).toBe(9003);
    expect(resolveServiceConfig({}, env, undefined, 'processor').http.port).toBe(9000);
    expect(resolveServiceConfig({ http: { port: 9100 } }, env, undefined, 'sink').http.port).toBe(9100);
    expect(resolveServiceConfig({}, { PROVML_QUERY_PORT: '8080' }, undefined, 'query-api').http.port).toBe(
      8080,
    );
    expect(resolveServiceConfig({}, { PROVML_INGEST_PORT: '8081' }, undefined, 'agent').http.port).toBe(8081);
  });
});

describe('service configuration, topic replication', () => {
  it('defaults to the broker’s replication factor and min.insync.replicas, takes both from env or file, and refuses 0', () => {
    const defaults = kafkaLogOptions(resolveServiceConfig({}, {}), silentLogger);
    expect([defaults.replicationFactor, defaults.minInsyncReplicas]).toEqual([-1, undefined]);
    const three = kafkaLogOptions(
      resolveServiceConfig({}, { PROVML_REPLICATION_FACTOR: '3', PROVML_MIN_INSYNC_REPLICAS: '2' }),
      silentLogger,
    );
    expect([three.replicationFactor, three.minInsyncReplicas]).toEqual([3, 2]);
    expect(resolveServiceConfig({ topics: { replicationFactor: -1 } }, {}).topics.replicationFactor).toBe(-1);
    expect(() => resolveServiceConfig({}, { PROVML_REPLICATION_FACTOR: '0' })).toThrow(
      /invalid configuration/,
    );
  });
});
