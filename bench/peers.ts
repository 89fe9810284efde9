/**
 * Peers side by side: the Fig. 5 loop (bench/fig5-loop.ts and its Python twin) captured by `provlake` (the
 * paper's library, offline file), `flowcept` (Redis queue), `mlflow` (async logging, local SQLite store),
 * this project's Python client and TypeScript library (setting F: own spool), same machine, same run,
 * repetitions interleaved. Writes bench/results/peers.md and peers.png.
 *
 * Run: `node --import tsx bench/peers.ts [--quick] [--reps 5] [--events 15000] [--compute wait|busy] [--batch-ms 5]
 *       [--compute-us 1000] [--queue 50] [--only ts,py,provlake,flowcept,mlflow]` (`--help` lists the options;
 *       `--only` also takes ts-F-interval and the online settings through a `provml agent`: ts-D,ts-E,py-D,py-E,
 *       or through the Go agent (dist/provml-agent-go, built first): ts-D-go,ts-E-go,py-D-go,py-E-go)
 * The default length is the paper's steady state (~15,000 events per run); each process's start-up CPU
 * (interpreter, imports, `init`) is measured before its loop and reported apart from the per-event figures.
 * Compute per batch as in bench/fig5.ts: a GPU-like wait (default) or a CPU busy-loop.
 * Creates the peers' venv in .cache/bench-venv when missing (pip from PyPI) and starts a Redis server
 * (Debian's `redis-server`) on a free localhost port for flowcept.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  calibrate,
  epochsFor,
  eventsOf,
  PAPER_US_PER_EVENT,
  waitForQuiet,
  type LoopResult,
} from './fig5-loop.ts';
import { boxOf, boxPlotConfig, plot } from './lib/plot.ts';
import { runForJson } from './lib/jsonChild.ts';
import { startService, type Service } from './lib/pipeline.ts';
import { buildGoAgent } from '../deploy/build-agent-go.ts';
import { fmt, median, RESULTS, ROOT, summarise, table, writeResult } from './lib/report.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    events: { type: 'string' },
    compute: { type: 'string', default: 'wait' },
    'batch-ms': { type: 'string' },
    'compute-us': { type: 'string' },
    'settle-s': { type: 'string' },
    queue: { type: 'string', default: '50' },
    only: { type: 'string' },
    out: { type: 'string', default: 'peers' },
    brokers: { type: 'string', default: '127.0.0.1:19092' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(`node --import tsx bench/peers.ts [options]
  --quick            300 events, 2 reps, no settling (a smoke run)
  --reps N           repetitions, contenders interleaved (default 5)
  --events N         loop events per run (default 15000: the paper's run, start-up < 5 % of the figure)
  --compute M        wait (GPU-like wait per batch, default) or busy (CPU busy-loop)
  --batch-ms MS      the wait per batch (default 5)
  --compute-us US    the busy-loop per batch (default 1000)
  --queue N          queue/bag size of every contender (default 50)
  --settle-s S       wait up to S s for the 1-minute load average to drop below 2 (default 300)
  --out NAME         writes bench/results/NAME.md and NAME.png (default peers)
  --only LIST        contenders to run, comma-separated: ts (the TS library), py (the Python client),
                     provlake, flowcept, mlflow; each language's baseline runs with it (default: all of these);
                     also, only when named: ts-F-interval (setting F with fsync 'interval'), and the online
                     settings through a \`provml agent\` on the local Kafka (--brokers): ts-D, ts-E, py-D, py-E,
                     or through the Go agent (dist/provml-agent-go, built first): ts-D-go, ts-E-go, py-D-go,
                     py-E-go (each agent's CPU per event is reported beside the client's)
  --brokers LIST     Kafka of the agent (default 127.0.0.1:19092)
`);
  process.exit(0);
}
const VENV = join(ROOT, '.cache/bench-venv');
const PY = join(VENV, 'bin/python');

interface Run extends LoopResult {
  setting: string;
  drainMs: number;
  /** CPU of the process during the drain (TypeScript workers). */
  drainCpuMs?: number;
  calls?: number;
  /** Events delivered as the client's shutdown counts them (the project's clients). */
  delivered?: number;
  /** CPU of each agent process while this run's process lived (ms, by agent), and that time (ms). */
  agentCpuMs?: Partial<Record<'node' | 'go', number>>;
  runWallMs?: number;
}

/** The median of a figure only some workers report, or '–'. */
const optionalMedian = (xs: (number | undefined)[]): string =>
  xs.every((x): x is number => x !== undefined) ? fmt(median(xs)) : '–';

/** What could not be set up, by peer: reported in the results instead of a figure. */
const missing: Record<string, string> = {};

function ensureVenv(): void {
  const pip = (pkgs: string[], extra: string[] = []): string | undefined => {
    const r = spawnSync(join(VENV, 'bin/pip'), ['install', '-q', ...extra, ...pkgs], { encoding: 'utf8' });
    return r.status === 0 ? undefined : (r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ');
  };
  if (!existsSync(PY)) spawnSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
  const has = (mod: string): boolean => spawnSync(PY, ['-c', `import ${mod}`]).status === 0;
  for (const [mod, pkgs] of [
    ['flowcept', ['flowcept', 'redis']],
    ['mlflow', ['mlflow']],
  ] as const) {
    if (!has(mod)) {
      const err = pip([...pkgs]);
      if (err !== undefined) missing[mod] = `pip install ${pkgs.join(' ')} failed: ${err}`;
    }
  }
  // provlake 0.2.982 (2022) declares Requires-Python <3.9; it is pure Python and runs on 3.11
  if (!has('provlake')) {
    const err = pip(['provlake'], ['--ignore-requires-python']);
    if (err !== undefined)
      missing['provlake'] = `pip install --ignore-requires-python provlake failed: ${err}`;
  }
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

async function startRedis(): Promise<{ port: number; proc?: ChildProcess }> {
  const port = await freePort();
  const bin = ['/usr/bin/redis-server', '/usr/sbin/redis-server'].find(existsSync);
  if (bin === undefined) {
    missing['flowcept'] = 'no redis-server (Debian: apt-get install -y redis-server)';
    return { port };
  }
  const proc = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 50; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG')
      return { port, proc };
    await new Promise((r) => setTimeout(r, 100));
  }
  missing['flowcept'] = `redis-server did not answer on port ${port}`;
  return { port, proc };
}

/** CPU time of a process so far (all its threads, dead ones included), ms, from /proc. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * A sidecar agent on the local Kafka (auth off on 127.0.0.1): online settings D and E send to it.
 * `node`: `provml agent`; `go`: the Go agent, built first (dist/provml-agent-go).
 */
async function startAgent(dir: string, kind: 'node' | 'go'): Promise<Service & { socket: string }> {
  const spool = join(dir, `agent-${kind}`);
  const agent = await startService('agent', {
    prefix: `bench-peers-${kind}-${Date.now().toString(36)}.`,
    processorGroup: 'unused',
    sinkGroup: 'unused',
    spool,
    kafka: args.brokers,
    ...(kind === 'go' ? { binary: buildGoAgent() } : {}),
  });
  return { ...agent, socket: join(spool, 'agent.sock') };
}

const quick = args.quick;
const reps = Number(args.reps ?? (quick ? 2 : 5));
const epochs = epochsFor(Number(args.events ?? (quick ? 300 : 15_000)));
const mode = args.compute === 'busy' ? 'busy' : 'wait';
const batchMs = Number(args['batch-ms'] ?? 5);
/**
 * The contenders: Python ones share the Python baseline, the TS library's their own. `agent`: sends to
 * the `provml agent` this benchmark starts (D: its HTTP ingest, E: its socket).
 */
interface Contender {
  name: string;
  lang: 'py' | 'ts';
  /** The worker's peer (Python) or setting (TypeScript). */
  peer: string;
  key: string;
  /** The Python client's setting. */
  setting?: string;
  /** Sends to the sidecar this benchmark starts: `provml agent` (Node) or the Go agent (dist/provml-agent-go). */
  agent?: 'node' | 'go';
  /** Runs only when `--only` names it. */
  extra?: boolean;
  /** TypeScript workers: the spool's fsync policy. */
  fsync?: string;
}
const CONFIGS_ALL: Contender[] = [
  { name: 'baseline (Python)', lang: 'py', peer: 'baseline', key: 'baseline' },
  { name: 'provml Python client (F)', lang: 'py', peer: 'provml', key: 'py', setting: 'F' },
  { name: 'provlake (offline file)', lang: 'py', peer: 'provlake', key: 'provlake' },
  { name: 'flowcept (Redis MQ)', lang: 'py', peer: 'flowcept', key: 'flowcept' },
  { name: 'mlflow (async, SQLite)', lang: 'py', peer: 'mlflow', key: 'mlflow' },
  {
    name: 'provml Python client (D, agent HTTP)',
    lang: 'py',
    peer: 'provml',
    key: 'py-D',
    setting: 'D',
    agent: 'node',
    extra: true,
  },
  {
    name: 'provml Python client (E, agent socket)',
    lang: 'py',
    peer: 'provml',
    key: 'py-E',
    setting: 'E',
    agent: 'node',
    extra: true,
  },
  {
    name: 'provml Python client (D, Go agent HTTP)',
    lang: 'py',
    peer: 'provml',
    key: 'py-D-go',
    setting: 'D',
    agent: 'go',
    extra: true,
  },
  {
    name: 'provml Python client (E, Go agent socket)',
    lang: 'py',
    peer: 'provml',
    key: 'py-E-go',
    setting: 'E',
    agent: 'go',
    extra: true,
  },
  { name: 'baseline (TypeScript)', lang: 'ts', peer: 'baseline', key: 'baseline' },
  { name: 'provml TS library (F)', lang: 'ts', peer: 'F', key: 'ts' },
  {
    name: 'provml TS library (F, fsync interval)',
    lang: 'ts',
    peer: 'F',
    key: 'ts-F-interval',
    extra: true,
    fsync: 'interval',
  },
  {
    name: 'provml TS library (D, agent HTTP)',
    lang: 'ts',
    peer: 'D',
    key: 'ts-D',
    agent: 'node',
    extra: true,
  },
  {
    name: 'provml TS library (E, own spool, agent socket)',
    lang: 'ts',
    peer: 'E',
    key: 'ts-E',
    agent: 'node',
    extra: true,
  },
  {
    name: 'provml TS library (D, Go agent HTTP)',
    lang: 'ts',
    peer: 'D',
    key: 'ts-D-go',
    agent: 'go',
    extra: true,
  },
  {
    name: 'provml TS library (E, own spool, Go agent socket)',
    lang: 'ts',
    peer: 'E',
    key: 'ts-E-go',
    agent: 'go',
    extra: true,
  },
];
/** `--only`: contender keys (`ts`, `py` for the project's clients in setting F, else a peer's name or an extra's key). */
const only = args.only?.split(',').map((k) => k.trim());
const selected = (c: { lang: string; key: string; extra?: boolean }): boolean =>
  c.key === 'baseline'
    ? only === undefined || CONFIGS_ALL.some((o) => o.lang === c.lang && o.key !== 'baseline' && selected(o))
    : only === undefined
      ? c.extra !== true
      : only.includes(c.key);
const anyPython = CONFIGS_ALL.some((c) => c.lang === 'py' && c.key !== 'baseline' && selected(c));
const computeUs = Number(args['compute-us'] ?? 1000);
const queue = Number(args.queue);
const events = eventsOf(epochs);
const settle = await waitForQuiet(Number(args['settle-s'] ?? (quick ? 0 : 300)));
const load0 = loadavg();

if (anyPython) ensureVenv();
const redis: { port: number; proc?: ChildProcess } =
  only === undefined || only.includes('flowcept') ? await startRedis() : { port: 0 };
const pyIterations =
  mode === 'wait' || !anyPython
    ? 0
    : Number(
        spawnSync(PY, [join(ROOT, 'bench/fig5_python.py'), '--calibrate', String(computeUs)], {
          encoding: 'utf8',
        }).stdout.trim(),
      );
const tsIterations = mode === 'wait' ? 0 : calibrate(computeUs);
const computeArgv = ['--compute', mode, '--wait-ms', String(batchMs)];
const work = await mkdtemp(join(tmpdir(), 'peers-'));

const CONFIGS = CONFIGS_ALL.filter((c) => missing[c.peer] === undefined && selected(c));
const agents = new Map<'node' | 'go', Service & { socket: string }>();
for (const kind of ['node', 'go'] as const)
  if (CONFIGS.some((c) => c.agent === kind)) agents.set(kind, await startAgent(work, kind));
const runs = new Map<string, Run[]>(CONFIGS.map((c) => [c.name, []]));
const failures: Record<string, string> = {};

process.stdout.write(
  `peers: ${epochs} epochs × 35 batches = ${events} events/run, ${mode === 'wait' ? `${batchMs} ms GPU-like wait` : `${computeUs} µs busy compute`}/batch, ${reps} reps × ${CONFIGS.length}, queue ${queue}\n`,
);
const t0 = performance.now();
for (let r = 0; r < reps; r++) {
  const order = CONFIGS.map((_, i) => CONFIGS[(i + r) % CONFIGS.length]!);
  for (const c of order) {
    if (failures[c.name] !== undefined) continue;
    const dir = await mkdtemp(join(work, 'run-'));
    try {
      const agentCpu0 = new Map([...agents].map(([kind, a]) => [kind, processCpuMs(a.pid)]));
      const agent = c.agent === undefined ? undefined : agents.get(c.agent)!;
      const t0Run = performance.now();
      const result =
        c.lang === 'py'
          ? await runForJson<Run>(PY, [
              'bench/peers_python.py',
              '--peer',
              c.peer,
              '--epochs',
              String(epochs),
              '--iterations',
              String(pyIterations),
              ...computeArgv,
              '--dir',
              dir,
              '--queue',
              String(queue),
              '--redis-port',
              String(redis.port),
              ...(c.setting === undefined ? [] : ['--setting', c.setting]),
              ...(agent === undefined ? [] : ['--http-url', agent.url, '--socket', agent.socket]),
            ])
          : await runForJson<Run>(process.execPath, [
              '--import',
              'tsx',
              'bench/fig5.ts',
              '--worker',
              c.peer,
              '--epochs',
              String(epochs),
              '--iterations',
              String(tsIterations),
              ...computeArgv,
              '--spool',
              join(dir, 'spool'),
              '--queue',
              String(queue),
              ...(c.fsync === undefined ? [] : ['--fsync', c.fsync]),
              ...(agent === undefined ? [] : ['--agent-url', agent.url, '--agent-socket', agent.socket]),
            ]);
      if (agents.size > 0) {
        result.runWallMs = performance.now() - t0Run;
        result.agentCpuMs = Object.fromEntries(
          [...agents].map(([kind, a]) => [kind, processCpuMs(a.pid) - agentCpu0.get(kind)!]),
        );
      }
      runs.get(c.name)!.push(result);
    } catch (error) {
      failures[c.name] = (error as Error).message;
      process.stderr.write(`${c.name}: ${failures[c.name]}\n`);
    }
    await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `rep ${r + 1}/${reps}: ${CONFIGS.map((c) => `${c.name} ${((runs.get(c.name)!.at(-1)?.loopMs ?? NaN) / 1000).toFixed(3)} s`).join(', ')}\n`,
  );
}
const wallS = (performance.now() - t0) / 1000;
redis.proc?.kill();
for (const a of agents.values()) await a.stop();
await rm(work, { recursive: true, force: true });

const baselines = {
  py: runs.get('baseline (Python)')!,
  ts: runs.get('baseline (TypeScript)')!,
};
const rows: (string | number)[][] = [];
const boxes = [];
/** Each agent's own CPU while no client sends to it (ms per ms of run), taken off its figures. */
const agentIdle = (kind: 'node' | 'go'): number => {
  const idle = [...runs.entries()]
    .filter(([name]) => CONFIGS.find((c) => c.name === name)?.agent !== kind)
    .flatMap(([, rs]) => rs)
    .filter((r) => r.agentCpuMs?.[kind] !== undefined)
    .map((r) => r.agentCpuMs![kind]! / r.runWallMs!);
  return idle.length === 0 ? 0 : median(idle);
};
/** Runs whose client did not count every event delivered. */
const undelivered: string[] = [];
const wallPer: Record<string, number> = {};
const cpuPer: Record<string, number> = {};
for (const c of CONFIGS) {
  const rs = runs.get(c.name)!;
  if (rs.length === 0) continue;
  const base = baselines[c.lang];
  const baseMs = median(base.map((r) => r.loopMs));
  const baseCpu = median(base.map((r) => r.cpuMs));
  const loop = summarise(rs.map((r) => r.loopMs / 1000));
  const isBase = c.peer === 'baseline';
  const perEvent = rs.map((r) => ((r.loopMs - baseMs) * 1000) / events);
  const wall = isBase ? NaN : median(perEvent);
  const cpu = isBase ? NaN : ((median(rs.map((r) => r.cpuMs)) - baseCpu) * 1000) / events;
  const calls = isBase
    ? NaN
    : ((median(rs.map((r) => r.callMs)) - median(base.map((r) => r.callMs))) * 1000) / events;
  if (!isBase) {
    wallPer[c.name] = wall;
    cpuPer[c.name] = cpu;
    boxes.push(boxOf(c.name, perEvent));
  }
  rows.push([
    c.name,
    fmt(loop.median, 5),
    `${fmt(loop.min, 5)} – ${fmt(loop.max, 5)}`,
    isBase ? '–' : `${(((loop.median * 1000 - baseMs) / baseMs) * 100).toFixed(2)} %`,
    fmt(wall),
    fmt(calls),
    fmt(cpu),
    isBase ? '–' : fmt(median(rs.map((r) => r.drainMs))),
    isBase ? '–' : String(rs[0]!.calls ?? events),
    isBase || rs.some((r) => r.cpuSystemMs === undefined)
      ? '–'
      : fmt(
          ((median(rs.map((r) => r.cpuSystemMs!)) - median(base.map((r) => r.cpuSystemMs ?? NaN))) * 1000) /
            events,
        ),
    isBase || rs.some((r) => r.cpuMainMs === undefined)
      ? '–'
      : fmt(
          ((median(rs.map((r) => r.cpuMainMs!)) - median(base.map((r) => r.cpuMainMs ?? NaN))) * 1000) /
            events,
        ),
    optionalMedian(rs.map((r) => r.startCpuMs)),
    isBase ? '–' : optionalMedian(rs.map((r) => r.drainCpuMs)),
    c.agent === undefined
      ? '–'
      : fmt(
          median(
            rs.map((r) => ((r.agentCpuMs![c.agent!]! - agentIdle(c.agent!) * r.runWallMs!) * 1000) / events),
          ),
        ),
  ]);
  for (const r of rs)
    if (r.delivered !== undefined && r.delivered < events)
      undelivered.push(`${c.name}: ${r.delivered} of ${events} delivered`);
}
const peerNames = Object.keys(wallPer).filter((n) => !n.startsWith('provml'));
const ours = Object.keys(wallPer).filter((n) => n.startsWith('provml'));
const bestPeer = (m: Record<string, number>): [string, number] | undefined =>
  peerNames.map((n) => [n, m[n]!] as [string, number]).sort((a, b) => a[1] - b[1])[0];
const bw = bestPeer(wallPer);
const bc = bestPeer(cpuPer);
const ratioRows = ours.map((n) => [
  n,
  fmt(wallPer[n]!),
  bw === undefined ? '–' : wallPer[n]! > 0 ? `${fmt(bw[1] / wallPer[n]!)}×` : 'below the noise (≤ 0)',
  fmt(cpuPer[n]!),
  bc === undefined ? '–' : cpuPer[n]! > 0 ? `${fmt(bc[1] / cpuPer[n]!)}×` : 'below the noise (≤ 0)',
]);
const notRun = [
  ...Object.entries(missing).map(([k, v]) => `- **${k}**: not installed or not runnable here: ${v}`),
  ...Object.entries(failures).map(
    ([k, v]) => `- **${k}**: failed during the runs: ${v.replace(/\n/g, ' ').slice(0, 600)}`,
  ),
];
const versions = spawnSync(
  PY,
  [
    '-c',
    'import importlib.metadata as m\nfor p in ("provlake","flowcept","mlflow","redis"):\n  try: print(p, m.version(p))\n  except Exception: print(p, "absent")',
  ],
  { encoding: 'utf8' },
)
  .stdout?.trim()
  .split('\n')
  .join(', ');
// (no stdout when redis-server is not installed: flowcept is then reported missing, not measured)
const redisVersion =
  spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
    .stdout?.trim()
    .split(' ')
    .slice(0, 3)
    .join(' ') ?? 'redis-server absent';

await plot(
  join(RESULTS, `${args.out}.png`),
  boxPlotConfig(
    `Capture overhead per event, Fig. 5 loop (${events} events/run, ${reps} reps)`,
    'µs per event (wall, vs own baseline)',
    boxes,
  ),
  { width: 1100, height: 550 },
);
const computeCli =
  mode === 'wait' ? `--compute wait --batch-ms ${batchMs}` : `--compute busy --compute-us ${computeUs}`;
const command = `node --import tsx bench/peers.ts${quick ? ' --quick' : ''}${args.out === 'peers' ? '' : ` --out ${args.out}`} --reps ${reps} --events ${events} ${computeCli} --queue ${queue}${only === undefined ? '' : ` --only ${only.join(',')}`}`;
await writeResult(
  args.out,
  `Peers side by side: provlake, flowcept, mlflow, provml (Python client and TypeScript library)${only === undefined ? '' : `, only ${only.join(', ')}`}`,
  command,
  `Waited ${settle.waitedS.toFixed(0)} s for the 1-minute load average to drop below 2.0 (${settle.quiet ? 'it did' : 'it did not: other jobs were running'}). Load average (1, 5, 15 min) at the start ${load0.map((l) => l.toFixed(2)).join(', ')}, at the end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(
      ', ',
    )}; 2 shared cores (the Kafka broker of the local stack idles on them too). Wall time ${wallS.toFixed(0)} s. Peers: ${versions}; ${redisVersion}.

![per-event overhead](${args.out}.png)

**Workload.** The Fig. 5 loop of [fig5.md](fig5.md): ${epochs} epochs × 35 batches, ${events.toLocaleString('en')}
loop events (begin/end of training, epochs, batches) per run, ${
    mode === 'wait'
      ? `a ${batchMs} ms GPU-like wait per batch (\`--compute wait\`: Node awaits a timer, Python sleeps with the GIL released,
so background capture work runs while the trainer waits, as with a GPU; the paper's batches took ~170 ms)`
      : `a ${computeUs} µs busy-loop per batch (\`--compute busy\`, calibrated per language; fixed work)`
  }. Every run is a fresh process; the ${CONFIGS.length} contenders are
interleaved and rotated every repetition. Python contenders are compared with the Python baseline,
the TypeScript library with the TypeScript baseline (same loop in Node).

**How each peer captures** (each in a no-server or local-queue mode that runs here, queue/bag size ${queue} where it has one):
- *provlake* 0.2.982 (PyPI): \`ProvLake.get_persister(should_send_to_file=True, service_url=None, bag_size=${queue})\` — the offline
  mode that needs no ProvLake server: \`ProvWorkflow\` for the run, a \`ProvTask\` per task execution
  (\`ProvTask(...)\` + \`begin()\` + \`end(outputs)\`: 3 requests per task), appended as JSON to a log file. Installed with
  \`pip install --ignore-requires-python\` (it declares Python < 3.9; this machine has 3.11, and it runs unchanged).
- *flowcept*: \`Flowcept(start_persistence=False, check_safe_stops=False)\` with its Redis MQ
  (\`buffer_size: ${queue}\`, no database, telemetry off), a \`FlowceptTask\` per task execution, published to a
  local \`redis-server\` started by the script.
- *mlflow*: no task begin/end in its API: params at training begin, \`log_metric(..., synchronous=False)\`
  per batch end, \`log_metrics\` per epoch end (≈ half the calls of the others), into a local SQLite store
  (MLflow 3 refuses the file store unless forced: "maintenance mode").
- *provml Python client*: setting F (its own spool, fsync per batch, queue ${queue}); *provml TS library*:
  setting F too (\`init({ spool, offline: true, queueSize: ${queue} })\`). F is the no-server setting comparable to the
  peers' local modes; the online settings on Kafka are in [fig5.md](fig5.md) and [fig5-python.md](fig5-python.md).

**Columns.** *µs/event (wall)* = (run − own baseline median) / ${events} loop events; *in-call* = time
inside the capture calls per event; *CPU µs/event* = the process's CPU time (all threads) over its
baseline's, per event, during the loop: the least noisy figure on a shared machine. *Drain* = closing/flushing
after the loop. *Of which kernel* = the part of the CPU per event spent in system calls (writes, fsync), over the
baseline's; *of which trainer thread* = the part on the thread that runs the loop (the calls, and in Node the
event loop's background batching, encoding and spool writes), the rest being the client's threads (Python) or
Node's GC, JIT and I/O-pool threads. *Start-up CPU* = the process's CPU before its loop (interpreter, imports, warm-up, \`init\`), reported
apart from the per-event figures; *drain CPU* = its CPU while closing (TypeScript workers report both; '–': not reported).

${table(['contender', 'run s (median)', 'run s (min – max)', 'overhead', 'µs/event (wall)', 'in-call µs/event', 'CPU µs/event', 'drain ms', 'capture calls', 'of which kernel µs/event', 'of which trainer thread µs/event', 'start-up CPU ms', 'drain CPU ms', 'agent CPU µs/event'], rows)}
${
  agents.size === 0
    ? ''
    : `
*Agent CPU µs/event* (online settings D and E): the CPU of the agent process (\`provml agent\`, or the Go
agent \`dist/provml-agent-go\` where the name says so; all threads, from /proc) while the client's process
lived, less the agent's idle CPU over the same time (${[...agents.keys()].map((k) => `${k === 'go' ? 'Go agent' : 'provml agent'} ${fmt(agentIdle(k) * 1000)} ms per s`).join(', ')},
measured during the other contenders' runs), per event: what the sidecar costs the node on top of the
client's *CPU µs/event*. D posts NDJSON to the agent's HTTP ingest; E: the Python client sends over the
agent's socket (the agent spools, fsync per batch), the TS library writes its own spool and its publisher
ships it over the socket; the agent publishes to Kafka at ${args.brokers}. Every event was counted delivered
by the client's shutdown${undelivered.length === 0 ? '' : `, except: ${undelivered.join('; ')}`}.
`
}

**Ratios against the best peer** (${bw === undefined ? 'none ran' : `wall: ${bw[0]}, ${fmt(bw[1])} µs/event`}; ${bc === undefined ? '' : `CPU: ${bc[0]}, ${fmt(bc[1])} µs/event`}). Goal: ≥ 10× lower.

${table(['provml', 'µs/event (wall)', 'best peer ÷ provml (wall)', 'CPU µs/event', 'best peer ÷ provml (CPU)'], ratioRows)}

At the paper's density (one event every ~85,000 µs), the per-event costs above are: ${Object.keys(wallPer)
    .map(
      (n) =>
        `${n} ${fmt((wallPer[n]! / PAPER_US_PER_EVENT) * 100)} % wall, ${fmt((cpuPer[n]! / PAPER_US_PER_EVENT) * 100)} % CPU`,
    )
    .join('; ')}.

${notRun.length === 0 ? 'Every peer installed and ran.' : `**Not measured:**\n\n${notRun.join('\n')}`}
`,
);
process.stdout.write(
  `${Object.entries(wallPer)
    .map(([n, v]) => `${n}: ${fmt(v)} µs/event wall, ${fmt(cpuPer[n]!)} CPU`)
    .join('\n')}\nwrote bench/results/${args.out}.md and ${args.out}.png\n`,
);
process.exit(0);
