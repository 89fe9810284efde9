/** The demo's three prospective specs (curation, preparation, training), as the workflows register them. */
import curation from './specs/seismic-curation.json' with { type: 'json' };
import preparation from './specs/seismic-preparation.json' with { type: 'json' };
import training from './specs/seismic-training.json' with { type: 'json' };

/** The specs of the demo's workflows, keyed by the workflow's role in the lifecycle. */
export const DEMO_SPECS = { curation, preparation, training } as const;
