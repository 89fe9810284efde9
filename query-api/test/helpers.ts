/** Test helpers: an embedded stack on free ports and SPARQL over HTTP. */
import { resolveEmbeddedConfig } from '../src/embedded/EmbeddedConfig.ts';
import { EmbeddedStack } from '../src/embedded/EmbeddedStack.ts';

/** Starts an embedded stack on free ports of 127.0.0.1. */
export async function startStack(): Promise<EmbeddedStack> {
  const stack = new EmbeddedStack(resolveEmbeddedConfig({ queryPort: 0, ingestPort: 0 }));
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
