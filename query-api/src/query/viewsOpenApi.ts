/** OpenAPI paths of the REST views (executions, models, timing, runs, measures, lineage). */

const iri = { type: 'string', format: 'iri' };
const param = (name: string, schema: object, description: string, required = false): object => ({
  name,
  in: 'query',
  required,
  description,
  schema,
});
const problem = { $ref: '#/components/schemas/Problem' };
const json = (description: string): object => ({
  description,
  content: { 'application/json': { schema: { type: 'object' } } },
});
const failures = {
  '400': {
    description: 'A parameter is missing, unknown or not of its kind',
    content: { 'application/json': { schema: problem } },
  },
  '504': {
    description: 'The query ran past query.timeoutMs',
    content: { 'application/json': { schema: problem } },
  },
};

const get = (summary: string, parameters: object[], extra: object = {}): object => ({
  get: { summary, parameters, responses: { '200': json('The view as JSON'), ...failures, ...extra } },
});

const depth = param('depth', { type: 'integer', minimum: 1, maximum: 50, default: 10 }, 'Hops to follow');

/** The paths, keyed as in the document. */
export const VIEW_PATHS: Record<string, object> = {
  '/v1/executions': get('Running and finished executions (top-level task executions), newest first', [
    param('workflow', { type: 'string' }, 'Workflow id (e.g. seismic-training) or IRI'),
    param('status', { enum: ['running', 'finished', 'failed'] }, 'Only executions in this status'),
    param('limit', { type: 'integer', minimum: 1, maximum: 10000, default: 200 }, 'Most rows'),
  ]),
  '/v1/models': get(
    'Models produced by trainings, with their evaluations: each the version of a file (`uri`) one task execution wrote (`model`)',
    [param('trainingSet', iri, 'Only models derived from this training set (its file or a version of it)')],
  ),
  '/v1/models/best': get(
    'Hyperparameters and evaluations of the best model of a training set (Q3 generalised); NaN and infinite values never win',
    [
      param('trainingSet', iri, 'Training set IRI', true),
      param('measure', { type: 'string', default: 'loss' }, 'Evaluation measure name'),
      param('direction', { enum: ['min', 'max'], default: 'min' }, 'Whether smaller or larger is better'),
    ],
    {
      '404': {
        description: 'No model of the set has that measure',
        content: { 'application/json': { schema: problem } },
      },
    },
  ),
  '/v1/timing': get('Min, mean and max batch seconds per epoch (Q4 generalised); live epochs included', [
    param('execution', iri, 'A training execution IRI (or give trainingSet)'),
    param('trainingSet', iri, 'Every training on this set (or give execution)'),
  ]),
  '/v1/runs': get(
    'Training runs filtered by data preparation and hyperparameters (Q5 generalised); best final loss first',
    [
      param('inlineStart', { type: 'number' }, 'Preparation inline_start'),
      param('inlineEnd', { type: 'number' }, 'Preparation inline_end'),
      param('tileSize', { type: 'number' }, 'Preparation tile_size'),
      param('noiseThreshold', { type: 'number' }, 'Preparation noise_threshold'),
      param('prep.{name}', { type: 'string' }, 'Any preparation parameter, e.g. prep.inline_start=100'),
      param('hp.{name}', { type: 'string' }, 'Any hyperparameter, e.g. hp.learning_rate=0.01'),
    ],
  ),
  '/v1/measures': get(
    'The evaluation measures and output values the runs’ workflows declare, and each run’s series of them per task (step = the task execution’s order in the run): the curves to compare runs by',
    [
      param(
        'training',
        iri,
        'A training execution IRI (as /v1/runs lists them); repeat the parameter for several runs (at most 100)',
        true,
      ),
      param('measure', { type: 'string' }, 'Only the series of this measure (default: every declared one)'),
      param('series', { enum: ['all', 'none'], default: 'all' }, 'none: only the declared measures'),
    ],
  ),
  '/v1/lineage/backward': get('Lineage graph from an entity back to raw data and domain annotations', [
    param('entity', iri, 'Model, dataset, file or execution IRI', true),
    depth,
  ]),
  '/v1/lineage/forward': get('Lineage graph from raw data or a dataset forward to the models trained on it', [
    param('entity', iri, 'Raw file or dataset IRI', true),
    depth,
  ]),
};
