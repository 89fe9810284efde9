/** The `provml` command: `provml embedded` (the default) runs the whole system in one process. */
import { parseArgs } from 'node:util';
import { createJsonLogger, ValidationError } from '@provml/schemas';
import { answerQueries, formatAnswers } from '../demo/answers.ts';
import { resolveDemoConfig } from '../demo/DemoConfig.ts';
import { runDemo } from '../demo/runDemo.ts';
import { resolveEmbeddedConfig } from '../embedded/EmbeddedConfig.ts';
import { EmbeddedStack } from '../embedded/EmbeddedStack.ts';

const USAGE = `usage: provml [embedded|demo] [--no-demo] [--seed N] [--output-dir DIR]
              [--host H] [--query-port N] [--ingest-port N] [--iri-base IRI] [--partitions N] [--log-level L]

  embedded   the whole system in one process: ingest, in-process log, processor, sink,
             embedded Oxigraph store and the query API (default); runs the O&G lifecycle
             demo into it first and prints the answers to Q1–Q6, unless --no-demo
  demo       the same demo, then exit (for scripts)

  --seed N          seed of the demo's survey, splits and training (default 42)
  --output-dir DIR  where the demo writes its files (default .data/demo)

Environment: PROVML_HOST, PROVML_QUERY_PORT, PROVML_INGEST_PORT, PROVML_IRI_BASE,
PROVML_PARTITIONS, PROVML_LOG_LEVEL (command-line options win).`;

async function embedded(argv: string[], mode: 'serve' | 'demo'): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      demo: { type: 'boolean', default: true },
      'no-demo': { type: 'boolean', default: false },
      seed: { type: 'string' },
      'output-dir': { type: 'string' },
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
  await stack.start();
  if (demoConfig !== undefined) {
    const started = performance.now();
    console.log('Running the O&G lifecycle demo (curation → preparation → training)...');
    const report = await runDemo(
      { capture: (spec) => stack.capture({ spec }), annotate: (turtle) => stack.annotate(turtle) },
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
  if (command === undefined || command.startsWith('--')) return embedded(argv, 'serve');
  if (command === 'embedded') return embedded(rest, 'serve');
  if (command === 'demo') return embedded(rest, 'demo');
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
