/** The domain scientist's data-curation workflow: parse the raw SEG-Y, check it, extract its extent, curate, annotate. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Capture } from '@provml/capture-agent';
import { ValidationError } from '@provml/schemas';
import type { DemoConfig } from './DemoConfig.ts';
import { fileUri, writeFileDeep } from './files.ts';
import { encodeSegy } from './segy/writeSegy.ts';
import { decodeSegy, surveyFromSegy } from './segy/readSegy.ts';
import type { LayerModel } from './survey.ts';

/** What curation found and wrote. */
export interface CurationResult {
  rawFile: string;
  curatedFile: string;
  curatedPath: string;
  horizonsFile: string;
  horizonsPath: string;
  annotationsFile: string;
  numTraces: number;
  numSlices: number;
  inlineRange: [number, number];
  crosslineRange: [number, number];
  boundingBox: [number, number, number, number];
  crs: string;
  annotationTriples: number;
}

/** The survey's map projection (the F3 block lies in UTM zone 31N). */
export const SURVEY_CRS = 'EPSG:32631';

/** Serialises an interpreted layer model as JSON (one depth array per horizon). */
export const horizonsJson = (layers: LayerModel): string =>
  JSON.stringify({ horizons: layers.horizons.map((h) => Array.from(h, (d) => Math.round(d * 1000) / 1000)) });

/** Reads a layer model written by `horizonsJson`, checking it covers `traces` traces. */
export function parseHorizons(text: string, traces: number): LayerModel {
  const parsed = JSON.parse(text) as { horizons?: unknown };
  if (
    !Array.isArray(parsed.horizons) ||
    parsed.horizons.some((h) => !Array.isArray(h) || h.length !== traces)
  )
    throw new ValidationError('horizons file does not match the survey', [
      { path: 'horizons', message: `expected arrays of ${traces} depths` },
    ]);
  return { horizons: (parsed.horizons as number[][]).map((h) => Float32Array.from(h)) };
}

/** The geoscientist's annotations about the raw file, as Turtle. */
export function annotationTurtle(config: DemoConfig, rawFile: string): string {
  const esc = (s: string): string => JSON.stringify(s);
  return `@prefix geo: <https://w3id.org/provml/demo/geo#> .
@prefix provml: <https://w3id.org/provml/ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .

<https://w3id.org/provml/demo/survey/${encodeURIComponent(config.survey.name)}>
    a geo:SeismicSurvey ;
    rdfs:label ${esc(`${config.survey.name} survey`)} ;
    geo:basin ${esc(config.annotations.basin)} ;
    geo:field ${esc(config.annotations.field)} ;
    geo:notes ${esc(config.annotations.notes)} ;
    provml:annotates <${rawFile}> .
`;
}

/**
 * Runs curation on the raw files: really parses the SEG-Y, rebuilds and checks its grid, writes
 * the curated cube, its trace index and the checked horizons, and publishes the annotations.
 */
export async function runCuration(
  capture: Capture,
  config: DemoConfig,
  raw: { segyPath: string; horizonsPath: string },
  annotate: (turtle: string, source: string) => Promise<number>,
): Promise<CurationResult> {
  const run = capture.workflowExecution(`curation-${config.survey.name}-${config.seed}`);
  const rawFile = fileUri(raw.segyPath);
  const rawHorizons = fileUri(raw.horizonsPath);
  const curatedPath = join(config.outputDir, 'curated', `${config.survey.name}.sgy`);
  const indexPath = join(config.outputDir, 'curated', `${config.survey.name}.index.json`);
  const horizonsPath = join(config.outputDir, 'curated', `${config.survey.name}.horizons.json`);
  const tolerance = 0.5;

  const result = await run.run(
    'curate',
    {
      values: { coordinate_tolerance: tolerance },
      dataRefs: { raw_file: rawFile, raw_horizons: rawHorizons },
    },
    async (t) => {
      const file = decodeSegy(await readFile(raw.segyPath));
      const { geometry: g, cube } = surveyFromSegy(file);
      const layers = parseHorizons(await readFile(raw.horizonsPath, 'utf8'), g.inlines * g.crosslines);
      const xs = file.traces.map((tr) => tr.cdpX);
      const ys = file.traces.map((tr) => tr.cdpY);
      const boundingBox: [number, number, number, number] = [
        Math.min(...xs),
        Math.min(...ys),
        Math.max(...xs),
        Math.max(...ys),
      ];
      const inlineRange: [number, number] = [g.firstInline, g.firstInline + g.inlines - 1];
      const crosslineRange: [number, number] = [g.firstCrossline, g.firstCrossline + g.crosslines - 1];
      const textHeader = [
        ...file.textHeader.slice(0, 37),
        `CURATED BY PROVML DEMO: GRID CHECKED TO ${tolerance} M`,
        'SEG Y REV1',
        'END TEXTUAL HEADER',
      ];
      await writeFileDeep(curatedPath, encodeSegy(cube, textHeader));
      await writeFileDeep(
        indexPath,
        JSON.stringify({ geometry: g, traces: file.traces.map((tr) => [tr.inline, tr.crossline]) }),
      );
      await writeFileDeep(horizonsPath, horizonsJson(layers));
      t.set('num_traces', file.traces.length)
        .set('num_slices', g.inlines)
        .set('num_crosslines', g.crosslines)
        .set('num_samples', g.samples)
        .set('sample_interval_us', g.sampleIntervalUs)
        .set('inline_range', inlineRange)
        .set('crossline_range', crosslineRange)
        .set('bounding_box', boundingBox)
        .set('crs', SURVEY_CRS)
        .addDataRef('curated_file', fileUri(curatedPath), 'project-fs')
        .addDataRef('index_file', fileUri(indexPath), 'project-fs')
        .addDataRef('horizons_file', fileUri(horizonsPath), 'project-fs');
      return {
        numTraces: file.traces.length,
        numSlices: g.inlines,
        inlineRange,
        crosslineRange,
        boundingBox,
      };
    },
  );

  const annotationsPath = join(config.outputDir, 'raw', `${config.survey.name}.annotations.ttl`);
  const annotationTriples = await run.run('annotate', { dataRefs: { raw_file: rawFile } }, async (t) => {
    const turtle = annotationTurtle(config, rawFile);
    await writeFileDeep(annotationsPath, turtle);
    // one source per curation run: a source posted again is replaced, so runs must not share one
    const triples = await annotate(
      turtle,
      `curation-${config.survey.name}-${config.seed}`.replace(/[^A-Za-z0-9._~-]/g, '-'),
    );
    t.set('annotation_triples', triples).addDataRef('annotations_file', fileUri(annotationsPath));
    return triples;
  });

  return {
    rawFile,
    curatedFile: fileUri(curatedPath),
    curatedPath,
    horizonsFile: fileUri(horizonsPath),
    horizonsPath,
    annotationsFile: fileUri(annotationsPath),
    crs: SURVEY_CRS,
    annotationTriples,
    ...result,
  };
}
