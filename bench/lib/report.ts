/** What every benchmark shares: statistics, the machine it ran on, and a results file with its command. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');
/**
 * Where results go: `bench/results/`, or `PROVML_BENCH_RESULTS` (`npm run bench` sends its quick
 * runs to `bench/results/quick/`, so they never overwrite the full figures).
 */
export const RESULTS = resolve(ROOT, process.env['PROVML_BENCH_RESULTS'] ?? join('bench', 'results'));

/** Median of a sample. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The q-quantile (0…1) of a sample, nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** Median, min, max, p95 and count of a sample. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  p95: number;
  n: number;
}

/** Summarises a sample. */
export function summarise(xs: readonly number[]): Summary {
  return {
    median: median(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
    p95: quantile(xs, 0.95),
    n: xs.length,
  };
}

/** A number with `digits` significant digits, for tables. */
export const fmt = (x: number, digits = 3): string =>
  Number.isFinite(x)
    ? Number(x.toPrecision(digits)).toLocaleString('en-US', { maximumFractionDigits: 6 })
    : '–';

/** The first line a command prints of its version (stdout, or stderr as `java -version` does). */
const version = (command: string, args: string[]): string => {
  try {
    const out = spawnSync(command, args, { encoding: 'utf8' });
    if (out.error !== undefined) return `${command} not found`;
    return (out.stdout.trim() || out.stderr.trim()).split('\n')[0]!.trim();
  } catch {
    return `${command} not found`;
  }
};

/** The machine: CPU, cores, memory, load, Node, Java and Python versions, the commit. */
export function machine(): string {
  const cpu = cpus();
  const commit = version('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  return [
    `- CPU: ${cpu[0]?.model ?? 'unknown'} × ${cpu.length} cores; memory ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `- load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`,
    `- Node ${process.version}; ${version('java', ['-version'])}; ${version('python3', ['--version'])}`,
    `- commit ${commit}, ${new Date().toISOString()}`,
  ].join('\n');
}

/** A markdown table. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map((h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/**
 * Writes `bench/results/<name>.md`: a title, the exact command, the machine, then the body.
 * @returns the path written
 */
export async function writeResult(
  name: string,
  title: string,
  command: string,
  body: string,
): Promise<string> {
  const path = join(RESULTS, `${name}.md`);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(
    path,
    `# ${title}\n\nCommand (from the repository root):\n\n\`\`\`\n${command}\n\`\`\`\n\nMachine:\n\n${machine()}\n\n${body.trim()}\n`,
  );
  return path;
}

/** The command line that started this process, for results files. */
export function thisCommand(): string {
  const script = process.argv[1] === undefined ? '' : process.argv[1].replace(`${ROOT}/`, '');
  return ['node --import tsx', script, ...process.argv.slice(2)].join(' ');
}

/**
 * `--help` / `-h` for a benchmark whose options live in its header comment: prints that comment (what
 * it measures, its command and options) and exits, before anything is started. Call it first.
 */
export function helpFromHeader(moduleUrl: string): void {
  if (!process.argv.slice(2).some((a) => a === '--help' || a === '-h')) return;
  const text = readFileSync(fileURLToPath(moduleUrl), 'utf8');
  const header = /\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? '';
  process.stdout.write(`${header.replace(/^[ \t]*\* ?/gm, '').trim()}\n`);
  process.exit(0);
}
