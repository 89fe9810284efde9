/**
 * `npm run build:agent-go`: regenerates the Go agent's schemas (deploy/agent-go-schemas.ts)
 * and compiles it (`go build`) into dist/provml-agent-go, one static binary run as
 * `dist/provml-agent-go --spool DIR ...` (capture-agent/AGENT.md, "The Go agent"). Needs Go 1.26.
 */
import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedPath, generatedSchemas } from './agent-go-schemas.ts';

const ROOT = new URL('../', import.meta.url).pathname;
/** The Go module of the agent. */
export const GO_AGENT_MODULE = join(ROOT, 'capture-agent', 'agent-go');
/** Where `npm run build:agent-go` writes the binary. */
export const GO_AGENT_BINARY = join(ROOT, 'dist', 'provml-agent-go');

/** Whether the `go` command is on the PATH. */
export function hasGo(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Compiles the Go agent into `output` (default dist/provml-agent-go) and returns its path; `go build` caches what did not change. */
export function buildGoAgent(output = GO_AGENT_BINARY): string {
  execFileSync('go', ['build', '-trimpath', '-o', output, './cmd/provml-agent-go'], {
    cwd: GO_AGENT_MODULE,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return output;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [name, text] of Object.entries(await generatedSchemas()))
    writeFileSync(generatedPath(name), text);
  const path = buildGoAgent();
  process.stdout.write(`${path} (${(statSync(path).size / 2 ** 20).toFixed(1)} MiB)\n`);
}
