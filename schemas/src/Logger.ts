/** The one structured logger interface every component takes by injection. */

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** A structured logger bound to a component name. Library code never writes to the console. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger for a sub-component, e.g. `processor` → `processor.specs`. */
  child(component: string): Logger;
}

/** A logger that discards everything: the default for libraries and tests. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
/** Log level names, lowest first. */
export type LogLevel = keyof typeof LEVELS;

/**
 * A logger writing one JSON object per line to `write` (stderr in entry points).
 * Values of fields whose name looks secret (token, password, secret) are redacted.
 */
export function createJsonLogger(
  component: string,
  options: { level?: LogLevel; write?: (line: string) => void } = {},
): Logger {
  const min = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => void process.stderr.write(line + '\n'));
  const log =
    (level: LogLevel) =>
    (message: string, fields: LogFields = {}): void => {
      if (LEVELS[level] < min) return;
      const safe: LogFields = {};
      for (const [k, v] of Object.entries(fields))
        safe[k] = /token|password|secret/i.test(k) ? '[redacted]' : v instanceof Error ? v.message : v;
      write(JSON.stringify({ time: new Date().toISOString(), level, component, message, ...safe }));
    };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (sub) => createJsonLogger(`${component}.${sub}`, options),
  };
}
