/**
 * The local single-node Kafka 4.x (KRaft, combined broker/controller) for development and CI, as a
 * plain Java process: jars resolved from Maven Central by `mvn`, data in `.data/stack/kafka`.
 * CLI: `npx tsx deploy/local/kafka.ts up|down|status`.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isPortOpen, isRunning, startProcess, stopProcess, waitUntil, withLock } from './processes.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CACHE = join(ROOT, '.cache/stack/kafka');
const LIB = join(CACHE, 'lib');
const RUN = join(ROOT, '.cache/stack/run');
const DATA = join(ROOT, '.data/stack/kafka');
const PID = join(RUN, 'kafka.pid');
const LOG = join(RUN, 'kafka.log');

/** Where the broker listens. */
export interface KafkaEndpoint {
  /** `host:port` of the PLAINTEXT listener. */
  bootstrap: string;
}

/** Ports of the local broker (defaults 19092 and 19093). */
export interface KafkaPorts {
  port?: number;
  controllerPort?: number;
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

function writeConfig(port: number, controllerPort: number): string {
  mkdirSync(RUN, { recursive: true });
  const props = join(RUN, 'kafka.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      `log.dirs=${DATA}`,
      'num.partitions=4',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=8',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=8',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      'log.retention.hours=24',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(RUN, 'kafka-log4j2.properties'),
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
 * Starts the broker unless it already runs, and waits until it accepts connections.
 * Idempotent; throws with the tail of the broker's log when it does not come up.
 */
export async function ensureKafka(ports: KafkaPorts = {}): Promise<KafkaEndpoint> {
  const port = ports.port ?? 19092;
  const controllerPort = ports.controllerPort ?? 19093;
  const bootstrap = `127.0.0.1:${port}`;
  if (await isPortOpen(port)) return { bootstrap }; // ours, or a broker started some other way
  return withLock(join(RUN, 'kafka.lock'), async () => {
    if (isRunning(PID) === undefined) {
      fetchKafka();
      const props = writeConfig(port, controllerPort);
      if (!existsSync(join(DATA, 'meta.properties'))) {
        mkdirSync(DATA, { recursive: true });
        const clusterId = randomUUID().replaceAll('-', '').slice(0, 22);
        const format = java(['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props]);
        if (format.status !== 0) throw new Error(`formatting Kafka storage failed: ${format.output}`);
      }
      await startProcess({
        command: 'java',
        args: [
          '-Xms256m',
          '-Xmx768m',
          '-XX:+UseG1GC',
          `-Dlog4j2.configurationFile=${join(RUN, 'kafka-log4j2.properties')}`,
          '-cp',
          `${LIB}/*`,
          'kafka.Kafka',
          props,
        ],
        pidFile: PID,
        logFile: LOG,
      });
    }
    await waitUntil(
      async () =>
        (await isPortOpen(port)) && readFileSync(LOG, 'utf8').includes('Kafka Server started')
          ? true
          : 'not started yet',
      `Kafka on ${bootstrap}`,
      { pidFile: PID, logFile: LOG, timeoutMs: 90_000, intervalMs: 250 },
    );
    return { bootstrap };
  });
}

/** Stops the broker started by `ensureKafka` (SIGTERM, then SIGKILL); leaves nothing running. */
export async function stopKafka(): Promise<void> {
  await stopProcess(PID, { graceMs: 30_000 });
}

/** Kills the broker at once (fault injection), without a clean shutdown. */
export function killKafka(): void {
  const pid = isRunning(PID);
  if (pid !== undefined) process.kill(-pid, 'SIGKILL');
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
