import { describe, expect, it } from 'vitest';
import { byName, type Loose, render, secretValues, workloads } from './helpers.js';
import { allows, external, foreignPod, podEndpoint } from './netpol.js';

// components/console: off by default (no overlay runs it), rendered by test/fixtures/base-console,
// where the shared policy checks (policy.test.ts, render.test.ts) cover it like every workload.
const TARGET = 'test/fixtures/base-console';

describe('console component (deploy/components/console)', () => {
  const objects = () => render(TARGET);
  const deployment = () => {
    const found = byName(objects(), 'Deployment', 'redispatch-console');
    if (!found) throw new Error(`deploy/${TARGET}: no Deployment/redispatch-console`);
    return found;
  };
  const container = (): Loose => deployment().spec.template.spec.containers[0];
  const env = (name: string): Loose => container().env.find((e: Loose) => e.name === name);

  it('is off by default: no overlay runs a console', () => {
    for (const overlay of ['overlays/lists', 'overlays/streams', 'overlays/dev'])
      expect(
        workloads(render(overlay)).map((w) => w.metadata.name),
        overlay,
      ).not.toContain('redispatch-console');
  });

  it('runs `redispatch console` on 0.0.0.0 at the port named "http", the token from a Secret', () => {
    expect(container().args).toEqual(['console']);
    expect(env('REDISPATCH_CONSOLE_HOST')?.value).toBe('0.0.0.0');
    const port = Number(env('REDISPATCH_CONSOLE_PORT')?.value);
    expect(container().ports.find((p: Loose) => p.name === 'http')?.containerPort).toBe(port);
    expect(env('REDISPATCH_CONSOLE_TOKEN')).toEqual({
      name: 'REDISPATCH_CONSOLE_TOKEN',
      valueFrom: { secretKeyRef: { name: 'redispatch-console', key: 'token' } },
    });
    // The token is never in a manifest: nothing here defines the Secret's value.
    expect(secretValues(objects()).filter((s) => s.secret === 'redispatch-console')).toEqual([]);
    const service = byName(objects(), 'Service', 'redispatch-console');
    expect(service?.spec.ports).toEqual([{ name: 'http', port, targetPort: 'http', protocol: 'TCP' }]);
    expect(service?.spec.type).toBe('ClusterIP');
  });

  it('admits to the console port only pods labelled redispatch-console-access=true in its namespace', () => {
    const consolePod = podEndpoint(deployment());
    const namespace = consolePod.pod?.namespace ?? 'default';
    const proxy = foreignPod(namespace, { 'redispatch-console-access': 'true' });
    expect(allows(objects(), proxy, consolePod, 9480)).toBe(true);
    expect(allows(objects(), proxy, consolePod, 9477), 'not the metrics port').toBe(false);
    for (const from of [
      foreignPod(namespace, { app: 'something-else' }),
      foreignPod('other', { 'redispatch-console-access': 'true' }),
      external('203.0.113.10'),
    ])
      expect(allows(objects(), from, consolePod, 9480), JSON.stringify(from)).toBe(false);
    const prometheus = foreignPod('monitoring', { 'app.kubernetes.io/name': 'prometheus' });
    expect(allows(objects(), prometheus, consolePod, 9477)).toBe(true);
    // Opening the console's port opens no other pod's.
    const dispatcher = byName(objects(), 'Deployment', 'redispatch-dispatcher');
    if (!dispatcher) throw new Error('no dispatcher');
    expect(allows(objects(), proxy, podEndpoint(dispatcher), 9480)).toBe(false);
  });

  it('lets the console reach DNS and the data Redis, and nothing else', () => {
    const consolePod = podEndpoint(deployment());
    const data = byName(objects(), 'StatefulSet', 'redis-data');
    if (!data) throw new Error('no redis-data');
    expect(allows(objects(), consolePod, podEndpoint(data), 6379)).toBe(true);
    expect(
      allows(objects(), consolePod, foreignPod('kube-system', { 'k8s-app': 'kube-dns' }), 53, 'UDP'),
    ).toBe(true);
    expect(allows(objects(), consolePod, external('203.0.113.10'), 443)).toBe(false);
    expect(
      allows(objects(), consolePod, foreignPod('nats', { 'app.kubernetes.io/name': 'nats' }), 4222),
    ).toBe(false);
  });
});
