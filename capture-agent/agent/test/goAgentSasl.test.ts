/**
 * Kafka SASL and TLS of the two agents against a real broker of the test's own (deploy/local/kafka.ts
 * with `security`: a SASL_PLAINTEXT listener and a SASL_SSL one whose PEM keystore openssl makes here,
 * users written as SCRAM credentials when the storage is formatted): the Go agent (capture-agent/agent-go)
 * and the compiled Node agent (dist/provml-agent.mjs) each deliver a training stream through SASL PLAIN,
 * SCRAM-SHA-256 and SCRAM-SHA-512, and through TLS with SCRAM-SHA-512 trusting the broker's CA from the
 * environment, read back with kafkajs under the same credentials. With a wrong password, or a broker
 * certificate from a CA they do not trust, each keeps what it accepted in its spool and logs the failure
 * within seconds instead of hanging silently; without a username or password neither starts. Needs
 * Kafka's jars (skipped when the global setup could not start Kafka outside CI) and Go and openssl
 * (skipped without Go unless CI=true).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCaptureEvent } from '@provml/schemas';
import { KafkaEventLog, type KafkaLogOptions } from '@provml/log';
import { resolveServiceConfig, topicNames } from '@provml/service';
import { ensureKafka, removeKafkaInstance } from '../../../deploy/local/kafka.ts';
import { freePort } from '../../../deploy/testing/embeddedProcess.ts';
import { buildGoAgent, hasGo } from '../../../deploy/build-agent-go.ts';
import { AGENT_NODE_OPTIONS, buildAgent } from '../../../deploy/build-agent.ts';
import { kafka, unique, until } from '../../../deploy/testing/kafkaTest.ts';
import {
  AGENT_SPEC,
  chunk,
  sendAll,
  startAgentProcess,
  stopChild,
  trainingStream,
} from '../../../deploy/testing/agentTest.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const goMissing = !hasGo();
if (goMissing && process.env.CI === 'true')
  throw new Error('go is not installed: the Go agent cannot be built');

const USER = 'provml-agent';
const PASSWORD = 'sasl-test-secret';
type Kind = 'go' | 'node';
type Mechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

// skipped only without Kafka or Go outside CI: under CI=true a missing Go throws above and a missing broker fails the global setup
describe.skipIf(kafka.bootstrap === '' || goMissing)(
  `the agents through Kafka SASL and TLS ${kafka.unavailable}`,
  () => {
    const instance = `sasl-${unique()}`;
    const dir = mkdtempSync(join(tmpdir(), 'provml-sasl-'));
    const goBinary = join(dir, 'provml-agent-go');
    const keystore = join(dir, 'broker.pem');
    const ca = join(dir, 'ca.pem');
    const otherCa = join(dir, 'other-ca.pem');
    let nodeScript = '';
    let saslBootstrap = '';
    let tlsBootstrap = '';
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      // a self-signed certificate for 127.0.0.1: the broker's keystore (certificate and key in one
      // PEM file) and the clients' trusted CA; and another one, a CA the broker's is not signed by
      const selfSigned = (cert: string, key: string): void => {
        execFileSync(
          'openssl',
          [
            'req',
            '-x509',
            '-newkey',
            'rsa:2048',
            '-nodes',
            '-days',
            '1',
            '-subj',
            '/CN=127.0.0.1',
            '-addext',
            'subjectAltName=IP:127.0.0.1',
            '-keyout',
            key,
            '-out',
            cert,
          ],
          { stdio: 'ignore' },
        );
      };
      selfSigned(ca, join(dir, 'key.pem'));
      selfSigned(otherCa, join(dir, 'other-key.pem'));
      writeFileSync(keystore, readFileSync(ca, 'utf8') + readFileSync(join(dir, 'key.pem'), 'utf8'));
      const [port, controllerPort, saslPort, tlsPort] = [
        await freePort(),
        await freePort(),
        await freePort(),
        await freePort(),
      ];
      [nodeScript] = await Promise.all([
        buildAgent(join(dir, 'provml-agent.mjs')),
        ensureKafka({
          port: port,
          controllerPort: controllerPort,
          instance,
          heap: '256m',
          security: {
            users: { [USER]: PASSWORD },
            saslPort: saslPort,
            saslSsl: { port: tlsPort, keystorePem: keystore },
          },
        }),
      ]);
      buildGoAgent(goBinary);
      saslBootstrap = `127.0.0.1:${saslPort}`;
      tlsBootstrap = `127.0.0.1:${tlsPort}`;
    }, 180_000);

    afterAll(async () => {
      for (const c of children) await stopChild(c, 'SIGKILL');
      await removeKafkaInstance(instance);
      rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    /** Starts an agent on `bootstrap` with the Kafka variables of `env` (the child's environment is copied at spawn). */
    function startAgent(
      kind: Kind,
      bootstrap: string,
      env: Record<string, string>,
    ): { child: ChildProcess; spool: string; prefix: string; log: string } {
      const name = `sasl-${kind}-${unique()}`;
      const spool = mkdtempSync(join(dir, `${kind}-`));
      const prefix = `${name}.`;
      const saved = { ...process.env };
      Object.assign(process.env, env);
      try {
        const child = startAgentProcess({
          spool,
          bootstrap,
          prefix,
          name,
          ...(kind === 'go'
            ? { binary: goBinary }
            : { compiled: { script: nodeScript, nodeArgs: AGENT_NODE_OPTIONS } }),
        });
        children.push(child);
        return { child, spool, prefix, log: join(ROOT, 'test-output', `agent-${name}.log`) };
      } finally {
        for (const k of Object.keys(env)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    }

    const sasl = (mechanism: Mechanism, password = PASSWORD): Record<string, string> => ({
      PROVML_KAFKA_SASL_MECHANISM: mechanism,
      PROVML_KAFKA_SASL_USERNAME: USER,
      PROVML_KAFKA_SASL_PASSWORD: password,
    });

    /** The event ids on the agent's events topic, read with kafkajs under the same credentials. */
    async function publishedIds(
      prefix: string,
      options: Pick<KafkaLogOptions, 'brokers' | 'ssl' | 'sasl'>,
    ): Promise<string[]> {
      const topic = topicNames(resolveServiceConfig({ topics: { prefix } }, {})).events;
      const log = new KafkaEventLog({ ...options, clientId: `sasl-test-${unique()}` });
      const ids: string[] = [];
      try {
        await log.tableReader(topic).catchUp((r) => {
          ids.push(decodeCaptureEvent(r.value).eventId);
        });
      } finally {
        await log.close();
      }
      return ids.sort();
    }

    /** Sends a training stream over the agent's socket and waits until kafkajs reads all of it back. */
    async function deliver(
      agent: { spool: string; prefix: string },
      options: Pick<KafkaLogOptions, 'brokers' | 'ssl' | 'sasl'>,
    ): Promise<void> {
      const { lines, eventIds } = trainingStream(2, 3);
      await sendAll(`${agent.spool}/agent.sock`, [
        [JSON.stringify({ spec: AGENT_SPEC })],
        ...chunk(lines, 4),
      ]);
      let ids: string[] = [];
      await until(
        async () => {
          ids = await publishedIds(agent.prefix, options).catch(() => []);
          return ids.length >= eventIds.length;
        },
        `${eventIds.length} events on ${agent.prefix}provml.events`,
        30_000,
      );
      expect(ids).toEqual([...eventIds].sort());
    }

    for (const kind of ['go', 'node'] as const)
      for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const)
        it(`the ${kind} agent delivers through SASL ${mechanism}`, async () => {
          const agent = startAgent(kind, saslBootstrap, sasl(mechanism));
          await deliver(agent, {
            brokers: [saslBootstrap],
            sasl: { mechanism, username: USER, password: PASSWORD } as KafkaLogOptions['sasl'],
          });
          await stopChild(agent.child, 'SIGTERM');
          expect(agent.child.exitCode).toBe(0);
        }, 60_000);

    for (const kind of ['go', 'node'] as const)
      it(`the ${kind} agent logs the broker's authentication failure for a wrong password`, async () => {
        const agent = startAgent(kind, saslBootstrap, sasl('scram-sha-512', 'not-the-password'));
        const { lines } = trainingStream(1, 1);
        // accepted into the spool: publishing is what fails
        await sendAll(`${agent.spool}/agent.sock`, [[JSON.stringify({ spec: AGENT_SPEC })], lines]);
        await until(
          () => /authentication failed|SASL_AUTHENTICATION_FAILED/i.test(readFileSync(agent.log, 'utf8')),
          `an authentication error in ${agent.log}`,
          20_000,
        );
        expect(agent.child.exitCode).toBeNull();
        expect(readFileSync(agent.log, 'utf8')).not.toContain('not-the-password');
        await stopChild(agent.child, 'SIGKILL');
      }, 60_000);

    it('both agents refuse to start with a mechanism but no username or password, naming both settings', async () => {
      for (const kind of ['go', 'node'] as const) {
        const agent = startAgent(kind, saslBootstrap, { PROVML_KAFKA_SASL_MECHANISM: 'scram-sha-512' });
        const code = await new Promise((r) => agent.child.once('exit', r));
        const log = readFileSync(agent.log, 'utf8');
        expect(code, log).toBe(1);
        expect(log).toMatch(/kafka\.sasl\.username: .*\n.*kafka\.sasl\.password: /);
      }
    }, 60_000);

    for (const kind of ['go', 'node'] as const)
      it(`the ${kind} agent delivers through TLS and SASL scram-sha-512, trusting the broker's CA`, async () => {
        // the CA comes from the environment: NODE_EXTRA_CA_CERTS for Node, SSL_CERT_FILE for Go
        const agent = startAgent(kind, tlsBootstrap, {
          ...sasl('scram-sha-512'),
          PROVML_KAFKA_SSL: 'true',
          ...(kind === 'go' ? { SSL_CERT_FILE: ca } : { NODE_EXTRA_CA_CERTS: ca }),
        });
        await deliver(agent, {
          brokers: [tlsBootstrap],
          ssl: { ca: [readFileSync(ca, 'utf8')] },
          sasl: { mechanism: 'scram-sha-512', username: USER, password: PASSWORD },
        });
        await stopChild(agent.child, 'SIGTERM');
        expect(agent.child.exitCode).toBe(0);
      }, 60_000);

    it('the Go agent warns at start when TLS is on and no CA certificate is trusted', async () => {
      const agent = startAgent('go', tlsBootstrap, {
        ...sasl('scram-sha-512'),
        PROVML_KAFKA_SSL: 'true',
        SSL_CERT_FILE: join(dir, 'none.pem'),
        SSL_CERT_DIR: join(dir, 'none'),
      });
      await until(
        () => readFileSync(agent.log, 'utf8').includes('provml agent running at'),
        `the agent's start in ${agent.log}`,
        20_000,
      );
      expect(readFileSync(agent.log, 'utf8')).toMatch(/no CA certificates are trusted.*SSL_CERT_FILE/);
      await stopChild(agent.child, 'SIGKILL');
    }, 60_000);

    for (const kind of ['go', 'node'] as const)
      it(`the ${kind} agent refuses a broker certificate it does not trust, and says so`, async () => {
        const agent = startAgent(kind, tlsBootstrap, {
          ...sasl('scram-sha-512'),
          PROVML_KAFKA_SSL: 'true',
          ...(kind === 'go' ? { SSL_CERT_FILE: otherCa } : { NODE_EXTRA_CA_CERTS: otherCa }),
        });
        await sendAll(`${agent.spool}/agent.sock`, [[JSON.stringify({ spec: AGENT_SPEC })]]);
        await until(
          () => /certificate/i.test(readFileSync(agent.log, 'utf8')),
          `a certificate error in ${agent.log}`,
          20_000,
        );
        expect(agent.child.exitCode).toBeNull();
        await stopChild(agent.child, 'SIGKILL');
      }, 60_000);
  },
);
