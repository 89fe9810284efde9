/**
 * What every long-running `provml` service command shares: its options turned into one
 * ServiceConfig, flushing on SIGTERM/SIGINT, and how a fatal error is printed. Kept free of the
 * services themselves so that the agent's own entry point (agentMain.ts) loads only what it runs.
 */
import { parseArgs } from 'node:util';
import { ValidationError } from '@provml/schemas';
import {
  DEFAULT_PORTS,
  PORT_ENV,
  resolveServiceConfig,
  type ServiceConfig,
  type ServiceName,
} from './ServiceConfig.ts';

/** The options of `provml processor|sink|query-api|agent`, resolved with the environment and --config. */
export function serviceConfigFromArgs(argv: string[], service: ServiceName): ServiceConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      kafka: { type: 'string' },
      'topic-prefix': { type: 'string' },
      'instance-id': { type: 'string' },
      'data-dir': { type: 'string' },
      store: { type: 'string' },
      'store-url': { type: 'string' },
      repository: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'log-level': { type: 'string' },
      spool: { type: 'string' },
      socket: { type: 'string' },
      fsync: { type: 'string' },
      'max-bytes': { type: 'string' },
      policy: { type: 'string' },
      offline: { type: 'boolean' },
      'triples-encoding': { type: 'string' },
    },
    strict: true,
  });
  return resolveServiceConfig(
    {
      agent: {
        spoolDir: values.spool,
        socketPath: values.socket,
        fsync: values.fsync,
        maxBytes: values['max-bytes'] === undefined ? undefined : Number(values['max-bytes']),
        policy: values.policy,
        offline: values.offline,
      },
      kafka: { brokers: values.kafka?.split(','), instanceId: values['instance-id'] },
      topics: { prefix: values['topic-prefix'] },
      store: { kind: values.store, url: values['store-url'], repository: values.repository },
      http: { host: values.host, port: values.port === undefined ? undefined : Number(values.port) },
      logLevel: values['log-level'],
      dataDir: values['data-dir'],
      processor: { triplesEncoding: values['triples-encoding'] },
    },
    process.env,
    values.config,
    service,
  );
}

/** How to give a service another port, for the error when its port is taken. */
export const portAdvice = (service: ServiceName): string =>
  `choose another with --port N (${PORT_ENV[service]}, PROVML_HTTP_PORT or http.port in --config; ` +
  `defaults: ${Object.entries(DEFAULT_PORTS)
    .map(([name, port]) => `${name} ${port}`)
    .join(', ')})`;

/** `host:port` of a listen error because the address is taken (EADDRINUSE), else undefined. */
function takenAddress(error: unknown): string | undefined {
  const e = error as Partial<NodeJS.ErrnoException> & { address?: string; port?: number };
  if (typeof e !== 'object' || e === null || e.code !== 'EADDRINUSE') return undefined;
  return e.address === undefined ? `port ${e.port ?? '?'}` : `${e.address}:${e.port ?? '?'}`;
}

/** The line a service prints once it serves (tests and scripts wait for it). */
export function runningLine(name: string, url: string | undefined, config: ServiceConfig): string {
  return `provml ${name} running${url === undefined ? '' : ` at ${url}`} (Kafka ${config.kafka.brokers.join(',')})`;
}

/** Flushes and stops on SIGTERM/SIGINT, exiting 0 (1 if stopping failed). */
export function onSignals(
  shutdown: () => Promise<void>,
  logger: { error: (m: string, f?: Record<string, unknown>) => void },
): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: flushing and stopping...`);
    shutdown()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error('shutdown failed', { error });
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/**
 * Prints a fatal error of a command (a ValidationError with each of its issues; a port that is taken
 * with `portHint`, how to choose another) and exits 1.
 */
export function exitWithError(command: string, error: unknown, portHint?: string): never {
  const taken = takenAddress(error);
  if (taken !== undefined)
    console.error(
      `${command}: cannot listen on ${taken}: another process already listens there; ${portHint ?? 'choose another port'}`,
    );
  else if (error instanceof ValidationError) {
    console.error(`${command}: ${error.message}`);
    for (const issue of error.issues) console.error(`  ${issue.path}: ${issue.message}`);
  } else console.error(`${command}: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
