import { describe, expect, it } from 'vitest';
import { byName, type Loose, ofKind, RELAY_TARGETS, render, selects, TARGETS, workloads } from './helpers.js';
import { allows, external, foreignPod, podEndpoint } from './netpol.js';
import { isProject, isRedis } from './pod-containers.js';

type Any = Loose;

// Who may reach what: the NetworkPolicies of every target (policy.test.ts checks the workloads).
describe.each(TARGETS)('network policy: deploy/%s', (target) => {
  const objects = () => render(target);

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
