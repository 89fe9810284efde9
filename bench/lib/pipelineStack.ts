/**
 * One processor and one sink service process over a fresh set of topics and a chosen store, with a
 * sampler that reads their metrics, CPU and memory and the consumer lag from the broker.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createRdf4jRepository, deleteRdf4jRepository } from '@provml/stores';
import { dataDirOf, ensureOxigraph, ensureRdf4j, stopStore } from '../../deploy/local/stores.ts';
import {
  LagReader,
  benchNames,
  buckets,
  cpuSeconds,
  metric,
  pidOf,
  rssMiB,
  scrape,
  startService,
  topicsOf,
  sleep,
  spawnReporting,
  type ReportingChild,
  type Scrape,
  type Service,
} from './pipeline.ts';

/** Cumulative histogram buckets of several services added bound by bound. */
function sumBuckets(all: [number, number][][]): [number, number][] {
  const out = new Map<number, number>();
  for (const bs of all) for (const [bound, count] of bs) out.set(bound, (out.get(bound) ?? 0) + count);
  return [...out].sort((a, b) => a[0] - b[0]);
}

/** The stores a sink can load into. */
export type StoreKind = 'oxigraph-embedded' | 'rdf4j' | 'oxigraph-server';

/** Human names of the stores. */
export const STORE_LABEL: Record<StoreKind, string> = {
  'oxigraph-embedded': 'Oxigraph embedded (in the sink process)',
  rdf4j: 'RDF4J Server 5 (native store)',
  'oxigraph-server': 'Oxigraph server (RocksDB)',
};

/** Instances and ports of the benchmarks' own store servers (not the shared ones). */
const RDF4J = { instance: 'rdf4j-bench', port: 18094 };
const OXIGRAPH = { instance: 'oxigraph-bench', port: 17885 };

/** Stops the benchmarks' store servers and removes the Oxigraph server's data. */
export async function stopBenchStores(): Promise<void> {
  await stopStore(RDF4J.instance);
  await stopStore(OXIGRAPH.instance);
  await rm(dataDirOf(OXIGRAPH.instance), { recursive: true, force: true });
}

/** A store made ready for one run: the sink's options, the server's pid, and how to drop it after. */
interface PreparedStore {
  store: { kind: 'oxigraph-embedded' | 'rdf4j' | 'sparql'; url?: string; repository?: string };
  serverPid?: number;
  drop(): Promise<void>;
}

async function prepareStore(kind: StoreKind): Promise<PreparedStore> {
  if (kind === 'oxigraph-embedded')
    return { store: { kind: 'oxigraph-embedded' }, drop: () => Promise.resolve() };
  if (kind === 'rdf4j') {
    const { url } = await ensureRdf4j({ ...RDF4J, heap: '1g' });
    const repository = `bench-${randomBytes(4).toString('hex')}`;
    await createRdf4jRepository(url, repository);
    return {
      store: { kind: 'rdf4j', url, repository },
      serverPid: pidOf(`${RDF4J.instance}.pid`),
      drop: () => deleteRdf4jRepository(url, repository),
    };
  }
  // a fresh Oxigraph server on an empty folder for each run
  await stopStore(OXIGRAPH.instance);
  await rm(dataDirOf(OXIGRAPH.instance), { recursive: true, force: true });
  const { url } = await ensureOxigraph(OXIGRAPH);
  return {
    store: { kind: 'sparql', url },
    serverPid: pidOf(`${OXIGRAPH.instance}.pid`),
    drop: async () => {
      await stopStore(OXIGRAPH.instance);
      await rm(dataDirOf(OXIGRAPH.instance), { recursive: true, force: true });
    },
  };
}

/**
 * The processor and sink settings compared by the benchmarks: `after`, the defaults (a processor maps
 * 8 partitions at once, each batch in its own partition's transaction, committed independently; a sink keeps its
 * default loads in flight with ordered commits: 4 into the Oxigraph server, 1 into RDF4J and embedded
 * Oxigraph); `before`, one batch at a time in both (one transaction per
 * partition batch, one load at a time), as the services ran before those two changes.
 */
export const VARIANTS = {
  before: { PROVML_PROCESSOR_CONCURRENCY: '1', PROVML_SINK_MAX_IN_FLIGHT: '1' },
  after: {},
} as const satisfies Record<string, NodeJS.ProcessEnv>;
export type Variant = keyof typeof VARIANTS;

/**
 * Whether a reading shows nothing left to do: no event unprocessed and no triples record unloaded.
 * The triples topic is written in transactions, whose commit markers the lag counts (at most one per
 * partition), so up to `partitions` records of sink lag are markers, not records.
 */
export const drained = (s: Sample, partitions = 4): boolean =>
  s.lag.processor === 0 && s.lag.sink <= partitions;

/** One reading of the running pipeline. */
export interface Sample {
  /** ms since the pipeline started. */
  t: number;
  /** Wall-clock time of the reading (ms since the epoch). */
  wall: number;
  processorEvents: number;
  sinkRecords: number;
  /** Cumulative buckets of provml_event_to_store_seconds. */
  freshness: [number, number][];
  lag: { processor: number; sink: number };
  /** CPU seconds so far per process (producers excluded; see the benchmark). */
  cpu: Record<string, number>;
  rss: Record<string, number>;
  /** V8 heap used, MiB. */
  heap: Record<string, number>;
}

/** A running processor + sink over their own topics. */
export interface Pipeline {
  prefix: string;
  /** The first processor and sink; `processors` and `sinks` hold every instance. */
  processor: Service;
  sink: Service;
  processors: Service[];
  sinks: Service[];
  lagReader: LagReader;
  /** Starts one more processor: it joins the group (a rebalance) and is sampled from then on. */
  addProcessor(): Promise<Service>;
  sample(): Promise<Sample>;
  /** Stops the services (SIGTERM: they flush and write CPU profiles), drops the store and topics. */
  stop(): Promise<void>;
}

/** What a pipeline is started with. */
export interface PipelineOptions {
  cpuProfDir?: string;
  partitions?: number;
  /** Processor and sink instances (members of their groups). Default 1 each. */
  processors?: number;
  sinks?: number;
  /** Settings of the processors and sinks (VARIANTS). Default `after`. */
  variant?: Variant;
}

/** Starts processors and sinks (into `kind`) as service processes of their own. */
export async function startPipeline(
  bench: string,
  kind: StoreKind,
  options: PipelineOptions = {},
): Promise<Pipeline> {
  const names = benchNames(bench);
  const prepared = await prepareStore(kind);
  const env = { PROVML_PARTITIONS: String(options.partitions ?? 4), ...VARIANTS[options.variant ?? 'after'] };
  const common = { ...names, env };
  const dir = (service: string): string | undefined =>
    options.cpuProfDir === undefined ? undefined : join(options.cpuProfDir, service);
  const processors: Service[] = [];
  const sinks: Service[] = [];
  for (let i = 0; i < (options.processors ?? 1); i++)
    processors.push(
      await startService('processor', { ...common, cpuProfDir: i === 0 ? dir('processor') : undefined }),
    );
  // several embedded-Oxigraph sinks would each load a store of their own: a server store is shared
  for (let i = 0; i < (options.sinks ?? 1); i++)
    sinks.push(
      await startService('sink', {
        ...common,
        store: prepared.store,
        cpuProfDir: i === 0 ? dir('sink') : undefined,
      }),
    );
  const processor = processors[0]!;
  const sink = sinks[0]!;
  const lagReader = new LagReader(topicsOf(names.prefix), names);
  const kafkaPid = pidOf('kafka.pid');
  const t0 = performance.now();
  const servers = { broker: kafkaPid, 'store server': prepared.serverPid };
  const pids = (): Record<string, number[]> => ({
    processor: processors.map((p) => p.pid),
    sink: sinks.map((x) => x.pid),
    ...Object.fromEntries(Object.entries(servers).map(([k, pid]) => [k, pid === undefined ? [] : [pid]])),
  });
  return {
    prefix: names.prefix,
    processor,
    sink,
    processors,
    sinks,
    lagReader,
    addProcessor: async () => {
      const added = await startService('processor', common);
      processors.push(added);
      return added;
    },
    sample: async () => {
      const [ps, ss, lag] = await Promise.all([
        Promise.all(processors.map((x) => scrape(x.url))),
        Promise.all(sinks.map((x) => scrape(x.url))),
        lagReader.lag(),
      ]);
      const cpu: Record<string, number> = {};
      const rss: Record<string, number> = {};
      for (const [name, list] of Object.entries(pids()))
        if (list.length > 0) {
          cpu[name] = list.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
          rss[name] = list.reduce((sum, pid) => sum + rssMiB(pid), 0);
        }
      const sum = (scrapes: Scrape[], name: string): number =>
        scrapes.reduce((t, x) => t + metric(x, name), 0);
      return {
        t: performance.now() - t0,
        wall: Date.now(),
        processorEvents: sum(ps, 'provml_processor_events_total'),
        sinkRecords: sum(ss, 'provml_sink_records_total'),
        freshness: sumBuckets(ss.map((x) => buckets(x, 'provml_event_to_store_seconds'))),
        lag,
        cpu,
        rss,
        heap: {
          processor: sum(ps, 'provml_nodejs_heap_size_used_bytes') / 2 ** 20,
          sink: sum(ss, 'provml_nodejs_heap_size_used_bytes') / 2 ** 20,
        },
      };
    },
    stop: async () => {
      for (const x of processors) await x.stop();
      for (const x of sinks) await x.stop();
      await prepared.drop().catch(() => undefined);
      await lagReader.close();
    },
  };
}

/** Readings of a pipeline once a second until `stop()`, with the CPU of `producers` (processes of this run). */
export function sampleEverySecond(
  pipeline: Pipeline,
  producers: readonly { pid: number }[],
): { samples: Sample[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  let sampling = true;
  // an exited producer keeps its last reading
  const producerCpu = new Map<number, number>();
  const producersCpu = (): number => {
    for (const k of producers) {
      const c = cpuSeconds(k.pid);
      if (Number.isFinite(c)) producerCpu.set(k.pid, c);
    }
    return [...producerCpu.values()].reduce((t, c) => t + c, 0);
  };
  const sampler = (async () => {
    while (sampling) {
      const started = performance.now();
      const sample = await pipeline.sample().catch(() => samples[samples.length - 1]!);
      samples.push({ ...sample, cpu: { ...sample.cpu, producers: producersCpu() } });
      await sleep(Math.max(0, 1000 - (performance.now() - started)));
    }
  })();
  return {
    samples,
    stop: async () => {
      sampling = false;
      await sampler;
    },
  };
}

/**
 * `count` producer processes (the real capture library publishing to Kafka under `prefix`), offering
 * the rates of `steps` together (each its share), with a capture queue of `queueSize`.
 */
export function spawnProducers(
  prefix: string,
  count: number,
  steps: readonly { rate: number; seconds: number }[],
  queueSize: number,
  epochs = 10,
): ReportingChild[] {
  return Array.from({ length: count }, (_, i) =>
    spawnReporting(`producer-${i}`, 'pipelineProducer', {
      id: `p${i}`,
      prefix,
      transport: 'kafka',
      steps: steps.map((s) => ({ rate: s.rate / count, seconds: s.seconds })),
      queueSize,
      epochs,
    }),
  );
}
