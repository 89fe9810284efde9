/**
 * Reads a request body into one Buffer with `node:http` and `node:zlib` only (no body-parser: the
 * agent's resident set, bench/results/memory.md): the `Content-Encoding` one of `gzip`, `deflate`,
 * `br` or `identity`, at most `limit` bytes once decoded. Failures are `BodyError`s whose `type`
 * names the client's mistake the way the ingest answers it (README, Public contracts §3).
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** Why a body could not be read: `entity.too.large` (413), `encoding.unsupported` (415), `request.aborted` or `body.invalid` (400). */
export class BodyError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413 | 415,
    readonly type: 'entity.too.large' | 'encoding.unsupported' | 'request.aborted' | 'body.invalid',
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

const DECODERS: Readonly<Record<string, () => NodeJS.ReadWriteStream>> = {
  gzip: createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

const UNITS: Readonly<Record<string, number>> = { b: 1, kb: 2 ** 10, mb: 2 ** 20, gb: 2 ** 30 };

/** Bytes of a size such as `32mb`, `512kb` or `1000`. */
export function byteSize(size: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(size);
  if (m === null) throw new TypeError(`not a size: '${size}'`);
  return Math.floor(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]!);
}

/** Whether the request carries a body at all (a length other than 0, or chunked). */
export const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/** The whole body, decoded; rejects with a `BodyError`. Drains what is left of a refused request. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const fail = (error: BodyError): void => {
      req.unpipe();
      req.resume();
      reject(error);
    };
    let stream: Readable | NodeJS.ReadWriteStream = req;
    if (encoding !== 'identity') {
      const decoder = DECODERS[encoding];
      if (decoder === undefined)
        return fail(new BodyError(`unsupported content encoding "${encoding}"`, 415, 'encoding.unsupported'));
      stream = req.pipe(decoder());
    } else if (Number(req.headers['content-length'] ?? 0) > limit) {
      return fail(new BodyError('request entity too large', 413, 'entity.too.large'));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error?: BodyError): void => {
      if (done) return;
      done = true;
      if (error === undefined) return resolve(Buffer.concat(chunks, size));
      chunks.length = 0;
      if (stream !== req) (stream as unknown as Readable).destroy();
      fail(error);
    };
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish(new BodyError('request entity too large', 413, 'entity.too.large'));
      else if (!done) chunks.push(chunk);
    });
    stream.on('end', () => finish());
    stream.on('error', (error: Error) => finish(new BodyError(error.message, 400, 'body.invalid')));
    req.on('aborted', () => finish(new BodyError('request aborted', 400, 'request.aborted')));
    req.on('close', () => {
      if (!req.complete) finish(new BodyError('request aborted', 400, 'request.aborted'));
    });
  });
}
