/**
 * `provml export`: the provenance of one workflow execution, one workflow or everything, read from the
 * store, as TriG or N-Quads (every statement, graph by graph: for archiving) or as PROV-N or PROV-JSON
 * (the PROV-DM records: for other PROV tools). The store is the embedded stack's (its data directory,
 * opened while no other process holds it) or the query API's (--config, --store, --store-url, …).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createJsonLogger, ValidationError } from '@provml/schemas';
import {
  EXPORT_FORMATS,
  exportQuads,
  serialize,
  type ExportFormat,
  type ExportScope,
} from '@provml/query-api';
import type { TripleStore } from '@provml/stores';
import { IriMinter } from '@provml/stream-processors';
import { resolveServiceConfig } from '@provml/service';

export const EXPORT_USAGE = `usage: provml export [--execution ID | --workflow ID] [--format trig|nquads|provn|provjson]
              [--output FILE] [--data-dir DIR | --config FILE | --store KIND --store-url URL [--repository ID]]
              [--iri-base IRI]

  --execution ID   one workflow execution: its graph and its workflow's spec graph
  --workflow ID    one workflow: its spec graph and the graphs of all its executions
                   (neither: every graph in the store)
  --format F       trig (default) or nquads: every statement, in its named graph;
                   provn or provjson: the PROV-DM records (entities, activities, agents and
                   their relations; rdf:types closed under PROV-O, ML Schema and PROV-ML)
  --output FILE    write there instead of standard output
  --data-dir DIR   the embedded stack's data (default .data/embedded); stop npm start first
  --config, --store, --store-url, --repository: the query API's store (RDF4J, Oxigraph server)`;

/** Exports a scope of a store in a format (the command without its argument handling). */
export async function exportStore(
  store: TripleStore,
  scope: ExportScope,
  format: ExportFormat,
  iris: IriMinter,
): Promise<string> {
  return serialize(await exportQuads(store, scope, iris), format);
}

/** Runs `provml export` with its arguments; returns the exit code. */
export async function exportCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      execution: { type: 'string' },
      workflow: { type: 'string' },
      format: { type: 'string', default: 'trig' },
      output: { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      store: { type: 'string' },
      'store-url': { type: 'string' },
      repository: { type: 'string' },
      'iri-base': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return (console.log(EXPORT_USAGE), 0);
  const format = values.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format))
    return usageError(`--format must be one of ${EXPORT_FORMATS.join(', ')}`);
  if (values.execution !== undefined && values.workflow !== undefined)
    return usageError('give --execution or --workflow, not both');
  const scope: ExportScope =
    values.execution !== undefined
      ? { kind: 'execution', workflowExecution: values.execution }
      : values.workflow !== undefined
        ? { kind: 'workflow', workflow: values.workflow }
        : { kind: 'all' };
  const distributed =
    values.config !== undefined ||
    values.store !== undefined ||
    values['store-url'] !== undefined ||
    (values['data-dir'] === undefined && env.PROVML_STORE !== undefined);
  if (distributed && values['data-dir'] !== undefined)
    return usageError('give --data-dir (embedded) or the query API store settings, not both');
  let text: string;
  if (distributed) {
    const config = resolveServiceConfig(
      {
        store: { kind: values.store, url: values['store-url'], repository: values.repository },
        iriBase: values['iri-base'],
        logLevel: 'warn',
      },
      env,
      values.config,
    );
    const { openStore } = await import('../services/services.ts');
    const store = await openStore(config, createJsonLogger('provml.export', { level: 'warn' }));
    try {
      text = await exportStore(store, scope, format, new IriMinter(config.iriBase));
    } finally {
      await store.close();
    }
  } else {
    const dataDir = values['data-dir'] ?? env.PROVML_DATA_DIR ?? '.data/embedded';
    if (!existsSync(dataDir))
      throw new ValidationError(`no embedded data in ${dataDir}`, [
        { path: 'data-dir', message: 'give the data directory of npm start (--data-dir)' },
      ]);
    const [{ resolveEmbeddedConfig }, { EmbeddedStack }] = await Promise.all([
      import('../embedded/EmbeddedConfig.ts'),
      import('../embedded/EmbeddedStack.ts'),
    ]);
    const stack = new EmbeddedStack(
      resolveEmbeddedConfig({
        dataDir,
        queryPort: 0,
        ingestPort: 0,
        logLevel: 'warn',
        ...(values['iri-base'] === undefined ? {} : { iriBase: values['iri-base'] }),
      }),
    );
    await stack.start();
    try {
      await stack.settle();
      text = await exportStore(stack.store, scope, format, stack.iris);
    } finally {
      await stack.shutdown();
    }
  }
  if (values.output === undefined) process.stdout.write(text);
  else await writeFile(values.output, text);
  return 0;
}

function usageError(message: string): number {
  console.error(`provml export: ${message}\n\n${EXPORT_USAGE}`);
  return 2;
}
