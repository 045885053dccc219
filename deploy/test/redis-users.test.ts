import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RedisHandle, startRedisProcess } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  byName,
  DEPLOY_DIR,
  type K8sObject,
  type Loose,
  OVERLAYS,
  ofKind,
  REPO_DIR,
  render,
  workloads,
} from './helpers.js';

// Issue 22 item 5: every role connects as its own ACL user from its own Secret; the Redis servers
// load an ACL file with `default` off and a `replicator` user for replicas.

/** The Secret each redispatch workload (by its component label) may read its Redis URL from. */
const ROLE_OF_COMPONENT: Record<string, string> = {
  dispatcher: 'dispatcher',
  worker: 'worker',
  relay: 'relay',
  console: 'admin',
};
const ROLES = ['dispatcher', 'worker', 'relay', 'admin', 'publisher'];
const SERVER_SECRETS = ['redis-auth', 'redis-acl', 'redis-lock-acl'];

/** A reference's name without the generator's hash suffix (only for Secrets generated in this render). */
function baseName(objects: K8sObject[], name: string): string {
  const generated = ofKind(objects, 'Secret').some((s) => s.metadata.name === name);
  return generated ? name.replace(/-[a-z0-9]{10}$/, '') : name;
}

/** Every Secret a pod template can read: envFrom, env valueFrom, volumes (plain and projected). */
function secretRefs(objects: K8sObject[], workload: K8sObject): string[] {
  const pod = workload.spec.template.spec;
  const names: string[] = [];
  for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
    for (const source of container.envFrom ?? []) if (source.secretRef) names.push(source.secretRef.name);
    for (const entry of container.env ?? [])
      if (entry.valueFrom?.secretKeyRef) names.push(entry.valueFrom.secretKeyRef.name);
  }
  for (const volume of pod.volumes ?? []) {
    if (volume.secret) names.push(volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) if (source.secret) names.push(source.secret.name);
  }
  return [...new Set(names.map((name) => baseName(objects, name)))];
}

function secretData(objects: K8sObject[], name: string): Record<string, string> {
  const secret = ofKind(objects, 'Secret').find((s) => baseName(objects, s.metadata.name) === name);
  if (!secret) throw new Error(`no Secret ${name} in the render`);
  return Object.fromEntries(
    Object.entries<string>(secret.data ?? {}).map(([key, raw]) => [
      key,
      Buffer.from(raw, 'base64').toString(),
    ]),
  );
}

/** Every password an overlay ships: the roles' (from their URLs) and the servers' (redis-auth). */
function passwords(objects: K8sObject[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const role of ROLES) {
    const data = secretData(objects, `redispatch-redis-${role}`);
    for (const url of Object.values(data).flatMap((value) => value.split(','))) {
      const parsed = new URL(url);
      found.set(decodeURIComponent(parsed.password), decodeURIComponent(parsed.username));
    }
  }
  const auth = secretData(objects, 'redis-auth');
  found.set(auth.REDIS_PASSWORD ?? '', 'ops');
  found.set(auth.REPLICATOR_PASSWORD ?? '', 'replicator');
  return found;
}

const isRedis = (container: Loose) => /(^|\/)redis:/.test(String(container.image));

describe.each(OVERLAYS)('per-role Redis users: deploy/%s', (overlay) => {
  const objects = () => render(overlay);
  const redispatchWorkloads = () =>
    workloads(objects()).filter((w) => w.metadata.labels?.['app.kubernetes.io/name'] === 'redispatch');

  it("gives each role its own Secret and no Deployment another role's", () => {
    const seen: string[] = [];
    for (const workload of redispatchWorkloads()) {
      const component = workload.metadata.labels?.['app.kubernetes.io/component'];
      const role = ROLE_OF_COMPONENT[component];
      expect(
        role,
        `${workload.kind}/${workload.metadata.name}: unknown component ${component}`,
      ).toBeDefined();
      const refs = secretRefs(objects(), workload);
      const redisRefs = refs.filter(
        (name) => /^redispatch-redis-/.test(name) && name !== 'redispatch-redis-tls',
      );
      expect(redisRefs, `${workload.kind}/${workload.metadata.name}`).toEqual([`redispatch-redis-${role}`]);
      for (const server of SERVER_SECRETS)
        expect(refs, `${workload.metadata.name} reads ${server}`).not.toContain(server);
      seen.push(role as string);
    }
    expect(seen.sort()).toEqual(['dispatcher', 'relay', 'worker']);
  });

  it('lets the relay (and every role) see no password but its own', () => {
    const all = passwords(objects());
    for (const workload of redispatchWorkloads()) {
      const role = ROLE_OF_COMPONENT[workload.metadata.labels?.['app.kubernetes.io/component']];
      const visible = secretRefs(objects(), workload)
        .filter((name) =>
          ofKind(objects(), 'Secret').some((s) => baseName(objects(), s.metadata.name) === name),
        )
        .flatMap((name) => Object.values(secretData(objects(), name)))
        .join('\n');
      const users = [...all].filter(([password]) => visible.includes(password)).map(([, user]) => user);
      const own =
        role === 'dispatcher' && overlay !== 'overlays/dev' ? ['rd-dispatcher', 'rd-lock'] : [`rd-${role}`];
      expect([...new Set(users)].sort(), `${workload.metadata.name}`).toEqual(own.sort());
    }
    // The relay faces the internet: said once more, by name.
    const relay = byName(objects(), 'StatefulSet', 'redispatch-relay');
    expect(relay && secretRefs(objects(), relay)).toEqual(['redispatch-redis-relay']);
  });

  it('runs every Redis server from an ACL file with the default user off and no requirepass', () => {
    for (const workload of workloads(objects())) {
      const pod = workload.spec.template.spec;
      for (const container of pod.containers.filter(isRedis)) {
        const where = `${workload.kind}/${workload.metadata.name}`;
        const commandLine = [...(container.command ?? []), ...(container.args ?? [])].join(' ');
        expect(commandLine, where).not.toMatch(/requirepass/);
        if (workload.kind === 'Job') continue; // redis-cli only
        const config = ofKind(objects(), 'ConfigMap').find((c) =>
          pod.volumes.some((v: Loose) => v.name === 'config' && v.configMap?.name === c.metadata.name),
        );
        expect(config?.data?.['redis.conf'], where).toMatch(/^aclfile \/etc\/redis-acl\/users\.acl$/m);
        const mount = container.volumeMounts.find((m: Loose) => m.mountPath === '/etc/redis-acl');
        const volume = pod.volumes.find((v: Loose) => v.name === mount?.name);
        const acl =
          secretData(objects(), baseName(objects(), volume?.secret?.secretName ?? ''))['users.acl'] ?? '';
        const defaults = acl.split('\n').filter((line) => line.startsWith('user default '));
        expect(defaults, where).toEqual(['user default off resetpass resetkeys resetchannels -@all']);
        expect(acl, where).toMatch(
          /^user replicator on #[0-9a-f]{64} resetkeys resetchannels -@all \+psync \+replconf \+ping$/m,
        );
        if (/cluster/.test(workload.metadata.name))
          expect(commandLine, `${where}: replicas sync as replicator`).toMatch(
            /--masteruser replicator --masterauth "\$\{REPLICATOR_PASSWORD\}"/,
          );
      }
    }
  });

  it("ships ACL files whose hashes are the Secrets' passwords (deploy/scripts/overlay-acl.mjs --check)", () => {
    const script = join(DEPLOY_DIR, 'scripts', 'overlay-acl.mjs');
    expect(() =>
      execFileSync(process.execPath, [script, join(DEPLOY_DIR, overlay), '--check'], {
        cwd: REPO_DIR,
        stdio: 'pipe',
      }),
    ).not.toThrow();
  });
});

/** Each ACL file an overlay ships, and the role users whose URLs must open it. */
const ACL_FILES = [
  { overlay: 'overlays/lists', secret: 'redis-acl', users: ROLES },
  { overlay: 'overlays/lists', secret: 'redis-lock-acl', users: ['lock'] },
  { overlay: 'overlays/streams', secret: 'redis-acl', users: ROLES },
  { overlay: 'overlays/streams', secret: 'redis-lock-acl', users: ['lock'] },
  { overlay: 'overlays/dev', secret: 'redis-acl', users: ROLES },
];

describe.each(ACL_FILES)('$overlay $secret on a real Redis', ({ overlay, secret, users }) => {
  let redis: RedisHandle;
  let dir: string;
  const objects = () => render(overlay);
  /** The URL a role connects with: its own Secret's; the lock user's is in the dispatcher's LOCK_URLS. */
  const urlOf = (role: string) =>
    role === 'lock'
      ? ((secretData(objects(), 'redispatch-redis-dispatcher').REDISPATCH_LOCK_URLS ?? '').split(',')[0] ??
        '')
      : (secretData(objects(), `redispatch-redis-${role}`).REDISPATCH_REDIS_URL ?? '');
  const clients: Redis[] = [];
  const connect = (options: { username?: string; password?: string }) => {
    const client = new Redis({
      host: redis.host,
      port: redis.port,
      lazyConnect: true,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      ...options,
    });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rd-overlay-acl-'));
    const file = join(dir, 'users.acl');
    writeFileSync(file, secretData(objects(), secret)['users.acl'] ?? '');
    redis = await startRedisProcess({ args: ['--aclfile', file] });
  });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a client without a user, and the default user with any password', async () => {
    const anonymous = connect({});
    await anonymous.connect();
    await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
    const ops = secretData(objects(), 'redis-auth').REDIS_PASSWORD ?? '';
    await expect(anonymous.call('AUTH', 'default', ops)).rejects.toThrow(/WRONGPASS/);
  });

  it("admits each role with its own Secret's URL, and holds the relay and replicator to their rules", async () => {
    for (const role of users) {
      const url = new URL(urlOf(role));
      const client = connect({ username: url.username, password: decodeURIComponent(url.password) });
      // connect() sends AUTH with the URL's user and password: a mismatch with the ACL file rejects it.
      await client.connect();
      expect(String(await client.call('INFO', 'server')), role).toMatch(/redis_version/);
    }
    const auth = secretData(objects(), 'redis-auth');
    const ops = connect({ username: 'ops', password: auth.REDIS_PASSWORD ?? '' });
    await ops.connect();
    if (secret === 'redis-acl')
      expect(await ops.call('ACL', 'DRYRUN', 'rd-relay', 'SET', '{rd}:epoch', '9')).toMatch(/no permissions/);
    expect(await ops.call('ACL', 'DRYRUN', 'replicator', 'GET', '{rd}:epoch')).toMatch(/no permissions/);
    expect(await ops.call('ACL', 'DRYRUN', 'replicator', 'REPLCONF', 'listening-port', '1')).toBe('OK');
    const replicator = connect({ username: 'replicator', password: auth.REPLICATOR_PASSWORD ?? '' });
    await replicator.connect();
    expect(await replicator.ping()).toBe('PONG');
  });
});
