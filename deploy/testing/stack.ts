/** Test helpers: an embedded stack on free ports and SPARQL over HTTP. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDemoConfig, runDemo, type DemoReport } from '@provml/demo';
import { resolveEmbeddedConfig, type EmbeddedConfig, EmbeddedStack } from '@provml/app';

/** Starts an embedded stack on free ports of 127.0.0.1, with any other settings given. */
export async function startStack(
  settings: Partial<Record<keyof EmbeddedConfig, unknown>> = {},
): Promise<EmbeddedStack> {
  const stack = new EmbeddedStack(resolveEmbeddedConfig({ ...settings, queryPort: 0, ingestPort: 0 }));
  await stack.start();
  return stack;
}

/** Path of a file in schemas/examples. */
export const example = (name: string): string =>
  new URL(`../../schemas/examples/${name}`, import.meta.url).pathname;

/** Runs a SELECT through the SPARQL protocol endpoint and returns rows of plain values. */
export async function sparql(queryUrl: string, query: string): Promise<Record<string, string>[]> {
  const response = await fetch(`${queryUrl}/sparql`, {
    method: 'POST',
    headers: { 'content-type': 'application/sparql-query', accept: 'application/sparql-results+json' },
    body: query,
  });
  if (!response.ok) throw new Error(`SPARQL ${response.status}: ${await response.text()}`);
  const json = (await response.json()) as {
    results: { bindings: Record<string, { value: string }>[] };
  };
  return json.results.bindings.map((b) =>
    Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.value])),
  );
}

/** Prefixes used by test queries. */
export const PREFIXES = `
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX provml: <https://w3id.org/provml/ns#>
PREFIX mls: <http://www.w3.org/ns/mls#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
PREFIX geo: <https://example.org/geo#>
`;

/** The PROV-ML classes (Table II and the lifecycle) a curation → preparation → training lifecycle must produce. */
export const LIFECYCLE_CLASSES = [
  'LearningProcess',
  'LearningProcessExecution',
  'LearningStage',
  'LearningStageExecution',
  'LearningHyperParameter',
  'LearningHyperParameterSetting',
  'ModelHyperParameter',
  'ModelHyperParameterValue',
  'EvaluationMeasure',
  'ModelEvaluation',
  'LearningDatasetReference',
  'LearningDatasetReferenceValue',
  'DatasetCharacteristic',
  'DatasetCharacteristicValue',
  'ModelReference',
  'ModelReferenceValue',
  'DataStoreInstance',
  'DataCurationWorkflow',
  'LearningDataPreparationWorkflow',
] as const;

/** The local names of the provml: classes used in the store behind `queryUrl`. */
export async function provmlClasses(queryUrl: string): Promise<Set<string>> {
  const rows = await sparql(
    queryUrl,
    `${PREFIXES} SELECT DISTINCT ?c WHERE { ?x a ?c FILTER(STRSTARTS(STR(?c), STR(provml:))) }`,
  );
  return new Set(rows.map((r) => r.c!.replace('https://w3id.org/provml/ns#', '')));
}

/** A small demo configuration (seconds to run) for tests that compare runs or stores. */
export const SMALL_DEMO = {
  survey: { name: 'small', inlines: 32, crosslines: 32, samples: 64 },
  preparations: [
    {
      name: 'a',
      inlineStart: 100,
      inlineEnd: 115,
      tileSize: 8,
      noiseThreshold: 0.6,
      validationFraction: 0.2,
    },
    {
      name: 'b',
      inlineStart: 116,
      inlineEnd: 131,
      tileSize: 8,
      noiseThreshold: 0.6,
      validationFraction: 0.2,
    },
  ],
  trainings: [
    { name: 'r1', preparation: 'a', learningRate: 0.1, epochs: 2, batchSize: 32, hiddenUnits: 8 },
    { name: 'r2', preparation: 'a', learningRate: 0.05, epochs: 2, batchSize: 16, hiddenUnits: 8 },
    { name: 'r3', preparation: 'b', learningRate: 0.1, epochs: 2, batchSize: 32, hiddenUnits: 8 },
  ],
};

/** An embedded stack that has run the small demo lifecycle, and what the demo did. */
export interface DemoStack {
  stack: EmbeddedStack;
  report: DemoReport;
  /** Stops the stack and removes the demo's files. */
  close(): Promise<void>;
}

/** Starts an embedded stack, runs the small demo through it and waits until the store has it all. */
export async function startDemoStack(
  settings: Partial<Record<keyof EmbeddedConfig, unknown>> = {},
): Promise<DemoStack> {
  const dir = await mkdtemp(join(tmpdir(), 'provml-demo-'));
  const stack = await startStack(settings);
  const report = await runDemo(
    { capture: (spec) => stack.capture({ spec, env: {} }), annotate: (t, s) => stack.annotate(t, s) },
    resolveDemoConfig({ ...SMALL_DEMO, outputDir: dir }),
  );
  await stack.settle();
  return {
    stack,
    report,
    close: async () => {
      await stack.shutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
