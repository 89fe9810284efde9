/**
 * The whole local stack for development and CI, as plain processes from packages the project
 * fetches itself: Kafka 4.1 (KRaft), Apicurio Registry, RDF4J Server and the Oxigraph server; with
 * `--services`, the pipeline too (a processor, a sink, the query API and an agent: services.ts).
 * CLI: `npm run stack:up [-- --services]`, `npm run stack:status`, `npm run stack:down [-- --keep-servers]`;
 * `--dir DIR` (or PROVML_STACK_DIR) holds the services' pid files and logs.
 * `npm run stack:up -- --brokers 3`: a three-node Kafka cluster (kafkaCluster.ts) on 19092, 19094 and
 * 19096 instead of the single broker; topics then get 3 replicas and min.insync.replicas=2.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureKafka, kafkaReachable, stopKafka } from './kafka.ts';
import { ensureKafkaCluster, stopKafkaCluster } from './kafkaCluster.ts';
import { ccompatUrl, ensureRegistry, stopRegistry } from './registry.ts';
import { startServices, servicesStatus, stopServices, type ServiceState } from './services.ts';
import { ensureOxigraph, ensureRdf4j, stopStores, storeStatus } from './stores.ts';

/** The options of every command. */
interface StackOptions {
  services: boolean;
  keepServers: boolean;
  /** Kafka nodes of `up`: 1 (the single broker) unless `--brokers N`. */
  brokers: number;
  dir?: string;
}

/** Rows as aligned columns. */
function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

const serviceRows = (states: readonly ServiceState[]): string[][] =>
  states.map((s) => [
    s.name,
    s.url,
    s.pid === undefined ? 'not running' : s.healthy ? `healthy (pid ${s.pid})` : `NOT healthy (pid ${s.pid})`,
    s.backlog ?? '',
    s.log,
  ]);

async function up(options: StackOptions): Promise<void> {
  const steps: [string, () => Promise<string>][] = [
    [
      'kafka',
      async () =>
        options.brokers === 1
          ? (await ensureKafka()).bootstrap
          : (await ensureKafkaCluster({ brokers: options.brokers })).bootstrap,
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
  if (!options.services) return;
  const started = performance.now();
  const states = await startServices({ dir: options.dir });
  process.stdout.write(
    `\nservices ready after ${((performance.now() - started) / 1000).toFixed(1)} s\n` +
      table([['service', 'url', 'state', 'backlog', 'log'], ...serviceRows(states)]) +
      'npm run stack:status shows them again; npm run stack:down stops them and the servers.\n',
  );
}

async function down(options: StackOptions): Promise<void> {
  const stopped = await stopServices({ dir: options.dir });
  if (stopped.length > 0) process.stdout.write(`services stopped: ${stopped.join(', ')}\n`);
  if (options.keepServers) return;
  await stopStores();
  await stopRegistry();
  await stopKafka();
  await stopKafkaCluster(); // a three-node cluster of `up --brokers 3`, if one runs
  process.stdout.write('stack stopped\n');
}

async function status(options: StackOptions): Promise<void> {
  const kafka = (await kafkaReachable()) ? 'reachable' : 'not running';
  const registryUrl = ccompatUrl(18081);
  const registry = await fetch(`${registryUrl}/subjects`, { signal: AbortSignal.timeout(2000) })
    .then((r) => (r.ok ? 'healthy' : `NOT healthy (HTTP ${r.status})`))
    .catch(() => 'not running');
  const rows = [
    ['server', 'url', 'state'],
    ['kafka', '127.0.0.1:19092', kafka],
    ['registry', registryUrl, registry],
  ];
  for (const s of await storeStatus())
    rows.push([
      s.instance,
      s.url ?? '',
      s.pid === undefined
        ? 'not running'
        : s.healthy
          ? `healthy (pid ${s.pid})`
          : `NOT healthy (pid ${s.pid})`,
    ]);
  process.stdout.write(table(rows));
  process.stdout.write(
    '\n' +
      table([
        ['service', 'url', 'state', 'backlog', 'log'],
        ...serviceRows(await servicesStatus({ dir: options.dir })),
      ]),
  );
}

const commands: Record<string, (options: StackOptions) => Promise<void>> = { up, down, status };
if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const [command, ...rest] = process.argv.slice(2);
  const run = commands[command ?? ''];
  let options: StackOptions | undefined;
  try {
    const { values } = parseArgs({
      args: rest,
      options: {
        services: { type: 'boolean', default: false },
        'keep-servers': { type: 'boolean', default: false },
        dir: { type: 'string' },
        brokers: { type: 'string', default: '1' },
      },
      strict: true,
    });
    const brokers = Number(values.brokers);
    if (!Number.isInteger(brokers) || brokers < 1)
      throw new Error('--brokers needs a whole number of brokers, 1 or more');
    options = {
      services: values.services,
      brokers,
      keepServers: values['keep-servers'],
      dir: values.dir ?? (process.env.PROVML_STACK_DIR || undefined),
    };
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
  }
  if (run === undefined || options === undefined) {
    process.stderr.write(
      'usage: tsx deploy/local/stack.ts up [--services] [--brokers N] | down [--keep-servers] | status   [--dir DIR]\n',
    );
    process.exitCode = 2;
  } else
    run(options).catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
