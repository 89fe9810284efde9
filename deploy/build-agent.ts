/**
 * `npm run build:agent`: compiles the sidecar agent (capture-agent/agent/src/agentMain.ts) with everything
 * it imports into one ES module, dist/provml-agent.mjs, run with plain Node (`node
 * dist/provml-agent.mjs --spool DIR ...`): no TypeScript loader at run time, only the modules the
 * agent reaches, and beside it the Avro schemas it reads at start. Prints the output's size.
 */
import { copyFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build, type BuildOptions, type Plugin } from 'esbuild';

const ROOT = new URL('../', import.meta.url).pathname;
export const AGENT_BUNDLE = `${ROOT}dist/provml-agent.mjs`;
/**
 * The Node options the agent is run with (bench/results/memory.md): young-generation semi-spaces of
 * 1 MiB instead of up to 16, and V8's heap sizing tuned for size over speed, so that old-space garbage
 * is collected before the heap grows (defaults: heap ~57 MiB and RSS ~130 MiB at 2,000 events/s).
 * `--single-threaded`: no V8 worker threads (garbage collection and compilation on the main thread),
 * whose stacks and malloc arenas cost ~6 MiB resident under load. Incremental marking of the old
 * generation starts at 50% of its limit (a task) and at 75% at once, instead of when the limit is all
 * but reached: on one thread, marking that starts late lets the heap run ~7 MB past the live data
 * before the collection ends (peak RSS 74 MiB against 80 in 40 s runs, with the same CPU per event).
 * The memory reducer (full collections once the agent is idle) starts 2 s after start-up or a burst
 * instead of 8. No hard heap limit: a 32 MB ingest request must not kill the agent.
 */
export const AGENT_NODE_OPTIONS: readonly string[] = [
  '--max-semi-space-size=1',
  '--optimize-for-size',
  '--single-threaded',
  '--incremental-marking-soft-trigger=50',
  '--incremental-marking-hard-trigger=75',
  '--gc-memory-reducer-start-delay-ms=2000',
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

/** How the agent is compiled (bench/lib/bundleCost.ts compiles each package alone the same way). */
export const AGENT_BUILD_SETTINGS = {
  bundle: true,
  platform: 'node',
  // a package's ES module build before its CommonJS one: n3's (src/) is tree-shaken to the parser and
  // terms the agent uses, where its CommonJS build brings its store, writer, reasoner and streams
  mainFields: ['module', 'main'],
  target: 'node20',
  format: 'esm',
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  // CommonJS dependencies (kafkajs, prom-client) call require() for Node's own modules
  banner: {
    js: "import { createRequire as __provmlRequire } from 'node:module'; const require = __provmlRequire(import.meta.url);",
  },
} as const satisfies BuildOptions;

/** Builds the bundle; resolves with its path. */
export async function buildAgent(outfile = AGENT_BUNDLE): Promise<string> {
  await build({
    ...AGENT_BUILD_SETTINGS,
    entryPoints: [`${ROOT}capture-agent/agent/src/agentMain.ts`],
    outfile,
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: [ownModulesPure],
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
