// @ts-check
/** The lineage view (Cytoscape.js): a model's entities in columns back to the raw files, activities beneath. */
import { esc, fmtValue, shortIri } from './format.js';
import { NODE_KINDS } from './palette.js';

/** @type {any} */
const cytoscape = /** @type {any} */ (window).cytoscape;

const COLUMN = 178;
const ROW = 66;

/** Relations that move one step back along the data (they set the columns). */
const BACKWARD = new Set(['wasDerivedFrom', 'hasDomainAnnotation']);

/** @typedef {keyof typeof NODE_KINDS} Kind */

/**
 * Which of the legend's kinds a node is.
 * @param {import('./api.js').LineageNode} node
 * @param {Set<string>} derived ids with a wasDerivedFrom of their own
 * @returns {Kind}
 */
function kindOf(node, derived) {
  if (node.kind === 'annotation') return 'annotation';
  if (node.kind === 'activity') return 'activity';
  if (node.types.includes('ModelReferenceValue')) return 'model';
  if (node.types.includes('LearningDatasetReferenceValue')) return 'dataset';
  if (!derived.has(node.id)) return 'raw';
  return 'curated';
}

/**
 * The words shown on a node; a version of a file shows the file and the run that wrote it.
 * @param {import('./api.js').LineageNode} node
 * @param {Kind} kind
 * @param {string} [file] the file the node is a version of
 */
function labelOf(node, kind, file) {
  const p = node.properties;
  if (kind === 'annotation') {
    const where = [p.basin, p.field].filter((v) => v !== undefined).map(String);
    return where.length > 0 ? `${where.join(' · ')}\n${node.label}` : node.label;
  }
  if (kind === 'activity') {
    // the task's label, and the workflow run it belongs to
    const run = shortIri(node.id).split(' · ')[0] ?? '';
    return node.label !== node.id && node.label !== '' ? `${node.label}\n${run}` : run;
  }
  const path = shortIri(file ?? node.id, 2);
  const text = path.length > 18 ? path.replace('/', '/\n') : path;
  return file === undefined ? text : `${text}\n${shortIri(node.id).split(' · ')[0] ?? ''}`;
}

/** Widest text a node holds, in pixels; longer lines wrap. */
const TEXT_WIDTH = 128;

/**
 * The size of a node for its label (about 6.3 px a character at 11 px).
 * @param {string} label
 * @param {Kind} kind
 */
function sizeOf(label, kind) {
  const perChar = kind === 'activity' ? 5.8 : 6.3;
  const lines = label.split('\n').map((l) => Math.max(1, Math.ceil((l.length * perChar) / TEXT_WIDTH)));
  const longest = Math.max(...label.split('\n').map((l) => l.length));
  return {
    width: Math.min(TEXT_WIDTH + 18, Math.max(64, longest * perChar + 18)),
    height:
      (kind === 'activity' ? 10 : 14) + lines.reduce((a, b) => a + b, 0) * (kind === 'activity' ? 12 : 14),
  };
}

/**
 * Places nodes: columns by steps back from the root (a file in its version's column), activities in a
 * lane below their entities.
 */
function positions(
  /** @type {import('./api.js').Lineage} */ lineage,
  /** @type {Map<string, Kind>} */ kinds,
  /** @type {Map<string, string>} */ fileOf,
) {
  /** @type {Map<string, number>} */
  const rank = new Map([[lineage.root, 0]]);
  const back = lineage.edges.filter((e) => BACKWARD.has(e.relation));
  const versions = lineage.edges.filter((e) => e.relation === 'specializationOf');
  for (let pass = 0; pass < lineage.nodes.length; pass++) {
    let changed = false;
    for (const e of back) {
      const r = rank.get(e.source);
      if (r !== undefined && (rank.get(e.target) ?? -1) < r + 1) {
        rank.set(e.target, r + 1);
        changed = true;
      }
    }
    for (const e of versions) {
      const r = Math.max(rank.get(e.source) ?? -1, rank.get(e.target) ?? -1);
      for (const id of [e.source, e.target])
        if (r >= 0 && (rank.get(id) ?? -1) < r) {
          rank.set(id, r);
          changed = true;
        }
    }
    if (!changed) break;
  }
  // activities: half a column behind what they generated, or in front of what they used
  for (const n of lineage.nodes) {
    if (kinds.get(n.id) !== 'activity') continue;
    const generated = lineage.edges.filter((e) => e.relation === 'wasGeneratedBy' && e.target === n.id);
    const used = lineage.edges.filter((e) => e.relation === 'used' && e.source === n.id);
    const ranks = generated.map((e) => rank.get(e.source)).filter((r) => r !== undefined);
    if (ranks.length > 0) rank.set(n.id, Math.min(...ranks) + 0.5);
    else {
      const u = used.map((e) => rank.get(e.target)).filter((r) => r !== undefined);
      rank.set(n.id, u.length > 0 ? Math.min(...u) - 0.5 : 0.5);
    }
  }
  /** @type {Map<string, { x: number, y: number }>} */
  const at = new Map();
  const lanes = { entity: new Map(), activity: new Map() };
  const sorted = [...lineage.nodes].sort((a, b) =>
    labelOf(a, kinds.get(a.id) ?? 'entity', fileOf.get(a.id)).localeCompare(
      labelOf(b, kinds.get(b.id) ?? 'entity', fileOf.get(b.id)),
    ),
  );
  for (const n of sorted) {
    const lane = kinds.get(n.id) === 'activity' ? lanes.activity : lanes.entity;
    const r = rank.get(n.id) ?? 0;
    lane.set(r, [...(lane.get(r) ?? []), n.id]);
  }
  const tallest = Math.max(1, ...[...lanes.entity.values()].map((ids) => ids.length));
  for (const [r, ids] of lanes.entity)
    ids.forEach((/** @type {string} */ id, /** @type {number} */ i) =>
      at.set(id, { x: r * COLUMN, y: (i - (ids.length - 1) / 2) * ROW }),
    );
  const laneY = ((tallest - 1) / 2) * ROW + ROW * 1.25;
  for (const [r, ids] of lanes.activity)
    ids.forEach((/** @type {string} */ id, /** @type {number} */ i) =>
      at.set(id, { x: r * COLUMN, y: laneY + i * ROW * 0.75 }),
    );
  return at;
}

/**
 * Whether a lineage reaches seismic files (SEG-Y) and annotations that name a basin or field.
 * @param {import('./api.js').Lineage} lineage
 * @param {Map<string, Kind>} kinds
 */
function domainOf(lineage, kinds) {
  return {
    seismic: lineage.nodes.some((n) => kinds.get(n.id) === 'raw' && /\.(sgy|segy)$/i.test(n.id)),
    annotated: lineage.nodes.some(
      (n) =>
        n.kind === 'annotation' && (n.properties.basin !== undefined || n.properties.field !== undefined),
    ),
  };
}

/** The graph, its legend and the details of the node picked. */
export class LineageView {
  /**
   * @param {HTMLElement} container
   * @param {HTMLElement} legend
   * @param {HTMLElement} details
   */
  constructor(container, legend, details) {
    this.details = details;
    /** @type {import('./api.js').Lineage | null} */
    this.lineage = null;
    /** @type {Map<string, Kind>} */
    this.kinds = new Map();
    this.legend = legend;
    /** What the data says of itself: seismic files, annotations with basin and field. */
    this.domain = { seismic: false, annotated: false };
    this.cy = cytoscape({
      container,
      minZoom: 0.3,
      maxZoom: 2.5,
      boxSelectionEnabled: false,
      style: [
        {
          selector: 'node',
          style: {
            shape: 'data(shape)',
            'background-color': 'data(color)',
            label: 'data(label)',
            color: '#fff',
            'font-size': 11,
            'font-weight': 600,
            'text-valign': 'center',
            'text-halign': 'center',
            'text-wrap': 'wrap',
            'text-max-width': TEXT_WIDTH,
            'text-overflow-wrap': 'anywhere',
            width: 'data(width)',
            height: 'data(height)',
            'border-width': 0,
          },
        },
        {
          selector: 'node[kind = "activity"]',
          style: {
            color: '#334155',
            'font-weight': 500,
            'font-size': 10,
            'border-width': 1,
            'border-color': '#94a3b8',
          },
        },
        {
          selector: 'node[kind = "annotation"]',
          style: { 'font-size': 11 },
        },
        { selector: 'node[?root]', style: { 'border-width': 3, 'border-color': '#c4b5fd' } },
        { selector: 'node:selected', style: { 'border-width': 3, 'border-color': '#0f172a' } },
        {
          selector: 'edge',
          style: {
            width: 1.6,
            'line-color': '#94a3b8',
            'target-arrow-color': '#94a3b8',
            'target-arrow-shape': 'triangle',
            'arrow-scale': 0.9,
            'curve-style': 'bezier',
          },
        },
        {
          selector:
            'edge[relation = "wasGeneratedBy"], edge[relation = "used"], edge[relation = "partOfExecution"]',
          style: {
            'line-style': 'dotted',
            width: 1.3,
            'line-color': '#b6c0cf',
            'target-arrow-color': '#b6c0cf',
          },
        },
        {
          selector: 'edge[relation = "hasDomainAnnotation"]',
          style: {
            'line-color': NODE_KINDS.annotation.color,
            'target-arrow-color': NODE_KINDS.annotation.color,
            'line-style': 'dashed',
          },
        },
      ],
    });
    this.cy.on('tap', 'node', (/** @type {any} */ e) => this.showDetails(e.target.id()));
    new ResizeObserver(() => {
      this.cy.resize();
      this.cy.fit(undefined, 24);
    }).observe(container);
  }

  /** @param {import('./api.js').Lineage} lineage */
  show(lineage) {
    this.lineage = lineage;
    const derived = new Set(
      lineage.edges.filter((e) => e.relation === 'wasDerivedFrom').map((e) => e.source),
    );
    // a file is of the kind of its versions (a model file, a dataset, a curated file)
    const fileOf = new Map(
      lineage.edges.filter((e) => e.relation === 'specializationOf').map((e) => [e.source, e.target]),
    );
    const types = new Map(lineage.nodes.map((n) => [n.id, n.types]));
    for (const [version, file] of fileOf) {
      types.set(file, [...(types.get(file) ?? []), ...(types.get(version) ?? [])]);
      if (derived.has(version)) derived.add(file);
    }
    this.kinds = new Map(
      lineage.nodes.map((n) => [n.id, kindOf({ ...n, types: types.get(n.id) ?? n.types }, derived)]),
    );
    this.domain = domainOf(lineage, this.kinds);
    this.showLegend(new Set(this.kinds.values()));
    const at = positions(lineage, this.kinds, fileOf);
    const ids = new Set(lineage.nodes.map((n) => n.id));
    const elements = [
      ...lineage.nodes.map((n) => {
        const kind = this.kinds.get(n.id) ?? 'entity';
        const label = labelOf(n, kind, fileOf.get(n.id));
        const size = sizeOf(label, kind);
        return {
          group: 'nodes',
          data: {
            id: n.id,
            label,
            kind,
            root: n.id === lineage.root,
            shape:
              kind === 'activity'
                ? 'round-rectangle'
                : kind === 'annotation'
                  ? 'cut-rectangle'
                  : 'round-rectangle',
            color: NODE_KINDS[kind].color,
            width: size.width,
            height: size.height,
          },
          position: at.get(n.id) ?? { x: 0, y: 0 },
        };
      }),
      ...lineage.edges
        .filter((e) => ids.has(e.source) && ids.has(e.target))
        .map((e, i) => ({
          group: 'edges',
          data: { id: `e${i}`, source: e.source, target: e.target, relation: e.relation },
        })),
    ];
    this.cy.elements().remove();
    this.cy.add(elements);
    this.cy.layout({ name: 'preset' }).run();
    this.cy.fit(undefined, 24);
    this.showDetails(lineage.root);
  }

  /**
   * The legend of the kinds shown, in the data's own words.
   * @param {Set<Kind>} present
   */
  showLegend(present) {
    this.legend.innerHTML =
      /** @type {Kind[]} */ (Object.keys(NODE_KINDS))
        .filter((kind) => present.has(kind))
        .map((kind) => {
          const k = NODE_KINDS[kind];
          return `<li><span class="swatch ${k.shape === 'ellipse' ? 'round' : k.shape === 'diamond' ? 'diamond' : ''}" style="background:${k.color};${k.shape === 'ellipse' ? 'border:1px solid #94a3b8' : ''}"></span>${esc(this.labelOf(kind))}</li>`;
        })
        .join('') +
      `<li><span class="edge solid"></span>derived from</li><li><span class="edge dotted"></span>generated by · used</li>`;
  }

  /** A kind's words: the seismic ones only where the graph is seismic. @param {Kind} kind */
  labelOf(kind) {
    if (kind === 'raw' && this.domain.seismic) return `${NODE_KINDS.raw.label} (SEG-Y, horizons)`;
    if (kind === 'annotation' && this.domain.annotated)
      return `${NODE_KINDS.annotation.label} (basin, field)`;
    return NODE_KINDS[kind].label;
  }

  /** @param {string} id */
  showDetails(id) {
    const node = this.lineage?.nodes.find((n) => n.id === id);
    if (node === undefined) return;
    const kind = this.kinds.get(id) ?? 'entity';
    const rows = Object.entries(node.properties)
      .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(fmtValue(v))}</dd>`)
      .join('');
    this.details.innerHTML = `<h3 style="color:${kind === 'activity' ? '#334155' : NODE_KINDS[kind].color}">${esc(this.labelOf(kind))}</h3>
      <dl><dt>id</dt><dd><code>${esc(node.id)}</code></dd>
      ${node.types.length > 0 ? `<dt>types</dt><dd>${esc(node.types.join(', '))}</dd>` : ''}${rows}</dl>`;
  }

  /** The nodes shown, as the browser test reads them. */
  nodes() {
    return this.cy
      .nodes()
      .map((/** @type {any} */ n) => ({ id: n.id(), label: n.data('label'), kind: n.data('kind') }));
  }
}
