/**
 * `npm run build:agent-go` runs this first: writes the JSON Schemas the Go agent validates with
 * (internal/validate/schemas/*.schema.json, and a copy of
 * schemas/src/avro/CaptureEvent.v2.avsc in internal/capture) from the zod schemas of @provml/schemas, so both agents
 * read one contract. What JSON Schema cannot say (refinements: event times, captured values, IRIs,
 * unpaired surrogates, a spec's cross-field checks) is written in Go beside the validator, each
 * naming its TypeScript rule. capture-agent/agent/test/goAgent.test.ts fails when the committed
 * files are stale. Run: `node --import tsx deploy/agent-go-schemas.ts` (or `npm run build:agent-go`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import * as z from 'zod';
import { EVENT_LIMITS, eventJsonSchema, specSchema } from '@provml/schemas';

/** Where the generated files are committed (embedded into the Go binary), by file name. */
const MODULE = join(import.meta.dirname, '..', 'capture-agent', 'agent-go');
const DIRS: Record<string, string> = {
  'event.schema.json': join(MODULE, 'internal', 'validate', 'schemas'),
  'spec.schema.json': join(MODULE, 'internal', 'validate', 'schemas'),
  'CaptureEvent.avsc': join(MODULE, 'internal', 'capture'),
};

/** The path of each generated file. */
export const generatedPath = (name: string): string => join(DIRS[name]!, name);

type JsonSchema = Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> };

/** The generated files, by name, as the text written to disk (JSON as prettier formats it, so `format:check` agrees). */
export async function generatedSchemas(): Promise<Record<string, string>> {
  const event = z.toJSONSchema(eventJsonSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  // the counts eventJsonSchema checks with .refine (which JSON Schema can say)
  event.properties!.values!.maxProperties = EVENT_LIMITS.valueCount;
  event.properties!.context!.maxProperties = EVENT_LIMITS.contextEntries;
  const spec = z.toJSONSchema(specSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const options = { ...(await resolveConfig(generatedPath('event.schema.json'))), parser: 'json' };
  const text = (s: JsonSchema): Promise<string> => format(JSON.stringify(s), options);
  // the Avro schema events are published with (a copy: go:embed reads only the module's own files)
  const avsc = readFileSync(new URL('../schemas/src/avro/CaptureEvent.v2.avsc', import.meta.url), 'utf8');
  return {
    'event.schema.json': await text(event),
    'spec.schema.json': await text(spec),
    'CaptureEvent.avsc': avsc,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [name, text] of Object.entries(await generatedSchemas())) {
    writeFileSync(generatedPath(name), text);
    process.stdout.write(`wrote ${generatedPath(name)}\n`);
  }
}
