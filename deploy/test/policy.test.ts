import { describe, expect, it } from 'vitest';
import {
  byName,
  envValue,
  type Loose,
  OVERLAYS,
  ofKind,
  render,
  secretValues,
  selects,
  TARGETS,
  workloads,
} from './helpers.js';
import {
  bytes,
  containers,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_METRICS_PORT,
  isProject,
  isRedis,
  probePort,
  resourceProblems,
  securityProblems,
  urlPasswords,
} from './pod-containers.js';

type Any = Loose;

describe.each(TARGETS)('policy: deploy/%s', (target) => {
  const objects = () => render(target);

  it('hardens every container (non-root, read-only root fs, no privilege escalation, no capabilities, RuntimeDefault seccomp)', () => {
    expect(containers(objects()).flatMap(securityProblems)).toEqual([]);
  });

  it('gives every container CPU and memory requests and a memory limit no lower than its request', () => {
    const all = containers(objects());
    expect(all.flatMap(resourceProblems)).toEqual([]);
    for (const { container, where } of all) {
      expect(bytes(container.resources.limits.memory), where).toBeGreaterThanOrEqual(
        bytes(container.resources.requests.memory),
      );
    }
  });

  it('runs Redis only at a release with the 2025-2026 security fixes (Lua engine, blocked clients, RESTORE)', () => {
    // First release of each line that carries every advisory this project tracks: the Lua-engine
    // fixes (CVE-2024-46981, CVE-2025-49844, CVE-2025-46817/46818/46819; 7.2.11), the unblock-flow
    // use-after-free CVE-2026-23479 (7.2.0-8.6.2 affected), the stream RESTORE use-after-free (urgent
    // release of 2026-07-24: 7.2.15) and the blocked-key list use-after-free under client eviction
    // (redis/redis#15667: 7.2.16, 2026-08-17). Only lines whose fixed release was confirmed from
    // Redis's own release records are listed; moving to another line means adding it here first.
    const FIXED: Record<string, number> = { '7.2': 16 };
    // Targets without a Redis of their own (base, fixtures on an external Redis) have nothing to check.
    for (const { container, where } of containers(objects()).filter((c) => isRedis(c.container))) {
      const match = /(?:^|\/)redis:(\d+)\.(\d+)\.(\d+)(?:-[a-z0-9.]+)?$/.exec(String(container.image));
      expect(match, `${where}: ${container.image} pins an exact x.y.z release`).not.toBeNull();
      const [major, minor, patch] = (match ?? []).slice(1).map(Number) as [number, number, number];
      const line = `${major}.${minor}`;
      const fixed = FIXED[line] !== undefined && patch >= FIXED[line];
      expect(fixed, `${where}: ${container.image} is not a release known to carry the fixes`).toBe(true);
    }
  });

  it('probes every long-running container; Redis with redis-cli ping', () => {
    for (const item of containers(objects())) {
      if (item.workload.kind === 'Job') continue; // run-to-completion: nothing to probe
      const { container, where } = item;
      expect(container.readinessProbe, `${where}: readinessProbe`).toBeDefined();
      expect(container.livenessProbe, `${where}: livenessProbe`).toBeDefined();
      if (isRedis(container)) {
        for (const probe of [container.readinessProbe, container.livenessProbe]) {
          expect(probe.exec?.command?.join(' '), where).toMatch(/redis-cli .*ping/);
        }
      }
    }
  });

  it('runs redispatch containers with /readyz and /healthz on REDISPATCH_METRICS_PORT', () => {
    const project = containers(objects()).filter((c) => isProject(c.container));
    expect(project.length).toBeGreaterThanOrEqual(2);
    for (const { container, where } of project) {
      const port = Number(envValue(container, objects(), 'REDISPATCH_METRICS_PORT') ?? DEFAULT_METRICS_PORT);
      const metricsPort = (container.ports ?? []).find((p: Any) => p.name === 'metrics');
      expect(metricsPort?.containerPort, `${where}: port "metrics" = REDISPATCH_METRICS_PORT`).toBe(port);
      const readiness = container.readinessProbe?.httpGet;
      const liveness = container.livenessProbe?.httpGet;
      expect(readiness?.path, `${where}: readiness path`).toBe('/readyz');
      expect(liveness?.path, `${where}: liveness path`).toBe('/healthz');
      expect(probePort(container, readiness?.port), `${where}: readiness port`).toBe(port);
      expect(probePort(container, liveness?.port), `${where}: liveness port`).toBe(port);
      const host = envValue(container, objects(), 'REDISPATCH_METRICS_HOST');
      if (host !== undefined)
        expect(['0.0.0.0', '::'], `${where}: metrics must listen beyond loopback`).toContain(host);
    }
  });

  it('gives redispatch pods a writable /tmp, no API token, and a grace period above the drain timeout', () => {
    for (const { workload, pod, container, where } of containers(objects())) {
      if (!isProject(container)) continue;
      const tmp = (container.volumeMounts ?? []).find((m: Any) => m.mountPath === '/tmp');
      expect(tmp, `${where}: /tmp mount`).toBeDefined();
      const volume = (pod.volumes ?? []).find((v: Any) => v.name === tmp.name);
      expect(volume?.emptyDir, `${where}: /tmp is an emptyDir`).toBeDefined();
      expect(pod.automountServiceAccountToken, where).toBe(false);
      const drainMs = Number(
        envValue(container, objects(), 'REDISPATCH_DRAIN_TIMEOUT_MS') ?? DEFAULT_DRAIN_TIMEOUT_MS,
      );
      const graceSeconds = pod.terminationGracePeriodSeconds ?? 30;
      expect(graceSeconds * 1000, `${workload.metadata.name}: grace > drain`).toBeGreaterThan(drainMs);
    }
  });

  it('takes Redis URLs only from Secrets, never from a ConfigMap or a literal', () => {
    const problems: string[] = [];
    for (const { container, where } of containers(objects())) {
      for (const env of container.env ?? []) {
        if (/URL/.test(env.name) && env.value !== undefined)
          problems.push(`${where}: ${env.name} is a literal`);
      }
    }
    for (const cm of ofKind(objects(), 'ConfigMap')) {
      for (const key of Object.keys(cm.data ?? {})) {
        if (/URLS?$|PASSWORD|TOKEN|SECRET/.test(key))
          problems.push(`ConfigMap/${cm.metadata.name}: key ${key}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('puts no Secret value and no credential into a ConfigMap', () => {
    const secrets = secretValues(objects());
    const problems: string[] = [];
    for (const cm of ofKind(objects(), 'ConfigMap')) {
      for (const [key, value] of Object.entries<string>({ ...(cm.data ?? {}), ...(cm.binaryData ?? {}) })) {
        for (const secret of secrets) {
          // The whole value, and the password inside each URL of a URL list.
          const pieces = [secret.value, ...urlPasswords(secret.value)].filter((p) => p.length >= 6);
          for (const piece of pieces) {
            if (value.includes(piece))
              problems.push(`ConfigMap/${cm.metadata.name}.${key} holds ${secret.secret}.${secret.key}`);
          }
        }
        if (/rediss?:\/\/[^/\s@]*:[^/\s@]+@/.test(value)) {
          problems.push(`ConfigMap/${cm.metadata.name}.${key} holds a URL with a password`);
        }
        if (/^\s*(requirepass|masterauth)\s+\S/m.test(value)) {
          problems.push(`ConfigMap/${cm.metadata.name}.${key} sets a Redis password`);
        }
      }
    }
    expect([...new Set(problems)]).toEqual([]);
  });

  it('runs three dispatchers on different nodes, guarded by a PodDisruptionBudget of 2', () => {
    const dispatcher = byName(objects(), 'Deployment', 'redispatch-dispatcher');
    expect(dispatcher).toBeDefined();
    expect(dispatcher?.spec.replicas).toBe(3);
    const labels = dispatcher?.spec.template.metadata.labels;
    const anti = dispatcher?.spec.template.spec.affinity?.podAntiAffinity ?? {};
    const terms = [
      ...(anti.requiredDuringSchedulingIgnoredDuringExecution ?? []),
      ...(anti.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((t: Any) => t.podAffinityTerm),
    ];
    expect(
      terms.some((t: Any) => t.topologyKey === 'kubernetes.io/hostname' && selects(t.labelSelector, labels)),
      'podAntiAffinity across kubernetes.io/hostname',
    ).toBe(true);
    if (target === 'overlays/dev') {
      expect(anti.requiredDuringSchedulingIgnoredDuringExecution, 'dev must fit on one node').toBeUndefined();
    } else {
      expect(
        anti.requiredDuringSchedulingIgnoredDuringExecution?.length,
        'required outside dev',
      ).toBeGreaterThan(0);
    }

    const budgets = ofKind(objects(), 'PodDisruptionBudget').filter((p) => selects(p.spec.selector, labels));
    expect(budgets).toHaveLength(1);
    expect(budgets[0]?.spec.minAvailable).toBe(2);
    // The budget covers dispatchers only, not workers or Redis.
    for (const workload of workloads(objects())) {
      if (workload === dispatcher) continue;
      expect(
        selects(budgets[0]?.spec.selector, workload.spec.template.metadata.labels),
        workload.metadata.name,
      ).toBe(false);
    }
    // A rolling update never leaves fewer than two dispatchers.
    const rolling = dispatcher?.spec.strategy?.rollingUpdate ?? {};
    expect(3 - Number(rolling.maxUnavailable ?? 1)).toBeGreaterThanOrEqual(2);
  });

  it('scales workers with exactly one autoscaler and lets it own the replica count', () => {
    const worker = byName(objects(), 'Deployment', 'redispatch-worker');
    expect(worker).toBeDefined();
    expect(worker?.spec.replicas, 'replicas belongs to the autoscaler').toBeUndefined();
    const scalers = [
      ...ofKind(objects(), 'HorizontalPodAutoscaler'),
      ...ofKind(objects(), 'ScaledObject'),
    ].filter((s) => s.spec.scaleTargetRef.name === 'redispatch-worker');
    expect(scalers).toHaveLength(1);
    const hpa = scalers[0];
    if (hpa?.kind === 'HorizontalPodAutoscaler') {
      expect(hpa.spec.metrics.some((m: Any) => m.resource?.name === 'cpu')).toBe(true);
    }
  });
});

describe.each(OVERLAYS)('overlay deploy/%s', (overlay) => {
  it('puts everything in one namespace that enforces the restricted Pod Security Standard', () => {
    const objects = render(overlay);
    const namespaces = ofKind(objects, 'Namespace');
    expect(namespaces).toHaveLength(1);
    const name = namespaces[0]?.metadata.name;
    expect(namespaces[0]?.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const object of objects) {
      if (object.kind === 'Namespace') continue;
      expect(object.metadata.namespace, `${object.kind}/${object.metadata.name}`).toBe(name);
    }
  });

  it('ships only clearly marked placeholder credentials', () => {
    for (const { secret, key, value } of secretValues(render(overlay))) {
      // ACL files carry SHA-256 hashes only: never a password in clear (redis-users.test.ts checks
      // that they are the hashes of the placeholder passwords below).
      if (key.endsWith('.acl')) expect(value, `${secret}.${key}`).not.toMatch(/CHANGE-ME|dev-only|>/);
      else expect(value, `${secret}.${key}`).toMatch(/CHANGE-ME|dev-only/);
    }
  });

  it('connects redispatch to the Redis servers the overlay runs', () => {
    const objects = render(overlay);
    const dispatcher = byName(objects, 'Deployment', 'redispatch-dispatcher')?.spec.template.spec
      .containers[0];
    const redisUrl = envValue(dispatcher, objects, 'REDISPATCH_REDIS_URL') ?? '';
    const lockUrls = envValue(dispatcher, objects, 'REDISPATCH_LOCK_URLS');
    const services = ofKind(objects, 'Service').map((s) => s.metadata.name);
    const host = (url: string) => new URL(url).hostname;
    const serviceOf = (hostname: string) =>
      hostname.split('.').pop() === hostname ? hostname : hostname.split('.')[1];

    expect(new URL(redisUrl).username).toBe('rd-dispatcher');
    expect(new URL(redisUrl).password).toMatch(/CHANGE-ME|dev-only/);
    expect(services).toContain(serviceOf(host(redisUrl)));
    if (overlay === 'overlays/dev') {
      expect(lockUrls, 'dev: the data Redis is the lock master').toBeUndefined();
    } else {
      const locks = (lockUrls ?? '').split(',');
      expect(locks).toHaveLength(3);
      expect(locks.map(host).sort()).toEqual([0, 1, 2].map((i) => `redis-lock-${i}.redis-lock`));
      for (const url of locks) expect(new URL(url).username).toBe('rd-lock');
    }
  });
});
