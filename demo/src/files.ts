/** Where the demo's files live, and their URIs (the data references its provenance records). */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** `file:` URI of a path (absolute), as captured in data references. */
export const fileUri = (path: string): string => pathToFileURL(resolve(path)).href;

/** Writes a file, creating its folder. */
export async function writeFileDeep(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}
