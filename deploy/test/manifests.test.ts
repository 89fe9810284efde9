/**
 * Offline checks of the deployment files, with validators nobody here wrote:
 * - Kubernetes manifests (deploy/k8s) against the Kubernetes API schemas that `kubernetes-models` ships
 *   (JSON Schema from the Kubernetes OpenAPI), and for unknown (misspelt) fields against its TypeScript
 *   types, which the schemas alone let through;
 * - the Compose file against the Compose Specification JSON Schema (the copy `dclint` ships);
 * - the Dockerfile with `dockerfile-utils` (the Docker language server's linter);
 * then what no schema knows: every PROVML_* variable set is one ServiceConfig reads and the set of them
 * resolves to a valid configuration, the processors never outnumber the partitions, probes hit /healthz
 * on the service's port, selectors select, the image's entrypoint exists.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { validate as lintDockerfile } from 'dockerfile-utils';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { SERVICE_ENV, resolveServiceConfig } from '@provml/service';
import { AGENT_BUNDLE, AGENT_NODE_OPTIONS } from '../build-agent.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const K8S = join(ROOT, 'deploy/k8s');
const COMPOSE = join(ROOT, 'deploy/compose/compose.yaml');
const DOCKERFILE = join(ROOT, 'deploy/Dockerfile');
const require = createRequire(import.meta.url);

const SERVICES = ['processor', 'sink', 'query-api', 'agent'] as const;
const KNOWN_ENV = new Set(Object.keys(SERVICE_ENV));

/** A Kubernetes object as read from YAML, with the fields these checks use. */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> } | Record<string, string>;
    template?: { metadata?: { labels?: Record<string, string> }; spec: IPodSpec };
    minReplicas?: number;
    maxReplicas?: number;
    scaleTargetRef?: { apiVersion: string; kind: string; name: string };
    ports?: { port: number; targetPort?: number | string }[];
  };
}

interface Manifest {
  /** `file.yaml#index` */
  where: string;
  file: string;
  object: K8sObject;
}

const manifestFiles = (): string[] =>
  readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .sort();

function loadManifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of manifestFiles()) {
    parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).forEach((doc, i) => {
      if (doc.errors.length > 0) throw new Error(`${file}#${i}: ${doc.errors.map(String).join('; ')}`);
      const object = doc.toJS() as K8sObject | null;
      if (object !== null) out.push({ where: `${file}#${i}`, file, object });
    });
  }
  return out;
}

type ModelClass = new (data: unknown) => { validate(): void };

/** The kubernetes-models class of an apiVersion/kind (`apps/v1` → `kubernetes-models/apps/v1`). */
function modelOf(apiVersion: string, kind: string): ModelClass | undefined {
  let mod: Record<string, unknown>;
  try {
    mod = require(`kubernetes-models/${apiVersion}`) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const model = mod[kind];
  return typeof model === 'function' ? (model as ModelClass) : undefined;
}

/**
 * Unknown fields, which JSON Schema validation lets through (the Kubernetes schemas allow additional
 * properties; the API server drops or, with strict field validation, rejects them): each object is
 * type-checked as an object literal against kubernetes-models' interface of its kind, so that excess
 * property checks name every field the API does not have.
 */
function unknownFields(objects: { where: string; object: unknown }[]): string[] {
  const file = join(ROOT, 'deploy/test/__k8s_strict_check__.ts');
  const text = objects
    .map(({ object }, i) => {
      const { apiVersion, kind } = object as K8sObject;
      return `export const d${i}: import('kubernetes-models/${apiVersion}/${kind}').I${kind} = ${JSON.stringify(object)};`;
    })
    .join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
  };
  // A compiler host that also serves the generated file, which is never written to disk.
  const base = ts.createCompilerHost(options);
  const host: ts.CompilerHost = {
    ...base,
    getSourceFile: (name, version, ...rest) =>
      name === file ? ts.createSourceFile(name, text, version) : base.getSourceFile(name, version, ...rest),
    fileExists: (name) => name === file || base.fileExists(name),
    readFile: (name) => (name === file ? text : base.readFile(name)),
  };
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file?.fileName === file ? d.file.getLineAndCharacterOfPosition(d.start ?? 0).line : -1;
    const where = objects[line]?.where ?? d.file?.fileName ?? '?';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

/** The workloads' containers, each with the environment it would get (ConfigMap, Secret, env). */
function containersOf(
  manifests: Manifest[],
): { where: string; container: IContainer; env: Record<string, string> }[] {
  const configMaps = new Map(
    manifests
      .filter((m) => m.object.kind === 'ConfigMap')
      .map((m) => [m.object.metadata.name, m.object.data ?? {}]),
  );
  const secrets = new Map(
    manifests
      .filter((m) => m.object.kind === 'Secret')
      .map((m) => [m.object.metadata.name, { ...m.object.data, ...m.object.stringData }]),
  );
  const out: { where: string; container: IContainer; env: Record<string, string> }[] = [];
  for (const m of manifests) {
    const pod = m.object.spec?.template?.spec;
    if (pod === undefined) continue;
    for (const container of pod.containers) {
      const env: Record<string, string> = {};
      for (const source of container.envFrom ?? []) {
        const name = source.configMapRef?.name ?? source.secretRef?.name ?? '';
        const values = source.configMapRef !== undefined ? configMaps.get(name) : secrets.get(name);
        const optional = (source.configMapRef ?? source.secretRef)?.optional === true;
        if (values === undefined && !optional) throw new Error(`${m.where}: envFrom names a missing ${name}`);
        Object.assign(env, values);
      }
      for (const e of container.env ?? [])
        env[e.name] = e.value ?? (e.valueFrom?.fieldRef ? `${m.object.metadata.name}-7d9f8-x2x4q` : '');
      out.push({ where: `${m.where} ${container.name}`, container, env });
    }
  }
  return out;
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  selector !== undefined &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** How the agent's deployments start it: node with the bundle's options, on the compiled bundle. */
const compiledAgent = (): string[] => ['node', ...AGENT_NODE_OPTIONS, relative(ROOT, AGENT_BUNDLE)];

describe('Kubernetes manifests (deploy/k8s)', () => {
  const manifests = loadManifests();
  const byKind = (kind: string): Manifest[] => manifests.filter((m) => m.object.kind === kind);
  const workload = (component: string): Manifest => {
    const found = manifests.find(
      (m) =>
        ['Deployment', 'StatefulSet', 'DaemonSet'].includes(m.object.kind) &&
        m.object.spec?.template?.metadata?.labels?.['app.kubernetes.io/component'] === component,
    );
    if (found === undefined) throw new Error(`no workload for ${component}`);
    return found;
  };
  const partitions = Number(byKind('ConfigMap')[0]?.object.data?.PROVML_PARTITIONS);

  it('has the objects the deployment needs', () => {
    expect(manifests.map((m) => `${m.object.kind}/${m.object.metadata.name}`).sort()).toEqual(
      [
        'ConfigMap/provml-config',
        'DaemonSet/provml-agent',
        'StatefulSet/provml-processor',
        'Service/provml-processor',
        'Deployment/provml-query-api',
        'Deployment/provml-sink',
        'HorizontalPodAutoscaler/provml-processor',
        'Namespace/provml',
        'PodDisruptionBudget/provml-processor',
        'Secret/provml-kafka-sasl',
        'Secret/provml-tokens',
        'Service/provml-query-api',
      ].sort(),
    );
  });

  it('every object validates against the Kubernetes API schemas (kubernetes-models)', () => {
    const problems: string[] = [];
    for (const { where, object } of manifests) {
      const Model = modelOf(object.apiVersion, object.kind);
      if (Model === undefined) {
        problems.push(`${where}: no schema for ${object.apiVersion} ${object.kind}`);
        continue;
      }
      try {
        new Model(object).validate();
      } catch (error) {
        problems.push(`${where}: ${(error as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('no object has a field the Kubernetes API does not know', () => {
    // The check itself must see a misspelt field, in metadata and deep in a pod template.
    const probe = [
      {
        where: 'probe-metadata',
        object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', lables: {} } },
      },
      {
        where: 'probe-container',
        object: {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'x' },
          spec: {
            selector: {},
            template: { spec: { containers: [{ name: 'c', livenesProbe: {} }] } },
          },
        },
      },
    ];
    const problems = unknownFields([...manifests, ...probe]);
    expect(problems.filter((p) => p.startsWith('probe-'))).toEqual([
      expect.stringMatching(/^probe-metadata: .*"lables".*IObjectMeta/),
      expect.stringMatching(/^probe-container: .*"livenesProbe".*IContainer/),
    ]);
    expect(problems.filter((p) => !p.startsWith('probe-'))).toEqual([]);
  });

  it('kustomization.yaml lists every manifest, and its image is the one the workloads use', () => {
    const kustomization = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
      images: { name: string; newName: string; newTag: string }[];
    };
    expect([...kustomization.resources].sort()).toEqual(manifestFiles());
    const images = new Set(containersOf(manifests).map((c) => c.container.image?.split(':')[0]));
    expect([...images]).toEqual([kustomization.images[0]?.name]);
  });

  it('every namespaced object is in the namespace the manifests create', () => {
    const namespace = byKind('Namespace')[0]?.object.metadata.name;
    expect(namespace).toBeDefined();
    const elsewhere = manifests.filter(
      (m) => m.object.kind !== 'Namespace' && m.object.metadata.namespace !== namespace,
    );
    expect(elsewhere.map((m) => m.where)).toEqual([]);
  });

  it('sets only environment variables that ServiceConfig reads', () => {
    // ConfigMaps and Secrets that containers take their environment from (others are mounted as files)
    const asEnv = new Set(
      containersOf(manifests).flatMap((c) =>
        (c.container.envFrom ?? []).map((s) => s.configMapRef?.name ?? s.secretRef?.name),
      ),
    );
    const set = [
      ...manifests
        .filter((m) => asEnv.has(m.object.metadata.name))
        .flatMap((m) =>
          Object.keys({ ...m.object.data, ...m.object.stringData }).map((k) => `${m.where} ${k}`),
        ),
      ...containersOf(manifests).flatMap((c) => (c.container.env ?? []).map((e) => `${c.where} ${e.name}`)),
    ];
    expect(set.length).toBeGreaterThan(0);
    expect(set.filter((entry) => !KNOWN_ENV.has(entry.split(' ').at(-1) ?? ''))).toEqual([]);
  });

  it('gives the sink, query API and agent token files from a mounted Secret, and the agent a host spool', () => {
    const secrets = new Map(
      byKind('Secret').map((m) => [m.object.metadata.name, { ...m.object.data, ...m.object.stringData }]),
    );
    for (const service of ['sink', 'query-api', 'agent'] as const) {
      const { object } = workload(service);
      const pod = object.spec!.template!.spec;
      const container = pod.containers[0]!;
      const files = (container.env ?? []).filter((e) => /^PROVML_\w+_TOKEN_FILE$/.test(e.name));
      expect(files.length, service).toBeGreaterThan(0);
      for (const f of files) {
        const mount = (container.volumeMounts ?? []).find((m) => f.value!.startsWith(`${m.mountPath}/`))!;
        expect(mount, `${service} ${f.name}`).toBeDefined();
        const volume = (pod.volumes ?? []).find((v) => v.name === mount.name)!;
        const key = f.value!.slice(mount.mountPath.length + 1);
        expect(Object.keys(secrets.get(volume.secret!.secretName!) ?? {}), `${service} ${f.name}`).toContain(
          key,
        );
      }
    }
    const agent = workload('agent').object.spec!.template!.spec;
    const spool = agent.containers[0]!.env!.find((e) => e.name === 'PROVML_AGENT_SPOOL')!.value!;
    const mount = agent.containers[0]!.volumeMounts!.find((m) => m.mountPath === spool)!;
    expect(agent.volumes!.find((v) => v.name === mount.name)!.hostPath).toBeDefined();
  });

  it('gives every container a valid configuration and a service to run', () => {
    for (const { where, container, env } of containersOf(manifests)) {
      // the agent runs its compiled bundle (checked below); the others a command of the CLI
      if (container.command === undefined) expect(SERVICES, where).toContain(container.args?.[0]);
      else expect(container.command, where).toEqual(compiledAgent());
      expect(() => resolveServiceConfig({}, env), where).not.toThrow();
    }
  });

  it('keeps the processors within the events topic partition count', () => {
    expect(Number.isInteger(partitions) && partitions > 0).toBe(true);
    const processor = workload('processor');
    const hpa = byKind('HorizontalPodAutoscaler');
    expect(hpa).toHaveLength(1);
    const spec = hpa[0]!.object.spec!;
    expect(spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: processor.object.kind,
      name: processor.object.metadata.name,
    });
    expect(spec.maxReplicas).toBeLessThanOrEqual(partitions);
    expect(spec.minReplicas).toBeLessThanOrEqual(spec.maxReplicas!);
    expect(processor.object.spec?.replicas).toBeLessThanOrEqual(partitions);
    expect(workload('sink').object.spec?.replicas).toBeLessThanOrEqual(partitions);
  });

  it('runs the processors as a StatefulSet with a headless Service: stable pod names, so stable instance ids', () => {
    // before: a Deployment, whose pods are renamed on rescheduling
    const processor = workload('processor');
    expect(processor.object.kind).toBe('StatefulSet');
    const serviceName = (processor.object.spec as { serviceName?: string }).serviceName;
    const headless = byKind('Service').find((s) => s.object.metadata.name === serviceName)?.object;
    expect((headless?.spec as { clusterIP?: string } | undefined)?.clusterIP).toBe('None');
    expect(
      matches(
        headless?.spec?.selector as Record<string, string>,
        processor.object.spec?.template?.metadata?.labels,
      ),
    ).toBe(true);
  });

  it('runs the compiled agent (the bundle npm run build:agent writes, with its node options), not tsx', () => {
    const container = workload('agent').object.spec!.template!.spec.containers[0]!;
    // before: args ['agent'] through the image's tsx entrypoint
    expect(container.command).toEqual(compiledAgent());
    expect(container.args ?? []).toEqual([]);
  });

  it('names each processor after its pod, so its instance id is stable', () => {
    const container = workload('processor').object.spec!.template!.spec.containers[0]!;
    expect(container.env?.find((e) => e.name === 'PROVML_INSTANCE_ID')?.valueFrom?.fieldRef?.fieldPath).toBe(
      'metadata.name',
    );
  });

  it('probes /healthz on the port each HTTP service listens on', () => {
    for (const { where, container, env } of containersOf(manifests)) {
      const port = Number(env.PROVML_HTTP_PORT);
      const declared = container.ports?.find((p) => p.containerPort === port);
      expect(declared, `${where}: containerPort ${port}`).toBeDefined();
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        expect(probe?.httpGet?.path, where).toBe('/healthz');
        const probePort = probe?.httpGet?.port;
        expect(probePort === port || probePort === declared?.name, `${where}: probe port ${probePort}`).toBe(
          true,
        );
      }
    }
  });

  it('gives every container resource requests and limits', () => {
    for (const { where, container } of containersOf(manifests)) {
      expect(Object.keys(container.resources?.requests ?? {}).sort(), where).toEqual(['cpu', 'memory']);
      expect(Object.keys(container.resources?.limits ?? {}).sort(), where).toEqual(['cpu', 'memory']);
    }
  });

  it('runs the agent once per node on the node loopback, port 7071', () => {
    const agent = workload('agent');
    expect(agent.object.kind).toBe('DaemonSet');
    const pod = agent.object.spec!.template!.spec;
    expect(pod.hostNetwork).toBe(true);
    const env = containersOf([agent, ...byKind('ConfigMap')])[0]!.env;
    expect([env.PROVML_HTTP_HOST, env.PROVML_HTTP_PORT]).toEqual(['127.0.0.1', '7071']);
  });

  it('selects the right pods with the Service and the PodDisruptionBudget', () => {
    const service = byKind('Service').find((s) => s.object.metadata.name === 'provml-query-api')!.object;
    const queryApi = workload('query-api');
    expect(
      matches(
        service.spec?.selector as Record<string, string>,
        queryApi.object.spec?.template?.metadata?.labels,
      ),
    ).toBe(true);
    const portNames = queryApi.object.spec!.template!.spec.containers.flatMap((c) => c.ports ?? []);
    for (const p of service.spec?.ports ?? [])
      expect(portNames.some((n) => n.name === p.targetPort || n.containerPort === p.targetPort)).toBe(true);
    const pdb = byKind('PodDisruptionBudget')[0]!.object;
    const processorLabels = workload('processor').object.spec?.template?.metadata?.labels;
    expect(
      matches((pdb.spec?.selector as { matchLabels?: Record<string, string> }).matchLabels, processorLabels),
    ).toBe(true);
    for (const m of [...byKind('Deployment'), ...byKind('StatefulSet'), ...byKind('DaemonSet')]) {
      const selector = (m.object.spec?.selector as { matchLabels?: Record<string, string> }).matchLabels;
      expect(matches(selector, m.object.spec?.template?.metadata?.labels), m.where).toBe(true);
    }
  });
});

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  command?: string[];
  entrypoint?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

describe('Compose file (deploy/compose/compose.yaml)', () => {
  // `merge: true` resolves the `<<:` merge keys as Compose does.
  const compose = parse(readFileSync(COMPOSE, 'utf8'), { merge: true }) as ComposeFile;
  const provml = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('provml:'));

  it('validates against the Compose Specification schema', () => {
    const schema = JSON.parse(
      readFileSync(
        join(dirname(require.resolve('dclint/package.json')), 'schemas/compose.schema.json'),
        'utf8',
      ),
    ) as Record<string, unknown>;
    expect(schema.title).toBe('Compose Specification');
    // The schema names its draft-07 meta-schema by its https address; Ajv registers the http one.
    const validate = new Ajv({ allErrors: true, strict: false }).compile({
      ...schema,
      $schema: 'http://json-schema.org/draft-07/schema#',
    });
    const valid = validate(compose);
    expect(
      validate.errors?.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`) ?? [],
    ).toEqual([]);
    expect(valid).toBe(true);
  });

  it('refers only to services and volumes it defines', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const dependency of Object.keys(service.depends_on ?? {}))
        expect(Object.keys(compose.services), `${name} depends on ${dependency}`).toContain(dependency);
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/'))
          expect(Object.keys(compose.volumes ?? {}), `${name} volume ${source}`).toContain(source);
      }
    }
  });

  it('runs every service from deploy/Dockerfile with a valid configuration', () => {
    expect(provml.map(([name]) => name).sort()).toEqual(['agent', 'processor', 'query-api', 'sink']);
    for (const [name, service] of provml) {
      expect(resolve(dirname(COMPOSE), service.build!.context), name).toBe(ROOT);
      expect(resolve(ROOT, service.build!.dockerfile), name).toBe(DOCKERFILE);
      const env = Object.fromEntries(
        Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]),
      );
      expect(
        Object.keys(env).filter((k) => !KNOWN_ENV.has(k)),
        `${name} sets variables ServiceConfig does not read`,
      ).toEqual([]);
      expect(() => resolveServiceConfig({}, env), name).not.toThrow();
      const command = [...(service.entrypoint ?? []), ...(service.command ?? [])].join(' ');
      if (name === 'agent') {
        // the compiled bundle, not the CLI under tsx
        expect(command).toBe(compiledAgent().join(' '));
        continue;
      }
      expect(
        SERVICES.filter((s) => new RegExp(`(^|[ '"])${s}($|[ '"])`).test(command)),
        name,
      ).toEqual([name]);
    }
  });

  it('runs no more processors than partitions, and health-checks every HTTP service on its port', () => {
    const processor = compose.services.processor!;
    expect(processor.deploy?.replicas).toBeLessThanOrEqual(Number(processor.environment?.PROVML_PARTITIONS));
    for (const name of ['sink', 'query-api', 'agent']) {
      const service = compose.services[name]!;
      expect(service.healthcheck?.test.join(' '), name).toContain(
        `127.0.0.1:${String(service.environment?.PROVML_HTTP_PORT)}/healthz`,
      );
    }
  });

  it('starts the same Kafka, registry and RDF4J versions as the local stack', () => {
    const version = (file: string, pattern: RegExp): string =>
      pattern.exec(readFileSync(join(ROOT, file), 'utf8'))?.[1] ?? `no version in ${file}`;
    expect(compose.services.kafka?.image).toBe(
      `apache/kafka:${version('deploy/local/maven/kafka/pom.xml', /<kafka\.version>([^<]+)</)}`,
    );
    expect(compose.services.registry?.image).toBe(
      `apicurio/apicurio-registry:${version('deploy/local/registry.ts', /const VERSION = '([^']+)'/)}`,
    );
    expect(compose.services.rdf4j?.image).toBe(
      `eclipse/rdf4j-workbench:${version('deploy/local/stores.ts', /RDF4J_VERSION = '([^']+)'/)}`,
    );
  });
});

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function instructions(text: string): { keyword: string; args: string }[] {
  const out: { keyword: string; args: string }[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (pending === '' && /^\s*#/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\\\s*$/, ' ');
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const [keyword = '', ...rest] = full.split(/\s+/);
    out.push({ keyword: keyword.toUpperCase(), args: rest.join(' ') });
  }
  return out;
}

describe('Dockerfile (deploy/Dockerfile)', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const all = instructions(text);
  const last = (keyword: string): string | undefined => all.filter((i) => i.keyword === keyword).at(-1)?.args;

  it('passes the Dockerfile linter (dockerfile-utils)', () => {
    expect(
      lintDockerfile(text).map(
        (d) =>
          `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`,
      ),
    ).toEqual([]);
  });

  it('builds on node:22-slim (the Go agent in a stage of its own) and runs as a non-root user', () => {
    expect(all.filter((i) => i.keyword === 'FROM').map((i) => i.args)).toEqual([
      'golang:1.26-bookworm AS agent-go',
      'node:22-slim',
    ]);
    expect(last('USER')).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(last('USER'));
  });

  const entrypoint = (): string[] => JSON.parse(last('ENTRYPOINT') ?? 'null') as string[];

  it('enters through tsx into the CLI, which exists', () => {
    expect(entrypoint()).toEqual(['node', '--import', 'tsx', 'app/src/cli/main.ts']);
    expect(existsSync(join(ROOT, entrypoint()[3]!))).toBe(true);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies?: Record<string, string>;
      dependencies?: Record<string, string>;
    };
    expect({ ...pkg.dependencies, ...pkg.devDependencies }).toHaveProperty('tsx');
  });

  it('stops gracefully on SIGTERM when run as the entrypoint runs it', async () => {
    // What a container's stop does: SIGTERM to the entrypoint's process only. The service must get it
    // and flush (a wrapper such as npx that exits without passing it on fails here). The query API on
    // the embedded store needs no Kafka.
    const [command, ...args] = entrypoint();
    const child = spawn(command!, [...args, 'query-api', '--store', 'oxigraph-embedded'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PROVML_HTTP_HOST: '127.0.0.1',
        PROVML_HTTP_PORT: '0',
        PROVML_AUTH_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so that whatever it leaves behind is killed below
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      const started = Date.now();
      while (!output.includes('running at') && child.exitCode === null && Date.now() - started < 60_000)
        await new Promise((r) => setTimeout(r, 100));
      expect(output).toContain('provml query-api running at');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('SIGTERM: flushing and stopping');
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone: nothing was left behind
      }
    }
  }, 90_000);

  it('builds the compiled agent into the image, after copying every source it bundles', () => {
    const index = all.findIndex((i) => i.keyword === 'RUN' && /\bnpm run build:agent\b/.test(i.args));
    expect(index).toBeGreaterThan(0);
    const copiedBefore = all
      .slice(0, index)
      .filter((i) => i.keyword === 'COPY')
      .map((i) => i.args.split(/\s+/)[0]);
    expect(copiedBefore).toContain('deploy/build-agent.ts');
    expect(copiedBefore).toContain('capture-agent/agent/');
    expect(compiledAgent().at(-1)).toBe('dist/provml-agent.mjs');
  });

  it('builds the Go agent in a stage of its own and copies only its binary into the image', () => {
    const stage = all.findIndex((i) => i.keyword === 'FROM' && / AS agent-go$/.test(i.args));
    const final = all.findIndex((i) => i.keyword === 'FROM' && i.args === 'node:22-slim');
    expect(stage).toBeGreaterThanOrEqual(0);
    expect(final).toBeGreaterThan(stage);
    const built = all.slice(stage, final);
    expect(built.filter((i) => i.keyword === 'COPY').map((i) => i.args)).toEqual([
      'capture-agent/agent-go/ ./',
    ]);
    expect(built.find((i) => i.keyword === 'RUN')?.args).toMatch(
      /go build .*-o \/out\/provml-agent-go \.\/cmd\/provml-agent-go$/,
    );
    expect(existsSync(join(ROOT, 'capture-agent/agent-go/cmd/provml-agent-go/main.go'))).toBe(true);
    expect(all.slice(final).filter((i) => i.args.startsWith('--from='))).toEqual([
      { keyword: 'COPY', args: '--from=agent-go /out/provml-agent-go dist/provml-agent-go' },
      {
        keyword: 'COPY',
        args: '--from=agent-go /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt',
      },
    ]);
  });

  it('copies only what exists, and every workspace', () => {
    const copies = all
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='))
      .map((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')));
    for (const args of copies)
      for (const source of args.slice(0, -1)) expect(existsSync(join(ROOT, source)), source).toBe(true);
    const workspaces = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }
    ).workspaces;
    const copied = copies.flatMap((args) => args.slice(0, -1)).map((s) => s.replace(/\/$/, ''));
    for (const workspace of workspaces) {
      expect(copied, workspace).toContain(`${workspace}/package.json`);
      expect(copied, workspace).toContain(workspace);
    }
  });

  it('sets only environment variables that ServiceConfig reads, among its own', () => {
    const keys = all
      .filter((i) => i.keyword === 'ENV')
      .flatMap((i) => [...i.args.matchAll(/(\w+)=/g)].map((m) => m[1]!))
      .filter((k) => k.startsWith('PROVML_'));
    expect(keys.filter((k) => !KNOWN_ENV.has(k))).toEqual([]);
  });
});
