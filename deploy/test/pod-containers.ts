// What the policy tests read off rendered manifests: every pod container with where it is, its
// effective security settings, resources, probe ports, and credentials inside URLs.
import { type K8sObject, type Loose, workloads } from './helpers.js';

type Any = Loose;

/** Product defaults (shared/src/config/defaults.ts) for settings an overlay may leave out. */
export const DEFAULT_METRICS_PORT = '9477';
export const DEFAULT_DRAIN_TIMEOUT_MS = '10000';

export const isProject = (container: Any) => String(container.image).includes('redispatch');
export const isRedis = (container: Any) => /(^|\/)redis:/.test(String(container.image));

export interface PodContainer {
  workload: K8sObject;
  pod: Any;
  container: Any;
  where: string;
}

export function containers(objects: K8sObject[]): PodContainer[] {
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
export function effective(pod: Any, container: Any, key: string): unknown {
  return container.securityContext?.[key] ?? pod.securityContext?.[key];
}

export function securityProblems({ pod, container, where }: PodContainer): string[] {
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

export function resourceProblems({ container, where }: PodContainer): string[] {
  const r = container.resources ?? {};
  const problems: string[] = [];
  if (!r.requests?.cpu) problems.push(`${where}: requests.cpu`);
  if (!r.requests?.memory) problems.push(`${where}: requests.memory`);
  if (!r.limits?.memory) problems.push(`${where}: limits.memory`);
  return problems;
}

/** The container port a probe targets, as a number (named ports resolved). */
export function probePort(container: Any, port: string | number | undefined): number | undefined {
  if (typeof port === 'number') return port;
  const named = (container.ports ?? []).find((p: Any) => p.name === port);
  return named?.containerPort;
}

/** Passwords inside a value that is a URL or a comma-separated list of URLs. */
export function urlPasswords(value: string): string[] {
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
export function bytes(quantity: string): number {
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
