/** Serves the dashboard page: static files at `/dashboard/`, Chart.js and Cytoscape.js from node_modules, `/` redirecting there. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';

const require = createRequire(import.meta.url);

/** The browser builds of the kept libraries the page loads, by the name it asks for. */
const VENDOR: ReadonlyMap<string, string> = new Map([
  ['chart.umd.js', join(dirname(require.resolve('chart.js')), 'chart.umd.js')],
  ['cytoscape.min.js', join(dirname(require.resolve('cytoscape')), 'cytoscape.min.js')],
]);

const PUBLIC = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * Mounts the dashboard on `app`: `GET /` redirects to `/dashboard/`, which serves the page under
 * `public/` (plain ES modules, no build step); `/dashboard/vendor/<file>` serves the libraries.
 * The page reads only the query API's views (`/v1/…`) and its live feed (`/v1/live`).
 */
export function mountDashboard(app: Express): void {
  app.get('/', (_req, res) => res.redirect(302, '/dashboard/'));
  app.get('/dashboard/vendor/:file', (req, res, next) => {
    const path = VENDOR.get(req.params.file);
    if (path === undefined) return next();
    res.sendFile(path, { maxAge: '1d', headers: { 'content-type': 'text/javascript; charset=utf-8' } });
  });
  app.use('/dashboard', express.static(PUBLIC, { index: 'index.html', maxAge: 0 }));
}
