/**
 * ESLint rule `provml/package-boundaries`: a package reaches another only through its root
 * (`@provml/<name>`, declared in its package.json), never by a relative path into the other
 * package's `src/` or `test/`. Code outside the packages (bench, deploy) imports package roots too;
 * the shared test helpers in `deploy/testing/` and `deploy/local/` are open to every test.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const WORKSPACES = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).workspaces.map((w) =>
  resolve(ROOT, w),
);
const SHARED_TEST_HELPERS = ['deploy/testing', 'deploy/local'].map((d) => resolve(ROOT, d));

/** The workspace folder holding a path (the deepest), or undefined outside every package. */
function packageOf(path) {
  let best;
  for (const w of WORKSPACES)
    if ((path === w || path.startsWith(w + sep)) && (best === undefined || w.length > best.length)) best = w;
  return best;
}

const manifests = new Map();
/** The package.json of a workspace folder, read once. */
function manifestOf(dir) {
  if (!manifests.has(dir)) manifests.set(dir, JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')));
  return manifests.get(dir);
}

const isTestFile = (file) =>
  file.includes(`${sep}test${sep}`) || SHARED_TEST_HELPERS.some((d) => file.startsWith(d + sep));

export const packageBoundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'imports cross package boundaries only through declared package roots' },
    schema: [],
  },
  create(context) {
    const file = resolve(context.filename);
    const own = packageOf(file);
    function check(node, spec) {
      if (typeof spec !== 'string') return;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        const other = packageOf(target);
        if (SHARED_TEST_HELPERS.some((d) => target === d || target.startsWith(d + sep))) {
          if (!isTestFile(file) && !file.startsWith(join(ROOT, 'bench') + sep))
            context.report({ node, message: `'${spec}': the shared test helpers are for tests only` });
          return;
        }
        if (other !== undefined && other !== own) {
          const name = manifestOf(other).name;
          context.report({
            node,
            message: `'${spec}' reaches into ${relative(ROOT, other)}; import '${name}' (its root) instead`,
          });
        }
        return;
      }
      const match = /^(@provml\/[^/]+)/.exec(spec);
      if (match === null || own === undefined) return;
      const manifest = manifestOf(own);
      const name = match[1];
      if (name === manifest.name) return;
      const declared = { ...manifest.dependencies, ...(isTestFile(file) ? manifest.devDependencies : {}) };
      if (!(name in declared))
        context.report({ node, message: `'${name}' is not declared in ${relative(ROOT, own)}/package.json` });
    }
    return {
      ImportDeclaration: (node) => check(node.source, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
      ExportAllDeclaration: (node) => check(node.source, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
    };
  },
};

export const provmlPlugin = { rules: { 'package-boundaries': packageBoundaries } };
