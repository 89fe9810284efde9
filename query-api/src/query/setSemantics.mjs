// The default graph as a set: rewrites a parsed query (sparqljs) so that a triple stated in several
// named graphs matches once when the default graph is a merge of graphs (the union of all graphs, or
// two FROM graphs or more). The stores evaluate such a default graph over the quads of every graph it
// merges, so a triple in two graphs would be two solutions; an RDF graph, the merge included, is a set.
//
// Each basic graph pattern in the scope of the default graph (not inside GRAPH or SERVICE) becomes
// `{ SELECT DISTINCT <its variables> WHERE { <the pattern> } }`: the solutions of a basic graph
// pattern over a set are the distinct solutions over the quads. Blank nodes of the pattern and the
// inner nodes of a sequence path (`a/b`) are what SPARQL counts solutions by too (§18.5: distinct RDF
// instance mappings; §18.4: a sequence path is a join through a fresh variable), so they become hidden
// variables projected by the subquery, and a `SELECT *` is written out without them.
// A query whose answer cannot depend on how often a solution repeats (ASK, DESCRIBE, SELECT DISTINCT
// whose subqueries are DISTINCT too or cut nothing, with no aggregate) is left as it is: the rewrite
// stops a store from passing bindings into a pattern (a subquery is evaluated on its own), which costs
// up to 70 times on Q3 (bench/results/set-semantics.md).
// Plain JavaScript so that the parse thread can load it under tsx, vitest and compiled builds.
import sparqljs from 'sparqljs';

/** Whether the default graph of a query is a merge of several graphs. */
function mergesGraphs(query, protocolDataset) {
  if (protocolDataset !== undefined) return protocolDataset.defaultGraphs.length > 1;
  if (query.from !== undefined) return query.from.default.length > 1;
  return true;
}

/** Whether a (sub)query aggregates its solutions (GROUP BY, HAVING, or an aggregate in its projection or ORDER BY). */
function aggregates(query) {
  if (query.group !== undefined || query.having !== undefined) return true;
  const hasAggregate = (node) => {
    if (Array.isArray(node)) return node.some(hasAggregate);
    if (node === null || typeof node !== 'object') return false;
    if (node.type === 'aggregate') return true;
    return Object.values(node).some(hasAggregate);
  };
  return hasAggregate(query.variables ?? []) || hasAggregate(query.order ?? []);
}

/** The subqueries directly under a group (in patterns and in EXISTS), not those nested in them. */
function subqueries(node, out = []) {
  if (Array.isArray(node)) for (const n of node) subqueries(n, out);
  else if (node !== null && typeof node === 'object') {
    if (node.type === 'query') out.push(node);
    else for (const v of Object.values(node)) subqueries(v, out);
  }
  return out;
}

/**
 * Whether the answer of a (sub)query could change if a solution of a pattern were repeated: it counts
 * (an aggregate), or, not being DISTINCT, it is the answer (`sensitive`: the top-level SELECT or
 * CONSTRUCT, or a subquery whose repeats its parent would see) or it cuts with LIMIT / OFFSET; or
 * one of its subqueries does. A DISTINCT (sub)query without aggregates hides its patterns' repeats.
 */
function repetitionMatters(query, sensitive) {
  const own =
    aggregates(query) ||
    (query.distinct !== true && (sensitive || query.limit !== undefined || query.offset !== undefined));
  return own || subqueries(query.where ?? []).some((sub) => repetitionMatters(sub, false));
}

const variable = (name) => ({ termType: 'Variable', value: name });

/** The variables in scope of group patterns (§18.2.1), in order of appearance. */
function inScope(patterns, out = new Set()) {
  const term = (t) => {
    if (t?.termType === 'Variable') out.add(t.value);
  };
  for (const p of patterns) {
    switch (p.type) {
      case 'bgp':
        for (const t of p.triples) [t.subject, t.predicate, t.object].forEach(term);
        break;
      case 'group':
      case 'optional':
      case 'union':
        inScope(p.patterns, out);
        break;
      case 'graph':
      case 'service':
        term(p.name);
        inScope(p.patterns, out);
        break;
      case 'bind':
        term(p.variable);
        break;
      case 'values':
        for (const row of p.values) for (const key of Object.keys(row)) out.add(key.slice(1));
        break;
      case 'query':
        for (const v of projected(p)) out.add(v);
        break;
      default: // filter, minus: nothing in scope
    }
  }
  return out;
}

/** The variables a query projects (`*` written out). */
function projected(query) {
  if (query.variables === undefined || query.variables.some((v) => v instanceof sparqljs.Wildcard)) {
    const names = inScope(query.where ?? []);
    for (const row of query.values ?? []) for (const key of Object.keys(row)) names.add(key.slice(1));
    return [...names];
  }
  return query.variables.map((v) => (v.termType === 'Variable' ? v.value : v.variable.value));
}

/**
 * Writes out a top-level `SELECT *` (or `DESCRIBE *`) as its in-scope variables in order of
 * appearance, so that every store answers with the same columns in the same order (Oxigraph would
 * sort them by name; the order of `*` is the query's, as the W3C result format tests expect).
 */
export function expandWildcard(query) {
  if (query.variables?.some((v) => v instanceof sparqljs.Wildcard) !== true) return;
  const names = projected(query);
  if (names.length > 0) query.variables = names.map(variable);
}

/** Rewrites one query (or subquery) in place. */
class SetSemanticsRewriter {
  constructor(hiddenPrefix) {
    this.hiddenPrefix = hiddenPrefix;
    this.hidden = 0;
    /** Blank node label → hidden variable, for the whole query (a label may not span two patterns). */
    this.blanks = new Map();
  }

  fresh() {
    return variable(`${this.hiddenPrefix}${this.hidden++}`);
  }

  /** `query` with every default-graph basic graph pattern read as a set; `*` written out. */
  query(query) {
    const wildcard = query.variables?.some((v) => v instanceof sparqljs.Wildcard) === true;
    const visible = wildcard ? projected(query) : undefined;
    const before = this.hidden;
    query.where = this.patterns(query.where ?? []);
    if (visible !== undefined && visible.length > 0 && this.hidden > before)
      query.variables = visible.map(variable);
    return query;
  }

  patterns(patterns) {
    return patterns.map((p) => this.pattern(p));
  }

  pattern(p) {
    switch (p.type) {
      case 'bgp':
        return this.bgp(p);
      case 'optional':
        // RDF4J 5 evaluates the FILTER of an OPTIONAL group that holds a subquery without the
        // bindings from outside it (`OPTIONAL { { SELECT … } FILTER(?outer = 1) }` keeps rows the
        // filter rejects), so such a group keeps its patterns as they are: their repeats may show
        if (p.patterns.some((q) => q.type === 'filter')) return p;
        return { ...p, patterns: this.patterns(p.patterns) };
      case 'group':
      case 'union':
      case 'minus':
        return { ...p, patterns: this.patterns(p.patterns) };
      case 'filter':
        return { ...p, expression: this.expression(p.expression) };
      case 'bind':
        return { ...p, expression: this.expression(p.expression) };
      case 'query':
        return this.query(p);
      default: // graph (a named graph is a set), service (another endpoint's), values
        return p;
    }
  }

  /** EXISTS and NOT EXISTS hold group patterns. */
  expression(e) {
    if (e === null || typeof e !== 'object' || e.termType !== undefined) return e;
    if (e.type === 'operation' && (e.operator === 'exists' || e.operator === 'notexists'))
      return { ...e, args: e.args.map((a) => this.pattern(a)) };
    if (Array.isArray(e.args)) return { ...e, args: e.args.map((a) => this.expression(a)) };
    if (e.expression !== undefined) return { ...e, expression: this.expression(e.expression) };
    return e;
  }

  /** `{ SELECT DISTINCT … WHERE { bgp } }`, its blank nodes and sequence-path nodes hidden variables. */
  bgp(p) {
    if (p.triples.length === 0) return p;
    const node = (t) => {
      if (t.termType !== 'BlankNode') return t;
      let v = this.blanks.get(t.value);
      if (v === undefined) this.blanks.set(t.value, (v = this.fresh()));
      return v;
    };
    const triples = [];
    const add = (subject, predicate, object) => {
      if (predicate.type === 'path' && predicate.pathType === '/') {
        let from = subject;
        predicate.items.forEach((item, i) => {
          const to = i === predicate.items.length - 1 ? object : this.fresh();
          add(from, item, to);
          from = to;
        });
      } else triples.push({ subject, predicate, object });
    };
    for (const t of p.triples) add(node(t.subject), t.predicate, node(t.object));
    const names = new Set();
    for (const t of triples)
      for (const term of [t.subject, t.predicate, t.object])
        if (term.termType === 'Variable') names.add(term.value);
    const sub = {
      type: 'query',
      queryType: 'SELECT',
      distinct: true,
      variables: names.size === 0 ? [new sparqljs.Wildcard()] : [...names].map(variable),
      where: [{ type: 'bgp', triples }],
      prefixes: {},
    };
    return { type: 'group', patterns: [sub] };
  }
}

/** A prefix for hidden variables that no variable of the query starts with. */
function hiddenPrefix(text) {
  let prefix = 'provml_set_';
  while (text.includes(prefix)) prefix = `${prefix}_`;
  return prefix;
}

/**
 * Rewrites a parsed query in place so that its default graph is read as a set (see the file comment).
 * @param query a sparqljs query (not an update)
 * @param text the query's text (hidden variables get names it does not hold)
 * @param protocolDataset the protocol's dataset, which replaces the query's FROM clauses
 * @returns whether it was rewritten
 */
export function readDefaultGraphAsSet(query, text, protocolDataset) {
  const sensitive = query.queryType === 'SELECT' || query.queryType === 'CONSTRUCT';
  if (!mergesGraphs(query, protocolDataset) || !repetitionMatters(query, sensitive)) return false;
  new SetSemanticsRewriter(hiddenPrefix(text)).query(query);
  return true;
}
