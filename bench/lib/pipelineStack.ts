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
  type Service,
} from './pipeline.ts';

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
  processor: Service;
  sink: Service;
  lagReader: LagReader;
  sample(): Promise<Sample>;
  /** Stops the services (SIGTERM: they flush and write CPU profiles), drops the store and topics. */
  stop(): Promise<void>;
}

/** Starts a processor and a sink (into `kind`) as service processes of their own. */
export async function startPipeline(
  bench: string,
  kind: StoreKind,
  options: { cpuProfDir?: string; partitions?: number } = {},
): Promise<Pipeline> {
  const names = benchNames(bench);
  const prepared = await prepareStore(kind);
  const env = { PROVML_PARTITIONS: String(options.partitions ?? 4) };
  const common = { ...names, env };
  const dir = (service: string): string | undefined =>
    options.cpuProfDir === undefined ? undefined : join(options.cpuProfDir, service);
  const processor = await startService('processor', { ...common, cpuProfDir: dir('processor') });
  const sink = await startService('sink', { ...common, store: prepared.store, cpuProfDir: dir('sink') });
  const lagReader = new LagReader(topicsOf(names.prefix), names);
  const kafkaPid = pidOf('kafka.pid');
  const t0 = performance.now();
  const pids: Record<string, number | undefined> = {
    processor: processor.pid,
    sink: sink.pid,
    broker: kafkaPid,
    'store server': prepared.serverPid,
  };
  return {
    prefix: names.prefix,
    processor,
    sink,
    lagReader,
    sample: async () => {
      const [p, s, lag] = await Promise.all([scrape(processor.url), scrape(sink.url), lagReader.lag()]);
      const cpu: Record<string, number> = {};
      const rss: Record<string, number> = {};
      for (const [name, pid] of Object.entries(pids))
        if (pid !== undefined) {
          cpu[name] = cpuSeconds(pid);
          rss[name] = rssMiB(pid);
        }
      return {
        t: performance.now() - t0,
        wall: Date.now(),
        processorEvents: metric(p, 'provml_processor_events_total'),
        sinkRecords: metric(s, 'provml_sink_records_total'),
        freshness: buckets(s, 'provml_event_to_store_seconds'),
        lag,
        cpu,
        rss,
        heap: {
          processor: metric(p, 'provml_nodejs_heap_size_used_bytes') / 2 ** 20,
          sink: metric(s, 'provml_nodejs_heap_size_used_bytes') / 2 ** 20,
        },
      };
    },
    stop: async () => {
      await processor.stop();
      await sink.stop();
      await prepared.drop().catch(() => undefined);
      await lagReader.close();
    },
  };
}
