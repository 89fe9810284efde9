/**
 * The agent's socket and HTTP ingest under hostile input, against a real agent process (offline):
 * limits enforced while reading (its peak memory stays flat), answers capped, invalid UTF-8
 * refused, records no Kafka message can carry refused for good (413, not 503 try again).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_SPEC,
  AgentSocketClient,
  startAgentProcess,
  stopChild,
} from '../../../deploy/testing/agentTest.ts';

const MiB = 1024 * 1024;

/** Resident and peak resident memory of a process, bytes (Linux). */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** A raw connection to the socket: writes bytes with back-pressure and collects answer lines. */
class RawClient {
  readonly answers: Record<string, unknown>[] = [];
  private buffer = '';
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let i = this.buffer.indexOf('\n'); i >= 0; i = this.buffer.indexOf('\n')) {
        this.answers.push(JSON.parse(this.buffer.slice(0, i)) as Record<string, unknown>);
        this.buffer = this.buffer.slice(i + 1);
      }
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async open(path: string): Promise<RawClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    return new RawClient(socket);
  }

  /** Writes `chunk` `times` times, waiting for drain; stops early once `until()` holds. */
  async write(chunk: Buffer | string, times = 1, until: () => boolean = () => false): Promise<number> {
    let written = 0;
    for (let i = 0; i < times && !until() && !this.closed; i++) {
      if (!this.socket.write(chunk)) await new Promise((r) => this.socket.once('drain', r));
      written++;
    }
    return written;
  }

  /** Waits for the `n`th answer (1-based), failing after `timeoutMs`. */
  async answer(n: number, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.answers.length < n) {
      if (Date.now() > deadline) throw new Error(`no answer ${n} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.answers[n - 1]!;
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('agent socket limits (real agent process)', () => {
  let agent: ChildProcess;
  let socketPath = '';
  let url = '';

  beforeAll(async () => {
    const spool = mkdtempSync(join(tmpdir(), 'agent-limits-'));
    socketPath = join(spool, 'agent.sock');
    const name = `socket-limits-${Date.now()}`;
    agent = startAgentProcess({
      spool,
      bootstrap: '127.0.0.1:9',
      prefix: 'limits.',
      name,
      extra: ['--offline'],
    });
    const client = new AgentSocketClient(socketPath);
    await client.connect();
    expect(await client.send([JSON.stringify({ spec: AGENT_SPEC })])).toEqual({ accepted: 1 });
    client.close();
    const log = readFileSync(new URL(`../../../test-output/agent-${name}.log`, import.meta.url), 'utf8');
    url = /running at (http:\/\/\S+)/.exec(log)![1]!;
  });
  afterAll(async () => {
    await stopChild(agent, 'SIGKILL');
  });

  it('refuses 1 MiB lines that never end their batch at the batch limit, without growing memory', async () => {
    const before = memory(agent.pid!);
    const client = await RawClient.open(socketPath);
    const line = Buffer.from(`${'x'.repeat(MiB - 1)}\n`);
    // 320 MiB of lines and no empty line: the old reader buffered every one of them
    const written = await client.write(line, 320);
    const answer = await client.answer(1);
    expect(answer).toMatchObject({ error: 'invalid-event', issues: [{ message: /batch longer than/ }] });
    const after = memory(agent.pid!);
    expect(written).toBe(320);
    expect(after.peak - Math.max(before.peak, before.rss)).toBeLessThan(160 * MiB);
    // the rest of the refused batch was dropped; the connection carries the next batch
    await client.write('\n{"spec":' + JSON.stringify(AGENT_SPEC) + '}\n\n');
    expect(await client.answer(2)).toEqual({ accepted: 1 });
    client.close();
  }, 120_000);

  it('refuses an unterminated 64 MiB line at the line limit, not after buffering it', async () => {
    const before = memory(agent.pid!);
    const client = await RawClient.open(socketPath);
    const chunk = Buffer.alloc(MiB, 0x78);
    await client.write(chunk, 64);
    const answer = await client.answer(1);
    expect(answer).toMatchObject({
      error: 'invalid-event',
      issues: [{ line: 1, message: /longer than 1048576 bytes/ }],
    });
    expect(memory(agent.pid!).peak - Math.max(before.peak, before.rss)).toBeLessThan(96 * MiB);
    await client.write('\n\n{"spec":' + JSON.stringify(AGENT_SPEC) + '}\n\n');
    expect(await client.answer(2)).toEqual({ accepted: 1 });
    client.close();
  }, 120_000);

  it('refuses invalid UTF-8 as the HTTP ingest does, instead of storing U+FFFD', async () => {
    const client = await RawClient.open(socketPath);
    const bytes = Buffer.from(`${JSON.stringify({ annotations: '<urn:a> <urn:b> "caf\u00e9" .' })}\n\n`);
    bytes.fill(0xff, bytes.indexOf(0xc3), bytes.indexOf(0xc3) + 2); // é's two bytes, each not UTF-8
    await client.write(bytes);
    expect(await client.answer(1)).toMatchObject({
      error: 'invalid-event',
      issues: [{ line: 1, message: 'invalid UTF-8 byte sequence' }],
    });
    client.close();
  });

  it('answers a batch of 50 000 bad lines with the first 100 issues and a bounded count', async () => {
    const client = await RawClient.open(socketPath);
    await client.write(`${'x\n'.repeat(50_000)}\n`);
    const answer = await client.answer(1);
    expect(answer).toMatchObject({ error: 'invalid-event', issueCount: 10_000, complete: false });
    expect((answer.issues as unknown[]).length).toBe(100);
    expect(JSON.stringify(answer).length).toBeLessThan(64 * 1024);
    client.close();
  });

  const bigEvent = (values: Record<string, number[]>) => ({
    eventId: `big-${Date.now()}`,
    workflow: AGENT_SPEC.workflow,
    workflowExecution: 'big',
    task: 'batch',
    taskExecution: 'big-0',
    phase: 'end',
    time: 1_700_000_000_000_000,
    values,
    status: 'finished',
  });

  it('answers a permanent 413 over HTTP for an event no record can hold, not 503 try again', async () => {
    // 1.9 MB as JSON: over the spool's 1 MiB record and a Kafka message
    const event = bigEvent({ loss: Array.from({ length: 100_000 }, (_, i) => i + 0.12345678901234) });
    const response = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: JSON.stringify(event),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({
      error: 'too-large',
      issues: [{ line: 1, message: /over the 1000000 bytes/ }],
    });
    const turtle = `# ${'x'.repeat(1_100_000)}\n<urn:a> <urn:b> <urn:c> .\n`;
    const annotations = await fetch(`${url}/v1/annotations`, {
      method: 'POST',
      headers: { 'content-type': 'text/turtle' },
      body: turtle,
    });
    expect(annotations.status).toBe(413);
  });

  it('refuses on the socket an event whose Avro encoding no Kafka message can hold', async () => {
    // 400 kB as JSON, a valid spool record; 1.6 MB as Avro: the publisher would retry it forever
    const event = bigEvent({ loss: Array.from({ length: 100_000 }, () => 0) });
    event.values = { ...event.values, lr: Array.from({ length: 100_000 }, () => 0) };
    const spec = {
      ...AGENT_SPEC,
      tasks: [
        AGENT_SPEC.tasks[0]!,
        {
          ...AGENT_SPEC.tasks[1]!,
          outputs: [...AGENT_SPEC.tasks[1]!.outputs!, { name: 'lr', semantics: 'output-value' }],
        },
      ],
    };
    const client = new AgentSocketClient(socketPath);
    await client.connect();
    try {
      const answer = await client.send([JSON.stringify({ spec }), JSON.stringify({ event })]);
      expect(answer).toMatchObject({
        error: 'invalid-event',
        issues: [{ line: 2, path: 'event', message: /as Avro is \d+ bytes/ }],
      });
    } finally {
      client.close();
    }
  });
});
