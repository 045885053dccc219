import { describe, expect, it } from 'vitest';
import {
  byName,
  envValue,
  type K8sObject,
  type Loose,
  OVERLAYS,
  ofKind,
  RELAY_TARGETS,
  render,
  secretValues,
  selects,
  TARGETS,
  workloads,
} from './helpers.js';
import { allows, external, foreignPod, podEndpoint } from './netpol.js';

type Any = Loose;

/** Product defaults (shared/src/config/defaults.ts) for settings an overlay may leave out. */
const DEFAULT_METRICS_PORT = '9477';
const DEFAULT_DRAIN_TIMEOUT_MS = '10000';

const isProject = (container: Any) => String(container.image).includes('redispatch');
const isRedis = (container: Any) => /(^|\/)redis:/.test(String(container.image));

interface PodContainer {
  workload: K8sObject;
  pod: Any;
  container: Any;
  where: string;
}

function containers(objects: K8sObject[]): PodContainer[] {
  return workloads(objects).flatMap((workload) => {
    const pod = workload.spec.template.spec;
    return [...(pod.initContainers ?? []), ...pod.containers].map((container: Any) => ({
      workload,
      pod,
      container,
      where: `${workload.kind}/${workload.metadata.name} container ${container.name}`,
    }));
  });
}

/** The effective value of a security setting: the container's, else the pod's. */
function effective(pod: Any, container: Any, key: string): unknown {
  return container.securityContext?.[key] ?? pod.securityContext?.[key];
}

function securityProblems({ pod, container, where }: PodContainer): string[] {
  const problems: string[] = [];
  const sc = container.securityContext ?? {};
  if (effective(pod, container, 'runAsNonRoot') !== true) problems.push(`${where}: runAsNonRoot`);
  const uid = effective(pod, container, 'runAsUser');
  if (uid === 0) problems.push(`${where}: runAsUser 0`);
  if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem`);
  if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation`);
  if (sc.privileged === true) problems.push(`${where}: privileged`);
  if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: capabilities.drop ALL`);
  if ((sc.capabilities?.add ?? []).length > 0) problems.push(`${where}: capabilities.add`);
  const seccomp = (effective(pod, container, 'seccompProfile') as Any)?.type;
  if (seccomp !== 'RuntimeDefault') problems.push(`${where}: seccompProfile RuntimeDefault`);
  return problems;
}

function resourceProblems({ container, where }: PodContainer): string[] {
  const r = container.resources ?? {};
  const problems: string[] = [];
  if (!r.requests?.cpu) problems.push(`${where}: requests.cpu`);
  if (!r.requests?.memory) problems.push(`${where}: requests.memory`);
  if (!r.limits?.memory) problems.push(`${where}: limits.memory`);
  return problems;
}

/** The container port a probe targets, as a number (named ports resolved). */
function probePort(container: Any, port: string | number | undefined): number | undefined {
  if (typeof port === 'number') return port;
  const named = (container.ports ?? []).find((p: Any) => p.name === port);
  return named?.containerPort;
}

/** Passwords inside a value that is a URL or a comma-separated list of URLs. */
function urlPasswords(value: string): string[] {
  return value.split(',').flatMap((part) => {
    try {
      const password = new URL(part.trim()).password;
      return password ? [password, decodeURIComponent(password)] : [];
    } catch {
      return [];
    }
  });
}

/** Kubernetes quantities (Mi, Gi, k, M, G) in bytes, enough to compare requests with limits. */
function bytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGT]i?|k)?$/.exec(quantity);
  if (!match) throw new Error(`unsupported quantity ${quantity}`);
  const units: Record<string, number> = {
    '': 1,
    k: 1e3,
    K: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
  };
  return Number(match[1]) * (units[match[2] ?? ''] ?? Number.NaN);
}

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

  it('keeps Redis reachable only from redispatch pods (NetworkPolicy)', () => {
    const policies = ofKind(objects(), 'NetworkPolicy');
    for (const workload of workloads(objects())) {
      const labels = workload.spec.template.metadata.labels;
      if (!workload.spec.template.spec.containers.some(isRedis) || workload.kind === 'Job') continue;
      const applying = policies.filter((p) => selects(p.spec.podSelector, labels));
      expect(applying.length, `${workload.metadata.name}: selected by a NetworkPolicy`).toBeGreaterThan(0);
      for (const policy of applying) {
        expect(policy.spec.policyTypes).toContain('Ingress');
        for (const rule of policy.spec.ingress ?? []) {
          expect(
            rule.from?.length,
            `${policy.metadata.name}: an ingress rule without "from" admits everyone`,
          ).toBeGreaterThan(0);
          for (const peer of rule.from) {
            expect(peer.ipBlock, `${policy.metadata.name}: no ipBlock peers`).toBeUndefined();
            if (peer.namespaceSelector) {
              // Only a named namespace's named pods (the KEDA operator), never a whole namespace.
              expect(
                peer.podSelector?.matchLabels,
                `${policy.metadata.name}: namespace peers need a podSelector`,
              ).toBeTruthy();
              expect(peer.namespaceSelector.matchLabels?.['kubernetes.io/metadata.name']).toBeTruthy();
            } else {
              const own = peer.podSelector?.matchLabels ?? {};
              expect(
                own['app.kubernetes.io/part-of'] === 'redispatch' ||
                  own['app.kubernetes.io/name'] === 'redis',
                `${policy.metadata.name}: peer ${JSON.stringify(peer)}`,
              ).toBe(true);
            }
          }
        }
      }
    }
  });

  it('lets only Prometheus reach the metrics port of redispatch pods, relay clients only the WebSocket port, console users only the console port (NetworkPolicy)', () => {
    const policies = ofKind(objects(), 'NetworkPolicy');
    for (const workload of workloads(objects())) {
      if (!workload.spec.template.spec.containers.some(isProject)) continue;
      const labels = workload.spec.template.metadata.labels;
      const isRelay = labels['app.kubernetes.io/component'] === 'relay';
      const isConsole = labels['app.kubernetes.io/component'] === 'console';
      const applying = policies.filter(
        (p) => selects(p.spec.podSelector, labels) && (p.spec.policyTypes ?? ['Ingress']).includes('Ingress'),
      );
      expect(applying.length, `${workload.metadata.name}: selected by a NetworkPolicy`).toBeGreaterThan(0);
      for (const policy of applying) {
        for (const rule of policy.spec.ingress ?? []) {
          const ports = rule.ports?.map((p: Any) => p.port);
          expect(
            ports?.length,
            `${policy.metadata.name}: a rule without ports opens every port`,
          ).toBeGreaterThan(0);
          if (ports.includes('metrics')) {
            expect(ports).toEqual(['metrics']);
            for (const peer of rule.from ?? []) {
              expect(
                peer.namespaceSelector?.matchLabels,
                `${policy.metadata.name}: Prometheus namespace`,
              ).toBeTruthy();
              expect(peer.podSelector?.matchLabels?.['app.kubernetes.io/name']).toBe('prometheus');
            }
            expect(rule.from?.length).toBeGreaterThan(0);
          } else if (isConsole) {
            // The console's page: only from the pods labelled for it (console.test.ts: the paths).
            expect(ports).toEqual(['http']);
            expect(rule.from?.length, `${policy.metadata.name}: console peers`).toBeGreaterThan(0);
          } else {
            // Only the relay's WebSocket port is open to clients (from anywhere).
            expect(isRelay, `${policy.metadata.name}: ${workload.metadata.name} opens ${ports}`).toBe(true);
            expect(ports).toEqual(['ws']);
          }
        }
      }
    }
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

describe.each(RELAY_TARGETS)('relay network paths: deploy/%s', (target) => {
  const objects = () => render(target);
  const relay = () => {
    const sts = byName(objects(), 'StatefulSet', 'redispatch-relay');
    if (!sts) throw new Error(`deploy/${target} renders no StatefulSet/redispatch-relay`);
    return podEndpoint(sts);
  };
  const namespace = () => relay().pod?.namespace ?? 'default';
  const optional = (name: string, kind = 'StatefulSet') => byName(objects(), kind, name);
  const dataRedis = () => optional('redis-data') ?? optional('redis-cluster');
  const prometheus = foreignPod('monitoring', { 'app.kubernetes.io/name': 'prometheus' });
  // A client: some pod in another namespace (an Ingress controller, a gateway), or the internet.
  const client = foreignPod('ingress-nginx', { 'app.kubernetes.io/name': 'ingress-nginx' });
  const stranger = () => foreignPod(namespace(), { app: 'something-else' });

  it('admits clients to the WebSocket port (8080) and Prometheus, not clients, to the metrics port', () => {
    for (const from of [client, stranger(), external('203.0.113.10')]) {
      expect(allows(objects(), from, relay(), 8080), JSON.stringify(from)).toBe(true);
      expect(allows(objects(), from, relay(), 9477), JSON.stringify(from)).toBe(false);
    }
    expect(allows(objects(), prometheus, relay(), 9477)).toBe(true);
    // Opening the relay's port opens no other pod's.
    const dispatcher = byName(objects(), 'Deployment', 'redispatch-dispatcher');
    if (!dispatcher) throw new Error('no dispatcher');
    expect(allows(objects(), client, podEndpoint(dispatcher), 8080)).toBe(false);
    expect(allows(objects(), client, podEndpoint(dispatcher), 9477)).toBe(false);
  });

  it('lets the relay reach the data Redis (both policies agree) and DNS, but not the lock masters or the cluster bus', () => {
    const data = dataRedis();
    if (data) {
      expect(allows(objects(), relay(), podEndpoint(data), 6379), `relay -> ${data.metadata.name}`).toBe(
        true,
      );
      // The Redis policy, not only the relay's egress, admits it; a pod without the label stays out.
      expect(allows(objects(), stranger(), podEndpoint(data), 6379)).toBe(false);
      for (const name of ['redispatch-dispatcher', 'redispatch-worker']) {
        const own = byName(objects(), 'Deployment', name);
        if (!own) throw new Error(name);
        expect(allows(objects(), podEndpoint(own), podEndpoint(data), 6379), `${name} -> redis`).toBe(true);
      }
      if (data.metadata.name === 'redis-cluster') {
        expect(allows(objects(), relay(), podEndpoint(data), 16379), 'cluster bus').toBe(false);
      }
    } else {
      expect(target, 'only the fixture without Redis has no data Redis').toBe('test/fixtures/base-relay');
    }
    const lock = optional('redis-lock');
    if (lock) expect(allows(objects(), relay(), podEndpoint(lock), 6379), 'relay -> lock').toBe(false);
    const dns = foreignPod('kube-system', { 'k8s-app': 'kube-dns' });
    expect(allows(objects(), relay(), dns, 53, 'UDP')).toBe(true);
    expect(allows(objects(), relay(), dns, 53, 'TCP')).toBe(true);
  });

  it('lets the relay reach NATS (4222) for REDISPATCH_INGRESS=nats|jetstream', () => {
    const nats = foreignPod('nats', { 'app.kubernetes.io/name': 'nats' });
    expect(allows(objects(), relay(), nats, 4222)).toBe(true);
    expect(allows(objects(), relay(), foreignPod('nats', { app: 'other' }), 4222)).toBe(false);
  });

  it('lets the relay POST HTTP replies to 80/443 outside the cluster, not to link-local metadata or other ports', () => {
    expect(allows(objects(), relay(), external('203.0.113.10'), 443)).toBe(true);
    expect(allows(objects(), relay(), external('198.51.100.7'), 80)).toBe(true);
    expect(allows(objects(), relay(), external('169.254.169.254'), 80), 'cloud metadata').toBe(false);
    expect(allows(objects(), relay(), external('169.254.169.254'), 443), 'cloud metadata').toBe(false);
    for (const port of [22, 6379, 5432, 8080]) {
      expect(allows(objects(), relay(), external('203.0.113.10'), port), `port ${port}`).toBe(false);
    }
    // Other redispatch pods in the namespace are not the relay's business.
    const dispatcher = byName(objects(), 'Deployment', 'redispatch-dispatcher');
    if (!dispatcher) throw new Error('no dispatcher');
    expect(allows(objects(), relay(), podEndpoint(dispatcher), 9477)).toBe(false);
    const http = byName(objects(), 'NetworkPolicy', 'redispatch-relay-http-egress');
    const except = http?.spec.egress.flatMap((r: Any) => r.to.flatMap((p: Any) => p.ipBlock?.except ?? []));
    expect(except).toEqual(expect.arrayContaining(['169.254.0.0/16', 'fe80::/10']));
  });

  it('restricts only the relay egress: dispatchers and workers keep theirs (managed Redis, NATS outside)', () => {
    for (const name of ['redispatch-dispatcher', 'redispatch-worker']) {
      const own = byName(objects(), 'Deployment', name);
      if (!own) throw new Error(name);
      expect(allows(objects(), podEndpoint(own), external('203.0.113.10'), 6379), name).toBe(true);
    }
  });
});
