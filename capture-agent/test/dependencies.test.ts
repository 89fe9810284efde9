/** The capture library is installed into training environments: its dependency closure stays small. */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const FORBIDDEN = ['n3', 'express', 'oxigraph', 'prom-client'];

const readName = (path: string): string =>
  (JSON.parse(readFileSync(path, 'utf8')) as { name?: string }).name ?? '';

/** Every package reachable through `dependencies` from a package.json, resolved as Node would. */
function closure(packageJson: string, seen = new Map<string, string>()): Map<string, string> {
  const pkg = JSON.parse(readFileSync(packageJson, 'utf8')) as { dependencies?: Record<string, string> };
  const require = createRequire(packageJson);
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    if (seen.has(name)) continue;
    let resolved: string;
    try {
      resolved = require.resolve(`${name}/package.json`);
    } catch {
      // packages whose exports hide package.json: the nearest package.json above the entry point
      let dir = dirname(require.resolve(name));
      while (!existsSync(join(dir, 'package.json')) || readName(join(dir, 'package.json')) !== name)
        dir = dirname(dir);
      resolved = join(dir, 'package.json');
    }
    seen.set(name, resolved);
    closure(resolved, seen);
  }
  return seen;
}

describe('capture library dependencies', () => {
  it(`pulls in none of ${FORBIDDEN.join(', ')}`, () => {
    const deps = closure(new URL('../package.json', import.meta.url).pathname);
    expect(deps.has('@provml/schemas')).toBe(true);
    expect(deps.has('avsc')).toBe(true);
    expect([...deps.keys()].filter((d) => FORBIDDEN.includes(d))).toEqual([]);
  });
});
