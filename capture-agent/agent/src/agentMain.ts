/**
 * The sidecar agent's own entry point (`provml-agent [options]`, the options of `provml agent`).
 * It loads the agent and nothing else of the CLI (no store, no processor, no demo), and is what
 * `npm run build:agent` compiles into one JavaScript file (dist/provml-agent.mjs), so that a
 * compute node runs it with plain Node: no TypeScript loader, a smaller resident set.
 */
import { createJsonLogger } from '@provml/schemas';
import { startAgent } from './agentService.ts';
import { exitWithError, onSignals, portAdvice, runningLine, serviceConfigFromArgs } from '@provml/service';

const USAGE = `usage: provml-agent [--config FILE] [--kafka HOST:PORT,...] [--topic-prefix P] [--instance-id ID]
              [--host H] [--port N] [--log-level L] [--spool DIR] [--socket PATH]
              [--fsync batch|interval|never] [--max-bytes N] [--policy reject|drop-oldest] [--offline]

The sidecar agent (the same as provml agent): a Unix socket (<spool>/agent.sock) and the HTTP ingest
(/v1/events, /v1/workflows, /v1/annotations) into a durable spool, published to Kafka unless --offline.
Environment and access control as for provml agent (provml --help).`;

/** Runs the agent until SIGTERM/SIGINT, then flushes its spool and stops. */
async function runAgent(argv: string[]): Promise<void> {
  const config = serviceConfigFromArgs(argv, 'agent');
  const logger = createJsonLogger('provml.agent', { level: config.logLevel });
  const running = await startAgent(config, logger);
  console.log(runningLine('agent', running.url, config));
  onSignals(() => running.shutdown(), logger);
}

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) console.log(USAGE);
else runAgent(argv).catch((error: unknown) => exitWithError('provml-agent', error, portAdvice('agent')));
