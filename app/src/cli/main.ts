/** The `provml` command: `provml embedded` (the default) runs the whole system in one process. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createJsonLogger } from '@provml/schemas';
import { formatProgress, formatSummary, replaySpool } from '@provml/agent';
import {
  resolveServiceConfig,
  type RunningService,
  exitWithError,
  onSignals,
  portAdvice,
  requireBroker,
  runningLine,
  serviceConfigFromArgs,
  type ServiceName,
} from '@provml/service';

const USAGE = `usage: provml [embedded|demo] [--no-demo] [--seed N] [--output-dir DIR] [--data-dir DIR | --in-memory]
              [--host H] [--query-port N] [--ingest-port N] [--iri-base IRI] [--partitions N] [--log-level L]
              [--query-timeout-ms N] [--max-result-rows N] [--max-result-bytes N] [--query-workers N]
              [--allow-service] [--incomplete-after-ms N]
       provml processor|sink|query-api|agent [--config FILE] [--kafka HOST:PORT,...] [--topic-prefix P]
              [--instance-id ID] [--data-dir DIR] [--store rdf4j|sparql|oxigraph-embedded] [--store-url URL] [--repository ID]
              [--host H] [--port N] [--log-level L]
              processor only: [--triples-encoding deflate|nquads]
              agent only: [--spool DIR] [--socket PATH] [--fsync batch|interval|never] [--max-bytes N]
              [--policy reject|drop-oldest] [--offline]
       provml replay DIR [--config FILE] [--kafka HOST:PORT,...] [--topic-prefix P] [--log-level L]
              [--http URL [--token T]] [--max-wait-s N]

  embedded   the whole system in one process: ingest, in-process log, processor, sink,
             embedded Oxigraph store and the query API (default); runs the O&G lifecycle
             demo into it first and prints the answers to Q1–Q6, unless --no-demo
  demo       the same demo, then exit (for scripts)

Distributed mode (Kafka; start a local broker with npm run stack:up, or everything with
npm run stack:up -- --services); each service on a port of its own (--port N):
  processor  maps capture events to PROV-ML quads (consumer group, Kafka transactions);
             /healthz and /metrics on 7072 (PROVML_PROCESSOR_PORT)
  sink       loads quads into the store, committing after the store acknowledged; 7073 (PROVML_SINK_PORT)
  query-api  SPARQL endpoint, health and metrics over the store; 7070 (PROVML_QUERY_PORT)
  agent      the sidecar: a Unix socket (<spool>/agent.sock) and the HTTP ingest (/v1/events,
             /v1/workflows, /v1/annotations) into a durable spool, published to Kafka (not --offline);
             7071 (PROVML_INGEST_PORT)
  replay     publishes a spool (written offline) to Kafka, or with --http URL to an HTTP ingest,
             skipping what was already published; gives up (exit 1) when a send keeps failing
             for --max-wait-s (default 60)
  dlq        list|replay dead letters (provml dlq --help)
  export     the provenance of one execution, one workflow or everything, from the store, as
             TriG, N-Quads, PROV-N or PROV-JSON (provml export --help)
  spec init  drafts a spec from a training script's first run (provml spec init --help)

  --data-dir DIR    where embedded keeps its log (events, specs, annotations, triples, positions);
                    the store is rebuilt from it on start (default .data/embedded)
  --in-memory       keep nothing: everything is lost when the process stops (demo: always)
  --seed N          seed of the demo's survey, splits and training (default 42)
  --output-dir DIR  where the demo writes its files (default .data/demo)

Environment: PROVML_HOST, PROVML_QUERY_PORT, PROVML_INGEST_PORT, PROVML_IRI_BASE,
PROVML_PARTITIONS, PROVML_LOG_LEVEL, PROVML_DATA_DIR, PROVML_QUERY_WORKERS, PROVML_MAX_RESULT_BYTES,
PROVML_HEAVY_QUERY_MS, PROVML_MAX_HEAVY_QUERIES_PER_CLIENT; distributed: PROVML_KAFKA_BROKERS, PROVML_KAFKA_SSL,
PROVML_KAFKA_SASL_MECHANISM|USERNAME|PASSWORD, PROVML_INSTANCE_ID, PROVML_TOPIC_PREFIX, PROVML_STORE,
PROVML_STORE_URL, PROVML_STORE_REPOSITORY, PROVML_HTTP_HOST, PROVML_HTTP_PORT, PROVML_AGENT_SPOOL,
PROVML_AGENT_SOCKET, PROVML_AGENT_FSYNC, PROVML_AGENT_MAX_BYTES, PROVML_AGENT_POLICY, PROVML_AGENT_OFFLINE,
PROVML_TRIPLES_ENCODING, PROVML_PROCESSOR_CONCURRENCY, PROVML_SINK_MAX_IN_FLIGHT (options win over the
environment, the environment over --config).

Access control (sink, query-api, agent; deploy/README.md): bearer tokens from PROVML_INGEST_TOKEN_FILE,
PROVML_QUERY_TOKEN_FILE, PROVML_ADMIN_TOKEN_FILE (one token per line) or PROVML_INGEST_TOKENS,
PROVML_QUERY_TOKENS, PROVML_ADMIN_TOKENS (comma-separated); PROVML_PROTECT_METRICS=true puts /metrics
behind a token too. Without tokens these services refuse to start unless PROVML_AUTH_DISABLED=true.`;

/** Where `provml embedded` keeps its data unless told otherwise. */
const DEFAULT_DATA_DIR = '.data/embedded';

/** Bytes as the banner prints them. */
function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/**
 * Runs one distributed service until SIGTERM/SIGINT, then flushes and stops it. Each loads only its
 * own modules (the agent neither a store nor the processor).
 */
async function service(name: ServiceName, argv: string[]): Promise<void> {
  const config = serviceConfigFromArgs(argv, name);
  const logger = createJsonLogger(`provml.${name}`, { level: config.logLevel });
  // the agent spools while Kafka is away; the others cannot do without it
  if (name === 'processor' || name === 'sink' || (name === 'query-api' && config.query.live))
    await requireBroker(config.kafka.brokers);
  let running: RunningService;
  if (name === 'agent') {
    const { startAgent } = await import('@provml/agent');
    running = await startAgent(config, logger);
  } else {
    const { openStore, startProcessor, startQueryApi, startSink } = await import('../services/services.ts');
    if (name === 'processor') running = await startProcessor(config, logger);
    else if (name === 'sink') running = await startSink(config, await openStore(config, logger), logger);
    else running = await startQueryApi(config, await openStore(config, logger), logger);
  }
  console.log(runningLine(name, running.url, config));
  onSignals(() => running.shutdown(), logger);
}

/** `provml replay DIR`: publishes a spool with a progress bar (redrawn on a terminal, periodic lines otherwise). */
async function replay(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      kafka: { type: 'string' },
      'topic-prefix': { type: 'string' },
      'log-level': { type: 'string' },
      http: { type: 'string' },
      token: { type: 'string' },
      'max-wait-s': { type: 'string' },
    },
    strict: true,
  });
  const dir = positionals[0];
  if (dir === undefined || positionals.length > 1) {
    console.error(`provml replay: give one spool directory\n\n${USAGE}`);
    process.exit(2);
  }
  const maxWaitS = Number(values['max-wait-s'] ?? 60);
  if (!(maxWaitS >= 0) || !Number.isFinite(maxWaitS)) {
    console.error(`provml replay: --max-wait-s must be a number of seconds, 0 or more\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.token !== undefined && values.http === undefined) {
    console.error(`provml replay: --token goes with --http\n\n${USAGE}`);
    process.exit(2);
  }
  const config = resolveServiceConfig(
    {
      kafka: { brokers: values.kafka?.split(',') },
      topics: { prefix: values['topic-prefix'] },
      logLevel: values['log-level'] ?? 'warn',
    },
    process.env,
    values.config,
  );
  const logger = createJsonLogger('provml.replay', { level: config.logLevel });
  if (values.http === undefined) await requireBroker(config.kafka.brokers);
  const tty = process.stderr.isTTY;
  const summary = await replaySpool(dir, config, logger, {
    http: values.http === undefined ? undefined : { url: values.http, token: values.token },
    maxWaitMs: maxWaitS * 1000,
    onProgress: (p) => process.stderr.write(tty ? `\r${formatProgress(p)}` : `${formatProgress(p, 20)}\n`),
    progressIntervalMs: tty ? 200 : 2000,
  }).finally(() => {
    if (tty) process.stderr.write('\n');
  });
  console.log(formatSummary(summary));
}

async function embedded(argv: string[], mode: 'serve' | 'demo'): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      demo: { type: 'boolean', default: true },
      'no-demo': { type: 'boolean', default: false },
      seed: { type: 'string' },
      'output-dir': { type: 'string' },
      'data-dir': { type: 'string' },
      'in-memory': { type: 'boolean', default: false },
      'query-workers': { type: 'string' },
      'max-result-bytes': { type: 'string' },
      host: { type: 'string' },
      'query-port': { type: 'string' },
      'ingest-port': { type: 'string' },
      'iri-base': { type: 'string' },
      partitions: { type: 'string' },
      'log-level': { type: 'string' },
      'query-timeout-ms': { type: 'string' },
      'max-result-rows': { type: 'string' },
      'allow-service': { type: 'boolean' },
      'incomplete-after-ms': { type: 'string' },
    },
    strict: true,
  });
  const [
    { resolveEmbeddedConfig },
    { EmbeddedStack },
    { resolveDemoConfig, runDemo, answerQueries, formatAnswers },
  ] = await Promise.all([
    import('../embedded/EmbeddedConfig.ts'),
    import('../embedded/EmbeddedStack.ts'),
    import('@provml/demo'),
  ]);
  if (values['in-memory'] && values['data-dir'] !== undefined) {
    console.error(`provml: give --data-dir or --in-memory, not both\n\n${USAGE}`);
    process.exit(2);
  }
  // durable by default; '' (in memory) also overrides PROVML_DATA_DIR; `demo` is always in memory
  const dataDir =
    mode === 'demo' || values['in-memory']
      ? ''
      : (values['data-dir'] ?? (process.env.PROVML_DATA_DIR ? undefined : DEFAULT_DATA_DIR));
  const config = resolveEmbeddedConfig(
    {
      dataDir,
      queryWorkers: values['query-workers'],
      maxResultBytes: values['max-result-bytes'],
      host: values.host,
      queryPort: values['query-port'],
      ingestPort: values['ingest-port'],
      iriBase: values['iri-base'],
      partitions: values.partitions,
      logLevel: values['log-level'],
      queryTimeoutMs: values['query-timeout-ms'],
      maxResultRows: values['max-result-rows'],
      allowService: values['allow-service'],
      incompleteAfterMs: values['incomplete-after-ms'],
    },
    process.env,
  );
  const withDemo = mode === 'demo' || (values.demo && !values['no-demo']);
  const demoConfig = withDemo
    ? resolveDemoConfig({
        outputDir: values['output-dir'] ?? '.data/demo',
        ...(values.seed === undefined ? {} : { seed: Number(values.seed) }),
      })
    : undefined;
  const logger = createJsonLogger('provml', { level: config.logLevel });
  const stack = new EmbeddedStack(
    mode === 'demo' ? { ...config, queryPort: 0, ingestPort: 0 } : config,
    logger,
  );
  // ingest and query API listen at once; a kept store is restored in the background
  await stack.start({ untilReady: false });
  const restoring = stack.restoring;
  if (demoConfig !== undefined && restoring)
    console.log(
      `The demo is not run again: ${config.dataDir} already holds provenance (--in-memory or a new --data-dir for a fresh one).\n`,
    );
  if (demoConfig !== undefined && !restoring) {
    const started = performance.now();
    console.log('Running the O&G lifecycle demo (curation → preparation → training)...');
    const report = await runDemo(
      {
        capture: (spec) => stack.capture({ spec }),
        annotate: (turtle, source) => stack.annotate(turtle, source),
      },
      demoConfig,
      (line) => console.log(`  ${line}`),
    );
    await stack.settle();
    const quads = await stack.store.size();
    console.log(
      `  provenance  ${report.events} capture events → ${quads} quads, queryable after ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
    console.log(formatAnswers(await answerQueries(stack.store, report)));
    if (mode === 'demo') {
      await stack.shutdown();
      return;
    }
  }
  const data =
    config.dataDir === undefined
      ? 'in memory only: everything is lost when this process stops (--data-dir DIR keeps it)'
      : `${resolve(config.dataDir)} (${formatBytes(stack.log.diskBytes())}): kept across restarts and crashes (--in-memory for a throwaway run)`;
  console.log(`PROV-ML provenance, embedded mode
  dashboard  ${stack.queryUrl}/dashboard/
  query API  ${stack.queryUrl}/sparql   (SPARQL 1.1 Protocol, read-only)
  metrics    ${stack.queryUrl}/metrics
  health     ${stack.queryUrl}/healthz
  ingest     ${stack.ingestUrl}/v1/events   /v1/workflows   /v1/annotations
  data       ${data}
Press Ctrl-C to stop.`);
  onSignals(() => stack.shutdown(), logger);
  if (restoring) {
    console.log(`Restoring the store from ${config.dataDir}: events are accepted, queries wait...`);
    await stack.ready();
    // (unless stopped meanwhile)
    const quads = await stack.store.size().catch(() => undefined);
    if (quads !== undefined)
      console.log(
        `Restored ${quads} quads from ${config.dataDir} in ${(stack.restoreMs / 1000).toFixed(1)} s.`,
      );
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') return void console.log(USAGE);
  if (command === undefined || command.startsWith('--')) return embedded(argv, 'serve');
  if (command === 'embedded') return embedded(rest, 'serve');
  if (command === 'demo') return embedded(rest, 'demo');
  if (command === 'dlq') {
    const { dlqCommand } = await import('./dlq.ts');
    return void (process.exitCode = await dlqCommand(rest, process.env, console.log));
  }
  if (command === 'export') {
    const { exportCommand } = await import('./export.ts');
    return void (process.exitCode = await exportCommand(rest, process.env));
  }
  if (command === 'replay') return replay(rest);
  if (command === 'spec' && rest[0] === 'init') {
    const { specInitCommand } = await import('./specInit.ts');
    return void (process.exitCode = await specInitCommand(rest.slice(1), process.env));
  }
  if (command === 'processor' || command === 'sink' || command === 'query-api' || command === 'agent')
    return service(command, rest).catch((error: unknown) =>
      exitWithError(`provml ${command}`, error, portAdvice(command)),
    );
  console.error(`provml: unknown command '${command}'\n\n${USAGE}`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((error: unknown) =>
  exitWithError(
    'provml',
    error,
    'choose others with --query-port N and --ingest-port N (PROVML_QUERY_PORT, PROVML_INGEST_PORT)',
  ),
);
