/** The OpenAPI 3.1 document of the query API, generated from the query catalogue so it cannot drift. */
import { VIEW_PATHS } from './viewsOpenApi.ts';
import { PARAMETER_KINDS, type QueryDefinition, type QueryName } from '../catalog/QueryCatalog.ts';

const problem = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    message: { type: 'string' },
    issues: { type: 'array', items: { type: 'object' } },
  },
  required: ['error', 'message'],
};

/** The document served at `/openapi.json`. */
export function openApiDocument(catalogue: ReadonlyMap<QueryName, QueryDefinition>): Record<string, unknown> {
  const queryPaths = Object.fromEntries(
    [...catalogue.values()].map((q) => [
      `/v1/queries/${q.name}`,
      {
        get: {
          summary: q.title,
          operationId: q.name,
          parameters: q.parameters.map((p) => ({
            name: p,
            in: 'query',
            required: true,
            schema:
              PARAMETER_KINDS[p] === 'integer' ? { type: 'integer' } : { type: 'string', format: 'iri' },
          })),
          responses: {
            '200': {
              description: 'Rows of plain values, one object per solution',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: {
                      query: { type: 'string' },
                      title: { type: 'string' },
                      parameters: { type: 'object' },
                      rows: {
                        type: 'array',
                        items: { type: 'object', additionalProperties: { type: 'string' } },
                      },
                    },
                  },
                },
              },
            },
            '400': {
              description: 'A parameter is missing, extra or not of its kind',
              content: { 'application/json': { schema: problem } },
            },
          },
        },
      },
    ]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'PROV-ML query API',
      version: '0.1.0',
      description:
        'Provenance of the ML lifecycle: the paper’s parameterized queries Q1–Q6 and their generalisations (executions, models, best model, timing, runs, measures, lineage), the SPARQL 1.1 Protocol endpoint (read-only, union default graph read as a set, FROM and the protocol’s dataset honoured), health and metrics.',
    },
    components: { schemas: { Problem: problem } },
    paths: {
      '/v1/queries': {
        get: {
          summary: 'The parameterized queries and their parameters',
          responses: { '200': { description: 'List' } },
        },
      },
      ...queryPaths,
      ...VIEW_PATHS,
      '/sparql': {
        get: {
          summary: 'SPARQL 1.1 query (read-only)',
          parameters: [
            { name: 'query', in: 'query', required: true, schema: { type: 'string' } },
            ...['default-graph-uri', 'named-graph-uri'].map((name) => ({
              name,
              in: 'query',
              required: false,
              description:
                'SPARQL 1.1 Protocol §2.1.4: the dataset (absolute IRIs; replaces FROM / FROM NAMED)',
              schema: { type: 'array', items: { type: 'string' } },
              style: 'form',
              explode: true,
            })),
          ],
          responses: {
            '200': { description: 'Results in the negotiated format' },
            '400': {
              description:
                'Invalid query (the parser says where), repeated query, a graph parameter not an absolute IRI, a body not UTF-8',
            },
            '403': { description: 'Updates (read-only) and SERVICE (forbidden-operation) are refused' },
            '406': {
              description:
                'No format the Accept header allows (not-acceptable), or XML 1.0 cannot carry the answer',
            },
            '413': { description: 'Query longer than the size limit' },
            '415': { description: 'An application/sparql-query body declared in a charset other than UTF-8' },
            '422': { description: 'Answer over the result-size limit (result-too-large)' },
            '504': { description: 'Query ran past the deadline (query-timeout)' },
          },
        },
        post: {
          summary: 'SPARQL 1.1 query as a form field or an application/sparql-query body',
          responses: { '200': { description: 'Results in the negotiated format' } },
        },
      },
      '/healthz': {
        get: {
          summary: 'Health',
          responses: { '200': { description: 'Healthy' }, '503': { description: 'Degraded' } },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'Text exposition format' } },
        },
      },
    },
  };
}
