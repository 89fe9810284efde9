/**
 * Vitest global setup: makes the real servers the integration tests need available (starting them
 * from the project's own packages, or reusing ones already running) and stops what it started.
 * When a server cannot be had, tests that need it skip with the reason — except under CI=true,
 * where this setup fails instead.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureKafka, kafkaReachable, stopKafka } from './kafka.ts';
import { ccompatUrl, ensureRegistry, stopRegistry } from './registry.ts';
import { stopStores, storeStatus } from './stores.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `host:port` of the Kafka broker, or '' when unavailable. */
    kafkaBootstrap: string;
    /** Why Kafka is unavailable ('' when it is). */
    kafkaUnavailable: string;
    /** Confluent-compatible API of the schema registry, or '' when unavailable. */
    registryUrl: string;
    /** Why the registry is unavailable ('' when it is). */
    registryUnavailable: string;
  }
}

/** Whether a container engine may be there (checked cheaply before asking Testcontainers). */
const mayHaveContainerEngine = (): boolean =>
  process.env.DOCKER_HOST !== undefined ||
  existsSync('/var/run/docker.sock') ||
  existsSync(join(homedir(), '.docker/run/docker.sock')) ||
  existsSync(join(homedir(), '.testcontainers.properties'));

/**
 * Kafka from Testcontainers (Confluent's cp-kafka 8.0 image: Kafka 4.0, KRaft) where a container
 * engine answers; undefined where none does, or when PROVML_TEST_KAFKA=process asks for the
 * process-based broker.
 */
async function containerKafka(): Promise<{ bootstrap: string; stop: () => Promise<void> } | undefined> {
  if (process.env.PROVML_TEST_KAFKA === 'process' || !mayHaveContainerEngine()) return undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
  } catch {
    return undefined;
  }
  const { KafkaContainer } = await import('@testcontainers/kafka');
  const container = await new KafkaContainer('confluentinc/cp-kafka:8.0.0').withKraft().start();
  return {
    bootstrap: `${container.getHost()}:${container.getMappedPort(9093)}`,
    stop: async () => void (await container.stop()),
  };
}

/** Starts Kafka for the run unless one is already there; returns the teardown. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const ci = process.env.CI === 'true';
  let startedKafka = false;
  let stopContainer: (() => Promise<void>) | undefined;
  try {
    const container = await containerKafka();
    let bootstrap: string;
    if (container !== undefined) {
      bootstrap = container.bootstrap;
      stopContainer = container.stop;
      process.stdout.write(`kafka: Testcontainers (cp-kafka 8.0) at ${bootstrap}\n`);
    } else {
      const wasRunning = await kafkaReachable();
      bootstrap = (await ensureKafka()).bootstrap;
      startedKafka = !wasRunning;
      process.stdout.write(
        `kafka: local process-based broker at ${bootstrap}${wasRunning ? ' (already running)' : ''}\n`,
      );
    }
    project.provide('kafkaBootstrap', bootstrap);
    project.provide('kafkaUnavailable', '');
  } catch (error) {
    const reason = `Kafka could not be started: ${(error as Error).message}`;
    if (ci) throw new Error(`${reason} (CI=true: integration tests may not be skipped)`);
    project.provide('kafkaBootstrap', '');
    project.provide('kafkaUnavailable', reason);
  }
  // the default store servers (RDF4J 18080, Oxigraph 17878) are started on demand by tests that need
  // them (e.g. the README's `npm run stack:up`); those this run started are stopped at its end
  const storesBefore = new Set(
    (await storeStatus()).filter((s) => s.pid !== undefined).map((s) => s.instance),
  );
  let startedRegistry = false;
  try {
    const probe = await fetch(`${ccompatUrl(18081)}/subjects`).catch(() => undefined);
    const { url } = await ensureRegistry(18081);
    startedRegistry = probe?.ok !== true;
    project.provide('registryUrl', url);
    project.provide('registryUnavailable', '');
  } catch (error) {
    const reason = `the schema registry could not be started: ${(error as Error).message}`;
    if (ci) throw new Error(`${reason} (CI=true: integration tests may not be skipped)`);
    project.provide('registryUrl', '');
    project.provide('registryUnavailable', reason);
  }
  return async () => {
    if (process.env.PROVML_KEEP_STACK === '1') return;
    if (startedKafka) await stopKafka();
    if (stopContainer !== undefined) await stopContainer();
    if (startedRegistry) await stopRegistry();
    const startedStores = (await storeStatus())
      .filter((s) => s.pid !== undefined && !storesBefore.has(s.instance))
      .map((s) => s.instance);
    if (startedStores.length > 0) await stopStores(startedStores);
  };
}
