/**
 * The whole local stack for development and CI, as plain processes from packages the project
 * fetches itself: Kafka 4.1 (KRaft), Apicurio Registry, RDF4J Server and the Oxigraph server.
 * CLI: `npm run stack:up`, `npm run stack:down`, `npx tsx deploy/local/stack.ts status`.
 * `npm run stack:up -- --brokers 3`: a three-node Kafka cluster (kafkaCluster.ts) on 19092, 19094 and
 * 19096 instead of the single broker; topics then get 3 replicas and min.insync.replicas=2.
 */
import { resolve } from 'node:path';
import { ensureKafka, kafkaReachable, stopKafka } from './kafka.ts';
import { ensureKafkaCluster, stopKafkaCluster } from './kafkaCluster.ts';
import { ensureRegistry, stopRegistry } from './registry.ts';
import { ensureOxigraph, ensureRdf4j, stopStores, storeStatus } from './stores.ts';

/** `--brokers N` of `up`: Kafka nodes, 1 (the single broker) unless given. */
function brokersOption(): number {
  const at = process.argv.indexOf('--brokers');
  const n = at < 0 ? 1 : Number(process.argv[at + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error('--brokers needs a whole number of brokers, 1 or more');
  return n;
}

async function up(): Promise<void> {
  const brokers = brokersOption();
  const steps: [string, () => Promise<string>][] = [
    [
      'kafka',
      async () =>
        brokers === 1 ? (await ensureKafka()).bootstrap : (await ensureKafkaCluster({ brokers })).bootstrap,
    ],
    ['registry', async () => (await ensureRegistry()).url],
    ['rdf4j', async () => (await ensureRdf4j()).url],
    ['oxigraph', async () => (await ensureOxigraph()).url],
  ];
  for (const [name, start] of steps) {
    const started = performance.now();
    const where = await start();
    process.stdout.write(
      `${name.padEnd(9)} ${where}   (ready after ${((performance.now() - started) / 1000).toFixed(1)} s)\n`,
    );
  }
}

async function down(): Promise<void> {
  await stopStores();
  await stopRegistry();
  await stopKafka();
  await stopKafkaCluster(); // a three-node cluster of `up --brokers 3`, if one runs
  process.stdout.write('stack stopped\n');
}

async function status(): Promise<void> {
  process.stdout.write(
    `kafka     ${(await kafkaReachable()) ? 'reachable on 127.0.0.1:19092' : 'not running'}\n`,
  );
  for (const s of await storeStatus()) process.stdout.write(`${JSON.stringify(s)}\n`);
}

const commands: Record<string, () => Promise<void>> = { up, down, status };
if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const run = commands[process.argv[2] ?? ''];
  if (run === undefined) {
    process.stderr.write('usage: tsx deploy/local/stack.ts up|down|status\n');
    process.exitCode = 2;
  } else
    run().catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
