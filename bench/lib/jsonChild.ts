/** A benchmark's worker process (TypeScript or Python) that reports by printing one JSON line last. */
import { spawn } from 'node:child_process';
import { ROOT } from './report.ts';

/**
 * Runs `cmd argv` in `cwd` (default: the repository root) and resolves with the JSON object on the last
 * line of its standard output. Its standard error is passed on when `echoStderr` (progress, warnings).
 * @throws Error with the command, exit code and the tail of its output when it fails or prints no JSON
 */
export function runForJson<T>(
  cmd: string,
  argv: readonly string[],
  echoStderr = false,
  cwd = ROOT,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{'))
        reject(
          new Error(`${[cmd, ...argv.slice(0, 3)].join(' ')} exited ${code}: ${(err + out).slice(-1500)}`),
        );
      else {
        if (echoStderr && err.trim() !== '') process.stderr.write(err);
        resolve(JSON.parse(line) as T);
      }
    });
  });
}
