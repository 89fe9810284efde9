/**
 * Helpers of the fault-injection suite: the processor and the sink as real processes, an Oxigraph
 * server of its own, a paced capture stream, a slow proxy, and the final count in the store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { encodeCaptureEvent, type CaptureEvent } from '@provml/schemas';
import type { ConsumedRecord, KafkaEventLog, TopicNames } from '@provml/log';
import { isPortOpen, isRunning } from '../local/processes.ts';
import { dataDirOf, ensureOxigraph, stopStore } from '../local/stores.ts';
import { recordFault, type FaultRecord } from './faultReport.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Whether the long variants run (`PROVML_FAULTS_FULL=1`). */
export const FULL = process.env.PROVML_FAULTS_FULL === '1';

/** A query token the sink processes get (the sink serves the query app, so it needs one). */
export const QUERY_TOKEN = 'faults-query-token-00000000000000';

/** A service process (`provml processor|sink`), its HTTP URL once started, and its output. */
export interface ServiceProcess {
  child: ChildProcess;
  /** Resolves with the URL of its HTTP server when it printed its start line. */
  url: Promise<string>;
}

/**
 * Starts `provml <kind>` as one node process (tsx loader), so SIGKILL hits the service itself.
 * Its output goes to `test-output/faults-<name>.log`.
 */
export function startService(
  kind: 'processor' | 'sink',
  options: { bootstrap: string; prefix: string; group: string; name: string; storeUrl?: string },
): ServiceProcess {
  mkdirSync(`${ROOT}test-output`, { recursive: true });
  const logFile = `${ROOT}test-output/faults-${options.name}.log`;
  const log = openSync(logFile, 'a');
  const store = options.storeUrl === undefined ? [] : ['--store', 'sparql', '--store-url', options.storeUrl];
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'app/src/cli/main.ts',
      kind,
      '--kafka',
      options.bootstrap,
      '--topic-prefix',
      options.prefix,
      '--instance-id',
      options.name,
      '--port',
      '0',
      '--log-level',
      'warn',
      ...store,
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', log],
      env: {
        ...process.env,
        PROVML_PROCESSOR_GROUP: `${options.group}-processor`,
        PROVML_SINK_GROUP: `${options.group}-sink`,
        PROVML_QUERY_TOKENS: QUERY_TOKEN,
      },
    },
  );
  const url = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /running at (http:\/\/\S+)/.exec(out)?.[1];
      if (found !== undefined) resolve(found);
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`${kind} ${options.name} exited (${code ?? signal}) before starting; see ${logFile}`)),
    );
  });
  url.catch(() => undefined);
  return { child, url };
}

/** Ends a child with `signal` and waits for it to exit. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

/** Resident memory of a process, MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line === null ? 0 : Number(line[1]) / 1024;
}

/** One value of a Prometheus text exposition (the first sample of `name`), or undefined. */
export async function metric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** A spec: a training task and its batches. */
export const FAULT_SPEC = {
  workflow: 'faults',
  phase: 'learning',
  tasks: [
    { id: 'training', stage: 'training' },
    { id: 'batch', parent: 'training', outputs: [{ name: 'loss', semantics: 'output-value' }] },
  ],
};

/** The capture events of one training run of `batches` batches (begin/end each), in order. */
export function runEvents(run: number, batches: number, t0 = 1_700_000_000_000_000): CaptureEvent[] {
  let t = t0 + run * 10_000_000;
  const base = {
    workflow: 'faults',
    workflowExecution: `run-${run}`,
    values: {},
    dataRefs: [],
    context: {},
    status: null,
  };
  const training = { ...base, task: 'training', taskExecution: `${run}-t`, parentTaskExecution: null };
  const events: CaptureEvent[] = [{ ...training, eventId: `${run}-b`, phase: 'begin', time: t++ }];
  for (let b = 0; b < batches; b++) {
    const x = { ...base, task: 'batch', taskExecution: `${run}-${b}`, parentTaskExecution: `${run}-t` };
    events.push({ ...x, eventId: `${run}-${b}-b`, phase: 'begin', time: t++ });
    events.push({
      ...x,
      eventId: `${run}-${b}-e`,
      phase: 'end',
      time: t++,
      values: { loss: b },
      status: 'finished',
    });
  }
  events.push({ ...training, eventId: `${run}-e`, phase: 'end', time: t++, status: 'finished' });
  return events;
}

/** Publishes the spec, then run after run with `pauseMs` between runs; `onRun(i)` after each. */
export async function produceRuns(
  log: Pick<KafkaEventLog, 'producer'>,
  topics: TopicNames,
  runs: number,
  batches: number,
  pauseMs: number,
  onRun: (done: number) => void | Promise<void> = () => undefined,
): Promise<void> {
  const producer = log.producer();
  await producer.send(topics.specs, [{ key: 'faults', value: Buffer.from(JSON.stringify(FAULT_SPEC)) }]);
  for (let r = 0; r < runs; r++) {
    const events = runEvents(r, batches);
    await producer.send(
      topics.events,
      events.map((e) => ({ key: e.workflowExecution, value: encodeCaptureEvent(e) })),
    );
    await onRun(r + 1);
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/** A fresh Oxigraph server instance of its own (data folder emptied first). */
export async function freshOxigraph(instance: string, port: number): Promise<string> {
  await stopStore(instance);
  rmSync(dataDirOf(instance), { recursive: true, force: true });
  return (await ensureOxigraph({ instance, port })).url;
}

/** Runs a SELECT on an Oxigraph server (union of named graphs) and returns plain rows. */
export async function select(storeUrl: string, query: string): Promise<Record<string, string>[]> {
  const response = await fetch(`${storeUrl}/query?union-default-graph`, {
    method: 'POST',
    headers: { 'content-type': 'application/sparql-query', accept: 'application/sparql-results+json' },
    body: query,
  });
  if (!response.ok) throw new Error(`query failed: HTTP ${response.status} ${await response.text()}`);
  const json = (await response.json()) as { results: { bindings: Record<string, { value: string }>[] } };
  return json.results.bindings.map((b) =>
    Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.value])),
  );
}

/** What the final count found: each task execution's begin (startedAtTime) and end (endedAtTime) in the store. */
export interface StoreCount {
  /** Task executions expected. */
  expected: number;
  /** Executions with a start time / an end time. */
  started: number;
  ended: number;
  /** Executions with more than one start or end time (a duplicated activity). */
  duplicated: string[];
  /** Expected executions missing a start or an end. */
  missing: string[];
}

/**
 * Counts per task execution in the store: every capture event is a begin or an end of one
 * execution, so every eventId exactly once means each expected execution has exactly one
 * `prov:startedAtTime` and one `prov:endedAtTime`, and there is no other execution.
 */
export async function countInStore(storeUrl: string, runs: number, batches: number): Promise<StoreCount> {
  const perExecution = async (property: string): Promise<Map<string, number>> =>
    new Map(
      (
        await select(
          storeUrl,
          `SELECT ?x (COUNT(?t) AS ?n) WHERE { ?x <http://www.w3.org/ns/prov#${property}> ?t } GROUP BY ?x`,
        )
      ).map((r) => [r.x!, Number(r.n)]),
    );
  const starts = await perExecution('startedAtTime');
  const ends = await perExecution('endedAtTime');
  const expectedIds: string[] = [];
  for (let r = 0; r < runs; r++) {
    expectedIds.push(`${r}-t`);
    for (let b = 0; b < batches; b++) expectedIds.push(`${r}-${b}`);
  }
  const suffix = (iri: string): string => iri.slice(iri.lastIndexOf('/') + 1);
  const startIds = new Map([...starts].map(([iri, n]) => [suffix(iri), n]));
  const endIds = new Map([...ends].map(([iri, n]) => [suffix(iri), n]));
  return {
    expected: expectedIds.length,
    started: starts.size,
    ended: ends.size,
    duplicated: [...starts, ...ends].filter(([, n]) => n !== 1).map(([x]) => x),
    missing: expectedIds.filter((id) => startIds.get(id) !== 1 || endIds.get(id) !== 1),
  };
}

/**
 * An HTTP proxy in front of `target` that holds every request `delayMs` before passing it on: a
 * slow store. `delayMs` may be changed while it runs.
 */
export async function slowProxy(
  target: string,
  delayMs: number,
): Promise<{ url: string; delay: { ms: number }; requests: { n: number }; close(): Promise<void> }> {
  const to = new URL(target);
  const delay = { ms: delayMs };
  const requests = { n: 0 };
  const server: Server = createServer((req, res) => {
    requests.n++;
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      setTimeout(() => {
        const upstream = request(
          {
            host: to.hostname,
            port: to.port,
            path: req.url,
            method: req.method,
            headers: { ...req.headers, host: to.host },
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => {
          res.writeHead(502);
          res.end();
        });
        upstream.end(Buffer.concat(body));
      }, delay.ms);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    delay,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Kills a store server instance of stores.ts with SIGKILL (its process group), without a clean shutdown. */
export async function killStore(instance: string, port: number): Promise<void> {
  const pid = isRunning(`${ROOT}.cache/stack/run/${instance}.pid`);
  if (pid !== undefined) process.kill(-pid, 'SIGKILL');
  while (await isPortOpen(port)) await new Promise((r) => setTimeout(r, 50));
  await stopStore(instance); // forgets the dead pid
}

/**
 * A read_committed reader of a triples topic: exactly once there, not only in the store. The reader
 * itself may be handed a record again after a broker fault (at least once): a record is kept once
 * per offset, so only a repeat at another offset counts as a duplicate. `firstSeen` holds when each
 * workflow execution's (record key's) first output was read, ms since the epoch.
 */
export function readTriples(
  log: KafkaEventLog,
  topic: string,
  groupId: string,
): { triples: ConsumedRecord[]; firstSeen: Map<string, number>; stop: () => Promise<void> } {
  const triples: ConsumedRecord[] = [];
  const firstSeen = new Map<string, number>();
  const seen = new Set<string>();
  const reader = log.consumer({ groupId, topics: [topic] });
  const reading = reader.run(async (batch) => {
    for (const r of batch.records)
      if (!seen.has(`${r.partition}:${r.offset}`)) {
        seen.add(`${r.partition}:${r.offset}`);
        triples.push(r);
        if (r.key !== null && !firstSeen.has(r.key)) firstSeen.set(r.key, Date.now());
      }
    return Promise.resolve();
  });
  return {
    triples,
    firstSeen,
    stop: async () => {
      await reader.stop();
      await reading.catch(() => undefined);
    },
  };
}

/**
 * The end of a fault test: nothing repeated on the triples topic, nothing dead-lettered, every
 * expected execution begun and ended exactly once in the store; then the run is recorded.
 */
export function expectExactlyOnce(
  count: StoreCount,
  repeatedOnTopic: readonly string[],
  deadLetters: number,
  record: Omit<FaultRecord, 'executions' | 'lost' | 'duplicated' | 'deadLettered'>,
): void {
  expect(repeatedOnTopic).toEqual([]);
  expect(deadLetters).toBe(0);
  expect(count.duplicated).toEqual([]);
  expect(count.started).toBe(count.expected);
  expect(count.ended).toBe(count.expected);
  recordFault({
    ...record,
    executions: count.expected,
    lost: count.missing.length,
    duplicated: count.duplicated.length + repeatedOnTopic.length,
    deadLettered: deadLetters,
  });
}
