// Capture event validation: the JSON form at the ingest (defaults, time, URIs, limits) and events against their spec.
import { describe, expect, it } from 'vitest';
import {
  checkEventAgainstSpec,
  compileSpec,
  EVENT_LIMITS,
  isAbsoluteIri,
  isoToMicros,
  microsToIso,
  parseEventJson,
  type CaptureEvent,
  type EventCheck,
  type ValidationIssue,
} from '@provml/schemas';

const fullEvent = () => ({
  eventId: '0f8e2c1a-7b3d-4e5f-9a10-2b3c4d5e6f70',
  workflow: 'seismic-facies-training',
  workflowExecution: 'wfe-001',
  task: 'epoch',
  taskExecution: 'epoch-3',
  parentTaskExecution: 'training-1',
  phase: 'end',
  time: 1_717_243_200_123_456,
  values: { loss: 0.2345, early_stopped: false, optimizer: 'adam', class_weights: [1, 0.5, 2.25] },
  dataRefs: [
    { name: 'training_set', uri: 'file:///lustre/seismic/train.h5', store: 'lustre' },
    { name: 'model', uri: 's3://models/unet-001.pt', store: null },
    { name: 'log', uri: 'https://example.org/logs/1' },
  ],
  status: 'finished',
  context: { host: 'gpu-node-17', pid: '48213' },
});

const minimalEvent = () => ({
  eventId: 'e1',
  workflow: 'w',
  workflowExecution: 'we1',
  task: 't',
  taskExecution: 'te1',
  phase: 'begin',
  time: 0,
});

const accepted = (raw: unknown): CaptureEvent => {
  const r: EventCheck = parseEventJson(raw);
  if (!r.ok) throw new Error(`expected the event to be accepted: ${JSON.stringify(r.issues)}`);
  return r.event;
};

const rejectedPaths = (raw: unknown): string[] => {
  const r = parseEventJson(raw);
  expect(r.ok).toBe(false);
  return r.ok ? [] : r.issues.map((i) => i.path);
};

const withField = (field: string, value: unknown): Record<string, unknown> => ({
  ...fullEvent(),
  [field]: value,
});

describe('parseEventJson: accepted events', () => {
  it('accepts a full event unchanged, filling store null where it was left out', () => {
    const e = accepted(fullEvent());
    const expected = fullEvent();
    expect(e).toEqual({
      ...expected,
      dataRefs: [expected.dataRefs[0], expected.dataRefs[1], { ...expected.dataRefs[2], store: null }],
    });
  });

  it('accepts a minimal event and fills the defaults', () => {
    expect(accepted(minimalEvent())).toEqual({
      ...minimalEvent(),
      parentTaskExecution: null,
      values: {},
      dataRefs: [],
      status: null,
      context: {},
    });
  });

  it('accepts explicit nulls for the optional fields', () => {
    const e = accepted({ ...minimalEvent(), parentTaskExecution: null, status: null });
    expect(e.parentTaskExecution).toBeNull();
    expect(e.status).toBeNull();
  });

  it('converts an ISO-8601 time with microseconds to exact microseconds', () => {
    expect(accepted({ ...minimalEvent(), time: '2026-01-01T00:00:00.123456Z' }).time).toBe(
      1_767_225_600_123_456,
    );
    expect(accepted({ ...minimalEvent(), time: '2026-01-01T01:00:00.5+01:00' }).time).toBe(
      1_767_225_600_500_000,
    );
    expect(accepted({ ...minimalEvent(), time: '2026-01-01T00:00:00Z' }).time).toBe(1_767_225_600_000_000);
  });

  it('keeps a numeric time in microseconds as it is', () => {
    expect(accepted({ ...minimalEvent(), time: 1_767_225_600_123_457 }).time).toBe(1_767_225_600_123_457);
  });
});

describe('parseEventJson: rejected events name the path', () => {
  it('rejects missing required fields', () => {
    const rest: Partial<ReturnType<typeof fullEvent>> = fullEvent();
    delete rest.eventId;
    delete rest.phase;
    delete rest.time;
    expect(rejectedPaths(rest).sort()).toEqual(['eventId', 'phase', 'time']);
    expect(rejectedPaths({})).toEqual(
      expect.arrayContaining([
        'eventId',
        'workflow',
        'workflowExecution',
        'task',
        'taskExecution',
        'phase',
        'time',
      ]),
    );
    expect(rejectedPaths(null)).toEqual(['']);
  });

  it('rejects an unknown phase', () => {
    expect(rejectedPaths(withField('phase', 'middle'))).toEqual(['phase']);
  });

  it('rejects values that are objects, nested arrays or arrays of strings', () => {
    expect(rejectedPaths(withField('values', { loss: 0.1, config: { lr: 0.1 } }))).toEqual(['values.config']);
    expect(rejectedPaths(withField('values', { grid: [[1, 2]] }))).toEqual(['values.grid']);
    expect(rejectedPaths(withField('values', { tags: ['a'] }))).toEqual(['values.tags']);
    expect(rejectedPaths(withField('values', { missing: null }))).toEqual(['values.missing']);
  });

  it('rejects a string where a number is required', () => {
    expect(rejectedPaths(withField('time', '12345'))).toEqual(['time']);
    expect(rejectedPaths(withField('time', 1.5))).toEqual(['time']);
    expect(rejectedPaths(withField('time', -1))).toEqual(['time']);
    expect(rejectedPaths(withField('eventId', 42))).toEqual(['eventId']);
  });

  it('rejects times outside the accepted range', () => {
    expect(rejectedPaths(withField('time', '1969-12-31T23:59:59Z'))).toEqual(['time']);
    expect(rejectedPaths(withField('time', '2300-01-01T00:00:00Z'))).toEqual(['time']);
    expect(rejectedPaths(withField('time', Date.UTC(2300, 0, 1) * 1000))).toEqual(['time']);
    expect(rejectedPaths(withField('time', '2026-01-01 00:00:00'))).toEqual(['time']);
  });

  it('rejects relative or space-containing URIs in dataRefs', () => {
    const refs = (uri: string) => withField('dataRefs', [{ name: 'training_set', uri }]);
    expect(rejectedPaths(refs('data/x.sgy'))).toEqual(['dataRefs.0.uri']);
    expect(rejectedPaths(refs('file:///a b'))).toEqual(['dataRefs.0.uri']);
    expect(rejectedPaths(refs(''))).toEqual(['dataRefs.0.uri']);
    const second = withField('dataRefs', [fullEvent().dataRefs[0], { name: 'model', uri: '/abs/model.pt' }]);
    expect(rejectedPaths(second)).toEqual(['dataRefs.1.uri']);
  });

  it('takes a content digest on a data reference (v2) only as sha256: and 64 lowercase hex digits', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const refs = (d: unknown) => withField('dataRefs', [{ name: 'm', uri: 's3://b/k', digest: d }]);
    expect(accepted(refs(digest)).dataRefs).toEqual([{ name: 'm', uri: 's3://b/k', store: null, digest }]);
    expect(accepted(refs(null)).dataRefs).toEqual([{ name: 'm', uri: 's3://b/k', store: null }]);
    for (const bad of [`sha256:${'AB'.repeat(32)}`, `md5:${'ab'.repeat(16)}`, 'sha256:abc', 42])
      expect(rejectedPaths(refs(bad)), String(bad)).toEqual(['dataRefs.0.digest']);
  });

  it('rejects unknown fields in a data reference', () => {
    expect(rejectedPaths(withField('dataRefs', [{ name: 'm', uri: 's3://b/k', size: 3 }]))).toEqual([
      'dataRefs.0',
    ]);
  });

  it('rejects ids longer than the limit and empty ids', () => {
    const max = 'x'.repeat(EVENT_LIMITS.idLength);
    expect(accepted(withField('taskExecution', max)).taskExecution).toBe(max);
    expect(rejectedPaths(withField('taskExecution', `${max}x`))).toEqual(['taskExecution']);
    expect(rejectedPaths(withField('workflowExecution', ''))).toEqual(['workflowExecution']);
    expect(rejectedPaths(withField('parentTaskExecution', `${max}x`))).toEqual(['parentTaskExecution']);
  });

  it('rejects extra fields', () => {
    const r = parseEventJson(withField('extra', 1));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.path)).toEqual(['']);
    expect(r.issues[0]?.message).toContain('extra');
  });

  it('rejects a bad status and non-string context values', () => {
    expect(rejectedPaths(withField('status', 'crashed'))).toEqual(['status']);
    expect(rejectedPaths(withField('context', { pid: 48213 }))).toEqual(['context.pid']);
  });

  it('reports every problem of an event', () => {
    const raw = { ...fullEvent(), phase: 'middle', values: { x: {} }, dataRefs: [{ name: 'd', uri: 'rel' }] };
    expect(rejectedPaths(raw).sort()).toEqual(['dataRefs.0.uri', 'phase', 'values.x']);
  });
});

describe('time conversions', () => {
  it('microsToIso formats with six fractional digits', () => {
    expect(microsToIso(1_767_225_600_123_456)).toBe('2026-01-01T00:00:00.123456Z');
    expect(microsToIso(0)).toBe('1970-01-01T00:00:00.000000Z');
    expect(microsToIso(1_767_225_600_000_001)).toBe('2026-01-01T00:00:00.000001Z');
  });

  it('microsToIso round-trips with isoToMicros', () => {
    const samples = [
      0, 1, 999_999, 1_000_000, 1_717_243_200_123_456, 1_767_225_599_999_999, 7_258_118_399_999_999,
    ];
    for (const us of samples) expect(isoToMicros(microsToIso(us))).toBe(us);
    for (const iso of ['2026-01-01T00:00:00.123456Z', '2000-02-29T23:59:59.999999Z'])
      expect(microsToIso(isoToMicros(iso) ?? -1)).toBe(iso);
  });

  it('isoToMicros truncates digits beyond microseconds and rejects non-ISO text', () => {
    expect(isoToMicros('2026-01-01T00:00:00.123456789Z')).toBe(1_767_225_600_123_456);
    expect(isoToMicros('2026-01-01T00:00:00.1Z')).toBe(1_767_225_600_100_000);
    for (const bad of ['2026-01-01', '2026-01-01T00:00:00', 'yesterday', '2026-13-01T00:00:00Z', ''])
      expect(isoToMicros(bad), bad).toBeUndefined();
  });

  // regression: Date.parse rolls a non-existent day over (2026-02-31 → 2026-03-03) instead of rejecting it
  it('isoToMicros rejects a day that does not exist in its month', () => {
    expect(isoToMicros('2026-02-31T00:00:00Z')).toBeUndefined();
  });
});

describe('lone surrogates', () => {
  // JSON can write a surrogate alone; encoders turn it into U+FFFD, so distinct ids would collide
  const base = {
    eventId: 'e',
    workflow: 'w',
    workflowExecution: 'r',
    task: 't',
    taskExecution: 'x',
    phase: 'begin',
    time: 0,
  };
  it.each([
    ['eventId', { eventId: 'e\ud800' }],
    ['workflowExecution', { workflowExecution: '\udc00r' }],
    ['values.v', { values: { v: 'a\ud83d' } }],
    ['context.host', { context: { host: '\ud800' } }],
    ['dataRefs.0.name', { dataRefs: [{ name: 'd\ud800', uri: 'file:///x' }] }],
  ])('refuses one in %s', (path, over) => {
    const r = parseEventJson({ ...base, ...over });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.find((i) => i.path === path)?.message).toMatch(/surrogate/);
  });

  it('accepts a pair (an astral character)', () => {
    expect(parseEventJson({ ...base, eventId: 'e\u{1F600}', values: { v: '\u{1F600}' } }).ok).toBe(true);
  });
});

describe('isAbsoluteIri', () => {
  it.each([
    'file:///lustre/projects/seismic/train.h5',
    's3://models/facies/unet-001.pt',
    'https://example.org/data?id=1#frag',
    'urn:uuid:0f8e2c1a-7b3d-4e5f-9a10-2b3c4d5e6f70',
    'postgresql://db.example.org:5432/seismic',
    'file:///données/forage-été.sgy',
    'https://例え.jp/データ?q=1#部分',
    'http://[::1]:8080/x',
    'http://user:pw@192.168.0.1/x',
    's3://bucket/key%20with%20spaces',
    'urn:isbn:0451450523',
    `file:///astral/${String.fromCodePoint(0x1f600)}`,
  ])('accepts %s', (uri) => {
    expect(isAbsoluteIri(uri)).toBe(true);
  });

  it.each([
    '',
    'data/x.sgy',
    '/lustre/x.sgy',
    'file:///a b',
    'http://example.org/<x>',
    'http://example.org/{x}',
    'http://example.org/a\\b',
    'http://example.org/a"b',
    'http://example.org/\tx',
    '1http://example.org/',
    `http://example.org/${'a'.repeat(8192)}`,
    // RFC 3987: what a store refuses after the ingest accepted it (issue #16 item 5)
    'file:///x\u0085.npz', // NEL, a C1 control
    'file:///x\u007f.npz', // DEL
    'file:///x\ue000.npz', // private use
    'http://example.org/?q=\ue000', // private use, allowed in a query by the RFC, refused by stores
    `file:///x${String.fromCodePoint(0xf0000)}`, // private use, plane 15
    'file:///x\ufffe.npz', // noncharacter
    'file:///x\ufdd0.npz', // noncharacter
    'file:///x\ud800.npz', // lone surrogate
    'file:///x%zz.npz', // not a percent escape
    'file:///x%4.npz',
    'http://example.org/[x]', // brackets outside an IP literal
    'http://example.org/a#b#c', // a second #
  ])('rejects %j', (uri) => {
    expect(isAbsoluteIri(uri)).toBe(false);
  });
});

describe('checkEventAgainstSpec', () => {
  const spec = compileSpec({
    workflow: 'seismic-facies-training',
    phase: 'learning',
    tasks: [
      { id: 'training', inputs: [{ name: 'learning_rate', semantics: 'hyperparameter' }] },
      {
        id: 'epoch',
        parent: 'training',
        inputs: [{ name: 'training_set', semantics: 'dataset-reference' }],
        outputs: [
          { name: 'loss', semantics: 'evaluation-measure' },
          { name: 'early_stopped', semantics: 'output-value' },
          { name: 'optimizer', semantics: 'parameter' },
          { name: 'class_weights', semantics: 'parameter' },
          { name: 'model', semantics: 'model-reference' },
          { name: 'log', semantics: 'data-reference' },
        ],
      },
    ],
  });

  const fitting = (): CaptureEvent => accepted(fullEvent());
  const check = (change: (e: CaptureEvent) => void): ValidationIssue[] => {
    const e = fitting();
    change(e);
    return checkEventAgainstSpec(e, spec);
  };
  const issuePaths = (issues: ValidationIssue[]): string[] => issues.map((i) => i.path);

  it('finds nothing wrong with a fitting event', () => {
    expect(checkEventAgainstSpec(fitting(), spec)).toEqual([]);
    expect(
      check((e) => Object.assign(e, { phase: 'begin', status: null, values: {}, dataRefs: [] })),
    ).toEqual([]);
  });

  it('rejects an unknown task', () => {
    const issues = check((e) => Object.assign(e, { task: 'inference' }));
    expect(issuePaths(issues)).toEqual(['task']);
    expect(issues[0]?.message).toContain('inference');
  });

  it('rejects a value the task does not declare', () => {
    const issues = check((e) => Object.assign(e.values, { accuracy: 0.9 }));
    expect(issuePaths(issues)).toEqual(['values.accuracy']);
    // declared, but by another task
    expect(issuePaths(check((e) => Object.assign(e.values, { learning_rate: 0.1 })))).toEqual([
      'values.learning_rate',
    ]);
  });

  it('rejects a value sent for a reference semantics', () => {
    const issues = check((e) => Object.assign(e.values, { model: 's3://models/unet-001.pt' }));
    expect(issuePaths(issues)).toEqual(['values.model']);
    expect(issues[0]?.message).toContain('model-reference');
  });

  it('rejects a data reference for a non-reference semantics or an undeclared name', () => {
    const issues = check((e) => e.dataRefs.push({ name: 'loss', uri: 'file:///tmp/loss.txt', store: null }));
    expect(issuePaths(issues)).toEqual(['dataRefs.3.name']);
    expect(issues[0]?.message).toContain('evaluation-measure');
    const undeclared = check((e) => e.dataRefs.unshift({ name: 'weights', uri: 'file:///w', store: null }));
    expect(issuePaths(undeclared)).toEqual(['dataRefs.0.name']);
  });

  it('rejects a status on a begin event', () => {
    expect(issuePaths(check((e) => Object.assign(e, { phase: 'begin', status: 'finished' })))).toEqual([
      'status',
    ]);
  });

  it('rejects a task execution that is its own parent', () => {
    expect(issuePaths(check((e) => Object.assign(e, { parentTaskExecution: e.taskExecution })))).toEqual([
      'parentTaskExecution',
    ]);
  });

  it('reports every problem of an event', () => {
    const issues = check((e) => {
      Object.assign(e, { phase: 'begin', parentTaskExecution: e.taskExecution });
      e.values.accuracy = 1;
      e.dataRefs.push({ name: 'optimizer', uri: 'file:///o', store: null });
    });
    expect(issuePaths(issues).sort()).toEqual([
      'dataRefs.3.name',
      'parentTaskExecution',
      'status',
      'values.accuracy',
    ]);
  });
});
