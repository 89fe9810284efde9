// @ts-check
/** The dashboard's colours, shared by charts and the lineage graph (kept in sync with styles.css). */

export const COLORS = {
  loss: '#2563eb',
  lossSoft: 'rgba(37, 99, 235, 0.18)',
  valLoss: '#60a5fa',
  accuracy: '#0f8a5f',
  valAccuracy: '#34d399',
  smooth: '#1e3a8a',
  min: '#94a3b8',
  mean: '#6d28d9',
  max: '#f59e0b',
  grid: '#eef1f6',
  text: '#637087',
};

/** Colours of series told apart by colour alone (runs compared, measures of a run). */
export const SERIES = [
  '#2563eb',
  '#d97706',
  '#0f8a5f',
  '#be123c',
  '#6d28d9',
  '#0891b2',
  '#65a30d',
  '#db2777',
  '#475569',
  '#ca8a04',
];

/** Node kinds of the lineage graph: colour, shape and the legend's words. */
export const NODE_KINDS = {
  model: { color: '#6d28d9', shape: 'round-rectangle', label: 'Trained model' },
  dataset: { color: '#0f766e', shape: 'round-rectangle', label: 'Training / validation set' },
  curated: { color: '#0284c7', shape: 'round-rectangle', label: 'Curated data' },
  raw: { color: '#b45309', shape: 'round-rectangle', label: 'Raw data' },
  entity: { color: '#475569', shape: 'round-rectangle', label: 'Other entity' },
  activity: { color: '#e2e8f0', shape: 'ellipse', label: 'Activity (execution)' },
  annotation: { color: '#be123c', shape: 'diamond', label: 'Domain annotation' },
};
