import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { deployPath, readDeployFile, requirePromtool } from './helpers.js';
import { isAllowedMetric, metricNames } from './metrics.js';

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules = (): Rule[] =>
  (parse(readDeployFile('prometheus/alerts.yml')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
    (g) => g.rules,
  );

function promtool(...args: string[]) {
  const result = spawnSync(requirePromtool(), args, { encoding: 'utf8', cwd: deployPath('prometheus') });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

describe('deploy/prometheus', () => {
  it('passes `promtool check rules alerts.yml`', () => {
    const { status, output } = promtool('check', 'rules', 'alerts.yml');
    expect(status, output).toBe(0);
  });

  it('passes `promtool test rules alerts.test.yml`', () => {
    const { status, output } = promtool('test', 'rules', 'alerts.test.yml');
    expect(status, output).toBe(0);
  });

  it('has the required alerts, each with a severity, summary, description and runbook', () => {
    const alerts = rules();
    const names = alerts.map((r) => r.alert);
    for (const name of [
      'RedispatchNoLeader',
      'RedispatchMultipleLeaders',
      'RedispatchDeadLettersGrowing',
      'RedispatchInflightTooOld',
      'RedispatchBacklogGrowing',
      'RedispatchWorkerStuck',
    ]) {
      expect(names).toContain(name);
    }
    for (const rule of alerts) {
      expect(['critical', 'warning', 'info'], `${rule.alert} severity`).toContain(rule.labels?.severity);
      for (const key of ['summary', 'description', 'runbook']) {
        expect(rule.annotations?.[key]?.length, `${rule.alert}.${key}`).toBeGreaterThan(20);
      }
      // The runbook (docs/alerts.md) has a section per alert.
      expect(readDeployFile('../docs/alerts.md'), `docs/alerts.md section for ${rule.alert}`).toContain(
        `## ${rule.alert}\n`,
      );
    }
  });

  it('fires NoLeader also when no dispatcher is scraped at all', () => {
    const noLeader = rules().find((r) => r.alert === 'RedispatchNoLeader');
    expect(noLeader?.expr).toMatch(/absent\(redispatch_leader\)/);
  });

  it('unit-tests at least NoLeader, MultipleLeaders, DeadLettersGrowing and BacklogGrowing', () => {
    const tests = (
      parse(readDeployFile('prometheus/alerts.test.yml')) as {
        tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
      }
    ).tests;
    const firing = new Set(
      tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    for (const name of [
      'RedispatchNoLeader',
      'RedispatchMultipleLeaders',
      'RedispatchDeadLettersGrowing',
      'RedispatchBacklogGrowing',
    ]) {
      expect(firing, `a test where ${name} fires`).toContain(name);
    }
  });

  it('uses only metric names redispatch exports', () => {
    for (const rule of rules()) {
      const names = metricNames(rule.expr);
      expect(names.length, `${rule.alert} selects no metric`).toBeGreaterThan(0);
      for (const name of names) expect(isAllowedMetric(name), `${rule.alert}: ${name}`).toBe(true);
    }
  });

  it('embeds the same groups in the PrometheusRule of components/monitoring', () => {
    const rule = parse(readDeployFile('components/monitoring/prometheusrule.yaml'));
    const plain = parse(readDeployFile('prometheus/alerts.yml'));
    expect(rule.spec.groups, 'out of date: run `node deploy/scripts/sync-prometheus-rule.mjs`').toEqual(
      plain.groups,
    );
  });
});
