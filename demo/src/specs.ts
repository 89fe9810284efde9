/** The demo's three prospective specs (curation, preparation, training): the project's example specs. */
import { EXAMPLE_SPECS } from '@provml/schemas/examples';

/** The specs of the demo's workflows, keyed by the workflow's role in the lifecycle. */
export const DEMO_SPECS = EXAMPLE_SPECS;
