/**
 * Training runs filtered by how their data was prepared (slice range, tile size, any preparation
 * parameter) and by any hyperparameter (Q5 generalised), with mean batch and epoch times and outputs.
 */
import { ValidationError } from '@provml/schemas';
import { fragment, iriTerm, nameTerm, sparql, valueTerm, type SparqlTerm } from './terms.ts';
import { num, plain, rows, type ViewContext } from './ViewContext.ts';
import { gatherRanks } from './gatherRanks.ts';

type Values = Record<string, string | number | boolean>;

/** One rank's training in a distributed job's run. */
export interface RankRun {
  rank: number;
  /** The job's restarts before this rank started (0 on the first attempt). */
  attempt: number;
  training: string;
  started: string | null;
  status: string | null;
  outputs: Values;
  meanBatchSeconds: number | null;
  meanEpochSeconds: number | null;
}

/**
 * One training run. A distributed job is one run (its workflow execution): the fields are its rank 0's
 * of the latest attempt (the mean times: the mean of that attempt's ranks; the status: failed or running
 * when any of them is), and `ranks` lists every rank's training.
 */
export interface RunRow {
  training: string;
  /** The workflow execution the training is part of: in a distributed job, the job. */
  workflowExecution: string | null;
  /** The training set it used (its file, when a version of one); null for a run that used none. */
  trainingSet: string | null;
  started: string | null;
  status: string | null;
  preparation: Values;
  hyperparameters: Values;
  outputs: Values;
  meanBatchSeconds: number | null;
  meanEpochSeconds: number | null;
  /** In a distributed job: how many ranks it has, else null. */
  worldSize: number | null;
  /** In a distributed job: each rank's training, by attempt then rank; else null. */
  ranks: RankRun[] | null;
}

/** Friendly names of preparation parameters. */
const PREPARATION_ALIASES: Readonly<Record<string, string>> = {
  inlineStart: 'inline_start',
  inlineEnd: 'inline_end',
  tileSize: 'tile_size',
  noiseThreshold: 'noise_threshold',
};

/**
 * From a set to the generation of it: a version's own, or a file's versions' (a set another workflow
 * wrote). An alternative path, not `^prov:specializationOf?/…`: RDF4J 5 answers a zero-length path
 * with both ends bound as false.
 */
const GENERATION = fragment('(prov:wasGeneratedBy|^prov:specializationOf/prov:wasGeneratedBy)');

/** Filters from query parameters: `inlineStart`…, `prep.<name>`, `hp.<name>`. */
function filters(params: Readonly<Record<string, unknown>>): {
  prep: [SparqlTerm, SparqlTerm][];
  hp: [SparqlTerm, SparqlTerm][];
} {
  const prep: [SparqlTerm, SparqlTerm][] = [];
  const hp: [SparqlTerm, SparqlTerm][] = [];
  for (const [key, value] of Object.entries(params)) {
    if (key === 'limit') continue;
    const alias = PREPARATION_ALIASES[key];
    if (alias !== undefined) prep.push([nameTerm(key, alias), valueTerm(key, value)]);
    else if (key.startsWith('prep.')) prep.push([nameTerm(key, key.slice(5)), valueTerm(key, value)]);
    else if (key.startsWith('hp.')) hp.push([nameTerm(key, key.slice(3)), valueTerm(key, value)]);
    else
      throw new ValidationError(`unknown filter ${key}`, [
        {
          path: key,
          message: 'filters are inlineStart, inlineEnd, tileSize, noiseThreshold, prep.<name> and hp.<name>',
        },
      ]);
  }
  return { prep, hp };
}

/** Runs matching every filter, best final loss first. */
export async function listRuns(
  context: ViewContext,
  params: Readonly<Record<string, unknown>>,
): Promise<{ runs: RunRow[] }> {
  const { prep, hp } = filters(params);
  // the preparation filters first, in a subquery of their own: the few training sets they select, then
  // their trainings (after the trainings, RDF4J walks every training set's preparation path)
  const prepPatterns = prep
    .map(
      ([name, value], i) =>
        sparql`?prep${fragment(String(i))} provml:hasInputValue [ provml:valueName ${name} ; prov:value ?p${fragment(String(i))} ] .
      FILTER(?p${fragment(String(i))} = ${value})
      ?trainingSet ${GENERATION}/provml:partOfExecution* ?prep${fragment(String(i))} .`,
    )
    .join('\n      ');
  const sets =
    prep.length === 0
      ? ''
      : `{
    SELECT DISTINCT ?trainingSet WHERE {
      ${prepPatterns}
      ?trainingSet a provml:LearningDatasetReferenceValue .
    }
  }`;
  const hpPatterns = hp
    .map(
      ([name, value], i) =>
        sparql`?training provml:hasInputValue [ provml:valueName ${name} ; prov:value ?h${fragment(String(i))} ] .
  FILTER(?h${fragment(String(i))} = ${value})`,
    )
    .join('\n  ');
  // a run that used no training set is a run too (to compare it), unless a preparation filter asks for its set
  const usedSet = `?training prov:used ?trainingSet . ?trainingSet a provml:LearningDatasetReferenceValue .
  OPTIONAL { ?trainingSet prov:specializationOf ?setFile }`;
  const trainingSet = prep.length === 0 ? `OPTIONAL { ${usedSet} }` : usedSet;
  const matched = await rows(
    context,
    sparql`SELECT DISTINCT ?training ?trainingSet ?setFile ?started ?status WHERE {
  ${fragment(sets)}
  ?training provml:executesTask/provml:hasStageType provml:Training .
  ${fragment(trainingSet)}
  ${fragment(hpPatterns)}
  OPTIONAL { ?training prov:startedAtTime ?started }
  OPTIONAL { ?training provml:status ?status }
} ORDER BY ?started`,
  );
  if (matched.length === 0) return { runs: [] };
  const trainings = matched.map((m) => iriTerm('training', m.training));
  // the VALUES in every branch: one outside a union whose branches BIND is not pushed into them (RDF4J
  // scopes such a union apart, Oxigraph joins its branches by hash), so each branch would read the store
  const only = fragment(sparql`VALUES ?training { ${trainings} }`);
  const values = await rows(
    context,
    sparql`SELECT DISTINCT ?training ?kind ?name ?value WHERE {
  {
    ${only} ?training provml:hasInputValue ?x . ?x a provml:LearningHyperParameterSetting .
    ?x provml:valueName ?name ; prov:value ?value . BIND("hp" AS ?kind)
  } UNION {
    ${only} ?training provml:hasOutputValue ?x . ?x provml:valueName ?name ; prov:value ?value . BIND("output" AS ?kind)
  } UNION {
    ${only} ?training prov:used ?set . ?set a provml:LearningDatasetReferenceValue ;
      ${GENERATION}/provml:partOfExecution* ?p . ?p provml:hasInputValue ?x .
    ?x provml:valueName ?name ; prov:value ?value . BIND("prep" AS ?kind)
  }
}`,
  );
  const times = await trainingTimes(
    context,
    matched.map((m) => m.training!),
  );
  const placed = await rows(
    context,
    sparql`SELECT ?training ?run ?rank ?attempt ?worldSize WHERE {
  ${only} ?training provml:partOfExecution+ ?run . ?run a provml:WorkflowExecution .
  OPTIONAL { ?training provml:rank ?rank }
  OPTIONAL { ?training provml:attempt ?attempt }
  OPTIONAL { ?training provml:worldSize ?worldSize }
}`,
  );
  const runs = matched.map((m): RunRow => {
    const of = (kind: string): Values =>
      Object.fromEntries(
        values
          .filter((v) => v.training === m.training && v.kind === kind)
          .map((v) => [v.name!, plain(v.value!)]),
      );
    const t = times.find((x) => x.training === m.training);
    const p = placed.find((x) => x.training === m.training);
    return {
      training: m.training!,
      workflowExecution: p?.run ?? null,
      trainingSet: m.setFile ?? m.trainingSet ?? null,
      started: m.started ?? null,
      status: m.status ?? (m.started === undefined ? null : 'running'),
      preparation: of('prep'),
      hyperparameters: of('hp'),
      outputs: of('output'),
      meanBatchSeconds: num(t?.meanBatchSeconds),
      meanEpochSeconds: num(t?.meanEpochSeconds),
      worldSize: num(p?.worldSize),
      ranks:
        p?.rank === undefined
          ? null
          : [
              {
                rank: Number(p.rank),
                attempt: num(p.attempt) ?? 0,
                training: m.training!,
                started: m.started ?? null,
                status: m.status ?? (m.started === undefined ? null : 'running'),
                outputs: of('output'),
                meanBatchSeconds: num(t?.meanBatchSeconds),
                meanEpochSeconds: num(t?.meanEpochSeconds),
              },
            ],
    };
  });
  const loss = (r: RunRow): number =>
    typeof r.outputs.final_loss === 'number' ? r.outputs.final_loss : Number.POSITIVE_INFINITY;
  return { runs: gatherRanks(runs).sort((a, b) => loss(a) - loss(b)) };
}

/**
 * Mean batch and epoch seconds of each training: recorded by the processor when the training ended
 * (provml:TimingStatistics); for the others (running, or begun before a processor restart) averaged
 * from their batches and epochs, those trainings named so that the store reads only theirs.
 */
async function trainingTimes(
  context: ViewContext,
  trainings: readonly string[],
): Promise<Record<string, string>[]> {
  const terms = (list: readonly string[]): SparqlTerm[] => list.map((t) => iriTerm('training', t));
  const recorded = await rows(
    context,
    sparql`SELECT DISTINCT ?training ?meanBatchSeconds ?meanEpochSeconds WHERE {
  VALUES ?training { ${terms(trainings)} }
  ?training provml:hasTimingStatistics ?b , ?e .
  ?b provml:ofTask ?batchTask ; provml:meanSeconds ?meanBatchSeconds .
  ?e provml:ofTask ?epochTask ; provml:meanSeconds ?meanEpochSeconds .
  ?batchTask rdfs:label ?batchName .
  ?epochTask rdfs:label ?epochName .
  FILTER(?batchName = "batch" && ?epochName = "epoch")
}`,
  );
  const done = new Set(recorded.map((r) => r.training));
  const rest = terms(trainings.filter((t) => !done.has(t)));
  if (rest.length === 0) return recorded;
  // one aggregate per subquery: an AVG over a union would see the other side's unbound values
  const averaged = await rows(
    context,
    sparql`SELECT ?training ?meanBatchSeconds ?meanEpochSeconds WHERE {
  VALUES ?training { ${rest} }
  OPTIONAL {
    SELECT ?training (AVG(?b) AS ?meanBatchSeconds) WHERE {
      SELECT DISTINCT ?training ?batch ?b WHERE {
        VALUES ?training { ${rest} }
        ?batch provml:partOfExecution/provml:partOfExecution ?training ; provml:durationSeconds ?b .
        # a test, not a pattern: as a pattern RDF4J starts from every execution of the "batch" task
        FILTER EXISTS { ?batch provml:executesTask/rdfs:label "batch" }
      }
    } GROUP BY ?training
  }
  OPTIONAL {
    SELECT ?training (AVG(?e) AS ?meanEpochSeconds) WHERE {
      SELECT DISTINCT ?training ?epoch ?e WHERE {
        VALUES ?training { ${rest} }
        ?epoch provml:partOfExecution ?training ;
               provml:executesTask/rdfs:label "epoch" ; provml:durationSeconds ?e .
      }
    } GROUP BY ?training
  }
}`,
  );
  return [...recorded, ...averaged];
}
