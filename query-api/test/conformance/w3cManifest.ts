/**
 * Reads the W3C SPARQL 1.1 test manifests copied under `w3c/` (from w3c/rdf-tests, see w3c/SOURCE.md):
 * the protocol tests (HTTP requests and expected responses, in the HTTP-in-RDF vocabulary) and the
 * CSV/TSV result format tests (query, data, expected file).
 */
import { readFileSync } from 'node:fs';
import { Parser, Store, type Term } from 'n3';

const MF = 'http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#';
const QT = 'http://www.w3.org/2001/sw/DataAccess/tests/test-query#';
const HT = 'http://www.w3.org/2011/http#';
const CNT = 'http://www.w3.org/2011/content#';
const UT = 'http://www.w3.org/2009/sparql/tests/test-update#';
const RDF = 'http://www.w3.org/1999/02/22-rdf-syntax-ns#';
const RDFS = 'http://www.w3.org/2000/01/rdf-schema#';
const HTS = 'http://www.w3.org/2011/http-statusCodes#StatusCode';

/** Folder of the copied suites. */
export const W3C_DIR = new URL('./w3c/sparql11/', import.meta.url);

/** One HTTP request of a protocol test and what its response must be. */
export interface ProtocolRequest {
  method: string;
  /** Path and query string, as in the manifest (`/sparql/?…`). */
  absolutePath: string;
  headers: Record<string, string>;
  body?: { chars: string; encoding: string };
  /** Status classes allowed, e.g. [2, 3]. */
  statusClasses: number[];
  expectedBoolean?: boolean;
  expectedFormat?: 'boolean' | 'tabular' | 'RDF';
}

/** A protocol test: its graphs (file → graph name) and its requests, in order. */
export interface ProtocolTest {
  id: string;
  name: string;
  graphs: { file: string; name: string }[];
  requests: ProtocolRequest[];
}

/** A CSV or TSV result format test. */
export interface ResultFormatTest {
  id: string;
  name: string;
  format: 'csv' | 'tsv';
  query: string;
  data: string;
  expected: string;
}

/** A manifest as a store, with helpers for one value and for RDF lists. */
class Manifest {
  readonly store = new Store();
  readonly base: string;
  private readonly lists: Record<string, Term[]>;

  constructor(path: string) {
    this.base = new URL(path, W3C_DIR).href;
    this.store.addQuads(
      new Parser({ baseIRI: this.base }).parse(readFileSync(new URL(path, W3C_DIR), 'utf8')),
    );
    this.lists = this.store.extractLists() as unknown as Record<string, Term[]>;
  }

  all(subject: Term, predicate: string): Term[] {
    return this.store.getObjects(subject, predicate, null);
  }

  one(subject: Term, predicate: string): Term | undefined {
    return this.all(subject, predicate)[0];
  }

  list(head: Term | undefined): Term[] {
    if (head === undefined || head.value === `${RDF}nil`) return [];
    return this.lists[head.value] ?? [];
  }

  entries(): Term[] {
    const manifest = this.store.getSubjects(`${RDF}type`, `${MF}Manifest`, null)[0]!;
    return this.list(this.one(manifest, `${MF}entries`));
  }

  /** A file named relative to the manifest. */
  file(term: Term): string {
    return term.value.startsWith(this.base.replace(/[^/]*$/, ''))
      ? term.value.slice(this.base.replace(/[^/]*$/, '').length)
      : term.value;
  }
}

/** The protocol tests, in manifest order. */
export function protocolTests(): ProtocolTest[] {
  const m = new Manifest('protocol/manifest.ttl');
  return m.entries().map((test) => {
    const connection = m.one(test, `${MF}action`)!;
    const requests = m.list(m.one(connection, `${HT}requests`)).map((request): ProtocolRequest => {
      const headers: Record<string, string> = {};
      for (const h of m.list(m.one(request, `${HT}headers`)))
        headers[m.one(h, `${HT}fieldName`)!.value.toLowerCase()] = m.one(h, `${HT}fieldValue`)!.value;
      const bodyNode = m.one(request, `${HT}body`);
      const response = m.one(request, `${HT}resp`)!;
      const boolean = m.one(response, `${MF}expectedBoolean`);
      return {
        method: m.one(request, `${HT}methodName`)!.value,
        absolutePath: m.one(request, `${HT}absolutePath`)!.value,
        headers,
        body:
          bodyNode === undefined
            ? undefined
            : {
                chars: m.one(bodyNode, `${CNT}chars`)!.value,
                encoding: m.one(bodyNode, `${CNT}characterEncoding`)?.value ?? 'UTF-8',
              },
        statusClasses: m
          .all(response, `${MF}expectedStatus`)
          .map((s) => Number(s.value.slice(HTS.length, HTS.length + 1))),
        expectedBoolean: boolean === undefined ? undefined : boolean.value === 'true',
        expectedFormat: m.one(response, `${MF}expectedFormat`)?.value as ProtocolRequest['expectedFormat'],
      };
    });
    return {
      id: test.value.replace(/^.*#/, ''),
      name: m.one(test, `${MF}name`)!.value,
      graphs: m.all(test, `${UT}graphData`).map((g) => ({
        file: `protocol/${m.file(m.one(g, `${UT}graph`)!)}`,
        name: m.one(g, `${RDFS}label`)!.value,
      })),
      requests,
    };
  });
}

/** The CSV/TSV result format tests, in manifest order. */
export function resultFormatTests(): ResultFormatTest[] {
  const m = new Manifest('csv-tsv-res/manifest.ttl');
  return m.entries().map((test) => {
    const action = m.one(test, `${MF}action`)!;
    const expected = `csv-tsv-res/${m.file(m.one(test, `${MF}result`)!)}`;
    return {
      id: test.value.replace(/^.*#/, ''),
      name: m.one(test, `${MF}name`)!.value,
      format: expected.endsWith('.csv') ? 'csv' : 'tsv',
      query: `csv-tsv-res/${m.file(m.one(action, `${QT}query`)!)}`,
      data: `csv-tsv-res/${m.file(m.one(action, `${QT}data`)!)}`,
      expected,
    };
  });
}

/** A copied file's text. */
export const w3cFile = (path: string): string => readFileSync(new URL(path, W3C_DIR), 'utf8');
