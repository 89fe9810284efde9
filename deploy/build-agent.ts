/**
 * `npm run build:agent`: compiles the sidecar agent (capture-agent/agent/src/agentMain.ts) with everything
 * it imports into one ES module, dist/provml-agent.mjs, run with plain Node (`node
 * dist/provml-agent.mjs --spool DIR ...`): no TypeScript loader at run time, only the modules the
 * agent reaches, and beside it the Avro schemas it reads at start. Prints the output's size.
 */
import { copyFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build, type Plugin } from 'esbuild';

const ROOT = new URL('../', import.meta.url).pathname;
export const AGENT_BUNDLE = `${ROOT}dist/provml-agent.mjs`;
/**
 * The Node options the agent is run with (bench/results/memory.md): young-generation semi-spaces of
 * 1 MiB instead of up to 16, and V8's heap sizing tuned for size over speed, so that old-space garbage
 * is collected before the heap grows. Under a steady 2,000 events/s they hold the agent's heap near
 * 23 MiB where the defaults let it reach ~57 MiB (RSS ~87 MiB against ~130). `--single-threaded`: no
 * V8 worker threads (garbage collection and compilation on the main thread), whose stacks and malloc
 * arenas cost ~6 MiB resident under load (45 s runs, peak 80 MiB against 86). No hard heap limit: a
 * 32 MB ingest request must not kill the agent.
 */
export const AGENT_NODE_OPTIONS: readonly string[] = [
  '--max-semi-space-size=1',
  '--optimize-for-size',
  '--single-threaded',
];

/**
 * Marks the repository's own modules free of side effects on import (they are: no module of the
 * workspaces runs anything but declarations at load), so that a module the agent reaches only through a
 * package's index but does not use is left out, and one it imports lazily (`await import(…)`), such as
 * the schema-registry codec, stays lazy instead of being loaded at start through that index.
 */
const ownModulesPure: Plugin = {
  name: 'provml-own-modules-pure',
  setup(b) {
    b.onResolve({ filter: /^(@provml\/|\.)/ }, async (args) => {
      if (args.pluginData === 'resolved') return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'resolved',
      });
      if (r.errors.length > 0 || r.path.includes('/node_modules/')) return r;
      return { ...r, sideEffects: false };
    });
  },
};

/** Builds the bundle; resolves with its path. */
export async function buildAgent(outfile = AGENT_BUNDLE): Promise<string> {
  await build({
    entryPoints: [`${ROOT}capture-agent/agent/src/agentMain.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    // a package's ES module build before its CommonJS one: n3's (src/) is tree-shaken to the parser and
    // terms the agent uses, where its CommonJS build brings its store, writer, reasoner and streams
    mainFields: ['module', 'main'],
    target: 'node20',
    format: 'esm',
    minifySyntax: true,
    minifyWhitespace: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [ownModulesPure],
    // CommonJS dependencies (kafkajs, prom-client) call require() for Node's own modules
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
