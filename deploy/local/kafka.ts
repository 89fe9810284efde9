/**
 * The local single-node Kafka 4.x (KRaft, combined broker/controller) for development and CI, as a
 * plain Java process: jars resolved from Maven Central by `mvn`, data in `.data/stack/kafka`.
 * CLI: `npx tsx deploy/local/kafka.ts up|down|status`.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isPortOpen, isRunning, startProcess, stopProcess, waitUntil, withLock } from './processes.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CACHE = join(ROOT, '.cache/stack/kafka');
const LIB = join(CACHE, 'lib');
const RUN = join(ROOT, '.cache/stack/run');

/** Files of one broker instance: the default one, or a named one of its own (tests that stop a broker). */
function files(instance?: string): { run: string; data: string; pid: string; log: string } {
  const run = instance === undefined ? RUN : join(RUN, `kafka-${instance}`);
  return {
    run,
    data: join(ROOT, instance === undefined ? '.data/stack/kafka' : `.data/stack/kafka-${instance}`),
    pid: join(run, 'kafka.pid'),
    log: join(run, 'kafka.log'),
  };
}
const { pid: PID, log: LOG } = files();

/** Where the broker listens. */
export interface KafkaEndpoint {
  /** `host:port` of the PLAINTEXT listener. */
  bootstrap: string;
}

/** Ports of the local broker (defaults 19092 and 19093). */
export interface KafkaPorts {
  port?: number;
  controllerPort?: number;
  /**
   * A broker of its own, with its own data, pid and log files (e.g. a test that stops and restarts
   * it without touching the shared one). Default: the shared local broker.
   */
  instance?: string;
  /** One node of a multi-node KRaft cluster (kafkaCluster.ts); default a single combined node. */
  node?: ClusterNode;
  /**
   * Listeners with client authentication besides the PLAINTEXT one (a broker of its own: tests of
   * SASL and TLS clients). The users and their SCRAM credentials are written when the storage is
   * formatted, so give a fresh `instance` (or remove it with `removeKafkaInstance`).
   */
  security?: KafkaSecurity;
  /** Heap of the JVM, e.g. `256m` (default 768m, or the cluster node's). */
  heap?: string;
}

/** Extra listeners of a broker that authenticate clients (`KafkaPorts.security`). */
export interface KafkaSecurity {
  /** Users and passwords (letters, digits, `-`, `_`), for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 alike. */
  users: Readonly<Record<string, string>>;
  /** Port of a SASL_PLAINTEXT listener on 127.0.0.1 (mechanisms PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). */
  saslPort?: number;
  /**
   * A SASL_SSL listener on 127.0.0.1 (the same mechanisms over TLS), its certificate chain and
   * unencrypted PKCS#8 private key in one PEM file (`ssl.keystore.type=PEM`), e.g. made with openssl.
   */
  saslSsl?: { port: number; keystorePem: string };
}

/** A node's place in a multi-node cluster: every node is broker and controller. */
export interface ClusterNode {
  /** `node.id`, 1 to the cluster's size. */
  id: number;
  /** `controller.quorum.voters`: `id@127.0.0.1:controllerPort` of every node, comma-separated. */
  voters: string;
  /** Nodes in the cluster: the internal topics' replication, and the default one of new topics. */
  size: number;
  /** The cluster id every node's storage is formatted with. */
  clusterId: string;
  /** Heap of the node's JVM, e.g. `384m`. */
  heap: string;
}

/** Whether a broker accepts connections on the port (default 19092). */
export const kafkaReachable = (port = 19092): Promise<boolean> => isPortOpen(port);

/** Fetches the broker's jars (once) with Maven into `.cache/stack/kafka/lib`. */
export function fetchKafka(): void {
  if (existsSync(LIB) && readdirSync(LIB).some((f) => f.startsWith('kafka_2.13-'))) return;
  mkdirSync(CACHE, { recursive: true });
  const pom = join(ROOT, 'deploy/local/maven/kafka/pom.xml');
  const mvn = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      pom,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${LIB}`,
      '-DincludeScope=runtime',
    ],
    { encoding: 'utf8' },
  );
  if (mvn.error !== undefined || mvn.status !== 0)
    throw new Error(
      `could not fetch Kafka with Maven (is mvn installed and Maven Central reachable?): ${mvn.error?.message ?? ''}${mvn.stdout}${mvn.stderr}`,
    );
}

function java(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('java', ['-cp', `${LIB}/*`, ...args], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** `,SASL_PLAINTEXT://…,SASL_SSL://…` of the listeners that authenticate clients. */
function securedListeners(security?: KafkaSecurity): string {
  return [
    ...(security?.saslPort === undefined ? [] : [`SASL_PLAINTEXT://127.0.0.1:${security.saslPort}`]),
    ...(security?.saslSsl === undefined ? [] : [`SASL_SSL://127.0.0.1:${security.saslSsl.port}`]),
  ]
    .map((l) => `,${l}`)
    .join('');
}

/** The SASL mechanisms of the secured listeners, their JAAS settings, and the TLS keystore. */
function securityProperties(security?: KafkaSecurity): string[] {
  if (security === undefined) return [];
  const quote = (v: string): string => JSON.stringify(v).replaceAll('\\', '\\\\'); // JAAS string, then .properties escaping
  const plainUsers = Object.entries(security.users)
    .map(([user, password]) => `user_${user}=${quote(password)}`)
    .join(' ');
  const names = [
    ...(security.saslPort === undefined ? [] : ['sasl_plaintext']),
    ...(security.saslSsl === undefined ? [] : ['sasl_ssl']),
  ];
  return [
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    ...names.flatMap((n) => [
      `listener.name.${n}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`,
      `listener.name.${n}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
      `listener.name.${n}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    ]),
    ...(security.saslSsl === undefined
      ? []
      : [
          'listener.name.sasl_ssl.ssl.keystore.type=PEM',
          `listener.name.sasl_ssl.ssl.keystore.location=${security.saslSsl.keystorePem}`,
        ]),
  ];
}

/** `--add-scram` arguments of the storage format: every user with SCRAM-SHA-256 and SCRAM-SHA-512. */
function scramUsers(security?: KafkaSecurity): string[] {
  return Object.entries(security?.users ?? {}).flatMap(([name, password]) =>
    ['SCRAM-SHA-256', 'SCRAM-SHA-512'].flatMap((m) => [
      '--add-scram',
      `${m}=[name=${name},password=${password}]`,
    ]),
  );
}

function writeConfig(
  port: number,
  controllerPort: number,
  run: string,
  data: string,
  node?: ClusterNode,
  security?: KafkaSecurity,
): string {
  mkdirSync(run, { recursive: true });
  const props = join(run, 'kafka.properties');
  // on several nodes: the internal topics on all of them, and a write (acks=all) needs two copies
  const replicas = String(node?.size ?? 1);
  const minIsr = String(node === undefined ? 1 : Math.min(2, node.size));
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      `node.id=${node?.id ?? 1}`,
      `controller.quorum.voters=${node?.voters ?? `1@127.0.0.1:${controllerPort}`}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${securedListeners(security)}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}${securedListeners(security)}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      `listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${security === undefined ? '' : ',SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL'}`,
      ...securityProperties(security),
      `log.dirs=${data}`,
      'num.partitions=4',
      `offsets.topic.replication.factor=${replicas}`,
      'offsets.topic.num.partitions=8',
      `transaction.state.log.replication.factor=${replicas}`,
      `transaction.state.log.min.isr=${minIsr}`,
      'transaction.state.log.num.partitions=8',
      `share.coordinator.state.topic.replication.factor=${replicas}`,
      `share.coordinator.state.topic.min.isr=${minIsr}`,
      ...(node === undefined
        ? []
        : [
            `default.replication.factor=${replicas}`,
            `min.insync.replicas=${minIsr}`,
            // a broker that stops answering is fenced (its partitions led elsewhere) after 4 s, not 9
            'broker.session.timeout.ms=4000',
            'broker.heartbeat.interval.ms=1000',
          ]),
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      'log.retention.hours=24',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(run, 'kafka-log4j2.properties'),
    [
      'status = warn',
      'appender.out.type = Console',
      'appender.out.name = OUT',
      'appender.out.layout.type = PatternLayout',
      'appender.out.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = warn',
      'rootLogger.appenderRef.out.ref = OUT',
      'logger.started.name = kafka.server.KafkaRaftServer',
      'logger.started.level = info',
      '',
    ].join('\n'),
  );
  return props;
}

/**
 * Starts the broker's process unless it already runs, without waiting for it (the nodes of a
 * cluster start together: none finishes starting before a quorum of controllers is up).
 */
export async function launchKafka(ports: KafkaPorts = {}): Promise<void> {
  const port = ports.port ?? 19092;
  const controllerPort = ports.controllerPort ?? 19093;
  const { run, data, pid, log } = files(ports.instance);
  if (isRunning(pid) !== undefined) return;
  fetchKafka();
  const props = writeConfig(port, controllerPort, run, data, ports.node, ports.security);
  if (!existsSync(join(data, 'meta.properties'))) {
    mkdirSync(data, { recursive: true });
    const clusterId = ports.node?.clusterId ?? randomUUID().replaceAll('-', '').slice(0, 22);
    const format = java([
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      props,
      ...scramUsers(ports.security),
    ]);
    if (format.status !== 0) throw new Error(`formatting Kafka storage failed: ${format.output}`);
  }
  const heap = ports.heap ?? ports.node?.heap;
  await startProcess({
    command: 'java',
    args: [
      heap === undefined ? '-Xms256m' : '-Xms128m',
      `-Xmx${heap ?? '768m'}`,
      '-XX:+UseG1GC',
      `-Dlog4j2.configurationFile=${join(run, 'kafka-log4j2.properties')}`,
      '-cp',
      `${LIB}/*`,
      'kafka.Kafka',
      props,
    ],
    pidFile: pid,
    logFile: log,
  });
}

/** Waits until the broker launched by `launchKafka` has started and accepts connections. */
export async function waitForKafka(ports: KafkaPorts = {}): Promise<KafkaEndpoint> {
  const port = ports.port ?? 19092;
  const bootstrap = `127.0.0.1:${port}`;
  const { pid, log } = files(ports.instance);
  // the log is appended to across restarts: look only after the latest start's header line
  await waitUntil(
    async () => {
      const text = readFileSync(log, 'utf8');
      const since = text.slice(text.lastIndexOf('--- '));
      return (await isPortOpen(port)) && since.includes('Kafka Server started') ? true : 'not started yet';
    },
    `Kafka on ${bootstrap}`,
    { pidFile: pid, logFile: log, timeoutMs: 90_000, intervalMs: 250 },
  );
  return { bootstrap };
}

/**
 * Starts the broker unless it already runs, and waits until it accepts connections.
 * Idempotent; throws with the tail of the broker's log when it does not come up.
 */
export async function ensureKafka(ports: KafkaPorts = {}): Promise<KafkaEndpoint> {
  const port = ports.port ?? 19092;
  const bootstrap = `127.0.0.1:${port}`;
  if (await isPortOpen(port)) return { bootstrap }; // ours, or a broker started some other way
  return withLock(join(files(ports.instance).run, 'kafka.lock'), async () => {
    await launchKafka(ports);
    return waitForKafka(ports);
  });
}

/** Stops the broker started by `ensureKafka` (SIGTERM, then SIGKILL); leaves nothing running. */
export async function stopKafka(instance?: string): Promise<void> {
  await stopProcess(files(instance).pid, { graceMs: 30_000 });
}

/** Stops a broker of its own (`KafkaPorts.instance`) and removes its data, pid and log files. */
export async function removeKafkaInstance(instance: string): Promise<void> {
  await stopKafka(instance);
  const { run, data } = files(instance);
  rmSync(data, { recursive: true, force: true });
  rmSync(run, { recursive: true, force: true });
}

/** Kills the broker at once (fault injection), without a clean shutdown. */
export function killKafka(instance?: string): void {
  signalKafka(instance, 'SIGKILL');
}

/** Sends a signal to the broker's process group (SIGKILL, or SIGSTOP and SIGCONT to freeze and thaw it). */
export function signalKafka(instance: string | undefined, signal: NodeJS.Signals): void {
  const pid = isRunning(files(instance).pid);
  if (pid !== undefined) process.kill(-pid, signal);
}

async function main(command: string | undefined): Promise<void> {
  const port =
    process.env.PROVML_KAFKA_PORT === undefined ? undefined : Number(process.env.PROVML_KAFKA_PORT);
  if (command === 'up') {
    const started = performance.now();
    const { bootstrap } = await ensureKafka({ port });
    process.stdout.write(
      `kafka   ${bootstrap}   (ready after ${((performance.now() - started) / 1000).toFixed(1)} s; log ${LOG})\n`,
    );
  } else if (command === 'down') {
    await stopKafka();
    process.stdout.write('kafka   stopped\n');
  } else if (command === 'status') {
    const pid = isRunning(PID);
    process.stdout.write(pid === undefined ? 'kafka   not running\n' : `kafka   running (pid ${pid})\n`);
  } else {
    process.stderr.write('usage: tsx deploy/local/kafka.ts up|down|status\n');
    process.exitCode = 2;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename))
  main(process.argv[2]).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
