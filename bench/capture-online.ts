/**
 * Capture CPU per event through the sidecar agent (issue #21, settings D and E), client and agent
 * apart, as an interleaved A/B of two checkouts of the repository: `after` (this one) and `before`
 * (`--before REV`: a git revision, e.g. the base commit). Per repetition, per setting, per variant (order rotated each
 * repetition): a fresh `provml agent` of that variant on the local Kafka, its idle CPU over
 * `--idle-s`, then one Fig. 5 worker of that variant (`bench/fig5.ts --worker D|E`: D posts NDJSON to
 * the agent's HTTP ingest, E writes its own spool and ships it over the agent's socket), then the wait
 * until the agent has published every record to Kafka; the agent's CPU over that time, less its idle
 * rate, per event, beside the client's CPU during its loop (all threads) over a baseline worker's
 * (no capture) of the same repetition.
 *
 * Run: `node --import tsx bench/capture-online.ts --before REV [--after REV] [--settings D,E] [--reps 3] [--epochs 60]
 *       [--wait-ms 5] [--queue 50] [--idle-s 2] [--brokers 127.0.0.1:19092] [--cpu-prof DIR] [--out NAME]`
 * `--before REV`, `--after REV`: git revisions of this repository, each checked out (git archive)
 * in a temporary directory with this checkout's node_modules hard-linked in; `--after` absent: this
 * checkout as it is. `--before` absent: only the after variant (no A/B). `--cpu-prof DIR`: profiles of this checkout's agent
 * and workers go to DIR (the figures then carry the profiler's cost). Writes bench/results/NAME.md
 * (default capture-cost-online-ab).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '@provml/schemas';
import { DEFAULT_TOPICS, KafkaEventLog } from '@provml/log';
import { eventsOf } from './fig5-loop.ts';
import { runForJson } from './lib/jsonChild.ts';
import { cpuSeconds } from './lib/pipeline.ts';
import { freePort } from '../deploy/testing/embeddedProcess.ts';
import { fmt, median, ROOT, table, thisCommand, writeResult, helpFromHeader } from './lib/report.ts';

helpFromHeader(import.meta.url);

const { values: args } = parseArgs({
  options: {
    before: { type: 'string' },
    after: { type: 'string' },
    settings: { type: 'string', default: 'D,E' },
    reps: { type: 'string', default: '3' },
    epochs: { type: 'string', default: '60' },
    'wait-ms': { type: 'string', default: '5' },
    queue: { type: 'string', default: '50' },
    'idle-s': { type: 'string', default: '2' },
    brokers: { type: 'string', default: '127.0.0.1:19092' },
    'cpu-prof': { type: 'string' },
    out: { type: 'string', default: 'capture-cost-online-ab' },
  },
});

const settings = args.settings.split(',').filter((s) => s === 'D' || s === 'E');
const reps = Number(args.reps);
const epochs = Number(args.epochs);
const events = eventsOf(epochs);
const idleMs = Number(args['idle-s']) * 1000;
const checkouts: string[] = [];
/**
 * A checkout of `rev` (a git revision of this repository): its files from `git archive` in a
 * temporary directory, with this checkout's node_modules hard-linked in (the workspace packages in
 * it are relative links, so they resolve to the checkout's own sources).
 */
function checkout(rev: string): string {
  const dir = mkdtempSync(join(tmpdir(), `capture-online-${rev.replace(/[^\w.-]/g, '_')}-`));
  const tar = spawnSync('sh', ['-c', `git -C "${ROOT}" archive "${rev}" | tar -x -C "${dir}"`], {
    stdio: 'inherit',
  });
  if (tar.status !== 0) throw new Error(`git archive ${rev} failed`);
  const cp = spawnSync('cp', ['-al', join(ROOT, 'node_modules'), dir], { stdio: 'inherit' });
  if (cp.status !== 0) throw new Error('could not link node_modules');
  checkouts.push(dir);
  return dir;
}
const variants: { name: string; root: string; rev: string }[] = [
  ...(args.before === undefined ? [] : [{ name: 'before', root: checkout(args.before), rev: args.before }]),
  {
    name: 'after',
    root: args.after === undefined ? ROOT : checkout(args.after),
    rev: args.after ?? 'this checkout',
  },
];
const prefix = `bench-online-${Date.now().toString(36)}.`;
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU of a process so far, ms: all threads, of which in the kernel, and its main thread. */
function cpuOf(pid: number): { all: number; system: number; main: number } {
  const ticks = (path: string): number[] => {
    const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
    return [Number(fields[11]), Number(fields[12])].map((t) => (t * 1000) / CLOCK_TICKS);
  };
  const [user, system] = ticks(`/proc/${pid}/stat`);
  const [mainUser, mainSystem] = ticks(`/proc/${pid}/task/${pid}/stat`);
  return { all: user! + system!, system: system!, main: mainUser! + mainSystem! };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Agent {
  proc: ChildProcess;
  url: string;
  socket: string;
  metric(name: string): Promise<number>;
}

/** A `provml agent` of one checkout on the local Kafka, with a fresh spool. */
async function startAgent(root: string, dir: string, prof: boolean): Promise<Agent> {
  const port = await freePort();
  const spool = join(dir, 'agent');
  const proc = spawn(
    process.execPath,
    [
      ...(prof ? ['--cpu-prof', '--cpu-prof-dir', resolve(args['cpu-prof']!)] : []),
      '--import',
      'tsx',
      'app/src/cli/main.ts',
      'agent',
      '--kafka',
      args.brokers,
      '--topic-prefix',
      prefix,
      '--spool',
      spool,
      '--port',
      String(port),
      '--log-level',
      'warn',
    ],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PROVML_AUTH_DISABLED: 'true' },
    },
  );
  const socket = join(spool, 'agent.sock');
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`the agent of ${root} exited ${proc.exitCode}`);
    if (
      existsSync(socket) &&
      (await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      break;
    await sleep(100);
  }
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  };
  return { proc, url, socket, metric };
}

/** Runs one Fig. 5 worker of a checkout; its JSON line. */
function worker(root: string, setting: string, dir: string, agent: Agent | undefined, prof: boolean) {
  return runForJson<Record<string, number>>(
    process.execPath,
    [
      ...(prof ? ['--cpu-prof', '--cpu-prof-dir', resolve(args['cpu-prof']!)] : []),
      '--import',
      'tsx',
      'bench/fig5.ts',
      '--worker',
      setting,
      '--epochs',
      String(epochs),
      '--compute',
      'wait',
      '--wait-ms',
      args['wait-ms'],
      '--queue',
      args.queue,
      '--spool',
      join(dir, 'spool'),
      ...(agent === undefined ? [] : ['--agent-url', agent.url, '--agent-socket', agent.socket]),
    ],
    true,
    root,
  );
}

interface Row {
  variant: string;
  setting: string;
  clientCpuMs: number;
  clientMainMs: number;
  clientSysMs: number;
  agentCpuMs: number;
  agentIdleMsPerS: number;
  /** The agent's CPU over the run, not less its idle: main thread, kernel, all. */
  agentMainMs: number;
  agentSysMs: number;
  agentRawMs: number;
  drainMs: number;
  delivered: number;
  published: number;
}

const log = new KafkaEventLog({
  brokers: args.brokers.split(','),
  clientId: 'capture-online',
  logger: silentLogger,
});
await log.ensureTopic(prefix + DEFAULT_TOPICS.events, 3);
await log.ensureTopic(prefix + DEFAULT_TOPICS.specs, 1, { compacted: true });
await log.close();

const load0 = loadavg();
const work = await mkdtemp(join(tmpdir(), 'capture-online-'));
const rows: Row[] = [];
const baselines: Record<string, number>[] = [];
const t0 = performance.now();
const cells = settings.flatMap((setting) => variants.map((v) => ({ setting, ...v })));
for (let r = 0; r < reps; r++) {
  baselines.push(await worker(ROOT, 'baseline', work, undefined, false));
  const order = cells.map((_, i) => cells[(i + r) % cells.length]!);
  for (const c of order) {
    const dir = await mkdtemp(join(work, 'run-'));
    const prof = args['cpu-prof'] !== undefined && c.name === 'after';
    const agent = await startAgent(c.root, dir, prof);
    try {
      await sleep(3000); // the agent's start-up settles (JIT, Kafka connection)
      const idle0 = cpuSeconds(agent.proc.pid!) * 1000;
      await sleep(idleMs);
      const idleRate = (cpuSeconds(agent.proc.pid!) * 1000 - idle0) / idleMs;
      const cpu0 = cpuOf(agent.proc.pid!);
      const tRun = performance.now();
      const w = await worker(c.root, c.setting, dir, agent, prof);
      // the agent's work for this run ends when Kafka has every record it spooled
      let published = 0;
      for (let i = 0; i < 300; i++) {
        published = await agent.metric('provml_spool_published_records_total');
        if (published >= events && (await agent.metric('provml_spool_depth_records')) === 0) break;
        await sleep(100);
      }
      const runMs = performance.now() - tRun;
      const cpu1 = cpuOf(agent.proc.pid!);
      const agentCpuMs = cpu1.all - cpu0.all - idleRate * runMs;
      rows.push({
        variant: c.name,
        setting: c.setting,
        clientCpuMs: w['cpuMs']!,
        clientMainMs: w['cpuMainMs'] ?? NaN,
        clientSysMs: w['cpuSystemMs'] ?? NaN,
        agentCpuMs,
        agentIdleMsPerS: idleRate * 1000,
        agentMainMs: cpu1.main - cpu0.main,
        agentSysMs: cpu1.system - cpu0.system,
        agentRawMs: cpu1.all - cpu0.all,
        drainMs: w['drainMs']!,
        delivered: w['delivered'] ?? NaN,
        published,
      });
      process.stdout.write(
        `rep ${r + 1} ${c.setting} ${c.name}: client ${fmt(w['cpuMs']!)} ms, agent ${fmt(agentCpuMs)} ms ` +
          `(raw ${fmt(cpu1.all - cpu0.all)}, main thread ${fmt(cpu1.main - cpu0.main)}, kernel ${fmt(cpu1.system - cpu0.system)}; ` +
          `idle ${fmt(idleRate * 1000)} ms/s over ${fmt(runMs)} ms), delivered ${w['delivered']}, published ${published}\n`,
      );
    } finally {
      agent.proc.kill('SIGTERM');
      await once(agent.proc, 'close');
      await rm(dir, { recursive: true, force: true });
    }
  }
}
const wallS = (performance.now() - t0) / 1000;
await rm(work, { recursive: true, force: true });
for (const dir of checkouts) await rm(dir, { recursive: true, force: true });
const load1 = loadavg();

const base = median(baselines.map((b) => b['cpuMs']!));
const baseMain = median(baselines.map((b) => b['cpuMainMs'] ?? NaN));
const baseSys = median(baselines.map((b) => b['cpuSystemMs'] ?? NaN));
const us = (ms: number): number => (ms * 1000) / events;
const tableRows = cells.map((c) => {
  const rs = rows.filter((x) => x.variant === c.name && x.setting === c.setting);
  const client = rs.map((x) => us(x.clientCpuMs - base));
  const agent = rs.map((x) => us(x.agentCpuMs));
  return [
    `${c.setting}, ${c.name}`,
    `**${fmt(median(client))}** (${client.map((x) => fmt(x)).join(', ')})`,
    fmt(median(rs.map((x) => us(x.clientMainMs - baseMain)))),
    fmt(median(rs.map((x) => us(x.clientSysMs - baseSys)))),
    `**${fmt(median(agent))}** (${agent.map((x) => fmt(x)).join(', ')})`,
    fmt(median(rs.map((x) => us(x.agentRawMs)))),
    fmt(median(rs.map((x) => us(x.agentMainMs)))),
    fmt(median(rs.map((x) => us(x.agentSysMs)))),
    fmt(median(rs.map((x) => us(x.clientCpuMs - base + x.agentCpuMs)))),
    fmt(median(rs.map((x) => x.agentIdleMsPerS))),
    fmt(median(rs.map((x) => x.drainMs))),
    // the spec is one more record; more than that are events sent twice (at least once)
    rs.every((x) => x.delivered === events && x.published >= events)
      ? `yes${rs.some((x) => x.published > events + 1) ? ` (records published: ${rs.map((x) => x.published).join(', ')})` : ''}`
      : 'NO',
  ];
});

const path = await writeResult(
  args.out,
  'Capture CPU per event through the agent (settings D and E), client and agent',
  thisCommand(),
  `${epochs} epochs × 35 batches = ${events} events per run, ${args['wait-ms']} ms GPU-like wait per batch, queue ${args.queue};
${reps} repetitions, each: one baseline worker (no capture, this checkout), then every (setting, variant) in an order
rotated each repetition, each with a fresh agent of its variant. Load average (1, 5, 15 min) at the start
${load0.map((l) => l.toFixed(2)).join(', ')}, at the end ${load1.map((l) => l.toFixed(2)).join(', ')}; wall time ${fmt(wallS)} s.
Variants: ${variants.map((v) => `${v.name} = ${v.rev}`).join(', ')}.
${args['cpu-prof'] === undefined ? '' : 'Profiled (--cpu-prof): the after variant carries the profiler.'}

*Client CPU µs/event*: the worker process's CPU during its loop (all threads) less the baseline median
(${fmt(base)} ms), per event; *trainer thread* and *kernel*: the same for its main thread and its system time.
*Agent CPU µs/event*: the agent process's CPU from the worker's start until Kafka acknowledged every
record (provml_spool_depth_records 0), less its idle rate measured just before (*idle ms/s*), per event; *idle not taken off*: all the agent's CPU over
that time per event (what the node pays while the client runs); its main thread (JavaScript) and its
kernel time, not less the idle rate (an upper bound of each).
*Delivered*: the client's shutdown counted every event delivered and the agent published all of them
(${events} events and the spec; when a run published more records, events went twice, their count is given).

${table(
  [
    'setting, variant',
    'client CPU µs/event (runs)',
    'of which trainer thread',
    'of which kernel',
    'agent CPU µs/event (runs)',
    'agent CPU µs/event, idle not taken off',
    "agent's main thread (with idle)",
    "agent's kernel (with idle)",
    'client + agent',
    'agent idle ms/s',
    'drain ms',
    'delivered',
  ],
  tableRows,
)}
`,
);
process.stdout.write(`wrote ${path}\n`);
