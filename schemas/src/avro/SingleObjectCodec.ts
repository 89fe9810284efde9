/** Avro single-object encoding: marker C3 01, the writer schema's CRC-64-AVRO fingerprint, the Avro binary body. */
import type { Type } from 'avsc';
import { withoutNullDigests, type CaptureEvent } from '../CaptureEvent.ts';
import { DecodeError, ValidationError } from '../errors.ts';
import type { ValidationIssue } from '../errors.ts';
import {
  CAPTURE_EVENT_SCHEMA,
  CAPTURE_EVENT_SCHEMA_V1,
  createAvroType,
  parsingCanonicalForm,
  schemaFingerprint,
} from './captureEventSchema.ts';
import { crc64Avro } from './crc64Avro.ts';
import type { AvroSchema } from './captureEventSchema.ts';

/*
 * Grammar (Avro specification, "Single-object encoding"):
 *   message     = marker fingerprint body
 *   marker      = %xC3 %x01
 *   fingerprint = 8 bytes, CRC-64-AVRO of the writer schema's Parsing Canonical Form, little-endian
 *   body        = the value in Avro binary encoding, written with the writer schema
 */

/** The two bytes every single-object encoded message starts with. */
export const SINGLE_OBJECT_MARKER: readonly [number, number] = [0xc3, 0x01];

/** Length of marker plus fingerprint. */
const HEADER_LENGTH = 10;

/** Whether `buf` starts with the single-object marker and is long enough to hold a fingerprint. */
export function isSingleObjectEncoded(buf: Uint8Array): boolean {
  return buf.length >= HEADER_LENGTH && buf[0] === 0xc3 && buf[1] === 0x01;
}

/** The outcome of {@link SingleObjectCodec.tryDecode}: a value, or why the bytes could not be decoded. */
export type DecodeOutcome<T> = { ok: true; value: T } | { ok: false; error: DecodeError };

/** Options of {@link SingleObjectCodec}. */
export interface SingleObjectCodecOptions {
  /** The schema decoded values follow; also the schema `encode` writes with. */
  readerSchema: AvroSchema;
  /** Older or newer schemas whose messages this codec decodes too (the reader schema is always known). */
  writerSchemas?: readonly AvroSchema[];
}

/** A writer schema the codec knows: how to check its bodies and how to read them as the reader type. */
interface KnownWriter {
  readonly check: BodyCheck;
  /** Undefined when the writer schema is the reader schema. */
  readonly resolver: ReturnType<Type['createResolver']> | undefined;
}

/**
 * Encodes values with one reader schema and decodes messages written with any known writer schema,
 * resolving writer to reader (added fields with defaults, removed fields, ...). Types and resolvers
 * are built when a schema is registered; `encode` and `decode` parse no schema.
 */
export class SingleObjectCodec<T> {
  /** Fingerprint of the reader schema, as written by `encode`. */
  readonly fingerprint: bigint;
  private readonly readerType: Type;
  private readonly header: Buffer;
  /** Where `encode` writes header and body before copying them out once (grown on demand). */
  private scratch = Buffer.alloc(4096);
  private readonly writers = new Map<bigint, KnownWriter>();

  constructor(options: SingleObjectCodecOptions) {
    this.readerType = createAvroType(options.readerSchema);
    this.fingerprint = schemaFingerprint(options.readerSchema);
    this.header = Buffer.alloc(HEADER_LENGTH);
    this.header.set(SINGLE_OBJECT_MARKER, 0);
    this.header.writeBigUInt64LE(this.fingerprint, 2);
    this.header.copy(this.scratch, 0);
    this.addWriterSchema(options.readerSchema);
    for (const schema of options.writerSchemas ?? []) this.addWriterSchema(schema);
  }

  /**
   * Makes messages written with `schema` decodable; idempotent. Returns the schema's fingerprint.
   *
   * @throws ValidationError when `schema` is not valid Avro or cannot be resolved to the reader schema.
   */
  addWriterSchema(schema: AvroSchema): bigint {
    const canonical = parsingCanonicalForm(schema);
    const fingerprint = crc64Avro(Buffer.from(canonical, 'utf8'));
    if (this.writers.has(fingerprint)) return fingerprint;
    let resolver: KnownWriter['resolver'];
    if (fingerprint !== this.fingerprint) {
      try {
        resolver = this.readerType.createResolver(createAvroType(schema));
      } catch (cause) {
        const message = `writer schema ${hex(fingerprint)} cannot be read with reader schema ${hex(this.fingerprint)}: ${errorMessage(cause)}`;
        throw new ValidationError(message, [{ path: '', message }]);
      }
    }
    this.writers.set(fingerprint, { check: compileBodyCheck(JSON.parse(canonical)), resolver });
    return fingerprint;
  }

  /** Whether messages with this writer schema fingerprint can be decoded. */
  knows(fingerprint: bigint): boolean {
    return this.writers.has(fingerprint);
  }

  /**
   * Encodes `value` with the reader schema.
   *
   * @throws ValidationError when `value` does not fit the schema, with one issue per offending field.
   */
  encode(value: T): Buffer {
    let end: number;
    try {
      // header and body in one scratch buffer, then one copy out (not toBuffer's copy plus a concat)
      end = this.readerType.encode(value, this.scratch, HEADER_LENGTH);
      while (end < 0) {
        // avsc returns minus the bytes missing when the buffer is too small
        const grown = Buffer.alloc(Math.max(this.scratch.length * 2, this.scratch.length - end));
        this.header.copy(grown, 0);
        this.scratch = grown;
        end = this.readerType.encode(value, this.scratch, HEADER_LENGTH);
      }
    } catch (cause) {
      const issues: ValidationIssue[] = [];
      this.readerType.isValid(value, {
        errorHook: (path: string[], _val: unknown, type: Type) =>
          issues.push({ path: path.join('.'), message: `not a valid ${type.typeName}` }),
      });
      if (issues.length === 0) issues.push({ path: '', message: errorMessage(cause) });
      const list = issues.map((i) => `${i.path || '(value)'}: ${i.message}`).join('; ');
      throw new ValidationError(`Value does not fit Avro schema ${hex(this.fingerprint)}: ${list}`, issues);
    }
    const out = Buffer.allocUnsafe(end);
    this.scratch.copy(out, 0, 0, end);
    return out;
  }

  /**
   * Decodes one single-object encoded message into a value of the reader schema.
   *
   * @throws DecodeError when the bytes lack the marker, name an unknown writer schema, or hold a
   *   truncated or corrupt body; `context.fingerprint` holds the writer fingerprint in hex when read.
   */
  decode(bytes: Uint8Array): T {
    const buf = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (!isSingleObjectEncoded(buf)) {
      const seen = `${buf.length} byte${buf.length === 1 ? '' : 's'}${buf.length > 0 ? `: ${preview(buf)}` : ''}`;
      throw new DecodeError(
        buf.length < HEADER_LENGTH && startsLikeMarker(buf)
          ? `Not Avro single-object encoded: the header needs ${HEADER_LENGTH} bytes, got ${seen}`
          : `Not Avro single-object encoded: expected marker c3 01, got ${seen}`,
      );
    }
    const fingerprint = buf.readBigUInt64LE(2);
    const writer = this.writers.get(fingerprint);
    if (writer === undefined) {
      const known = [...this.writers.keys()].map(hex).join(', ');
      throw new DecodeError(`Unknown writer schema fingerprint ${hex(fingerprint)} (known: ${known})`, {
        context: { fingerprint: hex(fingerprint) },
      });
    }
    const context = { fingerprint: hex(fingerprint) };
    try {
      writer.check(buf, HEADER_LENGTH);
    } catch (cause) {
      // Anything else (a stack overflow on a deeply recursive schema) is still a body that cannot be read.
      const where = cause instanceof CorruptBody ? ` at byte ${cause.offset} of ${buf.length}` : '';
      throw new DecodeError(
        `Corrupt Avro body (writer schema ${hex(fingerprint)}): ${errorMessage(cause)}${where}`,
        { cause, context: cause instanceof CorruptBody ? { ...context, byte: cause.offset } : context },
      );
    }
    try {
      return this.readerType.fromBuffer(buf.subarray(HEADER_LENGTH), writer.resolver) as T;
    } catch (cause) {
      throw new DecodeError(
        `Cannot decode Avro body (writer schema ${hex(fingerprint)}): ${errorMessage(cause)}`,
        { cause, context },
      );
    }
  }

  /** Like {@link decode}, returning the failure as a value instead of throwing it. */
  tryDecode(bytes: Uint8Array): DecodeOutcome<T> {
    try {
      return { ok: true, value: this.decode(bytes) };
    } catch (error) {
      if (error instanceof DecodeError) return { ok: false, error };
      throw error;
    }
  }
}

/** Whether the bytes there are (possibly fewer than two) agree with the marker. */
function startsLikeMarker(buf: Uint8Array): boolean {
  return (buf.length < 1 || buf[0] === 0xc3) && (buf.length < 2 || buf[1] === 0x01);
}

function hex(fingerprint: bigint): string {
  return `0x${fingerprint.toString(16).padStart(16, '0')}`;
}

function preview(buf: Uint8Array): string {
  const shown = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.length, 16)).toString('hex');
  return shown.replace(/(..)(?!$)/g, '$1 ') + (buf.length > 16 ? ' ...' : '');
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------------
// Body check: walks a body with the writer schema, bounds-checking every read, before avsc decodes it.
// avsc trusts lengths and counts (a corrupt array count makes it allocate and loop until memory runs
// out); this walk allocates nothing and rejects such bodies in time proportional to their length.

/** A corrupt body: what is wrong and where. */
class CorruptBody extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Checks the body that starts at `start` and runs to the end of `buf`. */
type BodyCheck = (buf: Buffer, start: number) => void;

/** Reads varints and skips bytes within bounds. */
class Cursor {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  get left(): number {
    return this.buf.length - this.pos;
  }

  /** A zig-zag varint; exact up to 2^53, magnitude-correct beyond. */
  long(): number {
    const start = this.pos;
    const first = this.buf[start];
    if (first !== undefined && first < 0x80) {
      this.pos = start + 1;
      return first & 1 ? -(first + 1) / 2 : first / 2;
    }
    let n = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw new CorruptBody('truncated: a number runs past the end', start);
      const b = this.buf[this.pos++] as number;
      n += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) break;
      scale *= 128;
      if (this.pos - start >= 10) throw new CorruptBody('a number is longer than 10 bytes', start);
    }
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  skip(bytes: number, what: string): void {
    if (bytes > this.buf.length - this.pos) {
      throw new CorruptBody(`truncated: ${what} needs ${bytes} bytes, ${this.left} left`, this.pos);
    }
    this.pos += bytes;
  }
}

/** A compiled schema node: how to skip one value, and the fewest bytes one value takes. */
interface Node {
  skip(c: Cursor): void;
  min: number;
}

/** Compiles a check for bodies of the schema whose Parsing Canonical Form parses to `canonical`. */
function compileBodyCheck(canonical: unknown): BodyCheck {
  const named = new Map<string, Node>();
  const root = compileNode(canonical, named);
  return (buf, start) => {
    const c = new Cursor(buf, start);
    root.skip(c);
    if (c.left > 0) throw new CorruptBody(`${c.left} trailing bytes after the value`, c.pos);
  };
}

function fixedSize(size: number, what: string): Node {
  return { min: size, skip: (c) => c.skip(size, what) };
}

const VARINT: Node = { min: 1, skip: (c) => void c.long() };
const STRING: Node = lengthPrefixed('a string');
const PRIMITIVE_NODES: Record<string, Node> = {
  null: { min: 0, skip: () => undefined },
  boolean: {
    min: 1,
    skip: (c) => {
      c.skip(1, 'a boolean');
      if ((c.buf[c.pos - 1] as number) > 1)
        throw new CorruptBody('a boolean byte is neither 0 nor 1', c.pos - 1);
    },
  },
  int: VARINT,
  long: VARINT,
  float: fixedSize(4, 'a float'),
  double: fixedSize(8, 'a double'),
  bytes: lengthPrefixed('bytes'),
  string: STRING,
};

function lengthPrefixed(what: string): Node {
  return {
    min: 1,
    skip: (c) => {
      const at = c.pos;
      const length = c.long();
      if (length < 0) throw new CorruptBody(`${what} has negative length ${length}`, at);
      c.skip(length, what);
    },
  };
}

/** An index into `count` choices (enum symbol, union branch), range-checked. */
function index(c: Cursor, count: number, what: string): number {
  const at = c.pos;
  const i = c.long();
  if (i < 0 || i >= count) throw new CorruptBody(`${what} index ${i} is not in 0..${count - 1}`, at);
  return i;
}

/** Array and map blocks: a count (negative: followed by a byte size), items, ..., a zero count. */
function blocks(item: Node, isMap: boolean): Node {
  const what = isMap ? 'map' : 'array';
  const minItem = item.min + (isMap ? 1 : 0);
  return {
    min: 1,
    skip: (c) => {
      for (;;) {
        const at = c.pos;
        let count = c.long();
        if (count === 0) return;
        if (count < 0) {
          count = -count;
          const size = c.long();
          if (size < 0 || size > c.left)
            throw new CorruptBody(`${what} block byte size ${size} is impossible`, at);
        }
        if (count * minItem > c.left) {
          const need = count * minItem;
          throw new CorruptBody(
            `truncated or corrupt: ${what} block of ${count} items needs ${need}+ bytes, ${c.left} left`,
            at,
          );
        }
        for (let i = 0; i < count; i++) {
          if (isMap) STRING.skip(c);
          item.skip(c);
        }
      }
    },
  };
}

function compileNode(schema: unknown, named: Map<string, Node>): Node {
  if (typeof schema === 'string') {
    const primitive = PRIMITIVE_NODES[schema];
    if (primitive !== undefined) return primitive;
    // A reference to a named type, maybe to the record being compiled: look it up when first used.
    return { min: 0, skip: (c) => (named.get(schema) as Node).skip(c) };
  }
  if (Array.isArray(schema)) {
    const branches = schema.map((s) => compileNode(s, named));
    return { min: 1, skip: (c) => (branches[index(c, branches.length, 'union branch')] as Node).skip(c) };
  }
  const obj = schema as { type: string; name: string; [key: string]: unknown };
  switch (obj.type) {
    case 'array':
      return blocks(compileNode(obj['items'], named), false);
    case 'map':
      return blocks(compileNode(obj['values'], named), true);
    case 'enum': {
      const count = (obj['symbols'] as unknown[]).length;
      const node: Node = { min: 1, skip: (c) => void index(c, count, 'enum symbol') };
      named.set(obj.name, node);
      return node;
    }
    case 'fixed': {
      const node = fixedSize(obj['size'] as number, `fixed ${obj.name}`);
      named.set(obj.name, node);
      return node;
    }
    default: {
      // record or error: register before compiling the fields, which may refer back to it.
      const fields: Node[] = [];
      const node: Node = {
        min: 0,
        skip: (c) => {
          for (const field of fields) field.skip(c);
        },
      };
      named.set(obj.name, node);
      for (const field of obj['fields'] as { type: unknown }[]) fields.push(compileNode(field.type, named));
      node.min = fields.reduce((sum, f) => sum + f.min, 0);
      return node;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// CaptureEvent, last: the codec is built at module load, after the body-check helpers above exist.

/** The codec of CaptureEvent: writes v2, reads v2 and v1, built once. */
export const captureEventCodec: SingleObjectCodec<CaptureEvent> = new SingleObjectCodec<CaptureEvent>({
  readerSchema: CAPTURE_EVENT_SCHEMA,
  writerSchemas: [CAPTURE_EVENT_SCHEMA_V1],
});

/** Encodes a capture event with the CaptureEvent v2 schema. @throws ValidationError if it does not fit. */
export function encodeCaptureEvent(event: CaptureEvent): Buffer {
  return captureEventCodec.encode(event);
}

/**
 * Decodes a capture event written with CaptureEvent v2 or v1. A data reference carries `digest`
 * only when one was captured. @throws DecodeError on bad bytes.
 */
export function decodeCaptureEvent(bytes: Uint8Array): CaptureEvent {
  return withoutNullDigests(captureEventCodec.decode(bytes));
}
