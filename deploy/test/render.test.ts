import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  byName,
  type K8sObject,
  OVERLAYS,
  ofKind,
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
