/** The example prospective specs (`schemas/examples/`): the O&G lifecycle's three workflows, used by the demo, the README and the tests. */
import { fileURLToPath } from 'node:url';
import curation from '../examples/seismic-curation.json' with { type: 'json' };
import preparation from '../examples/seismic-preparation.json' with { type: 'json' };
import training from '../examples/seismic-training.json' with { type: 'json' };

/** The example specs, keyed by the workflow's part of the lifecycle. */
export const EXAMPLE_SPECS = { curation, preparation, training } as const;

/** Path of an example spec file (for APIs that take a path, and for other languages' clients). */
export const exampleSpecPath = (name: keyof typeof EXAMPLE_SPECS): string =>
  fileURLToPath(new URL(`../examples/seismic-${name}.json`, import.meta.url));
