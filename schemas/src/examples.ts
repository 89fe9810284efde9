/** The example prospective specs (`schemas/examples/`): the O&G lifecycle's three workflows, used by the demo and the tests (a subpath, `@provml/schemas/examples`, so that importing the contracts loads no example). */
import curation from '../examples/seismic-curation.json' with { type: 'json' };
import preparation from '../examples/seismic-preparation.json' with { type: 'json' };
import training from '../examples/seismic-training.json' with { type: 'json' };

/** The example specs, keyed by the workflow's part of the lifecycle. */
export const EXAMPLE_SPECS = { curation, preparation, training } as const;
