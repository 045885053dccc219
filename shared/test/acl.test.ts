import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AclRole, aclFileLine, aclPasswordHash, aclRules, aclSetUserArgs } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';

const LUA = fileURLToPath(new URL('../src/redis/lua/', import.meta.url));
const REDLOCK = fileURLToPath(
  new URL('../../node_modules/@sesamecare-oss/redlock/build/scripts.js', import.meta.url),
);

/** Every Redis command a script (with its includes) calls, lower-case. */
function commandsOf(file: string): Set<string> {
  const source = readFileSync(join(LUA, file), 'utf8').replace(/^--- @include ([a-z-]+)\s*$/gm, (_l, name) =>
    readFileSync(join(LUA, 'includes', `${name}.lua`), 'utf8'),
  );
  const found = new Set<string>();
  for (const [, name = ''] of source.matchAll(/(?:redis\.p?call|rcall|pushChunked)\(\s*'(\w+)'/g))
    found.add(name.toLowerCase());
  if (source.includes('hmgetChunked(')) found.add('hmget');
  return found;
}

const SCRIPTS_BY_ROLE: Record<string, { role: AclRole; files: string[] }> = {
  worker: { role: 'worker', files: ['claim-8.lua', 'settle-9.lua', 'settleClaim-12.lua', 'heartbeat-1.lua'] },
  leader: {
    role: 'dispatcher',
    files: ['dispatchBatch-9+.lua', 'reap-11.lua', 'elect-2.lua', 'resign-2.lua'],
  },
  admin: { role: 'admin', files: ['dlqReplay-5.lua', 'dlqPurge-4.lua'] },
};

describe('ACL rules cover what the code sends', () => {
  for (const [name, { role, files }] of Object.entries(SCRIPTS_BY_ROLE)) {
    it(`allows the ${role} user every command inside the ${name} scripts`, () => {
      const rules = aclRules(role, { prefix: 'rd', channel: 'redispatch' });
      const needed = new Set(files.flatMap((file) => [...commandsOf(file)]));
      expect(needed.size).toBeGreaterThan(3);
      for (const command of needed) expect(rules, `${role} needs ${command}`).toContain(`+${command}`);
      expect(rules).toEqual(expect.arrayContaining(['+evalsha', '+eval']));
    });
  }

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

  it('never prints a password in clear', () => {
    const line = aclFileLine('rd-worker', 'hunter2', aclRules('worker', { prefix: 'rd', channel: 'c' }));
    expect(line).not.toContain('hunter2');
    expect(line).toContain(aclPasswordHash('hunter2'));
    expect(aclPasswordHash('hunter2')).toMatch(/^#[0-9a-f]{64}$/);
    expect(aclSetUserArgs('u', 'hunter2', []).join(' ')).toBe(`u reset on ${aclPasswordHash('hunter2')}`);
  });
});
