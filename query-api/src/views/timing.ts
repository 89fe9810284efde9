/** Batch timing per epoch (Q4 generalised): min, mean and max batch seconds of each epoch of one training execution or of every training on a set. */
import { ValidationError } from '@provml/schemas';
import { fragment, iriTerm, sparql } from './terms.ts';
import { num, rows, type ViewContext } from './ViewContext.ts';

/** Timing of one epoch; live epochs (not ended) have no number yet. */
export interface EpochTiming {
  training: string;
  epoch: string;
  epochNumber: number | null;
  started: string;
  ended: string | null;
  epochSeconds: number | null;
  batches: number;
  minBatchSeconds: number | null;
  meanBatchSeconds: number | null;
  maxBatchSeconds: number | null;
}

/** Per-epoch statistics, ordered by training and epoch start. Give `execution` or `trainingSet`. */
export async function epochTiming(
  context: ViewContext,
  params: Readonly<Record<string, unknown>>,
): Promise<{ epochs: EpochTiming[] }> {
  if ((params.execution === undefined) === (params.trainingSet === undefined))
    throw new ValidationError('give exactly one of execution and trainingSet', [
      { path: 'execution', message: 'the training execution IRI, or trainingSet: a training set IRI' },
    ]);
  const scope =
    params.execution !== undefined
      ? fragment(sparql`VALUES ?training { ${iriTerm('execution', params.execution)} }`)
      : // the set's file, or a version of it generated in the same run as the training
        fragment(
          sparql`?training prov:used|prov:used/prov:specializationOf ${iriTerm('trainingSet', params.trainingSet)} .`,
        );
  // Round trips that each stay small in both stores: the epochs (OPTIONALs of one pattern), then, those
  // epochs named, their numbers and recorded statistics as required patterns. Oxigraph 0.5.13 joins an
  // OPTIONAL of several patterns by hash, reading every value or statistics node in the store.
  const found = await rows(
    context,
    sparql`SELECT DISTINCT ?training ?epoch ?started ?ended ?epochSeconds WHERE {
  ${scope}
  ?training provml:executesTask/provml:hasStageType provml:Training .
  ?epoch provml:partOfExecution ?training ;
         prov:startedAtTime ?started .
  FILTER EXISTS { ?epoch provml:executesTask/rdfs:label "epoch" }
  OPTIONAL { ?epoch prov:endedAtTime ?ended }
  OPTIONAL { ?epoch provml:durationSeconds ?epochSeconds }
} ORDER BY ?training ?started`,
  );
  if (found.length === 0) return { epochs: [] };
  const epochs = found.map((r) => iriTerm('epoch', r.epoch));
  const numbers = await rows(
    context,
    sparql`SELECT DISTINCT ?epoch ?epochNumber WHERE {
  VALUES ?epoch { ${epochs} }
  ?epoch provml:hasOutputValue ?output .
  ?output prov:value ?epochNumber .
  FILTER EXISTS { ?output provml:valueName "epoch" }
}`,
  );
  // the statistics of their batches, where the processor recorded them (an ended epoch)
  const recorded = await rows(
    context,
    sparql`SELECT DISTINCT ?epoch ?batches ?minBatchSeconds ?meanBatchSeconds ?maxBatchSeconds WHERE {
  VALUES ?epoch { ${epochs} }
  ?epoch provml:hasTimingStatistics ?statistics .
  ?statistics provml:ofTask ?task ; provml:executionCount ?batches ;
              provml:minSeconds ?minBatchSeconds ; provml:meanSeconds ?meanBatchSeconds ;
              provml:maxSeconds ?maxBatchSeconds .
  FILTER EXISTS { ?task rdfs:label "batch" }
}`,
  );
  // epochs without them (running, or begun before a processor restart): their batches aggregated,
  // those epochs named, so the store reads only their batches
  const withStatistics = new Set(recorded.map((r) => r.epoch));
  const open = found.filter((r) => !withStatistics.has(r.epoch)).map((r) => iriTerm('epoch', r.epoch));
  const aggregated =
    open.length === 0
      ? []
      : await rows(
          context,
          sparql`SELECT ?epoch (COUNT(?batch) AS ?batches) (MIN(?seconds) AS ?minBatchSeconds)
       (AVG(?seconds) AS ?meanBatchSeconds) (MAX(?seconds) AS ?maxBatchSeconds) WHERE {
  SELECT DISTINCT ?epoch ?batch ?seconds WHERE {
    VALUES ?epoch { ${open} }
    ?batch provml:partOfExecution ?epoch ; provml:durationSeconds ?seconds .
    # a test, not a pattern: Oxigraph otherwise joins every execution of the "batch" task by hash
    FILTER EXISTS { ?batch provml:executesTask/rdfs:label "batch" }
  }
} GROUP BY ?epoch`,
        );
  const byEpoch = new Map<string, Record<string, string>>();
  for (const r of [...recorded, ...aggregated, ...numbers])
    byEpoch.set(r.epoch!, { ...byEpoch.get(r.epoch!), ...r });
  return {
    epochs: found
      .map((recorded) => ({ ...recorded, ...byEpoch.get(recorded.epoch!) }))
      .map((r) => ({
        training: r.training!,
        epoch: r.epoch!,
        epochNumber: num(r.epochNumber),
        started: r.started!,
        ended: r.ended ?? null,
        epochSeconds: num(r.epochSeconds),
        batches: Number(r.batches ?? 0),
        minBatchSeconds: num(r.minBatchSeconds),
        meanBatchSeconds: num(r.meanBatchSeconds),
        maxBatchSeconds: num(r.maxBatchSeconds),
      })),
  };
}
