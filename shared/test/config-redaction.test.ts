import { ConfigError, loadConfig, OPTIONS } from '@redispatch/shared';
import { describe, expect, it } from 'vitest';

// Issue 22 item 6: a config error never prints a password, whatever the setting is called — the
// option tables mark every setting whose value may carry one (redact by schema, not by name).
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('config errors redact by schema', () => {
  it.each([
    ['REDISPATCH_CLUSTER_NODES', 'rediss://:pw-s3cret@10.0.0.1:6379,bad', { REDISPATCH_MODE: 'streams' }],
    ['REDISPATCH_NATS_URL', 'nats://alice:pw-s3cret@host:4222,ftp://pw-s3cret@x', {}],
    ['REDISPATCH_HTTP_ALLOW', 'https://bob:pw-s3cret@api.example/hook,not a url', {}],
    ['REDISPATCH_RELAY_ORIGINS', 'https://bob:pw-s3cret@app.example,not a url', {}],
    ['REDISPATCH_LOCK_URLS', 'redis://:pw-s3cret@host,bad', {}],
  ])('%s: the problem names the setting and never the value', (variable, value, extra) => {
    const problems = problemsOf({ ...extra, [variable]: value });
    const mine = problems.filter((p) => p.startsWith(variable));
    expect(mine.length, problems.join('\n')).toBeGreaterThan(0);
    for (const problem of problems) expect(problem).not.toContain('s3cret');
  });

  it('marks every URL-bearing setting in the tables, so the name is never what protects it', () => {
    const marked = Object.values(OPTIONS)
      .filter((spec) => (spec as { sensitive?: string }).sensitive !== undefined)
      .map((spec) => spec.env);
    expect(marked).toEqual(
      expect.arrayContaining([
        'REDISPATCH_REDIS_URL',
        'REDISPATCH_LOCK_URLS',
        'REDISPATCH_CLUSTER_NODES',
        'REDISPATCH_NATS_URL',
        'REDISPATCH_HTTP_ALLOW',
        'REDISPATCH_RELAY_ORIGINS',
      ]),
    );
  });

  it('still shows the value of a setting that cannot hold a secret, quoted on one line', () => {
    const [problem] = problemsOf({ REDISPATCH_BATCH_SIZE: 'many\u001b[2J' });
    expect(problem).toMatch(/^REDISPATCH_BATCH_SIZE .*\(got "many\\u001b\[2J"\)$/);
  });
});
