import { describe, expect, it } from 'vitest';
import {
  byName,
  envValue,
  type Loose,
  ofKind,
  RELAY_TARGETS,
  render,
  selects,
  TARGETS,
  workloads,
} from './helpers.js';
import { DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_METRICS_PORT } from './pod-containers.js';

// The relay as every target that runs it renders it (render.test.ts: every target as a whole).
/** Product defaults (shared/src/config/defaults.ts) for settings a render may leave out. */
const DEFAULT_RELAY_PORT = '8080';

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
