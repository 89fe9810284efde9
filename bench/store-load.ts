/**
 * Store-load benchmark: quads per second into each triple store for several batch sizes, on realistic
 * PROV-ML quads (the real mapper over synthetic training runs). Writes bench/results/store-load.md.
 * Run: `npx tsx bench/store-load.ts [--reps 5] [--quads 100000] [--sizes 1000,10000,50000]`.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RESULTS, helpFromHeader } from './lib/report.ts';
import { checkEventAgainstSpec, compileSpec, type CaptureEvent } from '@provml/schemas';
import { IriMinter, MappingState, mapEvent, mapSpec, toNQuads } from '@provml/stream-processors';
import {
  OxigraphEmbeddedStore,
  Rdf4jStore,
  SparqlProtocolStore,
  createRdf4jRepository,
  deleteRdf4jRepository,
  type TripleStore,
} from '@provml/stores';
import {
  JETTY_RUNNER_VERSION,
  OXIGRAPH_VERSION,
  RDF4J_VERSION,
  dataDirOf,
  ensureOxigraph,
  ensureRdf4j,
  stopStore,
} from '../deploy/local/stores.ts';

helpFromHeader(import.meta.url);

const ROOT = resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    quads: { type: 'string', default: '100000' },
    sizes: { type: 'string', default: '1000,10000,50000' },
  },
});
const LOAD_AT_START = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');
const REPS = Number(args.reps);
const TOTAL = Number(args.quads);
const SIZES = args.sizes.split(',').map(Number);

/**
 * Capture events of `runs` interleaved training runs of the seismic-training example spec (as parallel
 * trainers would send them): hyperparameters, training set, epochs with batches (loss each), a
 * validation stage and a model file per epoch.
 */
function trainingEvents(runs: number, epochs: number, batches: number): CaptureEvent[] {
  const perRun: CaptureEvent[][] = [];
  for (let r = 0; r < runs; r++) {
    const out: CaptureEvent[] = [];
    let t = 1_767_225_600_000_000 + r * 1000;
    const run = `train-${r}`;
    const ev = (
      task: string,
      tex: string,
      parent: string | null,
      phase: 'begin' | 'end',
      over: Partial<CaptureEvent> = {},
    ): void => {
      t += 1500;
      out.push({
        eventId: randomUUID(),
        workflow: 'seismic-training',
        workflowExecution: run,
        task,
        taskExecution: tex,
        parentTaskExecution: parent,
        phase,
        time: t,
        values: {},
        dataRefs: [],
        status: phase === 'end' ? 'finished' : null,
        context:
          phase === 'begin'
            ? { host: `gpu-node-${r % 4}`, jobId: String(880000 + r), gpu: String(r % 8) }
            : {},
        ...over,
      });
    };
    const train = `${run}.train`;
    ev('training', train, null, 'begin', {
      values: { learning_rate: 0.001 * (1 + (r % 5)), epochs, batch_size: 32 },
      dataRefs: [{ name: 'training_set', uri: `file:///data/tiles/train-${r % 2}.npz`, store: 'lustre' }],
    });
    for (let e = 0; e < epochs; e++) {
      const epoch = `${train}.e${e}`;
      ev('epoch', epoch, train, 'begin');
      for (let b = 0; b < batches; b++) {
        const batch = `${epoch}.b${b}`;
        ev('batch', batch, epoch, 'begin');
        ev('batch', batch, epoch, 'end', { values: { batch_loss: 1 / (1 + e + b / batches) } });
      }
      const val = `${epoch}.val`;
      ev('validation', val, epoch, 'begin', {
        dataRefs: [{ name: 'validation_set', uri: `file:///data/tiles/valid-${r % 2}.npz`, store: 'lustre' }],
      });
      ev('validation', val, epoch, 'end', { values: { val_accuracy: 0.5 + e / (2 * epochs) } });
      ev('epoch', epoch, train, 'end', {
        values: { epoch: e, loss: 1 / (1 + e), accuracy: 0.5 + e / (2 * epochs) },
        dataRefs: [{ name: 'model', uri: `file:///models/${run}/epoch-${e}.pt`, store: 'model-registry' }],
      });
    }
    ev('training', train, null, 'end', { values: { final_loss: 1 / (1 + epochs) } });
    perRun.push(out);
  }
  const interleaved: CaptureEvent[] = [];
  for (let i = 0; perRun.some((events) => i < events.length); i++)
    for (const events of perRun) if (i < events.length) interleaved.push(events[i]!);
  return interleaved;
}

/** At least `count` distinct N-Quads lines, in the order the processor would emit them. */
function provmlQuads(count: number): { lines: string[]; graphs: number } {
  const spec = compileSpec(readFileSync(join(ROOT, 'schemas/examples/seismic-training.json'), 'utf8'));
  const iris = new IriMinter();
  const state = new MappingState();
  const lines = toNQuads(mapSpec(spec, iris)).trimEnd().split('\n');
  const seen = new Set(lines);
  const graphs = new Set<string>();
  for (let round = 0; lines.length < count; round++) {
    for (const event of trainingEvents(8, 10, 40).map((e) => ({
      ...e,
      workflowExecution: `${e.workflowExecution}-r${round}`,
    }))) {
      const issues = checkEventAgainstSpec(event, spec);
      if (issues.length > 0)
        throw new Error(`generated event does not fit the spec: ${JSON.stringify(issues)}`);
      graphs.add(event.workflowExecution);
      for (const line of toNQuads(mapEvent(event, spec, state, iris))
        .trimEnd()
        .split('\n'))
        if (!seen.has(line)) {
          seen.add(line);
          lines.push(line);
        }
    }
  }
  return { lines: lines.slice(0, count), graphs: graphs.size };
}

/** One store under test: a fresh empty store per repetition, dropped after it. */
interface Subject {
  name: string;
  fresh(): Promise<TripleStore>;
  drop(store: TripleStore): Promise<void>;
  /** Resident memory of the server process, MiB. */
  serverRssMiB?: () => number | undefined;
}

const rssOf = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
};

const OXIGRAPH_BENCH = { instance: 'oxigraph-bench', port: 17880 };

/** A fresh Oxigraph server on an empty data folder (a CLEAR ALL would leave tombstones behind). */
async function freshOxigraph(): Promise<{ url: string; pid?: number }> {
  await stopStore(OXIGRAPH_BENCH.instance);
  await rm(dataDirOf(OXIGRAPH_BENCH.instance), { recursive: true, force: true });
  return ensureOxigraph(OXIGRAPH_BENCH);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** First line a command prints about its version (java -version writes to stderr). */
const version = (command: string, argv: string[]): string => {
  const out = spawnSync(command, argv, { encoding: 'utf8' });
  return `${out.stdout ?? ''}${out.stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
};

async function main(): Promise<void> {
  const generated = performance.now();
  const { lines, graphs } = provmlQuads(TOTAL);
  console.log(
    `${lines.length} distinct PROV-ML quads over ${graphs} execution graphs in ${Math.round(performance.now() - generated)} ms`,
  );

  const rdf4jInfo = await ensureRdf4j({ instance: 'rdf4j-bench', port: 18091 });
  const rdf4jUrl = rdf4jInfo.url;
  let oxigraph: { url: string; pid?: number } | undefined;
  const oxStore = async (
    extra: Partial<ConstructorParameters<typeof SparqlProtocolStore>[0]> = {},
  ): Promise<TripleStore> => {
    oxigraph = await freshOxigraph();
    const { url } = oxigraph;
    return new SparqlProtocolStore({
      queryEndpoint: `${url}/query`,
      storeEndpoint: `${url}/store`,
      timeoutMs: 300_000,
      ...extra,
    });
  };
  const ids = new Map<TripleStore, string>();
  const subjects: Subject[] = [
    {
      name: 'Oxigraph embedded (in process)',
      fresh: () => Promise.resolve(new OxigraphEmbeddedStore()),
      drop: () => Promise.resolve(),
    },
    {
      name: 'Oxigraph server, one N-Quads POST',
      fresh: () => oxStore(),
      drop: () => Promise.resolve(),
      serverRssMiB: () => rssOf(oxigraph?.pid),
    },
    {
      name: 'Oxigraph server, N-Quads POST ?no_transaction',
      fresh: () => oxStore({ loadParams: { no_transaction: '' } }),
      drop: () => Promise.resolve(),
      serverRssMiB: () => rssOf(oxigraph?.pid),
    },
    {
      name: 'Oxigraph server, one GSP POST per graph',
      fresh: () => oxStore({ loadMode: 'graphs' }),
      drop: () => Promise.resolve(),
      serverRssMiB: () => rssOf(oxigraph?.pid),
    },
    {
      name: `RDF4J Server ${RDF4J_VERSION} (native store, graphdb client)`,
      fresh: async () => {
        const id = `bench-${randomUUID()}`;
        await createRdf4jRepository(rdf4jUrl, id);
        const store = new Rdf4jStore({ serverUrl: rdf4jUrl, repository: id, timeoutMs: 300_000 });
        ids.set(store, id);
        return store;
      },
      drop: (store) => deleteRdf4jRepository(rdf4jUrl, ids.get(store)!),
      serverRssMiB: () => rssOf(rdf4jInfo.pid),
    },
  ];

  interface Row {
    store: string;
    size: number;
    rates: number[];
    batchMs: number[];
    rss?: number;
  }
  const rows: Row[] = [];
  try {
    for (const subject of subjects) {
      // one unmeasured load first: servers run long, so a cold JIT or cache is not what a sink meets
      const warm = await subject.fresh();
      for (let i = 0; i < lines.length; i += 10_000)
        await warm.load(lines.slice(i, i + 10_000).join('\n') + '\n');
      await subject.drop(warm);
      for (const size of SIZES) {
        const batches: string[] = [];
        for (let i = 0; i < lines.length; i += size) batches.push(lines.slice(i, i + size).join('\n') + '\n');
        const row: Row = { store: subject.name, size, rates: [], batchMs: [] };
        for (let rep = 0; rep < REPS; rep++) {
          const store = await subject.fresh();
          const started = performance.now();
          for (const body of batches) {
            const t = performance.now();
            const result = await store.load(body);
            if (result.kind !== 'success')
              throw new Error(`${subject.name}: ${result.kind}: ${result.error.message}`);
            row.batchMs.push(performance.now() - t);
          }
          const seconds = (performance.now() - started) / 1000;
          const held = await store.size();
          if (held !== lines.length)
            throw new Error(`${subject.name}: holds ${held} quads, expected ${lines.length}`);
          row.rates.push(lines.length / seconds);
          row.rss = Math.max(row.rss ?? 0, subject.serverRssMiB?.() ?? 0) || undefined;
          await subject.drop(store);
        }
        rows.push(row);
        console.log(
          `${subject.name.padEnd(52)} batch ${String(size).padStart(6)}: median ${Math.round(median(row.rates)).toLocaleString('en')} quads/s`,
        );
      }
    }
  } finally {
    await stopStore('rdf4j-bench');
    await stopStore('oxigraph-bench');
  }

  const reference = (size: number): number =>
    median(rows.find((r) => r.size === size && r.store.startsWith('RDF4J'))!.rates);
  const fmt = (n: number): string => Math.round(n).toLocaleString('en');
  const table = [
    '| store | batch (quads) | median quads/s | min | max | median ms per batch | × RDF4J | server RSS (MiB) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.store} | ${fmt(r.size)} | **${fmt(median(r.rates))}** | ${fmt(Math.min(...r.rates))} | ${fmt(Math.max(...r.rates))} | ${median(r.batchMs).toFixed(1)} | ${(median(r.rates) / reference(r.size)).toFixed(2)} | ${r.rss ?? '–'} |`,
    ),
  ];
  const cpu = cpus();
  const markdown = `# Store load: quads per second per store and batch size

Produced by \`npx tsx bench/store-load.ts --reps ${REPS} --quads ${TOTAL} --sizes ${SIZES.join(',')}\` on ${new Date().toISOString().slice(0, 10)}.

**What is measured.** ${fmt(lines.length)} distinct PROV-ML quads, made by the real mapper (\`mapSpec\` and
\`mapEvent\` of \`@provml/stream-processors\`) from synthetic capture events of the \`seismic-training\`
example spec: 8 interleaved training runs per round (hyperparameters, training set, 10 epochs of 40
batches each with a loss, a validation stage and a model file per epoch), ${graphs} execution graphs in
all, so one batch spans several named graphs as a sink's batch does. Each repetition loads all of them,
batch after batch through the store adapter's \`load()\` (what \`SinkService\` calls), into a fresh empty
repository (RDF4J: a new native repository; Oxigraph server: a new process on an empty data folder),
and checks \`size()\` afterwards. Figures are medians over ${REPS} repetitions of
(quads ÷ wall time of all loads), after one unmeasured warm-up load per store; min and max are over the
repetitions. The servers run on the same
machine (127.0.0.1), started by \`deploy/local/stores.ts\` with their defaults (RDF4J: \`-Xmx2g\`, native
store with indexes spoc,posc,cspo; Oxigraph: RocksDB).

**Machine.** ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB memory;
Node ${process.version}; ${version('java', ['-version'])}; load average at start ${LOAD_AT_START}; RDF4J Server ${RDF4J_VERSION} under jetty-runner
${JETTY_RUNNER_VERSION}; Oxigraph server ${OXIGRAPH_VERSION} (PyPI \`oxigraph\`); Oxigraph (npm) embedded.

${table.join('\n')}

"× RDF4J" is the median rate over RDF4J Server's at the same batch size. The machine is shared (the load
average above was measured as the run began): min–max spreads show how much other work moved the figures.
No plot: no plotting library is a dependency of this project.
`;
  await mkdir(join(ROOT, 'bench/results'), { recursive: true });
  await mkdir(RESULTS, { recursive: true });
  await writeFile(join(RESULTS, 'store-load.md'), markdown);
  console.log(`written to ${join(RESULTS, 'store-load.md')}`);
}

await main();
