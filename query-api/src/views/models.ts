/** Trained models: every model a training produced, with its evaluations; and the best one by a measure (Q3 generalised). */
import { ProvmlError } from '@provml/schemas';
import { fragment, iriTerm, nameTerm, nameValue, oneOf, sparql, type SparqlTerm } from './terms.ts';
import { num, plain, rows, type ViewContext } from './ViewContext.ts';

/** A model with where it came from and how it was evaluated. */
export interface ModelRow {
  /** The model: the version of a file one task execution wrote (two runs writing one path are two models). */
  model: string;
  /** The data URI (the file) it is a version of. */
  uri: string;
  training: string;
  /** The URI of the training set it derives from. */
  trainingSet: string | null;
  /** Epoch execution that wrote it. */
  generatedBy: string;
  evaluations: Record<string, string | number | boolean>;
}

/** No model matched (a 404 at the API). */
export class NotFoundError extends ProvmlError {
  constructor(message: string) {
    super('not-found', message);
  }
}

/** Lists models, optionally only those derived from one training set. */
export async function listModels(
  context: ViewContext,
  params: Readonly<Record<string, unknown>>,
): Promise<{ models: ModelRow[] }> {
  const set = params.trainingSet === undefined ? undefined : iriTerm('trainingSet', params.trainingSet);
  const found = await rows(
    context,
    sparql`SELECT DISTINCT ?model ?uri ?training ?trainingSet ?generatedBy ?started ?name ?value WHERE {
  ?model a provml:ModelReferenceValue ; prov:wasGeneratedBy ?generatedBy .
  ?generatedBy provml:partOfExecution* ?training .
  ?training provml:executesTask/provml:hasStageType provml:Training .
  OPTIONAL { ?model prov:specializationOf ?uri }
  OPTIONAL { ?generatedBy prov:startedAtTime ?started }
  # the set used: its file (another workflow's output), or the version generated in the same run
  OPTIONAL {
    ?model prov:wasDerivedFrom ?set . ?set a provml:LearningDatasetReferenceValue .
    OPTIONAL { ?set prov:specializationOf ?setFile }
    BIND(COALESCE(?setFile, ?set) AS ?trainingSet)
  }
  OPTIONAL { ?e provml:evaluatesModel ?model ; provml:valueName ?name ; prov:value ?value }
  ${set === undefined ? fragment('') : fragment(sparql`FILTER(?trainingSet = ${set})`)}
} ORDER BY ?training ?started ?model`,
  );
  const models = new Map<string, ModelRow>();
  for (const r of found) {
    let m = models.get(r.model!);
    if (m === undefined) {
      m = {
        model: r.model!,
        uri: r.uri ?? r.model!,
        training: r.training!,
        trainingSet: r.trainingSet ?? null,
        generatedBy: r.generatedBy!,
        evaluations: {},
      };
      models.set(r.model!, m);
    }
    if (r.name !== undefined && r.value !== undefined) m.evaluations[r.name] = plain(r.value);
  }
  return { models: [...models.values()] };
}

/** The best model of a training set by one measure, with its hyperparameters and evaluations. */
export interface BestModel {
  /** The model: a version of `uri` one task execution wrote. */
  model: string;
  /** The data URI (the file) it is a version of. */
  uri: string;
  trainingSet: string;
  measure: string;
  direction: 'min' | 'max';
  value: number | null;
  training: string;
  hyperparameters: Record<string, string | number | boolean>;
  modelHyperparameters: Record<string, string | number | boolean>;
  evaluations: Record<string, string | number | boolean>;
}

/** Only finite numbers rank: NaN and the infinities (`xsd:double` NaN, INF, -INF) never win. */
const FINITE_V = fragment('FILTER(isNumeric(?v) && ?v > "-INF"^^xsd:double && ?v < "INF"^^xsd:double)');

/** Q3 generalised: any measure, either direction; NaN and infinite values are left out. */
export async function bestModel(
  context: ViewContext,
  params: Readonly<Record<string, unknown>>,
): Promise<BestModel> {
  const set: SparqlTerm = iriTerm('trainingSet', params.trainingSet);
  const measureName = nameValue('measure', params.measure ?? 'loss');
  const measure = nameTerm('measure', measureName);
  const direction = oneOf('direction', params.direction, ['min', 'max'] as const, 'min');
  const order = fragment(direction === 'min' ? 'ASC(?v)' : 'DESC(?v)');
  const [best] = await rows(
    context,
    sparql`SELECT ?model ?uri ?v WHERE {
  { SELECT DISTINCT ?model ?v WHERE {
      # derived from the set's file, or from a version of it generated in the training's own run
      ?model prov:wasDerivedFrom|prov:wasDerivedFrom/prov:specializationOf ${set} .
      ?model a provml:ModelReferenceValue .
      ?m provml:evaluatesModel ?model ; provml:valueName ${measure} ; prov:value ?v .
      ${FINITE_V}
  } }
  OPTIONAL { ?model prov:specializationOf ?uri }
} ORDER BY ${order} ?model LIMIT 1`,
  );
  if (best === undefined)
    throw new NotFoundError(`no model derived from ${set.text} has an evaluation named ${measure.text}`);
  const model = iriTerm('model', best.model);
  const trainingOf = fragment(sparql`${model} prov:wasGeneratedBy/provml:partOfExecution* ?training .
    ?training provml:executesTask/provml:hasStageType provml:Training .`);
  const details = await rows(
    context,
    sparql`SELECT DISTINCT ?training ?kind ?name ?value WHERE {
  # the model and its training in every branch: a bound term outside a union whose branches BIND is not
  # pushed into them (RDF4J scopes such a union apart, Oxigraph joins its branches by hash), so a branch
  # without them would read every hyperparameter setting (a pattern after it: every named value) in the store
  {
    ${trainingOf} ?training provml:hasInputValue ?x . ?x a provml:LearningHyperParameterSetting .
    ?x provml:valueName ?name ; prov:value ?value . BIND("hyperparameter" AS ?kind)
  } UNION {
    ${trainingOf} ${model} provml:hasModelHyperParameterValue ?x .
    ?x provml:valueName ?name ; prov:value ?value . BIND("model-hyperparameter" AS ?kind)
  } UNION {
    ${trainingOf} ?x provml:evaluatesModel ${model} .
    ?x provml:valueName ?name ; prov:value ?value . BIND("evaluation" AS ?kind)
  }
} ORDER BY ?kind ?name`,
  );
  const pick = (kind: string): Record<string, string | number | boolean> =>
    Object.fromEntries(details.filter((d) => d.kind === kind).map((d) => [d.name!, plain(d.value!)]));
  return {
    model: best.model!,
    uri: best.uri ?? best.model!,
    trainingSet: String(params.trainingSet),
    measure: measureName,
    direction,
    value: num(best.v),
    training: details[0]?.training ?? '',
    hyperparameters: pick('hyperparameter'),
    modelHyperparameters: pick('model-hyperparameter'),
    evaluations: pick('evaluation'),
  };
}
