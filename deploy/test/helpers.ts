import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** deploy/ and the repository root, whatever the working directory. */
export const DEPLOY_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = join(DEPLOY_DIR, '..');

/** Any field of a rendered manifest: arbitrary YAML, on which the tests assert shape. */
// biome-ignore lint/suspicious/noExplicitAny: manifests are arbitrary YAML; tests assert on shape.
export type Loose = any;

/** A rendered Kubernetes object, loosely typed: tests read fields defensively. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [k: string]: Loose };
  [k: string]: Loose;
};

/**
 * Every kustomization that must render: the base, the overlays, and test-only fixtures that apply
 * each optional component on the base (components cannot be built on their own).
 */
export const TARGETS = [
  'base',
  'overlays/lists',
  'overlays/streams',
  'overlays/dev',
  'test/fixtures/base-monitoring',
  'test/fixtures/base-keda-lists',
  'test/fixtures/base-keda-streams',
  'test/fixtures/base-redis-tls',
  'test/fixtures/base-relay',
  'test/fixtures/base-console',
] as const;
export type Target = (typeof TARGETS)[number];

export const OVERLAYS = TARGETS.filter((t) => t.startsWith('overlays/'));

/** The targets that run `redispatch relay` (components/relay); deploy/test checks the list is complete. */
export const RELAY_TARGETS = [
  'overlays/lists',
  'overlays/streams',
  'overlays/dev',
  'test/fixtures/base-relay',
] as const satisfies readonly Target[];

const CI_HINT =
  '.ci/run must install it: kubectl >= 1.27 (kustomize v5 built in; Debian bookworm only packages kubernetes-client 1.20, ' +
  'whose kustomize v2 cannot build components) and `apt-get install -y prometheus` for promtool.';

type Renderer = { command: string; args: (dir: string) => string[] };
let renderer: Renderer | undefined;

function findRenderer(): Renderer {
  if (renderer) return renderer;
  const kubectl = spawnSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  if (kubectl.status === 0) {
    renderer = { command: 'kubectl', args: (dir) => ['kustomize', dir] };
    return renderer;
  }
  const kustomize = spawnSync('kustomize', ['version'], { encoding: 'utf8' });
  if (kustomize.status === 0) {
    renderer = { command: 'kustomize', args: (dir) => ['build', dir] };
    return renderer;
  }
  throw new Error(`Neither kubectl nor kustomize is on PATH, so deploy/ cannot be rendered. ${CI_HINT}`);
}

/** Fails with a message naming what CI must install when promtool is missing. */
export function requirePromtool(): string {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(`promtool is not on PATH (it ships in Debian's "prometheus" package). ${CI_HINT}`);
  }
  return 'promtool';
}

const cache = new Map<string, K8sObject[]>();

/** Renders deploy/<target> with `kubectl kustomize` (or `kustomize build`) and parses every document. */
export function render(target: Target | string): K8sObject[] {
  const cached = cache.get(target);
  if (cached) return cached;
  const { command, args } = findRenderer();
  let out: string;
  try {
    out = execFileSync(command, args(join(DEPLOY_DIR, target)), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${command} ${args(`deploy/${target}`).join(' ')} failed:\n${stderr}`);
  }
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(out)) {
    if (doc.errors.length > 0) throw new Error(`deploy/${target}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value) objects.push(value);
  }
  cache.set(target, objects);
  return objects;
}

export function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function byName(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

/** Pod-template owners: Deployment, StatefulSet, Job (and DaemonSet, should one appear). */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'];

export function workloads(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => WORKLOAD_KINDS.includes(o.kind));
}

/** Whether a label selector ({matchLabels, matchExpressions}) selects these labels. */
export function selects(selector: Loose, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const expr of selector.matchExpressions ?? []) {
    const value = have[expr.key];
    switch (expr.operator) {
      case 'In':
        if (value === undefined || !expr.values.includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && expr.values.includes(value)) return false;
        break;
      case 'Exists':
        if (value === undefined) return false;
        break;
      case 'DoesNotExist':
        if (value !== undefined) return false;
        break;
      default:
        throw new Error(`unknown selector operator ${expr.operator}`);
    }
  }
  return true;
}

/**
 * The value a container sees for an environment variable: its own `env` first (later entries
 * win, like Kubernetes), then `envFrom` ConfigMaps / Secrets of the same render.
 */
export function envValue(container: Loose, objects: K8sObject[], name: string): string | undefined {
  const direct = (container.env ?? []).filter((e: { name: string }) => e.name === name).pop();
  // An `env` entry wins over envFrom even when it is a valueFrom this helper cannot resolve.
  if (direct) return typeof direct.value === 'string' ? direct.value : undefined;
  let found: string | undefined;
  for (const source of container.envFrom ?? []) {
    const prefix: string = source.prefix ?? '';
    if (!name.startsWith(prefix)) continue;
    const key = name.slice(prefix.length);
    if (source.configMapRef) {
      const value = byName(objects, 'ConfigMap', source.configMapRef.name)?.data?.[key];
      if (typeof value === 'string') found = value;
    }
    if (source.secretRef) {
      const secret = byName(objects, 'Secret', source.secretRef.name);
      const encoded = secret?.data?.[key];
      if (typeof encoded === 'string') found = Buffer.from(encoded, 'base64').toString('utf8');
      const plain = secret?.stringData?.[key];
      if (typeof plain === 'string') found = plain;
    }
  }
  return found;
}

/** Decoded values of every Secret in a render. */
export function secretValues(objects: K8sObject[]): { secret: string; key: string; value: string }[] {
  const values: { secret: string; key: string; value: string }[] = [];
  for (const secret of ofKind(objects, 'Secret')) {
    for (const [key, raw] of Object.entries<string>(secret.data ?? {})) {
      values.push({ secret: secret.metadata.name, key, value: Buffer.from(raw, 'base64').toString('utf8') });
    }
    for (const [key, value] of Object.entries<string>(secret.stringData ?? {})) {
      values.push({ secret: secret.metadata.name, key, value });
    }
  }
  return values;
}

/** Directories directly under deploy/<dir> (e.g. every component). */
export function subdirectories(dir: string): string[] {
  return readdirSync(join(DEPLOY_DIR, dir), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

export function readDeployFile(path: string): string {
  return readFileSync(join(DEPLOY_DIR, path), 'utf8');
}

export function deployPath(path: string): string {
  return join(DEPLOY_DIR, path);
}

export function repoRelative(path: string): string {
  return relative(REPO_DIR, path);
}
