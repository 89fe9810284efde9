/**
 * Shared machinery of the pipeline benchmarks (throughput, freshness, Fig. 6, memory): the real
 * `provml processor|sink|agent` service processes, producer and trainer child processes, Prometheus
 * scraping, per-process CPU and RSS from /proc, consumer lag from the broker and CPU-profile summaries.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DEFAULT_TOPICS, KafkaEventLog, type TopicNames } from '@provml/log';
import { ProvmlError } from '@provml/schemas';
import { ROOT } from './report.ts';

/** The local broker the benchmarks use. */
export const KAFKA = process.env['PROVML_KAFKA_BROKERS'] ?? '127.0.0.1:19092';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on Linux). */
const HZ = 100;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A fresh topic prefix and group names of one benchmark run (never the shared defaults). */
export function benchNames(bench: string): { prefix: string; processorGroup: string; sinkGroup: string } {
  const id = `${bench}-${randomBytes(4).toString('hex')}`;
  return { prefix: `bench.${id}.`, processorGroup: `bench-${id}-processor`, sinkGroup: `bench-${id}-sink` };
}

/** The topic names under a prefix (as the services derive them). */
export function topicsOf(prefix: string): TopicNames {
  return {
    events: prefix + DEFAULT_TOPICS.events,
    specs: prefix + DEFAULT_TOPICS.specs,
    annotations: prefix + DEFAULT_TOPICS.annotations,
    triples: prefix + DEFAULT_TOPICS.triples,
    deadLetters: prefix + DEFAULT_TOPICS.deadLetters,
  };
}

/** A child process in a process group of its own. */
export interface Child {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code once it has exited. */
  exited: Promise<number | null>;
  /** Lines written to stdout and stderr (the last 200). */
  output: string[];
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<number | null>;
}

const children = new Set<Child>();

/** Kills every child still running (SIGKILL to their groups): for exit paths. */
export function killAll(): void {
  for (const c of children) {
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
/**
 * Runs a benchmark's `main` and exits when it is done (a client library may keep a handle open after
 * closing); on failure kills every child first and prints an expected condition (a `ProvmlError`, e.g.
 * no broker) in one line, a bug with its stack.
 */
export function runBench(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      killAll();
      const text =
        error instanceof ProvmlError
          ? `${name}: ${error.message}`
          : error instanceof Error
            ? (error.stack ?? error.message)
            : String(error);
      process.stderr.write(`${text}\n`);
      process.exit(1);
    },
  );
}
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });

/** Spawns `node --import tsx …args` (in its own process group) with `onLine` called per output line. */
export function spawnNode(
  name: string,
  args: readonly string[],
  options: {
    env?: NodeJS.ProcessEnv;
    onLine?: (line: string) => void;
    nodeArgs?: readonly string[];
    /** Run TypeScript through tsx's loader (default); false for compiled JavaScript. */
    tsx?: boolean;
  } = {},
): Child {
  const loader = options.tsx === false ? [] : ['--import', 'tsx'];
  return spawnChild(name, process.execPath, [...(options.nodeArgs ?? []), ...loader, ...args], options);
}

/** Spawns `command …args` (in its own process group) with `onLine` called per output line. */
export function spawnChild(
  name: string,
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; onLine?: (line: string) => void } = {},
): Child {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const take = (line: string): void => {
    output.push(line);
    if (output.length > 200) output.shift();
    options.onLine?.(line);
  };
  createInterface({ input: child.stdout }).on('line', take);
  createInterface({ input: child.stderr }).on('line', take);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const c: Child = {
    name,
    pid: child.pid!,
    child,
    exited,
    output,
    stop: async (graceMs = 20_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      try {
        process.kill(-c.pid, 'SIGTERM');
      } catch {
        return child.exitCode;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-c.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }, graceMs);
      const code = await exited;
      clearTimeout(timer);
      children.delete(c);
      return code;
    },
  };
  children.add(c);
  void exited.then(() => children.delete(c));
  return c;
}

/** A running `provml` service process. */
export interface Service extends Child {
  /** Its HTTP base URL (`/metrics`; the sink also serves `/sparql`). */
  url: string;
}

/** What a service process is started with. */
export interface ServiceOptions {
  prefix: string;
  /** Bootstrap brokers, comma-separated. Default `KAFKA`. */
  kafka?: string;
  processorGroup: string;
  sinkGroup: string;
  /** Sink store: `oxigraph-embedded`, `rdf4j` (url, repository) or `sparql` (Oxigraph server url). */
  store?: { kind: 'oxigraph-embedded' | 'rdf4j' | 'sparql'; url?: string; repository?: string };
  /** Write a V8 CPU profile into this folder when the process exits. */
  cpuProfDir?: string;
  /** Agent only: its spool folder. */
  spool?: string;
  /**
   * Agent only: run this compiled entry point (dist/provml-agent.mjs, `npm run build:agent`) with
   * plain Node and these Node options, instead of `provml agent` under tsx.
   */
  compiled?: { script: string; nodeArgs: readonly string[] };
  /** Agent only: run this executable (dist/provml-agent-go, `npm run build:agent-go`) instead of Node. */
  binary?: string;
  extraArgs?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts `node --import tsx app/src/cli/main.ts <kind> …` (or the compiled agent) and waits for
 * its "running at" line.
 * @throws Error with the process output when it exits or does not come up within 60 s
 */
export async function startService(
  kind: 'processor' | 'sink' | 'agent',
  o: ServiceOptions,
): Promise<Service> {
  const entry =
    o.binary !== undefined
      ? []
      : o.compiled === undefined
        ? ['app/src/cli/main.ts', kind]
        : [o.compiled.script];
  const args = [
    ...entry,
    '--kafka',
    o.kafka ?? KAFKA,
    '--topic-prefix',
    o.prefix,
    '--port',
    '0',
    '--log-level',
    'warn',
    '--instance-id',
    `${kind}-${randomBytes(3).toString('hex')}`,
  ];
  if (o.store !== undefined) {
    args.push('--store', o.store.kind);
    if (o.store.url !== undefined) args.push('--store-url', o.store.url);
    if (o.store.repository !== undefined) args.push('--repository', o.store.repository);
  }
  if (o.spool !== undefined) args.push('--spool', o.spool);
  args.push(...(o.extraArgs ?? []));
  let found: (url: string) => void = () => undefined;
  const url = new Promise<string>((resolve) => (found = resolve));
  const spawnIt = (options: Parameters<typeof spawnNode>[2]): Child =>
    o.binary === undefined ? spawnNode(kind, args, options) : spawnChild(kind, o.binary, args, options);
  const child = spawnIt({
    nodeArgs: [
      ...(o.compiled?.nodeArgs ?? []),
      ...(o.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir]),
    ],
    tsx: o.compiled === undefined,
    env: {
      PROVML_PROCESSOR_GROUP: o.processorGroup,
      PROVML_SINK_GROUP: o.sinkGroup,
      // the benchmarks read /metrics and /sparql on 127.0.0.1 without tokens
      PROVML_AUTH_DISABLED: 'true',
      ...o.env,
    },
    onLine: (line) => {
      const m = /running at (http:\/\/\S+)/.exec(line);
      if (m !== null) found(m[1]!);
    },
  });
  const outcome = await Promise.race([
    url,
    child.exited.then((code) => new Error(`exited with ${code}`)),
    sleep(60_000).then(() => new Error('not running after 60 s')),
  ]);
  if (outcome instanceof Error) {
    await child.stop(1000);
    throw new Error(`provml ${kind} ${outcome.message}:\n${child.output.join('\n')}`);
  }
  return { ...child, url: outcome };
}

/** Prometheus text parsed into `name{labels}` → value. */
export type Scrape = Map<string, number>;

/** Scrapes `/metrics` of a service. */
export async function scrape(url: string): Promise<Scrape> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** A metric's value (0 when absent). */
export const metric = (s: Scrape, name: string): number => s.get(name) ?? 0;

/** Cumulative histogram buckets `[le, count]` of a metric in a scrape (le = Infinity last). */
export function buckets(s: Scrape, name: string): [number, number][] {
  const out: [number, number][] = [];
  for (const [k, v] of s) {
    const m = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(k);
    if (m !== null) out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), v]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** Buckets of `after` minus `before` (the observations between two scrapes). */
export function bucketDelta(before: [number, number][], after: [number, number][]): [number, number][] {
  return after.map(([le, n]) => [le, n - (before.find((b) => b[0] === le)?.[1] ?? 0)]);
}

/**
 * The q-quantile of cumulative buckets, interpolated linearly inside a bucket (as Prometheus'
 * `histogram_quantile`); the highest finite bound when it falls in the +Inf bucket.
 */
export function histogramQuantile(bs: [number, number][], q: number): number {
  const total = bs[bs.length - 1]?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const [le, n] of bs) {
    if (n >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevN) / Math.max(1e-9, n - prevN));
    }
    prevLe = le;
    prevN = n;
  }
  return prevLe;
}

/** CPU seconds (user + system) of a process and its threads so far, or NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / HZ;
  } catch {
    return NaN;
  }
}

/** Resident set size of a process in MiB (or its file-backed or anonymous part), or NaN when it is gone. */
export function rssMiB(pid: number, field: 'VmRSS' | 'RssFile' | 'RssAnon' = 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? NaN : Number(m[1]) / 1024;
  } catch {
    return NaN;
  }
}

/** Pid of a server started by deploy/local (its pid file), e.g. `kafka/kafka` or `rdf4j-bench`. */
export function pidOf(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(ROOT, '.cache/stack/run', pidFile), 'utf8').trim());
    return Number.isFinite(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The 1-minute load average. */
export const load1 = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

/**
 * Waits until the 1-minute load average is below `below` (polling every 10 s, at most `maxMs`).
 * @returns the load when it stopped waiting
 */
export async function waitForQuiet(below: number, maxMs: number, say: (s: string) => void): Promise<number> {
  const deadline = Date.now() + maxMs;
  let l = load1();
  while (l >= below && Date.now() < deadline) {
    say(`load ${l.toFixed(2)} ≥ ${below}: waiting`);
    await sleep(10_000);
    l = load1();
  }
  return l;
}

/** A broker client for reading consumer lag. */
export class LagReader {
  private readonly log = new KafkaEventLog({ brokers: [KAFKA], clientId: 'provml-bench' });
  constructor(
    private readonly topics: TopicNames,
    private readonly groups: { processorGroup: string; sinkGroup: string },
  ) {}

  /** Records not yet committed by the processor group (events) and the sink group (triples records). */
  async lag(): Promise<{ processor: number; sink: number }> {
    const [processor, sink] = await Promise.all([
      this.log.lag(this.groups.processorGroup, [this.topics.events]),
      this.log.lag(this.groups.sinkGroup, [this.topics.triples]),
    ]);
    return { processor, sink };
  }

  /** Deletes the run's topics (best effort) and disconnects. */
  async close(deleteTopics = true): Promise<void> {
    if (deleteTopics) {
      const admin = await this.log.adminClient();
      await admin
        .deleteTopics({ topics: Object.values(this.topics) as string[], timeout: 10_000 })
        .catch(() => undefined);
    }
    await this.log.close();
  }
}

/** One line of a CPU-profile summary. */
export interface HotFunction {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/**
 * The top self-time functions of a `.cpuprofile` (V8 format), merged by function and location;
 * `(idle)` is left out of the shares, `(garbage collector)` and `(program)` are kept.
 */
export async function summariseProfile(path: string, top = 12): Promise<HotFunction[]> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (node === undefined || node.callFrame.functionName === '(idle)') continue;
    const f = node.callFrame;
    const where =
      f.url === ''
        ? ''
        : `${f.url
            .replace(`file://${ROOT}/`, '')
            .replace(/^.*node_modules\//, '')
            .replace(/^node:/, 'node:')}:${f.lineNumber + 1}`;
    const key = `${f.functionName}@${where}`;
    const entry = self.get(key) ?? { name: f.functionName || '(anonymous)', where, us: 0 };
    entry.us += dt;
    self.set(key, entry);
    total += dt;
  }
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: e.us / Math.max(1, total) }));
}

/** Self time by package / area of a profile (node_modules package, project folder, or V8 bucket). */
export async function profileByArea(path: string): Promise<[string, number][]> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const areas = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (node === undefined || node.callFrame.functionName === '(idle)') continue;
    const url = node.callFrame.url;
    const area =
      url === ''
        ? node.callFrame.functionName
        : url.includes('node_modules/')
          ? (/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? 'node_modules')
          : url.startsWith('node:')
            ? 'node: core'
            : url.replace(`file://${ROOT}/`, '').split('/').slice(0, 2).join('/');
    areas.set(area, (areas.get(area) ?? 0) + dt);
    total += dt;
  }
  return [...areas.entries()]
    .map(([a, us]) => [a, us / Math.max(1, total)] as [string, number])
    .sort((a, b) => b[1] - a[1]);
}

/**
 * The main thread's `.cpuprofile` in a folder `--cpu-prof-dir` wrote: the largest one (tsx's module
 * loader runs on a worker thread that writes a small profile of its own).
 */
export function mainProfileIn(dir: string): string | undefined {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(dir, f))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0];
  } catch {
    return undefined;
  }
}

/** Progress a producer or trainer reports (JSON lines on its stdout). */
export interface ChildReport {
  type: string;
  [k: string]: unknown;
}

/** A child process that reports JSON lines: its reports so far and its last one. */
export interface ReportingChild extends Child {
  reports: ChildReport[];
  /** Resolves with the first report of this type. */
  when(type: string, timeoutMs?: number): Promise<ChildReport>;
}

/** Spawns a bench child script (`bench/lib/<script>.ts`) with a JSON config, collecting its reports. */
export function spawnReporting(name: string, script: string, config: object): ReportingChild {
  const reports: ChildReport[] = [];
  const waiting: { type: string; resolve: (r: ChildReport) => void }[] = [];
  const child = spawnNode(name, [`bench/lib/${script}.ts`, JSON.stringify(config)], {
    onLine: (line) => {
      if (!line.startsWith('{')) return;
      let r: ChildReport;
      try {
        r = JSON.parse(line) as ChildReport;
      } catch {
        return;
      }
      reports.push(r);
      for (const w of waiting.filter((x) => x.type === r.type)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(r);
      }
    },
  });
  return {
    ...child,
    reports,
    when: (type, timeoutMs = 120_000) => {
      const found = reports.find((r) => r.type === type);
      if (found !== undefined) return Promise.resolve(found);
      return Promise.race([
        new Promise<ChildReport>((resolve) => waiting.push({ type, resolve })),
        child.exited.then((code) => {
          throw new Error(`${name} exited (${code}) before '${type}':\n${child.output.join('\n')}`);
        }),
        sleep(timeoutMs).then(() => {
          throw new Error(`${name}: no '${type}' within ${timeoutMs} ms:\n${child.output.join('\n')}`);
        }),
      ]);
    },
  };
}

/** Starts reporting children together: waits for every 'ready', then tells each the same start time. */
export async function startTogether(kids: readonly ReportingChild[], leadMs = 500): Promise<number> {
  await Promise.all(kids.map((k) => k.when('ready')));
  const startAt = Date.now() + leadMs;
  for (const k of kids) k.child.stdin!.write(`${startAt}\n`);
  return startAt;
}
