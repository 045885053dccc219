import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AclRole, aclFileLine, aclPasswordHash, aclRules, aclSetUserArgs } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';

const LUA = fileURLToPath(new URL('../src/redis/lua/', import.meta.url));
const REDLOCK = fileURLToPath(
  new URL('../../node_modules/@sesamecare-oss/redlock/build/scripts.js', import.meta.url),
);

/** A script's source with its includes in place. */
function sourceOf(file: string): string {
  return readFileSync(join(LUA, file), 'utf8').replace(/^--- @include ([a-z-]+)\s*$/gm, (_l, name) =>
    readFileSync(join(LUA, 'includes', `${name}.lua`), 'utf8'),
  );
}

/** Every Redis command a script (with its includes) calls, lower-case. */
function commandsOf(file: string): Set<string> {
  const source = sourceOf(file);
  // The push-chunked include defines hmgetChunked (an HMGET) for the scripts that call it; in the
  // others that definition never runs, so its HMGET is not a command the script sends.
  const callsHmget = /(?<!function )hmgetChunked\(/.test(source);
  const scanned = callsHmget ? source : source.replace(/local function hmgetChunked\([\s\S]*?\nend\n/, '');
  const found = new Set<string>();
  for (const [, name = ''] of scanned.matchAll(/(?:redis\.p?call|rcall|pushChunked)\(\s*'(\w+)'/g))
    found.add(name.toLowerCase());
  if (callsHmget) found.add('hmget');
  return found;
}

/**
 * Whether `rules` grant `command` (a subcommand grant like `+xgroup|create` counts for `xgroup`),
 * at the top level or inside a selector `( … )`.
 */
function grants(rules: readonly string[], command: string): boolean {
  const tokens = rules.flatMap((rule) => rule.replace(/^\(|\)$/g, '').split(' '));
  return tokens.some((token) => token === `+${command}` || token.startsWith(`+${command}|`));
}

const SCRIPTS_BY_ROLE: Record<string, { role: AclRole; files: string[] }> = {
  worker: {
    role: 'worker',
    files: ['claim-8.lua', 'settle-9.lua', 'settleClaim-12.lua', 'heartbeat-1.lua', 'extend-3.lua'],
  },
  leader: {
    role: 'dispatcher',
    files: ['dispatchBatch-10+.lua', 'reap-11.lua', 'elect-2.lua', 'resign-2.lua'],
  },
  admin: { role: 'admin', files: ['dlqReplay-5.lua', 'dlqPurge-4.lua'] },
  relay: {
    role: 'relay',
    files: [
      'heartbeat-1.lua',
      'relaySweep-2.lua',
      'outboundTake-2.lua',
      'outboundSettle-2.lua',
      'outboundReturn-2.lua',
    ],
  },
};

/** Streams mode: the scripts each role runs on the cluster. */
const STREAM_SCRIPTS_BY_ROLE: Record<string, { role: AclRole; files: string[] }> = {
  worker: {
    role: 'worker',
    files: [
      'streamSettle-7.lua',
      'streamReclaim-4.lua',
      'heartbeat-1.lua',
      'outboundWrite-1.lua',
      'streamExtend-1.lua',
    ],
  },
  leader: {
    role: 'dispatcher',
    files: [
      'streamFence-2.lua',
      'streamAppend-10.lua',
      'streamMaintain-8.lua',
      'liveWorkers-1.lua',
      'elect-2.lua',
      'resign-2.lua',
    ],
  },
  admin: { role: 'admin', files: ['streamDlqReplay-4.lua', 'streamDlqPurge-1.lua'] },
  relay: SCRIPTS_BY_ROLE.relay as { role: AclRole; files: string[] },
};

describe('ACL rules cover what the code sends', () => {
  for (const [name, { role, files }] of Object.entries(SCRIPTS_BY_ROLE)) {
    it(`allows the ${role} user every command inside the ${name} scripts`, () => {
      const rules = aclRules(role, { prefix: 'rd', channel: 'redispatch' });
      const needed = new Set(files.flatMap((file) => [...commandsOf(file)]));
      expect(needed.size).toBeGreaterThan(3);
      for (const command of needed) expect(grants(rules, command), `${role} needs ${command}`).toBe(true);
      expect(rules).toEqual(expect.arrayContaining(['+evalsha', '+eval']));
    });
  }

  for (const [name, { role, files }] of Object.entries(STREAM_SCRIPTS_BY_ROLE)) {
    it(`allows the ${role} user every command inside the ${name} scripts in streams mode`, () => {
      const rules = aclRules(role, { prefix: 'rd', channel: 'redispatch', mode: 'streams' });
      const needed = new Set(files.flatMap((file) => [...commandsOf(file)]));
      expect(needed.size).toBeGreaterThan(3);
      for (const command of needed) expect(grants(rules, command), `${role} needs ${command}`).toBe(true);
      expect(rules).toEqual(expect.arrayContaining(['+evalsha', '+eval', '+cluster|slots', '+cluster|info']));
    });
  }

  it('grants the streams subcommands the scripts call, and no other', () => {
    const source = ['streamFence-2.lua', 'streamAppend-10.lua', 'streamMaintain-8.lua']
      .map((file) => sourceOf(file))
      .join('\n');
    const used = new Set(
      [...source.matchAll(/'(XGROUP|XINFO)',\s*'(\w+)'/g)].map(([, c = '', sub = '']) =>
        `+${c}|${sub}`.toLowerCase(),
      ),
    );
    const rules = aclRules('dispatcher', { prefix: 'rd', channel: 'redispatch', mode: 'streams' });
    const granted = rules.filter((rule) => /^\+x(group|info)\|/.test(rule));
    expect(granted.sort()).toEqual([...used].sort());
  });

  it('allows the dispatcher the gap bookkeeping after a lost subscription, in both modes', () => {
    // dispatcher.ts: MULTI HSET PEXPIRE EXEC on the `resumed` hash, then HGETALL of it.
    for (const mode of ['lists', 'streams'] as const) {
      const rules = aclRules('dispatcher', { prefix: 'rd', channel: 'redispatch', mode });
      for (const command of ['multi', 'hset', 'pexpire', 'exec', 'hgetall'])
        expect(grants(rules, command), `${mode} dispatcher needs ${command}`).toBe(true);
    }
  });

  it("allows the dispatcher and lock users Redlock's script commands", () => {
    const source = readFileSync(REDLOCK, 'utf8');
    const needed = new Set(
      [...source.matchAll(/redis\.p?call\("(\w+)"/g)].map(([, command = '']) => command.toLowerCase()),
    );
    expect([...needed].sort()).toEqual(['del', 'exists', 'get', 'select', 'set']);
    for (const role of ['dispatcher', 'lock'] as const) {
      const rules = aclRules(role, { prefix: 'rd', channel: 'redispatch' });
      for (const command of needed) expect(rules).toContain(`+${command}`);
    }
    expect(aclRules('lock', { prefix: 'rd', channel: 'redispatch' })).toContain('~{rd}:lease');
  });

  it('gives the worker no key the leader alone writes, and no pub/sub', () => {
    const rules = aclRules('worker', { prefix: 'rd', channel: 'redispatch' });
    for (const key of ['{rd}:epoch', '{rd}:leader', '{rd}:progress', '{rd}:lease', '{rd}:dedupe:*', '{rd}:*'])
      expect(rules).not.toContain(`~${key}`);
    expect(rules.some((rule) => rule.startsWith('&'))).toBe(false);
    expect(rules).not.toContain('+publish');
    expect(rules).not.toContain('+subscribe');
  });

  it('streams mode: gives the worker no partition write a dispatcher alone makes', () => {
    const rules = aclRules('worker', { prefix: 'rd', channel: 'redispatch', mode: 'streams' });
    // XADD only inside the selector, and only on the dead-letter streams.
    expect(rules).not.toContain('+xadd');
    expect(rules).toContain('(+xadd ~{rd:[0-9]*}:dlq)');
    for (const command of ['+set', '+incr', '+del', '+xtrim', '+xgroup', '+xgroup|setid', '+xgroup|destroy'])
      expect(rules).not.toContain(command);
    for (const suffix of ['fence', 'applied', 'progress', 'dedupe:*', '*'])
      expect(rules).not.toContain(`~{rd:[0-9]*}:${suffix}`);
    for (const key of ['{rd}:epoch', '{rd}:leader', '{rd}:lease', '{rd}:partitions', '{rd}:*'])
      expect(rules).not.toContain(`~${key}`);
    expect(rules).toContain('%R~{rd}:partitions');
    expect(rules.some((rule) => rule.startsWith('&'))).toBe(false);
    expect(rules).not.toContain('+publish');
  });

  it('gives the relay its own keys only: no worker queue, message state or dispatcher key', () => {
    for (const mode of ['lists', 'streams'] as const) {
      const rules = aclRules('relay', { prefix: 'rd', channel: 'redispatch', mode });
      const patterns = rules.filter((rule) => rule.startsWith('~'));
      expect(patterns.sort()).toEqual(
        [
          '~{rd}:relays',
          '~{rd}:out-dlq',
          '~{rd}:out:relay:*',
          '~{rd}:outp:relay:*',
          '~{rd}:out:http',
          '~{rd}:outp:http:*',
          '~{rd}:relay-sessions:*',
        ].sort(),
      );
      expect(rules.filter((rule) => rule.startsWith('&'))).toEqual(['&redispatch']);
      expect(rules).not.toContain('+subscribe');
    }
  });

  it('lets every data role read the deployment stamp, and only dispatcher and worker stamp it', () => {
    for (const mode of ['lists', 'streams'] as const) {
      const rules = (role: AclRole) => aclRules(role, { prefix: 'rd', channel: 'redispatch', mode });
      const inferFrom = '(+exists %R~{rd}:partitions %R~{rd}:epoch %R~{rd}:workers)';
      for (const role of ['dispatcher', 'worker'] as const)
        expect(rules(role)).toEqual(expect.arrayContaining(['(+get +set ~{rd}:deployment)', inferFrom]));
      for (const role of ['admin', 'relay'] as const) {
        expect(rules(role)).toEqual(expect.arrayContaining(['(+get %R~{rd}:deployment)', inferFrom]));
        expect(rules(role).join(' ')).not.toContain('+set ~{rd}:deployment');
      }
      for (const role of ['lock', 'publisher'] as const)
        expect(rules(role).join(' ')).not.toContain('deployment');
    }
  });

  it('defaults to lists mode, and the lock user is the same in both modes', () => {
    const lists = (role: AclRole) => aclRules(role, { prefix: 'rd', channel: 'redispatch' });
    expect(aclRules('worker', { prefix: 'rd', channel: 'redispatch', mode: 'lists' })).toEqual(
      lists('worker'),
    );
    expect(lists('worker')).not.toContain('+cluster|slots');
    expect(aclRules('lock', { prefix: 'rd', channel: 'redispatch', mode: 'streams' })).toEqual(lists('lock'));
  });

  it('never prints a password in clear', () => {
    const line = aclFileLine('rd-worker', 'hunter2', aclRules('worker', { prefix: 'rd', channel: 'c' }));
    expect(line).not.toContain('hunter2');
    expect(line).toContain(aclPasswordHash('hunter2'));
    expect(aclPasswordHash('hunter2')).toMatch(/^#[0-9a-f]{64}$/);
    expect(aclSetUserArgs('u', 'hunter2', []).join(' ')).toBe(`u reset on ${aclPasswordHash('hunter2')}`);
  });
});
