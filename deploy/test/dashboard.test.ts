import { describe, expect, it } from 'vitest';
import { type Loose, readDeployFile, render } from './helpers.js';
import { DISPATCHER_METRICS, isAllowedMetric, metricNames, WORKER_METRICS } from './metrics.js';

type Any = Loose;

const dashboard = (): Any => JSON.parse(readDeployFile('grafana/redispatch-dashboard.json'));

/** Every panel, rows' nested panels included. */
function panels(d: Any): Any[] {
  return (d.panels ?? []).flatMap((p: Any) => [p, ...(p.panels ?? [])]);
}

function expressions(d: Any): { panel: string; expr: string }[] {
  return panels(d).flatMap((p: Any) =>
    (p.targets ?? []).map((t: Any) => ({ panel: p.title, expr: String(t.expr ?? '') })),
  );
}

/** Grafana variable references (plain strings, not template literals). */
const DATASOURCE_REFS = ['$datasource', `\${datasource}`, `\${DS_PROMETHEUS}`];

describe('deploy/grafana/redispatch-dashboard.json', () => {
  it('parses and has a title, a uid and unique panel ids', () => {
    const d = dashboard();
    expect(d.title).toBeTruthy();
    expect(d.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    const ids = panels(d).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('takes its Prometheus from a datasource template variable', () => {
    const d = dashboard();
    const variable = (d.templating?.list ?? []).find((v: Any) => v.type === 'datasource');
    expect(variable?.query).toBe('prometheus');
    for (const panel of panels(d)) {
      if (panel.type === 'row') continue;
      expect(DATASOURCE_REFS, `${panel.title}: panel datasource`).toContain(panel.datasource?.uid);
      for (const target of panel.targets ?? []) {
        expect(DATASOURCE_REFS, `${panel.title}: target datasource`).toContain(target.datasource?.uid);
      }
    }
  });

  it('queries only metric names redispatch exports (or default process metrics and up)', () => {
    const found = expressions(dashboard());
    expect(found.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const { panel, expr } of found) {
      const names = metricNames(expr);
      if (names.length === 0) problems.push(`${panel}: no metric in ${expr}`);
      for (const name of names) if (!isAllowedMetric(name)) problems.push(`${panel}: ${name}`);
    }
    for (const variable of dashboard().templating.list) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
      if (variable.type !== 'query') continue;
      for (const name of metricNames(String(query).replace(/label_values\(([^,)]+).*\)/, '$1'))) {
        if (!isAllowedMetric(name)) problems.push(`variable ${variable.name}: ${name}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('shows throughput, latency percentiles, queues, leadership, redeliveries and live workers', () => {
    const all = expressions(dashboard()).map((e) => e.expr);
    const text = all.join('\n');
    for (const counter of [
      'redispatch_messages_received_total',
      'redispatch_messages_dispatched_total',
      'redispatch_messages_acked_total',
    ]) {
      expect(text).toMatch(new RegExp(`rate\\(${counter}`));
    }
    for (const histogram of [
      'redispatch_end_to_end_latency_seconds',
      'redispatch_handler_duration_seconds',
    ]) {
      for (const q of ['0.5', '0.9', '0.99']) {
        expect(
          all.some((e) => e.includes(`histogram_quantile(${q},`) && e.includes(`${histogram}_bucket`)),
          `${histogram} p${Number(q) * 100}`,
        ).toBe(true);
      }
    }
    expect(text).toMatch(/by \(worker\) \(redispatch_worker_queue_messages/);
    expect(text).toMatch(/by \(reason\) \(rate\(redispatch_messages_redelivered_total/);
    for (const gauge of [
      'redispatch_backlog_messages',
      'redispatch_delayed_messages',
      'redispatch_inflight_messages',
      'redispatch_leader',
      'redispatch_leader_epoch',
      'redispatch_elections_total',
      'redispatch_stepdowns_total',
      'redispatch_messages_dead_lettered_total',
      'redispatch_live_workers',
    ]) {
      expect(text, gauge).toMatch(new RegExp(`${gauge}\\{`));
    }
  });

  it('covers every exported redispatch metric somewhere', () => {
    const used = new Set(expressions(dashboard()).flatMap((e) => metricNames(e.expr)));
    const missing = Object.entries({ ...DISPATCHER_METRICS, ...WORKER_METRICS })
      .filter(([name, type]) =>
        type === 'histogram' ? ![...used].some((u) => u.startsWith(`${name}_`)) : !used.has(name),
      )
      .map(([name]) => name);
    expect(missing).toEqual([]);
  });

  it('ships as a ConfigMap labelled grafana_dashboard=1 in the monitoring component', () => {
    const objects = render('test/fixtures/base-monitoring');
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1');
    expect(cm, 'dashboard ConfigMap').toBeDefined();
    expect(JSON.parse(cm?.data['redispatch-dashboard.json'])).toEqual(dashboard());
  });
});

describe('metricNames()', () => {
  it('extracts selectors and ignores functions, labels, ranges, variables and keywords', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, pod) (rate(a_bucket{namespace=~"$namespace", x="y"}[$__rate_interval]))) > 1e3 and on (pod) b offset 5m',
      ).sort(),
    ).toEqual(['a_bucket', 'b']);
    expect(
      metricNames('time() - max by (pod) (c{ns="x"}) > 300 or absent(d) unless vector(0)').sort(),
    ).toEqual(['c', 'd']);
  });
});
