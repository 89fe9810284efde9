/** Query plans for slow queries: RDF4J's `explain=Executed` over HTTP, Oxigraph's CLI `--explain-file --stats`. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OXIGRAPH_VERSION, dataDirOf, ensureOxigraph, stopStore } from '../../deploy/local/stores.ts';
import { ROOT } from './report.ts';

const run = promisify(execFile);

/**
 * The executed plan of a query in an RDF4J repository (result sizes and times per operator), from servers
 * that take the `explain` parameter; RDF4J Server 5.0.3 ignores it and answers results (said so here).
 */
export async function explainRdf4j(repositoryUrl: string, query: string): Promise<string> {
  const response = await fetch(repositoryUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: '*/*' },
    body: new URLSearchParams({ query, explain: 'Timed' }),
    signal: AbortSignal.timeout(600_000),
  });
  const text = await response.text();
  if (response.ok && !/Projection|Join|StatementPattern/.test(text))
    return `this server ignores explain=Timed (RDF4J Server 5.0.3 has no explain over HTTP); it answered:\n${text.slice(0, 2000)}`;
  return `${response.ok ? '' : `HTTP ${response.status}\n`}${text}`;
}

/**
 * The plan and evaluation statistics of a query in an Oxigraph data folder. The server holds the folder's
 * lock, so it is stopped for the CLI and started again.
 */
export async function explainOxigraph(
  server: { instance: string; port: number },
  query: string,
): Promise<string> {
  const cli = join(ROOT, '.cache', 'stack', `oxigraph-${OXIGRAPH_VERSION}-venv`, 'bin', 'oxigraph');
  const dir = await mkdtemp(join(tmpdir(), 'oxigraph-explain-'));
  await stopStore(server.instance);
  try {
    await writeFile(join(dir, 'q.rq'), query);
    await run(
      cli,
      [
        'query',
        '--location',
        dataDirOf(server.instance),
        '--query-file',
        join(dir, 'q.rq'),
        '--union-default-graph',
        '--results-file',
        join(dir, 'results.json'),
        '--explain-file',
        join(dir, 'explain.txt'),
        '--stats',
      ],
      { timeout: 600_000, maxBuffer: 64 * 2 ** 20 },
    );
    return await readFile(join(dir, 'explain.txt'), 'utf8');
  } catch (error) {
    return `explain failed: ${(error as Error).message}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await ensureOxigraph(server);
  }
}
