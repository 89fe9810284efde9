// The JSON form of non-finite values (README contract 1): NaN and infinities as strings on the socket and in the spool, not null.
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  captureJson,
  decodeEnvelope,
  encodeEnvelope,
  eventEnvelopeJson,
  eventJson,
  SocketCaptureExporter,
} from '@provml/capture-agent';
import { parseEventJson, type CaptureEvent } from '@provml/schemas';

const event = (values: CaptureEvent['values']): CaptureEvent => ({
  eventId: 'e1',
  workflow: 'w',
  workflowExecution: 'run-1',
  task: 'train',
  taskExecution: 't1',
  parentTaskExecution: null,
  phase: 'end',
  time: 1_700_000_000_000_000,
  values,
  dataRefs: [],
  status: 'finished',
  context: {},
});

describe('captureJson', () => {
  it('spells NaN and infinities as "NaN", "Infinity", "-Infinity" and leaves everything else as JSON.stringify writes it', () => {
    const e = event({ loss: Number.NaN, best: Infinity, worst: -Infinity, lr: 0.1, name: 'NaN', on: true });
    const parsed = JSON.parse(captureJson({ event: e })) as { event: CaptureEvent };
    expect(parsed.event.values).toEqual({
      loss: 'NaN',
      best: 'Infinity',
      worst: '-Infinity',
      lr: 0.1,
      name: 'NaN',
      on: true,
    });
    expect(parsed.event.parentTaskExecution).toBeNull();
    expect(parseEventJson(parsed.event).ok).toBe(true); // null would have been refused
    const finite = event({ loss: 0.5, curve: [1, 2] });
    expect(captureJson(finite)).toBe(JSON.stringify(finite));
  });

  it('eventJson and eventEnvelopeJson (the hot path: only time and values are checked) write what captureJson writes', () => {
    const cases = [
      event({ loss: 0.5, curve: [1, 2], name: 'NaN', on: false }),
      event({ loss: Number.NaN, lr: 0.1 }),
      event({ curve: [1, Infinity] }),
      event({}),
      { ...event({ loss: 1 }), time: Number.NaN },
      {
        ...event({ loss: -Infinity }),
        dataRefs: [{ name: 'm', uri: 'file:///m', store: null }],
        context: { host: 'n1' },
      },
    ];
    for (const e of cases) {
      expect(eventJson(e)).toBe(captureJson(e));
      expect(eventEnvelopeJson(e)).toBe(captureJson({ event: e }));
    }
    expect(JSON.parse(eventJson(cases[2]!)).values).toEqual({ curve: [1, 'Infinity'] });
  });

  it('writes them so into spool records', () => {
    const record = encodeEnvelope({ event: event({ loss: Number.NaN, best: -Infinity }) });
    const decoded = decodeEnvelope(record.subarray(8));
    expect((decoded?.envelope as { event: CaptureEvent }).event.values).toEqual({
      loss: 'NaN',
      best: '-Infinity',
    });
  });

  it('sends them so over the agent socket', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'capture-json-')), 'agent.sock');
    const lines: string[] = [];
    const server = createServer((socket) => {
      let buffer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        const end = buffer.indexOf('\n\n');
        if (end < 0) return;
        lines.push(...buffer.slice(0, end).split('\n'));
        buffer = buffer.slice(end + 2);
        socket.write(`${JSON.stringify({ accepted: lines.length })}\n`);
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const exporter = new SocketCaptureExporter({ path });
    try {
      expect(await exporter.exportEvents([event({ loss: Infinity })])).toEqual({ kind: 'success' });
    } finally {
      await exporter.shutdown();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(lines).toHaveLength(1);
    expect((JSON.parse(lines[0]!) as { event: CaptureEvent }).event.values).toEqual({ loss: 'Infinity' });
  });
});
