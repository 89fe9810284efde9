/** The CaptureEvent Avro schemas (v2, and v1 that it evolved from), the avsc type, and Parsing Canonical Form and fingerprint of any schema. */
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import type { Type } from 'avsc';
import { ValidationError } from '../errors.ts';
import { crc64Avro } from './crc64Avro.ts';

/** An Avro schema as parsed JSON: a type name, a union (array) or a type object. */
export type AvroSchema = string | readonly AvroSchema[] | { readonly [key: string]: unknown };

/**
 * The options every avsc type of this project is built with. Unions are unwrapped where avsc can
 * tell the branches apart by JS value (`auto`), so `values` holds plain booleans, numbers, strings
 * and number arrays; records carry no avsc methods, so decoded events are plain data.
 */
const TYPE_OPTIONS = { wrapUnions: 'auto', omitRecordMethods: true } as const;

const readSchema = (file: string): AvroSchema =>
  JSON.parse(readFileSync(new URL(file, import.meta.url), 'utf8')) as AvroSchema;

/**
 * The current CaptureEvent schema, v2, parsed from `CaptureEvent.v2.avsc` (the source of truth):
 * v1 plus an optional content `digest` on data references (default null), so v1 and v2 read each
 * other's messages.
 */
export const CAPTURE_EVENT_SCHEMA: AvroSchema = readSchema('./CaptureEvent.v2.avsc');

/** CaptureEvent v1 (`CaptureEvent.v1.avsc`): messages written with it are still read. */
export const CAPTURE_EVENT_SCHEMA_V1: AvroSchema = readSchema('./CaptureEvent.v1.avsc');

/**
 * Builds the avsc type of `schema` with this project's options (unions unwrapped where unambiguous,
 * records without methods). Logical types are not registered: `timestamp-micros` reads as a number.
 */
export function createAvroType(schema: AvroSchema): Type {
  // A fresh options object each time: avsc stores its registry of named types in it.
  return avro.Type.forSchema(schema as Parameters<typeof avro.Type.forSchema>[0], { ...TYPE_OPTIONS });
}

/** The avsc type of {@link CAPTURE_EVENT_SCHEMA}, built once. */
export const captureEventType: Type = createAvroType(CAPTURE_EVENT_SCHEMA);

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const NAMED = new Set(['record', 'error', 'enum', 'fixed']);

/** Walks one schema for {@link parsingCanonicalForm}, collecting the full names defined so far. */
class CanonicalWriter {
  private readonly defined = new Set<string>();

  write(schema: unknown, namespace: string, path: string): string {
    if (typeof schema === 'string') return this.reference(schema, namespace, path);
    if (Array.isArray(schema)) {
      const branches = schema.map((branch, i) => this.write(branch, namespace, `${path}[${i}]`));
      return `[${branches.join(',')}]`;
    }
    if (typeof schema !== 'object' || schema === null) {
      return fail(path, `a schema must be a string, an array or an object, not ${JSON.stringify(schema)}`);
    }
    const obj = schema as Record<string, unknown>;
    const type = obj['type'];
    // `{"type": {...}}` and `{"type": [...]}` wrap another schema.
    if (typeof type !== 'string') return this.write(type, namespace, `${path}.type`);
    if (PRIMITIVES.has(type)) return JSON.stringify(type); // [PRIMITIVES], logical types stripped
    if (type === 'array')
      return `{"type":"array","items":${this.write(obj['items'], namespace, `${path}.items`)}}`;
    if (type === 'map')
      return `{"type":"map","values":${this.write(obj['values'], namespace, `${path}.values`)}}`;
    if (!NAMED.has(type)) return this.reference(type, namespace, `${path}.type`);
    return this.named(obj, type, namespace, path);
  }

  /** A record, error, enum or fixed definition: [FULLNAMES], [STRIP] and [ORDER]. */
  private named(obj: Record<string, unknown>, type: string, enclosing: string, path: string): string {
    const name = obj['name'];
    if (typeof name !== 'string' || name === '') return fail(`${path}.name`, `a ${type} needs a name`);
    const ns = obj['namespace'];
    let fullName: string;
    let namespace: string;
    if (name.includes('.')) {
      fullName = name;
      namespace = name.slice(0, name.lastIndexOf('.'));
    } else {
      namespace = typeof ns === 'string' ? ns : enclosing;
      fullName = namespace === '' ? name : `${namespace}.${name}`;
    }
    if (this.defined.has(fullName)) return fail(`${path}.name`, `${fullName} is defined twice`);
    this.defined.add(fullName);
    const head = `{"name":${JSON.stringify(fullName)},"type":${JSON.stringify(type)}`;
    if (type === 'enum') {
      const symbols = obj['symbols'];
      if (!Array.isArray(symbols)) return fail(`${path}.symbols`, 'an enum needs an array of symbols');
      return `${head},"symbols":${JSON.stringify(symbols)}}`;
    }
    if (type === 'fixed') return `${head},"size":${canonicalSize(obj['size'], `${path}.size`)}}`;
    const fields = obj['fields'];
    if (!Array.isArray(fields)) return fail(`${path}.fields`, `a ${type} needs an array of fields`);
    const written = fields.map((field: unknown, i) => {
      const at = `${path}.fields[${i}]`;
      const fieldName = (field as { name?: unknown } | null)?.name;
      if (typeof fieldName !== 'string') return fail(`${at}.name`, 'a field needs a name');
      const fieldType = this.write((field as { type?: unknown }).type, namespace, `${at}.type`);
      return `{"name":${JSON.stringify(fieldName)},"type":${fieldType}}`;
    });
    return `${head},"fields":[${written.join(',')}]}`;
  }

  /** A primitive name or a reference to a named type defined earlier, as a full name. */
  private reference(name: string, namespace: string, path: string): string {
    if (PRIMITIVES.has(name)) return JSON.stringify(name);
    if (name.includes('.')) return JSON.stringify(name);
    const qualified = namespace === '' ? name : `${namespace}.${name}`;
    if (this.defined.has(qualified)) return JSON.stringify(qualified);
    // Like the Java implementation: an unqualified name not found in the namespace may be in the null one.
    if (this.defined.has(name)) return JSON.stringify(name);
    return fail(path, `unknown type ${JSON.stringify(name)}`);
  }
}

/** [INTEGERS]: a fixed size as a JSON number without quotes or leading zeros. */
function canonicalSize(size: unknown, path: string): string {
  const n = typeof size === 'string' && /^\d+$/.test(size) ? Number.parseInt(size, 10) : size;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    return fail(path, `a fixed needs a non-negative integer size, not ${JSON.stringify(size)}`);
  }
  return String(n);
}

function fail(path: string, message: string): never {
  throw new ValidationError(`Invalid Avro schema at ${path}: ${message}`, [{ path, message }]);
}

/**
 * The Parsing Canonical Form of `schema` (Avro specification, "Parsing Canonical Form for Schemas"):
 * PRIMITIVES, FULLNAMES, STRIP, ORDER, STRINGS, INTEGERS and WHITESPACE applied to the parsed JSON.
 * Logical types, defaults, docs, aliases and orders are stripped. Implemented here rather than taken
 * from avsc, whose parser rejects some schemas the specification's test vectors canonicalize.
 *
 * @throws ValidationError when `schema` is not a well-formed Avro schema (unknown type reference,
 *   named type without a name, a name defined twice, ...).
 */
export function parsingCanonicalForm(schema: AvroSchema): string {
  return new CanonicalWriter().write(schema, '', '$');
}

/**
 * The CRC-64-AVRO fingerprint of the UTF-8 bytes of the schema's Parsing Canonical Form: the id the
 * single-object encoding puts after its marker. Unsigned; the Avro test vectors print it signed.
 */
export function schemaFingerprint(schema: AvroSchema): bigint {
  return crc64Avro(Buffer.from(parsingCanonicalForm(schema), 'utf8'));
}
