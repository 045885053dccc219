import { type K8sObject, type Loose, ofKind, selects, workloads } from './helpers.js';

/**
 * A small NetworkPolicy evaluator (networking.k8s.io/v1 semantics) for the rendered policies: is a
 * TCP/UDP connection from one endpoint to another allowed? A connection needs the egress side
 * (policies selecting the source pod with policyType Egress) and the ingress side (policies
 * selecting the destination pod with policyType Ingress) to allow it; a pod selected by no policy
 * of a direction is unrestricted in that direction. Rules add up.
 *
 * Simplifications: ipBlock peers match only cluster-external endpoints (given by `ip`), as the API
 * documents them; pods are matched by labels only. Enough to test which paths the manifests open.
 */
export interface Endpoint {
  /** A pod: its namespace and labels (and its container ports, for named ports). */
  pod?: { namespace: string; labels: Record<string, string>; ports?: Loose[] };
  /** Outside the cluster: an IPv4 address. */
  ip?: string;
}

export function podEndpoint(workload: K8sObject, namespace?: string): Endpoint {
  const template = workload.spec.template;
  return {
    pod: {
      namespace: namespace ?? workload.metadata.namespace ?? 'default',
      labels: template.metadata.labels ?? {},
      ports: template.spec.containers.flatMap((c: Loose) => c.ports ?? []),
    },
  };
}

export function foreignPod(namespace: string, labels: Record<string, string>, ports: Loose[] = []): Endpoint {
  return { pod: { namespace, labels, ports } };
}

export function external(ip: string): Endpoint {
  return { ip };
}

function ipv4(address: string): number | undefined {
  const parts = address.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = parts.map(Number);
  if (bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) return undefined;
  return bytes.reduce((acc, b) => acc * 256 + b, 0);
}

/** Whether an IPv4 address is inside a CIDR; IPv6 CIDRs never contain an IPv4 address. */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const address = ipv4(ip);
  const network = ipv4(base ?? '');
  if (address === undefined || network === undefined) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(address / size) === Math.floor(network / size);
}

function namespaceLabels(namespace: string): Record<string, string> {
  return { 'kubernetes.io/metadata.name': namespace };
}

function peerMatches(peer: Loose, endpoint: Endpoint, policyNamespace: string): boolean {
  if (peer.ipBlock) {
    if (!endpoint.ip) return false;
    return (
      inCidr(endpoint.ip, peer.ipBlock.cidr) &&
      !(peer.ipBlock.except ?? []).some((c: string) => inCidr(endpoint.ip as string, c))
    );
  }
  const pod = endpoint.pod;
  if (!pod) return false;
  if (peer.namespaceSelector) {
    if (!selects(peer.namespaceSelector, namespaceLabels(pod.namespace))) return false;
  } else if (pod.namespace !== policyNamespace) {
    return false;
  }
  return peer.podSelector ? selects(peer.podSelector, pod.labels) : true;
}

function portMatches(rulePorts: Loose[] | undefined, destination: Endpoint, port: number, protocol: string) {
  if (!rulePorts || rulePorts.length === 0) return true;
  return rulePorts.some((p: Loose) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'number') return port >= p.port && port <= (p.endPort ?? p.port);
    // A named port is the destination pod's container port of that name.
    const named = (destination.pod?.ports ?? []).find(
      (c: Loose) => c.name === p.port && (c.protocol ?? 'TCP') === protocol,
    );
    return named?.containerPort === port;
  });
}

function policyNamespace(policy: K8sObject): string {
  return policy.metadata.namespace ?? 'default';
}

function selecting(policies: K8sObject[], endpoint: Endpoint, type: 'Ingress' | 'Egress'): K8sObject[] {
  const pod = endpoint.pod;
  if (!pod) return [];
  return policies.filter(
    (p) =>
      policyNamespace(p) === pod.namespace &&
      (p.spec.policyTypes ?? ['Ingress']).includes(type) &&
      selects(p.spec.podSelector, pod.labels),
  );
}

export function allows(
  objects: K8sObject[],
  from: Endpoint,
  to: Endpoint,
  port: number,
  protocol: 'TCP' | 'UDP' = 'TCP',
): boolean {
  const policies = ofKind(objects, 'NetworkPolicy');
  const egress = selecting(policies, from, 'Egress');
  const egressOk =
    egress.length === 0 ||
    egress.some((p) =>
      (p.spec.egress ?? []).some(
        (rule: Loose) =>
          (!rule.to?.length || rule.to.some((peer: Loose) => peerMatches(peer, to, policyNamespace(p)))) &&
          portMatches(rule.ports, to, port, protocol),
      ),
    );
  const ingress = selecting(policies, to, 'Ingress');
  const ingressOk =
    ingress.length === 0 ||
    ingress.some((p) =>
      (p.spec.ingress ?? []).some(
        (rule: Loose) =>
          (!rule.from?.length ||
            rule.from.some((peer: Loose) => peerMatches(peer, from, policyNamespace(p)))) &&
          portMatches(rule.ports, to, port, protocol),
      ),
    );
  return egressOk && ingressOk;
}

/** The first workload whose pod template carries these labels. */
export function workloadWith(objects: K8sObject[], labels: Record<string, string>): K8sObject | undefined {
  return workloads(objects).find((w) => selects({ matchLabels: labels }, w.spec.template.metadata.labels));
}
