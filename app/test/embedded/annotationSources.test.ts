/**
 * Annotation sources on the embedded process with a data directory: posting a source again replaces
 * its document, `DELETE /v1/annotations?source=` withdraws it (from `/sparql` and from lineage), who
 * posted it is stated in PROV, and a withdrawn source stays withdrawn after a restart on the same data.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../../deploy/testing/kafkaTest.ts';
import {
  send,
  sparqlFrom,
  startEmbedded,
  type EmbeddedProcess,
} from '../../../deploy/testing/embeddedProcess.ts';

const FILE = 'file:///surveys/north.sgy';
const doc = (name: string, basin: string): string =>
  `@prefix ex: <https://ex.org/> .\n@prefix provml: <https://w3id.org/provml/ns#> .\n` +
  `ex:${name} ex:basin "${basin}" ; provml:annotates <${FILE}> .\n`;

/** Rows of a SELECT, as plain values. */
async function select(queryUrl: string, query: string): Promise<Record<string, string>[]> {
  const answer = await sparqlFrom(queryUrl, query);
  if (answer.status !== 200) throw new Error(`query: ${answer.status} ${answer.text}`);
  const json = JSON.parse(answer.text) as { results: { bindings: Record<string, { value: string }>[] } };
  return json.results.bindings.map((b) =>
    Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v.value])),
  );
}

const basins = (queryUrl: string): Promise<string[]> =>
  select(queryUrl, 'SELECT ?b WHERE { ?a <https://ex.org/basin> ?b }').then(
    (rows) => rows.map((r) => r.b!).sort(),
    () => [],
  );

/** The domain graphs holding anything. */
const domainGraphs = async (queryUrl: string): Promise<string[]> =>
  (
    await select(
      queryUrl,
      'SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } FILTER(STRSTARTS(STR(?g), "urn:provml:graph/domain")) } ORDER BY ?g',
    )
  ).map((r) => r.g!);

/** The annotation nodes of the backward lineage of FILE, with who they are attributed to. */
async function lineageAnnotations(queryUrl: string): Promise<{ id: string; by?: string }[]> {
  const answer = await send(`${queryUrl}/v1/lineage/backward?entity=${encodeURIComponent(FILE)}&depth=2`, {});
  expect(answer.status).toBe(200);
  const graph = JSON.parse(answer.text) as {
    nodes: { id: string; kind: string; properties: Record<string, string> }[];
  };
  return graph.nodes
    .filter((n) => n.kind === 'annotation')
    .map((n) => ({ id: n.id, by: n.properties['wasAttributedTo'] }));
}

const post = (ingestUrl: string, source: string, body: string) =>
  send(`${ingestUrl}/v1/annotations?source=${source}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'text/turtle' },
  });

describe('annotation sources on a data directory', () => {
  let dir: string | undefined;
  let running: EmbeddedProcess | undefined;
  afterEach(async () => {
    await running?.stop('SIGKILL');
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('replaces a source posted again, withdraws it, and keeps it withdrawn across a restart', async () => {
    dir = await mkdtemp(join(tmpdir(), 'provml-annotations-'));
    running = await startEmbedded(['--data-dir', dir]);
    const { ingestUrl, queryUrl } = running;
    expect((await post(ingestUrl, 'wells', doc('north', 'first'))).status).toBe(202);
    expect((await post(ingestUrl, 'seismic', doc('survey', 'kept'))).status).toBe(202);
    await until(async () => (await basins(queryUrl)).length === 2, 'both sources in the store', 60_000);

    // posted again: the new document replaces the old one (not merged)
    expect((await post(ingestUrl, 'wells', doc('north2', 'second'))).status).toBe(202);
    await until(async () => (await basins(queryUrl)).includes('second'), 'the replacement', 60_000);
    expect(await basins(queryUrl)).toEqual(['kept', 'second']);
    expect(JSON.parse((await sparqlFrom(queryUrl, 'ASK { <https://ex.org/north> ?p ?o }')).text)).toEqual({
      head: {},
      boolean: false,
    });

    // who annotated, in PROV: the graph is a bundle attributed to the annotator, and so is each annotation
    const agent = 'urn:provml:agent/annotator/anonymous';
    expect(
      await select(
        queryUrl,
        `PREFIX prov: <http://www.w3.org/ns/prov#>
         SELECT ?g ?agent ?a WHERE { GRAPH ?g { ?g a prov:Bundle ; prov:wasAttributedTo ?agent .
           ?agent a prov:Agent . ?a prov:wasAttributedTo ?agent . FILTER(?a != ?g) } } ORDER BY ?g`,
      ),
    ).toEqual([
      { g: 'urn:provml:graph/domain/seismic', agent, a: 'https://ex.org/survey' },
      { g: 'urn:provml:graph/domain/wells', agent, a: 'https://ex.org/north2' },
    ]);
    expect(await lineageAnnotations(queryUrl)).toEqual(
      expect.arrayContaining([
        { id: 'https://ex.org/north2', by: agent },
        { id: 'https://ex.org/survey', by: agent },
      ]),
    );
    expect((await lineageAnnotations(queryUrl)).map((n) => n.id)).not.toContain('https://ex.org/north');

    // withdrawn: gone from /sparql and from lineage; the other source stays
    const withdrawn = await send(`${ingestUrl}/v1/annotations?source=wells`, { method: 'DELETE' });
    expect(withdrawn.status).toBe(202);
    expect(JSON.parse(withdrawn.text)).toEqual({ withdrawn: 'wells' });
    await until(async () => (await basins(queryUrl)).length === 1, 'the withdrawal', 60_000);
    expect(await basins(queryUrl)).toEqual(['kept']);
    expect(await domainGraphs(queryUrl)).toEqual(['urn:provml:graph/domain/seismic']);
    // one drop per post (two first posts, a replacement) and the withdrawal
    const metrics = await send(`${queryUrl}/metrics`, {});
    expect(/^provml_sink_graphs_dropped_total (\d+)/m.exec(metrics.text)?.[1]).toBe('4');
    expect((await lineageAnnotations(queryUrl)).map((n) => n.id)).toEqual(['https://ex.org/survey']);

    // restarted on the same data directory: the replicas replay the drop in its place
    await running.stop('SIGTERM');
    running = await startEmbedded(['--data-dir', dir]);
    const again = running.queryUrl;
    await until(async () => (await basins(again)).length > 0, 'the restored store', 120_000);
    expect(await basins(again)).toEqual(['kept']);
    expect(await domainGraphs(again)).toEqual(['urn:provml:graph/domain/seismic']);
    expect((await lineageAnnotations(again)).map((n) => n.id)).toEqual(['https://ex.org/survey']);
  }, 300_000);
});
