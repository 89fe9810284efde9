/**
 * The processor's per-event work in isolation (no Kafka, no I/O): Avro decode, contract and spec
 * checks, mapping to PROV-ML quads, N-Quads serialisation and the triples records' deflate, timed stage
 * by stage over events of the benchmark workload, with the quads, N-Quads bytes and triples-record bytes
 * each event becomes.
 */
import { InMemoryCaptureExporter, init } from '@provml/capture-agent';
import {
  checkEventAgainstSpec,
  compileSpec,
  decodeCaptureEvent,
  encodeCaptureEvent,
  parseEventJson,
} from '@provml/schemas';
import { decodeTriples, encodeTriples } from '@provml/log';
import { OxigraphEmbeddedStore } from '@provml/stores';
import { IriMinter, MappingState, mapEvent, toNQuads } from '@provml/stream-processors';
import { BENCH_SPEC, Fig5Loop } from './pipelineWorkload.ts';

/** Microseconds per event of each stage, and the sizes of what one event becomes. */
export interface StageCosts {
  /** The producer's side in process: capture calls of the training loop and Avro encoding (no Kafka client). */
  captureUs: number;
  /** The sink's side in process: inflate the triples records and load them into embedded Oxigraph. */
  sinkUs: number;
  decodeUs: number;
  checkUs: number;
  mapUs: number;
  serialiseUs: number;
  /**
   * Deflate of the triples records (`encodeTriples`), one per workflow execution and batch of
   * BATCH events, as the processor cuts them.
   */
  encodeUs: number;
  avroBytes: number;
  quads: number;
  nquadsBytes: number;
  /** Bytes of the deflated triples records' values. */
  triplesBytes: number;
}

/** Events per processor batch in the encode stage (the processor's default batch is up to 1000). */
const BATCH = 1000;

/** Times the processor's stages over `count` events (after a warm-up pass over the same events). */
export async function measureStages(count = 50_000): Promise<StageCosts> {
  const memory = new InMemoryCaptureExporter();
  const capture = await init({ spec: BENCH_SPEC, exporter: memory, env: {}, maxQueueSize: 1 << 22 });
  const loop = new Fig5Loop(capture, 10, 'stages');
  const captureStart = performance.now();
  for (let i = 0; i < count; i++) loop.step();
  await capture.shutdown(Infinity);
  const values = memory.events.map((e) => encodeCaptureEvent(e));
  const captureUs = ((performance.now() - captureStart) * 1000) / values.length;
  const spec = compileSpec(BENCH_SPEC);
  let out: StageCosts = {
    captureUs,
    sinkUs: 0,
    decodeUs: 0,
    checkUs: 0,
    mapUs: 0,
    serialiseUs: 0,
    encodeUs: 0,
    avroBytes: 0,
    quads: 0,
    nquadsBytes: 0,
    triplesBytes: 0,
  };
  for (let pass = 0; pass < 2; pass++) {
    const state = new MappingState();
    const iris = new IriMinter();
    const t = { decode: 0, check: 0, map: 0, serialise: 0, encode: 0 };
    const records = new Map<string, string[]>();
    const batches: Buffer[][] = [];
    let triplesBytes = 0;
    const encodeBatch = (): void => {
      const a = performance.now();
      const batch = [...records.values()].map((texts) => encodeTriples(texts.join('')));
      t.encode += performance.now() - a;
      for (const v of batch) triplesBytes += v.length;
      batches.push(batch);
      records.clear();
    };
    let batched = 0;
    let quads = 0;
    let bytes = 0;
    let avro = 0;
    for (const value of values) {
      let a = performance.now();
      const e = decodeCaptureEvent(value);
      let b = performance.now();
      t.decode += b - a;
      a = b;
      parseEventJson({
        ...e,
        values: { ...e.values },
        context: { ...e.context },
        dataRefs: e.dataRefs.map((d) => ({ ...d })),
      });
      checkEventAgainstSpec(e, spec);
      b = performance.now();
      t.check += b - a;
      a = b;
      const q = mapEvent(e, spec, state, iris);
      b = performance.now();
      t.map += b - a;
      a = b;
      const text = toNQuads(q);
      t.serialise += performance.now() - a;
      const record = records.get(e.workflowExecution);
      if (record === undefined) records.set(e.workflowExecution, [text]);
      else record.push(text);
      if (++batched === BATCH) {
        encodeBatch();
        batched = 0;
      }
      quads += q.length;
      bytes += Buffer.byteLength(text);
      avro += value.length;
    }
    encodeBatch();
    const n = values.length;
    // the sink's work on what the processor wrote: inflate each batch's records, one load per batch
    const store = new OxigraphEmbeddedStore();
    const sinkStart = performance.now();
    for (const batch of batches) {
      const result = await store.load(batch.map((v) => decodeTriples(v)).join('\n'));
      if (result.kind !== 'success') throw new Error(`stage load failed: ${result.kind}`);
    }
    const sinkUs = ((performance.now() - sinkStart) * 1000) / n;
    await store.close();
    out = {
      captureUs,
      sinkUs,
      decodeUs: (t.decode * 1000) / n,
      checkUs: (t.check * 1000) / n,
      mapUs: (t.map * 1000) / n,
      serialiseUs: (t.serialise * 1000) / n,
      encodeUs: (t.encode * 1000) / n,
      avroBytes: avro / n,
      quads: quads / n,
      nquadsBytes: bytes / n,
      triplesBytes: triplesBytes / n,
    };
  }
  return out;
}
