/**
 * What each package the agent carries costs in resident memory once bundled: each is compiled alone
 * into one ES module as `npm run build:agent` compiles the agent (esbuild, same settings), run with
 * plain Node and the agent's Node options, and its RSS compared with an empty bundle's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { AGENT_BUILD_SETTINGS, AGENT_NODE_OPTIONS } from '../../deploy/build-agent.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The packages the agent bundle holds, with the import that loads each as the agent does. */
export const AGENT_PACKAGES: readonly [string, string][] = [
  [
    'prom-client (essential process metrics)',
    `import { Registry } from 'prom-client'; import { registerProcessMetrics } from '${ROOT}service/src/processMetrics.ts'; const r = new Registry(); registerProcessMetrics(r, ''); keep(r);`,
  ],
  ['zod', "import { z } from 'zod'; keep(z.object({ a: z.string() }));"],
  ['kafkajs', "import { Kafka } from 'kafkajs'; keep(new Kafka({ brokers: ['127.0.0.1:1'] }));"],
  ['avsc', "import avsc from 'avsc'; keep(avsc);"],
  ['n3', "import { Parser } from 'n3'; keep(new Parser());"],
  ['yaml', "import { parse } from 'yaml'; keep(parse);"],
];

/** RSS in MiB of a bundle of `source` run with plain Node and the agent's options. */
async function rssOf(source: string, dir: string): Promise<number> {
  const outfile = join(dir, 'probe.mjs');
  await build({
    stdin: {
      contents: `const keep = (...x) => { globalThis.__keep = x; };\n${source}\nsetTimeout(() => console.log(process.memoryUsage().rss), 500);`,
      resolveDir: join(ROOT, 'query-api'),
      loader: 'js',
    },
    outfile,
    ...AGENT_BUILD_SETTINGS,
    logLevel: 'error',
  });
  const r = spawnSync(process.execPath, [...AGENT_NODE_OPTIONS, outfile], { encoding: 'utf8' });
  return Number(r.stdout.trim()) / 2 ** 20;
}

/** Node with an empty bundle, then each package's own addition (MiB), median of `reps` runs. */
export async function agentPackageCosts(reps = 3): Promise<{ node: number; packages: [string, number][] }> {
  const dir = mkdtempSync(join(tmpdir(), 'provml-bundle-cost-'));
  const median = async (source: string): Promise<number> => {
    const xs: number[] = [];
    for (let i = 0; i < reps; i++) xs.push(await rssOf(source, dir));
    return xs.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
  };
  try {
    const node = await median('');
    const packages: [string, number][] = [];
    for (const [label, source] of AGENT_PACKAGES) packages.push([label, (await median(source)) - node]);
    return { node, packages };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
