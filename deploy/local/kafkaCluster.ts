/**
 * A local multi-node Kafka 4.x cluster (KRaft, every node broker and controller) as plain processes,
 * each node on its own ports with its own data, pid and log files (kafka.ts); topics it creates by
 * default have one replica per node and `min.insync.replicas=2`. For `npm run stack:up -- --brokers 3`
 * and the cluster fault tests (app/test/cluster/).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { launchKafka, signalKafka, stopKafka, waitForKafka, type KafkaPorts } from './kafka.ts';
import { isPortOpen, withLock } from './processes.ts';

const RUN = join(resolve(import.meta.dirname, '../..'), '.cache/stack/run');

/** Where a cluster listens and how big it is. */
export interface ClusterOptions {
  /** Nodes (brokers), default 3. */
  brokers?: number;
  /**
   * Node i (1-based) listens on `basePort + 2(i-1)` and its controller on the port above:
   * default 19092 (19092/19093, 19094/19095, 19096/19097: node 1 where the single broker would be).
   */
  basePort?: number;
  /** Name of the cluster: its nodes' instances are `<name>-<i>`. Default `cluster`. */
  name?: string;
  /** Heap of each node's JVM. Default `384m` (three of them share a small machine). */
  heap?: string;
}

/** A running cluster: its bootstrap list, and each node's ports (to restart or signal one). */
export interface KafkaCluster {
  /** `host:port` of every node, comma-separated. */
  bootstrap: string;
  brokers: string[];
  /** Each node's settings for kafka.ts (`ensureKafka(node)` restarts a stopped one), by node id. */
  nodes: Map<number, KafkaPorts & { instance: string }>;
}

/** The nodes of a cluster as kafka.ts instances. */
export function clusterNodes(options: ClusterOptions = {}): KafkaCluster {
  const size = options.brokers ?? 3;
  const base = options.basePort ?? 19092;
  const name = options.name ?? 'cluster';
  const ids = Array.from({ length: size }, (_, i) => i + 1);
  const voters = ids.map((id) => `${id}@127.0.0.1:${base + 2 * (id - 1) + 1}`).join(',');
  const idFile = join(RUN, `kafka-${name}.cluster-id`);
  if (!existsSync(idFile)) {
    mkdirSync(RUN, { recursive: true });
    writeFileSync(idFile, randomUUID().replaceAll('-', '').slice(0, 22));
  }
  const clusterId = readFileSync(idFile, 'utf8').trim();
  const nodes = new Map(
    ids.map((id) => [
      id,
      {
        port: base + 2 * (id - 1),
        controllerPort: base + 2 * (id - 1) + 1,
        instance: `${name}-${id}`,
        node: { id, voters, size, clusterId, heap: options.heap ?? '384m' },
      },
    ]),
  );
  const brokers = [...nodes.values()].map((n) => `127.0.0.1:${n.port}`);
  return { bootstrap: brokers.join(','), brokers, nodes };
}

/**
 * Starts every node that does not run (all at once: a node finishes starting only once a quorum of
 * controllers is up) and waits until each accepts connections. Idempotent.
 */
export async function ensureKafkaCluster(options: ClusterOptions = {}): Promise<KafkaCluster> {
  const cluster = clusterNodes(options);
  const nodes = [...cluster.nodes.values()];
  if ((await Promise.all(nodes.map((n) => isPortOpen(n.port!)))).every(Boolean)) return cluster;
  return withLock(join(RUN, `kafka-${options.name ?? 'cluster'}.lock`), async () => {
    for (const n of nodes) await launchKafka(n);
    await Promise.all(nodes.map((n) => waitForKafka(n)));
    return cluster;
  });
}

/** Stops every node of the cluster (SIGTERM, then SIGKILL). */
export async function stopKafkaCluster(options: ClusterOptions = {}): Promise<void> {
  await Promise.all([...clusterNodes(options).nodes.values()].map((n) => stopKafka(n.instance)));
}

/** Sends a signal to one node (SIGKILL; SIGSTOP and SIGCONT to freeze and thaw it). */
export function signalNode(cluster: KafkaCluster, id: number, signal: NodeJS.Signals): void {
  signalKafka(cluster.nodes.get(id)!.instance, signal);
}
