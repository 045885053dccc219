import { ACL_ROLES, aclRules, aclSetUserArgs, aclUserName } from '@redispatch/shared';
import { startRedisProcess } from '@redispatch/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue 22 item 5: streams-mode ACL patterns built from the stored partition table's exact tags
// reach no neighbouring deployment's keys. `ACL DRYRUN` on a real redis-server for every role:
// the key patterns are plain strings to ACL, so a standalone server checks them as a cluster would.
const PREFIX = 'rd';
const TAGS = ['rd:0', 'rd:1.k3'];
let redis: Awaited<ReturnType<typeof startRedisProcess>>;
let admin: Redis;

beforeAll(async () => {
  redis = await startRedisProcess();
  admin = new Redis(redis.url);
  for (const role of ACL_ROLES) {
    const rules = aclRules(role, {
      prefix: PREFIX,
      channel: 'redispatch',
      mode: 'streams',
      partitionTags: TAGS,
    });
    await admin.call('ACL', 'SETUSER', ...aclSetUserArgs(aclUserName(role, PREFIX), 'pw', rules));
    const globbed = aclRules(role, { prefix: PREFIX, channel: 'redispatch', mode: 'streams' });
    await admin.call('ACL', 'SETUSER', ...aclSetUserArgs(`glob-${role}`, 'pw', globbed));
  }
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
});

const dryRun = (user: string, ...command: string[]) =>
  admin.call('ACL', 'DRYRUN', user, ...command).then(
    (reply) => String(reply),
    (error: Error) => error.message,
  );

// Keys of deployments whose prefix extends ours with ":<digit>": their tags look like partition tags.
const NEIGHBOURS: string[][] = [
  ['SET', '{rd:2024}:epoch', '9'],
  ['GET', '{rd:2024}:fence'],
  ['XADD', '{rd:7prod}:s', '*', 'p', 'x'],
  ['XACK', '{rd:7prod}:s', 'g', '0-1'],
  ['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', '{rd:7prod}:s', '>'],
  ['XDEL', '{rd:1-staging}:dlq', '0-1'],
  ['XADD', '{rd:1-staging}:dlq', '*', 'p', 'x'],
  ['HINCRBY', '{rd:3x}:totals', 'acked', '1'],
];

describe('streams-mode ACL with the stored partition table', () => {
  it.each(ACL_ROLES)('%s: every command on a neighbouring deployment’s keys is refused', async (role) => {
    for (const command of NEIGHBOURS) {
      const reply = await dryRun(aclUserName(role, PREFIX), ...command);
      expect(reply, `${role}: ${command.join(' ')}`).toMatch(
        /no permissions to access the '.*' key|no permissions to run/,
      );
    }
  });

  it('still grants each role its own partitions (the exact tags, salted ones included)', async () => {
    expect(await dryRun('rd-dispatcher', 'XADD', '{rd:1.k3}:s', '*', 'p', 'x')).toBe('OK');
    expect(await dryRun('rd-dispatcher', 'SET', '{rd:0}:fence', '3')).toBe('OK');
    expect(await dryRun('rd-worker', 'XACK', '{rd:1.k3}:s', 'g', '0-1')).toBe('OK');
    expect(await dryRun('rd-worker', 'XADD', '{rd:0}:dlq', '*', 'p', 'x')).toBe('OK');
    expect(await dryRun('rd-admin', 'XDEL', '{rd:0}:dlq', '0-1')).toBe('OK');
  });

  it('the glob rules without the table reach the neighbours (what the table fixes)', async () => {
    expect(await dryRun('glob-dispatcher', 'SET', '{rd:2024}:epoch', '9')).toBe('OK');
    expect(await dryRun('glob-worker', 'XACK', '{rd:7prod}:s', 'g', '0-1')).toBe('OK');
    expect(await dryRun('glob-admin', 'XDEL', '{rd:1-staging}:dlq', '0-1')).toBe('OK');
  });

  it('refuses a partition table that holds another prefix’s tags', () => {
    expect(() =>
      aclRules('worker', {
        prefix: PREFIX,
        channel: 'c',
        mode: 'streams',
        partitionTags: ['rd:0', 'rd:2024prod'],
      }),
    ).toThrow(/not a partition tag of prefix rd/);
  });
});
