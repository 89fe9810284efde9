/** Content digests of local files: what a data reference's `digest: true` asks the capture library to compute. */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Bytes read at a time. */
const CHUNK = 1 << 20;

/**
 * `sha256:` and the SHA-256 of the file a `file:` URI names, in lowercase hex, read in 1 MiB chunks
 * on the caller's thread (it is asked for, per reference: a model file of a few hundred MB takes
 * about a second).
 * @throws TypeError for a URI that is not a `file:` URI; a file system error when it cannot be read
 */
export function fileDigest(uri: string): string {
  const hash = createHash('sha256');
  const fd = openSync(fileURLToPath(uri), 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let n: number;
    while ((n = readSync(fd, buf, 0, CHUNK, null)) > 0) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
}
