#!/usr/bin/env node
// Writes deploy/components/monitoring/prometheusrule.yaml from deploy/prometheus/alerts.yml, so the
// plain rule file (tested by promtool) stays the single source. deploy/test fails when they differ.
// Usage: node deploy/scripts/sync-prometheus-rule.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const deploy = join(dirname(fileURLToPath(import.meta.url)), '..');
const rules = readFileSync(join(deploy, 'prometheus/alerts.yml'), 'utf8');
const start = rules.search(/^groups:/m);
if (start < 0) throw new Error('deploy/prometheus/alerts.yml has no top-level "groups:"');
const groups = rules
  .slice(start)
  .split('\n')
  .map((line) => (line === '' ? line : `  ${line}`))
  .join('\n');

const header = `# GENERATED from deploy/prometheus/alerts.yml by deploy/scripts/sync-prometheus-rule.mjs: edit
# alerts.yml and re-run the script. Needs the Prometheus Operator CRDs. Your Prometheus must select
# it: kube-prometheus-stack selects rules labelled release=<helm release> unless
# ruleSelectorNilUsesHelmValues=false; add that label with a patch in your overlay.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: redispatch
  labels:
    app.kubernetes.io/name: redispatch
    app.kubernetes.io/part-of: redispatch
spec:
`;
writeFileSync(join(deploy, 'components/monitoring/prometheusrule.yaml'), `${header}${groups.trimEnd()}\n`);
