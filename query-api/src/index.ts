/** Public API of the query API, the read side: the SPARQL protocol, the REST views, the Q1–Q6 catalogue, the live feed and the dashboard. */
export { bindQuery, loadQueries, runQuery } from './catalog/QueryCatalog.ts';
export type { QueryName } from './catalog/QueryCatalog.ts';
export { formatTable } from './catalog/formatTable.ts';
export { LiveFeed } from './live/LiveFeed.ts';
export type { LiveEvent } from './live/LiveFeed.ts';
export { createQueryApp } from './query/createQueryApp.ts';
export type { QueryAppOptions } from './query/createQueryApp.ts';
export { ForbiddenOperationError, guardQuery, MAX_NESTING } from './query/sparqlGuard.ts';
export type { GuardPolicy, GuardedQuery } from './query/sparqlGuard.ts';
export { ParserBusyError, QueryTooComplexError, SparqlParseWorker } from './query/SparqlParseWorker.ts';
export type {
  ParsedQuery,
  ParseOptions,
  SparqlParser,
  SparqlParseWorkerOptions,
} from './query/SparqlParseWorker.ts';
export { nestingDepth } from './query/sparqlTokens.ts';
export { VIEWS } from './query/viewRoutes.ts';
export { PREFIXES } from './views/ViewContext.ts';
export type { ViewContext } from './views/ViewContext.ts';
export type { ExecutionRow } from './views/executions.ts';
export { lineage } from './views/lineage.ts';
export type { LineageGraph } from './views/lineage.ts';
export { bestModel } from './views/models.ts';
export type { BestModel, ModelRow } from './views/models.ts';
export { listMeasures } from './views/measures.ts';
export type { MeasureDeclaration, MeasurePoint, MeasureSeries } from './views/measures.ts';
export { listRuns } from './views/runs.ts';
export type { RunRow, RankRun } from './views/runs.ts';
export { epochTiming } from './views/timing.ts';
export type { EpochTiming } from './views/timing.ts';
export { exportGraphs, exportQuads, graphQuads } from './export/exportQuads.ts';
export type { ExportScope } from './export/exportQuads.ts';
export { classHierarchy, provDocument, toProvJson, toProvN } from './export/provDocument.ts';
export type { ProvDocument, ProvRecord } from './export/provDocument.ts';
export { EXPORT_FORMATS, provmlClassHierarchy, serialize } from './export/serialize.ts';
export type { ExportFormat } from './export/serialize.ts';
