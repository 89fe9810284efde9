/**
 * Vitest global setup: makes the real servers the integration tests need available (starting them
 * from the project's own packages, or reusing ones already running) and stops what it started.
 * When a server cannot be had, tests that need it skip with the reason — except under CI=true,
 * where this setup fails instead.
 */
import type { TestProject } from 'vitest/node';
import { ensureKafka, kafkaReachable, stopKafka } from './kafka.ts';
import { ccompatUrl, ensureRegistry, stopRegistry } from './registry.ts';

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

/** Starts Kafka for the run unless one is already there; returns the teardown. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const ci = process.env.CI === 'true';
  let startedKafka = false;
  try {
    const wasRunning = await kafkaReachable();
    const { bootstrap } = await ensureKafka();
    startedKafka = !wasRunning;
    project.provide('kafkaBootstrap', bootstrap);
    project.provide('kafkaUnavailable', '');
  } catch (error) {
    const reason = `Kafka could not be started: ${(error as Error).message}`;
    if (ci) throw new Error(`${reason} (CI=true: integration tests may not be skipped)`);
    project.provide('kafkaBootstrap', '');
    project.provide('kafkaUnavailable', reason);
  }
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
    if (startedRegistry) await stopRegistry();
  };
}
