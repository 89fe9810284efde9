/** The `provml` command: `provml embedded` (the default) runs the whole system in one process. */
import { parseArgs } from 'node:util';
import { createJsonLogger, ValidationError } from '@provml/schemas';
import { resolveEmbeddedConfig } from '../embedded/EmbeddedConfig.ts';
import { EmbeddedStack } from '../embedded/EmbeddedStack.ts';

const USAGE = `usage: provml [embedded] [--host H] [--query-port N] [--ingest-port N] [--iri-base IRI] [--partitions N] [--log-level L]

  embedded   the whole system in one process: ingest, in-process log, processor, sink,
             embedded Oxigraph store and the query API (default)

Environment: PROVML_HOST, PROVML_QUERY_PORT, PROVML_INGEST_PORT, PROVML_IRI_BASE,
PROVML_PARTITIONS, PROVML_LOG_LEVEL (command-line options win).`;

async function embedded(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      'query-port': { type: 'string' },
      'ingest-port': { type: 'string' },
      'iri-base': { type: 'string' },
      partitions: { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
  });
  const config = resolveEmbeddedConfig(
    {
      host: values.host,
      queryPort: values['query-port'],
      ingestPort: values['ingest-port'],
      iriBase: values['iri-base'],
      partitions: values.partitions,
      logLevel: values['log-level'],
    },
    process.env,
  );
  const logger = createJsonLogger('provml', { level: config.logLevel });
  const stack = new EmbeddedStack(config, logger);
  await stack.start();
  console.log(`PROV-ML provenance, embedded mode
  query API  ${stack.queryUrl}/sparql   (SPARQL 1.1 Protocol, read-only)
  metrics    ${stack.queryUrl}/metrics
  health     ${stack.queryUrl}/healthz
  ingest     ${stack.ingestUrl}/v1/events   /v1/workflows   /v1/annotations
Press Ctrl-C to stop.`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: flushing and stopping...`);
    stack
      .shutdown()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error('shutdown failed', { error });
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') return void console.log(USAGE);
  if (command === undefined || command.startsWith('--')) return embedded(argv);
  if (command === 'embedded') return embedded(rest);
  console.error(`provml: unknown command '${command}'\n\n${USAGE}`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ValidationError) {
    console.error(`provml: ${error.message}`);
    for (const issue of error.issues) console.error(`  ${issue.path}: ${issue.message}`);
  } else console.error(`provml: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
