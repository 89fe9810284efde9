/**
 * `npm run build:agent`: compiles the sidecar agent (capture-agent/agent/src/agentMain.ts) with everything
 * it imports into one ES module, dist/provml-agent.mjs, run with plain Node (`node
 * dist/provml-agent.mjs --spool DIR ...`): no TypeScript loader at run time, only the modules the
 * agent reaches, and beside it the Avro schemas it reads at start. Prints the output's size.
 */
import { copyFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

const ROOT = new URL('../', import.meta.url).pathname;
export const AGENT_BUNDLE = `${ROOT}dist/provml-agent.mjs`;
/**
 * The Node options the agent is run with (bench/results/memory.md): young-generation semi-spaces of
 * 1 MiB instead of up to 16, and V8's heap sizing tuned for size over speed, so that old-space garbage
 * is collected before the heap grows. Under a steady 2,000 events/s they hold the agent's heap near
 * 23 MiB where the defaults let it reach ~57 MiB (RSS ~87 MiB against ~130). No hard heap limit: a
 * 32 MB ingest request must not kill the agent.
 */
export const AGENT_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];

/** Builds the bundle; resolves with its path. */
export async function buildAgent(outfile = AGENT_BUNDLE): Promise<string> {
  await build({
    entryPoints: [`${ROOT}capture-agent/agent/src/agentMain.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minifySyntax: true,
    minifyWhitespace: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
    // CommonJS dependencies (kafkajs, express) call require() for Node's own modules
    banner: {
      js: "import { createRequire as __provmlRequire } from 'node:module'; const require = __provmlRequire(import.meta.url);",
    },
  });
  // the Avro schemas are read at run time from beside the module that reads them
  const avro = `${ROOT}schemas/src/avro`;
  for (const f of readdirSync(avro).filter((n) => n.endsWith('.avsc')))
    copyFileSync(join(avro, f), join(dirname(outfile), f));
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await buildAgent();
  process.stdout.write(`built ${out.slice(ROOT.length)} (${(statSync(out).size / 1024).toFixed(0)} KiB)\n`);
}
