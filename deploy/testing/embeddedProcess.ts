/** Test helper: `provml embedded` as a real process (node with the tsx loader, so a signal reaches it), its URLs read from the banner. */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A running embedded process. */
export interface EmbeddedProcess {
  child: ChildProcess;
  queryUrl: string;
  ingestUrl: string;
  /** Everything it printed so far. */
  output(): string;
  /** Spawn → banner (both ports listening), ms. */
  startMs: number;
  /** When it was spawned (`performance.now()`). */
  spawnedAt: number;
  /** Resolves with the first match of `pattern` in what it prints (waiting up to `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `provml embedded --no-demo` with `args` on free ports; resolves once its banner is printed. */
export async function startEmbedded(
  args: string[],
  env: Record<string, string> = {},
): Promise<EmbeddedProcess> {
  const spawnedAt = performance.now();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'app/src/cli/main.ts',
      'embedded',
      '--no-demo',
      '--query-port',
      '0',
      '--ingest-port',
      '0',
      '--log-level',
      'warn',
      ...args,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner after 120 s:\n${out}`)), 120_000);
    const check = (): void => {
      if (out.includes('Press Ctrl-C')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before its banner:\n${out}`));
    });
  });
  const url = (label: string): string => {
    const m = new RegExp(`${label}\\s+(http://[^/\\s]+)`).exec(out);
    if (m === null) throw new Error(`no ${label} URL in:\n${out}`);
    return m[1]!;
  };
  return {
    child,
    queryUrl: url('query API'),
    ingestUrl: url('ingest'),
    output: () => out,
    startMs: performance.now() - spawnedAt,
    spawnedAt,
    waitFor: async (pattern, timeoutMs = 300_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(out);
        if (m !== null) return m;
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no ${String(pattern)} in:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A port of 127.0.0.1 where nothing listens now (to restart a process on the same one, or to find nobody there). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** An HTTP request to 127.0.0.1 from a given local address (127.0.0.x: another client). */
export function send(
  url: string,
  options: { method?: string; body?: string; headers?: Record<string, string>; from?: string },
): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        localAddress: options.from,
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, ms: performance.now() - started }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Runs a SPARQL query (POST, JSON results) from `from`. */
export function sparqlFrom(
  queryUrl: string,
  query: string,
  from?: string,
): Promise<{ status: number; text: string; ms: number }> {
  return send(`${queryUrl}/sparql`, {
    method: 'POST',
    body: query,
    headers: { 'content-type': 'application/sparql-query', accept: 'application/sparql-results+json' },
    from,
  });
}
