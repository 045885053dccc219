import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  byName,
  envValue,
  type K8sObject,
  type Loose,
  OVERLAYS,
  ofKind,
  RELAY_TARGETS,
  readDeployFile,
  render,
  selects,
  subdirectories,
  TARGETS,
  workloads,
} from './helpers.js';
import { isAllowedMetric, metricNames } from './metrics.js';

/** Kinds that come from CRDs: no schema in kubernetes-models, checked structurally below. */
const CRD_KINDS: Record<string, string> = {
  ScaledObject: 'keda.sh/v1alpha1',
  TriggerAuthentication: 'keda.sh/v1alpha1',
  PodMonitor: 'monitoring.coreos.com/v1',
  PrometheusRule: 'monitoring.coreos.com/v1',
};

type Model = new (data: unknown) => { validate(): void };

/** The kubernetes-models class for an apiVersion/kind, e.g. apps/v1 Deployment. */
async function modelFor(apiVersion: string, kind: string): Promise<Model> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const path = group
    ? `kubernetes-models/${group}/${version}/${kind}`
    : `kubernetes-models/${version}/${kind}`;
  let module: Record<string, unknown>;
  try {
    module = (await import(path)) as Record<string, unknown>;
  } catch {
    throw new Error(
      `no Kubernetes schema for ${apiVersion} ${kind} (${path}): a typo, or a CRD to add to CRD_KINDS`,
    );
  }
  const model = module[kind];
  if (typeof model !== 'function') throw new Error(`${path} exports no ${kind}`);
  return model as Model;
}

/**
 * kustomize wraps long base64 Secret values over several lines; the API server's decoder skips
 * the newlines, the schema's "byte" format does not.
 */
function normalize(object: K8sObject): K8sObject {
  if (object.kind !== 'Secret' || !object.data) return object;
  const data = Object.fromEntries(
    Object.entries<string>(object.data).map(([key, value]) => [key, value.replace(/\s+/g, '')]),
  );
  return { ...object, data };
}

function describeObject(object: K8sObject): string {
  return `${object.kind}/${object.metadata?.name}`;
}

describe.each(TARGETS)('deploy/%s', (target) => {
  it('renders with kustomize', () => {
    const objects = render(target);
    expect(objects.length).toBeGreaterThan(0);
    for (const object of objects) {
      expect(object.apiVersion, describeObject(object)).toBeTruthy();
      expect(object.kind).toBeTruthy();
      expect(object.metadata?.name, `${object.kind} without a name`).toBeTruthy();
    }
    const ids = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(new Set(ids).size, 'duplicate objects').toBe(ids.length);
  });

  it('validates every built-in object against the Kubernetes OpenAPI schemas', async () => {
    const problems: string[] = [];
    for (const object of render(target)) {
      const crdApiVersion = CRD_KINDS[object.kind];
      if (crdApiVersion) {
        expect(object.apiVersion, describeObject(object)).toBe(crdApiVersion);
        continue;
      }
      const Model = await modelFor(object.apiVersion, object.kind);
      try {
        new Model(normalize(object)).validate();
      } catch (error) {
        const details = (error as { errors?: { instancePath: string; message: string }[] }).errors ?? [];
        const listed = details.map((d) => `${d.instancePath} ${d.message}`).join('; ');
        problems.push(
          `${describeObject(object)}: ${(error as Error).message}${listed ? ` (${listed})` : ''}`,
        );
      }
    }
    expect(problems).toEqual([]);
  });

  it('points every autoscaler at an existing Deployment, and never two at the same one', () => {
    const objects = render(target);
    const targets = [
      ...ofKind(objects, 'HorizontalPodAutoscaler').map((h) => h.spec.scaleTargetRef),
      ...ofKind(objects, 'ScaledObject').map((s) => s.spec.scaleTargetRef),
    ];
    for (const ref of targets) {
      expect(byName(objects, ref.kind ?? 'Deployment', ref.name), `scale target ${ref.name}`).toBeDefined();
    }
    const names = targets.map((ref) => ref.name);
    expect(new Set(names).size, 'an HPA and a ScaledObject on one Deployment fight each other').toBe(
      names.length,
    );
  });

  it('gives every CRD object a usable structure', () => {
    const objects = render(target);
    const pods = workloads(objects).map((w) => ({ workload: w, template: w.spec.template }));

    for (const scaled of ofKind(objects, 'ScaledObject')) {
      const spec = scaled.spec;
      expect(spec.scaleTargetRef?.name).toBeTruthy();
      expect(spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      expect(spec.maxReplicaCount).toBeGreaterThanOrEqual(spec.minReplicaCount);
      expect(spec.triggers?.length, 'ScaledObject without triggers').toBeGreaterThan(0);
      for (const trigger of spec.triggers) {
        const meta = trigger.metadata ?? {};
        for (const value of Object.values(meta))
          expect(typeof value, 'KEDA metadata values are strings').toBe('string');
        if (trigger.type === 'prometheus') {
          expect(meta.serverAddress).toMatch(/^https?:\/\//);
          expect(meta.query).toBeTruthy();
          expect(Number(meta.threshold)).toBeGreaterThan(0);
          for (const name of metricNames(meta.query)) expect(isAllowedMetric(name), name).toBe(true);
        } else if (trigger.type === 'redis-cluster-streams' || trigger.type === 'redis-streams') {
          expect(meta.addresses ?? meta.address ?? meta.hosts ?? meta.host).toBeTruthy();
          expect(meta.stream).toBeTruthy();
          expect(meta.consumerGroup).toBeTruthy();
          expect(meta.lagCount ?? meta.pendingEntriesCount ?? meta.streamLength).toMatch(/^\d+$/);
        } else {
          throw new Error(`unexpected KEDA trigger type ${trigger.type}`);
        }
        if (trigger.authenticationRef) {
          const auth = byName(objects, 'TriggerAuthentication', trigger.authenticationRef.name);
          expect(auth, `TriggerAuthentication ${trigger.authenticationRef.name}`).toBeDefined();
        }
      }
    }

    for (const auth of ofKind(objects, 'TriggerAuthentication')) {
      expect(auth.spec.secretTargetRef?.length).toBeGreaterThan(0);
      for (const ref of auth.spec.secretTargetRef) {
        expect(ref.parameter && ref.name && ref.key, JSON.stringify(ref)).toBeTruthy();
      }
    }

    for (const monitor of ofKind(objects, 'PodMonitor')) {
      const selected = pods.filter((p) => selects(monitor.spec.selector, p.template.metadata.labels));
      const components = selected
        .map((p) => p.template.metadata.labels['app.kubernetes.io/component'])
        .sort();
      // Every redispatch process: dispatchers, workers and, with components/relay, relays.
      const expected = workloads(objects)
        .filter((w) =>
          w.spec.template.spec.containers.some((c: { image?: string }) => /redispatch/.test(String(c.image))),
        )
        .map((w) => w.spec.template.metadata.labels['app.kubernetes.io/component'])
        .sort();
      expect(expected).toEqual(expect.arrayContaining(['dispatcher', 'worker']));
      expect(components, 'the PodMonitor scrapes every redispatch pod').toEqual(expected);
      for (const endpoint of monitor.spec.podMetricsEndpoints) {
        expect(endpoint.path ?? '/metrics').toBe('/metrics');
        for (const { template } of selected) {
          const ports = template.spec.containers.flatMap(
            (c: { ports?: { name?: string }[] }) => c.ports ?? [],
          );
          expect(
            ports.some((p: { name?: string }) => p.name === endpoint.port),
            `port ${endpoint.port}`,
          ).toBe(true);
        }
      }
    }

    for (const rule of ofKind(objects, 'PrometheusRule')) {
      const plain = parse(readDeployFile('prometheus/alerts.yml'));
      expect(
        rule.spec.groups,
        'prometheusrule.yaml is out of date: run `node deploy/scripts/sync-prometheus-rule.mjs`',
      ).toEqual(plain.groups);
    }
  });
});

// Only an overlay is complete: a component or the base alone references what an overlay adds.
describe.each(OVERLAYS)('deploy/%s (overlay)', (target) => {
  it('references only ConfigMaps, Secrets, ServiceAccounts and PVC templates it defines ', () => {
    const objects = render(target);
    // The loop below must have something to check: an overlay without workloads would pass it vacuously.
    expect(workloads(objects).length).toBeGreaterThan(0);
    const missing: string[] = [];
    const need = (kind: string, name: string | undefined, from: string) => {
      if (name && !byName(objects, kind, name)) missing.push(`${from} -> ${kind}/${name}`);
    };
    for (const workload of workloads(objects)) {
      const spec = workload.spec.template.spec;
      const from = describeObject(workload);
      if (spec.serviceAccountName) need('ServiceAccount', spec.serviceAccountName, from);
      for (const volume of spec.volumes ?? []) {
        need('ConfigMap', volume.configMap?.name, from);
        // TLS material is created out of band (see components/redis-tls): not in any overlay.
        need('Secret', volume.secret?.secretName, from);
      }
      for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
        for (const source of container.envFrom ?? []) {
          need('ConfigMap', source.configMapRef?.name, from);
          need('Secret', source.secretRef?.name, from);
        }
        for (const env of container.env ?? []) {
          need('Secret', env.valueFrom?.secretKeyRef?.name, from);
          need('ConfigMap', env.valueFrom?.configMapKeyRef?.name, from);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('coverage of deploy/', () => {
  it('renders every overlay and every component somewhere', () => {
    expect(OVERLAYS.map((o) => o.slice('overlays/'.length)).sort()).toEqual(subdirectories('overlays'));
    const used = new Set<string>();
    for (const target of TARGETS) {
      const kustomization = parse(readDeployFile(`${target}/kustomization.yaml`)) as {
        components?: string[];
      };
      for (const component of kustomization.components ?? [])
        used.add(component.split('/').pop() ?? component);
    }
    expect([...used].sort()).toEqual(subdirectories('components'));
  });

  it('keeps the base free of CRD kinds (it must apply on a bare cluster)', () => {
    for (const object of render('base')) expect(CRD_KINDS[object.kind], object.kind).toBeUndefined();
  });

  it('replaces the CPU HPA when a KEDA component is used', () => {
    for (const target of ['test/fixtures/base-keda-lists', 'test/fixtures/base-keda-streams'] as const) {
      const objects = render(target);
      expect(ofKind(objects, 'HorizontalPodAutoscaler')).toEqual([]);
      expect(ofKind(objects, 'ScaledObject')).toHaveLength(1);
    }
    expect(ofKind(render('base'), 'HorizontalPodAutoscaler')).toHaveLength(1);
  });

  it('wires streams mode to the Redis Cluster and lists mode to the Redlock quorum', () => {
    const config = (target: string) =>
      ofKind(render(target), 'ConfigMap').find((c) => c.metadata.name.startsWith('redispatch-config'))?.data;
    expect(config('overlays/lists')?.REDISPATCH_MODE).toBe('lists');
    expect(config('overlays/streams')?.REDISPATCH_MODE).toBe('streams');
    const seeds = config('overlays/streams')?.REDISPATCH_CLUSTER_NODES?.split(',') ?? [];
    expect(seeds).toHaveLength(6);
    const cluster = byName(render('overlays/streams'), 'StatefulSet', 'redis-cluster');
    expect(cluster?.spec.replicas).toBe(6);
    const create = byName(render('overlays/streams'), 'Job', 'redis-cluster-init');
    expect(create?.spec.template.spec.containers[0].args.join('\n')).toContain('--cluster create');
    expect(byName(render('overlays/lists'), 'StatefulSet', 'redis-lock')?.spec.replicas).toBe(3);
  });
});

/** Product defaults (shared/src/config/defaults.ts) for settings a render may leave out. */
const DEFAULT_RELAY_PORT = '8080';
const DEFAULT_METRICS_PORT = '9477';
const DEFAULT_DRAIN_TIMEOUT_MS = '10000';

describe.each(RELAY_TARGETS)('relay in deploy/%s', (target) => {
  const objects = () => render(target);
  const relay = () => {
    const sts = byName(objects(), 'StatefulSet', 'redispatch-relay');
    if (!sts) throw new Error(`deploy/${target}: no StatefulSet/redispatch-relay`);
    return sts;
  };
  const pod = () => relay().spec.template;
  const container = () => pod().spec.containers[0];
  const port = (name: string) =>
    (container().ports ?? []).find((p: { name?: string }) => p.name === name)?.containerPort;

  it('runs `redispatch relay` with REDISPATCH_INSTANCE_ID = the pod name (stable and unique per relay)', () => {
    expect(container().args).toEqual(['relay']);
    const ids = (container().env ?? []).filter((e: { name: string }) => e.name === 'REDISPATCH_INSTANCE_ID');
    expect(ids).toHaveLength(1);
    expect(ids[0].valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    // Nothing else may set it: a shared id would mix two relays' sessions and reply queues.
    for (const cm of ofKind(objects(), 'ConfigMap'))
      expect(cm.data?.REDISPATCH_INSTANCE_ID, cm.metadata.name).toBeUndefined();
    // The pod name is <statefulset>-<ordinal>: a valid relay id (no ':' and at most 200 characters).
    expect(`${relay().metadata.name}-999`).toMatch(/^[A-Za-z0-9._-]{1,200}$/);
    expect(relay().spec.replicas).toBeGreaterThanOrEqual(1);
    expect(relay().spec.podManagementPolicy).toBe('Parallel');
  });

  it('selects its own pods only, with the labels the Redis policies and the PodMonitor match', () => {
    const labels = pod().metadata.labels;
    expect(selects(relay().spec.selector, labels)).toBe(true);
    expect(labels).toMatchObject({
      'app.kubernetes.io/name': 'redispatch',
      'app.kubernetes.io/component': 'relay',
      'app.kubernetes.io/part-of': 'redispatch',
    });
    for (const other of workloads(objects())) {
      if (other === relay()) continue;
      expect(selects(relay().spec.selector, other.spec.template.metadata.labels), other.metadata.name).toBe(
        false,
      );
    }
  });

  it('listens for WebSockets on REDISPATCH_RELAY_PORT (container port "ws"), served by a client and a headless Service', () => {
    const wsPort = Number(envValue(container(), objects(), 'REDISPATCH_RELAY_PORT') ?? DEFAULT_RELAY_PORT);
    expect(wsPort).toBe(8080);
    expect(port('ws')).toBe(wsPort);
    expect(envValue(container(), objects(), 'REDISPATCH_RELAY_HOST') ?? '0.0.0.0').toMatch(
      /^(0\.0\.0\.0|::)$/,
    );
    const metricsPort = Number(
      envValue(container(), objects(), 'REDISPATCH_METRICS_PORT') ?? DEFAULT_METRICS_PORT,
    );
    expect(metricsPort, 'the WebSocket and metrics servers need different ports').not.toBe(wsPort);

    const headless = byName(objects(), 'Service', relay().spec.serviceName);
    expect(headless, `serviceName ${relay().spec.serviceName}`).toBeDefined();
    expect(headless?.spec.clusterIP).toBe('None');
    const clients = byName(objects(), 'Service', 'redispatch-relay');
    expect(clients?.spec.clusterIP).toBeUndefined();
    expect(clients?.spec.sessionAffinity).toBe('ClientIP');
    for (const service of [headless, clients]) {
      expect(service?.spec.selector).toBeTruthy();
      expect(
        selects({ matchLabels: service?.spec.selector }, pod().metadata.labels),
        service?.metadata.name,
      ).toBe(true);
      for (const other of workloads(objects())) {
        if (other === relay()) continue;
        expect(selects({ matchLabels: service?.spec.selector }, other.spec.template.metadata.labels)).toBe(
          false,
        );
      }
      const ports = service?.spec.ports ?? [];
      expect(ports).toHaveLength(1);
      const target = ports[0].targetPort;
      expect(typeof target === 'number' ? target : port(target), `${service?.metadata.name} targetPort`).toBe(
        wsPort,
      );
    }
  });

  it('probes /readyz and /healthz on the metrics port (not the WebSocket port, which answers 426)', () => {
    const metricsPort = Number(
      envValue(container(), objects(), 'REDISPATCH_METRICS_PORT') ?? DEFAULT_METRICS_PORT,
    );
    expect(port('metrics')).toBe(metricsPort);
    for (const [probe, path] of [
      [container().readinessProbe, '/readyz'],
      [container().livenessProbe, '/healthz'],
    ] as const) {
      expect(probe?.httpGet?.path).toBe(path);
      const p = probe?.httpGet?.port;
      expect(typeof p === 'number' ? p : port(p)).toBe(metricsPort);
    }
  });

  it('outlasts the drain on SIGTERM: grace > REDISPATCH_DRAIN_TIMEOUT_MS + socket close (2 s) + queue settling (2 s)', () => {
    const drainMs = Number(
      envValue(container(), objects(), 'REDISPATCH_DRAIN_TIMEOUT_MS') ?? DEFAULT_DRAIN_TIMEOUT_MS,
    );
    const grace = pod().spec.terminationGracePeriodSeconds;
    expect(grace * 1000).toBeGreaterThan(drainMs + 4_000);
  });

  it("shares the dispatchers' config and Redis, with its own Secret and user (issue 22)", () => {
    const dispatcher = byName(objects(), 'Deployment', 'redispatch-dispatcher')?.spec.template.spec
      .containers[0];
    const sources = (c: Loose) =>
      (c.envFrom ?? []).map((s: Loose) => s.configMapRef?.name ?? `secret:${s.secretRef?.name}`);
    const configMaps = (c: Loose) => sources(c).filter((name: string) => !name.startsWith('secret:'));
    expect(configMaps(container())).toEqual(configMaps(dispatcher));
    const secrets = sources(container()).filter((name: string) => name.startsWith('secret:'));
    expect(secrets).toHaveLength(1);
    expect(secrets[0]).toMatch(/^secret:redispatch-redis-relay(-[a-z0-9]{10})?$/);
    for (const name of [
      'REDISPATCH_MODE',
      'REDISPATCH_PREFIX',
      'REDISPATCH_CHANNEL',
      'REDISPATCH_CLUSTER_NODES',
    ]) {
      expect(envValue(container(), objects(), name), name).toBe(envValue(dispatcher, objects(), name));
    }
    if (target.startsWith('overlays/')) {
      const relayUrl = new URL(envValue(container(), objects(), 'REDISPATCH_REDIS_URL') ?? '');
      const dispatcherUrl = new URL(envValue(dispatcher, objects(), 'REDISPATCH_REDIS_URL') ?? '');
      expect(relayUrl.host).toBe(dispatcherUrl.host);
      expect(relayUrl.username).toBe('rd-relay');
      expect(envValue(container(), objects(), 'REDISPATCH_LOCK_URLS')).toBeUndefined();
    }
    expect(pod().spec.serviceAccountName).toBe('redispatch');
  });

  it('has a PodDisruptionBudget selecting exactly the relay pods', () => {
    const budgets = ofKind(objects(), 'PodDisruptionBudget').filter((b) =>
      selects(b.spec.selector, pod().metadata.labels),
    );
    expect(budgets.map((b) => b.metadata.name)).toEqual(['redispatch-relay']);
    expect(budgets[0]?.spec.maxUnavailable).toBe(1);
    for (const other of workloads(objects())) {
      if (other === relay()) continue;
      expect(
        selects(budgets[0]?.spec.selector, other.spec.template.metadata.labels),
        other.metadata.name,
      ).toBe(false);
    }
  });
});

describe('relay coverage', () => {
  it('lists every target that renders the relay in RELAY_TARGETS', () => {
    const rendering = TARGETS.filter((t) => byName(render(t), 'StatefulSet', 'redispatch-relay'));
    expect(rendering).toEqual([...RELAY_TARGETS]);
  });

  it('is scraped by the PodMonitor and gets the rediss:// CA when redis-tls follows it', () => {
    const objects = render('test/fixtures/base-relay');
    const relay = byName(objects, 'StatefulSet', 'redispatch-relay');
    const monitor = ofKind(objects, 'PodMonitor')[0];
    expect(selects(monitor?.spec.selector, relay?.spec.template.metadata.labels)).toBe(true);
    const container = relay?.spec.template.spec.containers[0];
    expect(envValue(container, objects, 'REDISPATCH_TLS_CA_FILE')).toBe('/etc/redispatch/tls/ca.crt');
    const mount = container.volumeMounts.find((m: { name: string }) => m.name === 'redis-tls');
    expect(mount).toMatchObject({ mountPath: '/etc/redispatch/tls', readOnly: true });
  });

  it('runs one relay in dev and two elsewhere', () => {
    expect(byName(render('overlays/dev'), 'StatefulSet', 'redispatch-relay')?.spec.replicas).toBe(1);
    for (const target of ['overlays/lists', 'overlays/streams'] as const)
      expect(byName(render(target), 'StatefulSet', 'redispatch-relay')?.spec.replicas).toBe(2);
  });
});
