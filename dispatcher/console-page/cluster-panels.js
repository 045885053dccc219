// What the cluster is doing: the election, workers, partitions, processes and the totals with a chart.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { fmtMs, fmtRate, fmtTime, html, Panel } from './views.js';

export function ElectionPanel({ stats, leaseLeftMs }) {
  const leader = stats.leader;
  const standbys = stats.dispatchers.filter((d) => d.id !== leader?.id);
  return html`<${Panel} title="Election" id="election">
    ${
      leader
        ? html`<div class="leader">
          <div class="big">leader <strong data-testid="leader-id">${leader.id}</strong></div>
          <div>epoch <strong data-testid="epoch">${leader.epoch}</strong>
            ${' · '}lease left <strong data-testid="lease-left">${leaseLeftMs === null ? '—' : fmtMs(leaseLeftMs)}</strong>
            ${' · '}since ${fmtTime(leader.since)} · host ${leader.host} pid ${leader.pid}</div>
        </div>`
        : html`<div class="big warn" data-testid="leader-id">no leader</div>`
    }
    <table>
      <thead><tr><th>standby</th><th>role</th><th>caught up</th><th>buffered</th><th>host</th><th>pid</th></tr></thead>
      <tbody>
        ${standbys.map(
          (d) => html`<tr key=${d.id} data-testid="standby">
            <td>${d.id}</td><td>${d.role}</td>
            <td class=${d.caughtUp ? 'ok' : 'warn'}>${d.caughtUp ? 'yes' : 'no'}</td>
            <td class="num">${d.buffered}</td><td>${d.host}</td><td class="num">${d.pid}</td>
          </tr>`,
        )}
        ${standbys.length === 0 ? html`<tr><td colspan="6" class="muted">no standby dispatcher</td></tr>` : null}
      </tbody>
    </table>
  <//>`;
}

/** A worker's handled/s and p50/p99 from its /metrics, or why there are none. */
function throughputOf(scrape) {
  if (!scrape) return { rate: '…', latency: '' };
  if (scrape.state === 'unreachable') return { rate: 'unreachable', latency: scrape.error };
  if (scrape.state === 'no-metrics') return { rate: 'no /metrics', latency: '' };
  const l = scrape.latency;
  return {
    rate: scrape.handledPerSec === null ? '…' : fmtRate(scrape.handledPerSec),
    latency: l ? `${fmtSeconds(l.p50)} / ${fmtSeconds(l.p99)} (${l.source})` : '—',
  };
}

const fmtSeconds = (s) => (s < 1 ? `${(s * 1000).toFixed(s < 0.01 ? 2 : 0)} ms` : `${s.toFixed(2)} s`);

export function WorkersPanel({ stats, workerMetrics }) {
  return html`<${Panel} title=${`Workers (${stats.workers.length})`} id="workers">
    <table>
      <thead><tr><th>worker</th><th>queued</th><th>in flight</th><th>heartbeat</th><th>handled/s</th><th>p50 / p99</th><th>metrics</th></tr></thead>
      <tbody>
        ${stats.workers.map((w) => {
          const t = throughputOf(workerMetrics?.[w.id]);
          return html`<tr key=${w.id} data-testid="worker">
            <td class="id">${w.id}</td><td class="num">${w.queued}</td><td class="num">${w.inflight}</td>
            <td class=${`num ${w.heartbeatAgeMs > 5000 ? 'warn' : ''}`}>${fmtMs(w.heartbeatAgeMs)} ago</td>
            <td class=${`num ${t.rate === 'unreachable' ? 'warn' : ''}`} data-testid="worker-throughput">${t.rate}</td>
            <td class="num" data-testid="worker-latency" title=${t.latency}>${t.latency}</td>
            <td>${w.metrics ?? '—'}</td>
          </tr>`;
        })}
        ${stats.workers.length === 0 ? html`<tr><td colspan="7" class="muted">no worker registered</td></tr>` : null}
      </tbody>
    </table>
  <//>`;
}

export function PartitionsPanel({ stats }) {
  if (!stats.partitions) return null;
  return html`<${Panel} title=${`Partitions (${stats.partitions.length}, group ${stats.group})`} id="partitions">
    <table>
      <thead><tr><th>#</th><th>stream</th><th>slot</th><th>master</th><th>length</th><th>pending</th><th>undelivered</th><th>delayed</th><th>dead</th></tr></thead>
      <tbody>
        ${stats.partitions.map(
          (p) => html`<tr key=${p.index} data-testid="partition">
            <td class="num">${p.index}</td><td>${p.stream}</td><td class="num">${p.slot}</td>
            <td data-testid="partition-master">${p.node || '(single redis)'}</td>
            <td class="num">${p.length}</td><td class="num">${p.pending}</td><td class="num">${p.undelivered}</td>
            <td class="num">${p.delayed}</td><td class="num">${p.deadLetters}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  <//>`;
}

export function ProcessesPanel({ stats }) {
  const others = stats.processes.filter((p) => p.role !== 'dispatcher' && p.role !== 'worker');
  return html`<${Panel} title="Relays and other processes" id="processes">
    <table>
      <thead><tr><th>process</th><th>role</th><th>host</th><th>pid</th><th>seen</th><th>metrics</th></tr></thead>
      <tbody>
        ${others.map(
          (p) => html`<tr key=${p.id} data-testid="process">
            <td>${p.id}</td><td>${p.role}</td><td>${p.host}</td><td class="num">${p.pid}</td>
            <td class="num">${fmtMs(p.seenAgeMs)} ago</td><td>${p.metrics ?? '—'}</td>
          </tr>`,
        )}
        ${others.length === 0 ? html`<tr><td colspan="6" class="muted">no relay running</td></tr>` : null}
      </tbody>
    </table>
  <//>`;
}

const TOTALS = [
  'accepted',
  'dispatched',
  'acked',
  'nacked',
  'redelivered',
  'deadLettered',
  'replayed',
  'failoverReplayed',
  'deduplicated',
];

export function TotalsPanel({ stats, history }) {
  const r = stats.rates;
  return html`<${Panel} title="Totals" id="totals">
    <div class="gauges">
      <div><span class="muted">accepted</span><strong data-testid="rate-accepted">${fmtRate(r?.acceptedPerSec)}</strong></div>
      <div><span class="muted">acked</span><strong data-testid="rate-acked">${fmtRate(r?.ackedPerSec)}</strong></div>
      <div><span class="muted">in flight</span><strong>${stats.inflight}</strong></div>
      <div><span class="muted">delayed</span><strong>${stats.delayed}</strong></div>
      <div><span class="muted">backlog</span><strong>${stats.backlog}</strong></div>
      <div><span class="muted">dead letters</span><strong data-testid="dead-letters">${stats.deadLetters}</strong></div>
      ${stats.paused !== undefined ? html`<div><span class="muted">paused</span><strong>${JSON.stringify(stats.paused)}</strong></div>` : null}
    </div>
    <table class="totals"><tr>${TOTALS.map((t) => html`<th>${t}</th>`)}</tr>
      <tr>${TOTALS.map((t) => html`<td class="num" data-testid=${`total-${t}`}>${stats.totals[t] ?? 0}</td>`)}</tr></table>
    <${ThroughputChart} history=${history} />
  <//>`;
}

/** accepted/s, acked/s, in flight and latency p50/p99 (ms) over the last minutes (one point per snapshot). */
function ThroughputChart({ history }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const opts = {
      width: Math.max(300, box.current.clientWidth - 8),
      height: 180,
      series: [
        {},
        { label: 'accepted/s', stroke: '#2b6cb0', width: 2 },
        { label: 'acked/s', stroke: '#2f855a', width: 2 },
        { label: 'in flight', stroke: '#b7791f', width: 1, scale: 'n' },
        { label: 'p50 ms', stroke: '#805ad5', width: 1, scale: 'ms' },
        { label: 'p99 ms', stroke: '#c53030', width: 1, scale: 'ms', dash: [4, 4] },
      ],
      axes: [
        {},
        { label: 'per second' },
        { side: 1, scale: 'n', label: 'in flight', grid: { show: false } },
        { side: 1, scale: 'ms', label: 'latency ms', grid: { show: false } },
      ],
    };
    plot.current = new uPlot(opts, [[], [], [], [], [], []], box.current);
    return () => plot.current.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData([
      history.map((p) => p.t),
      history.map((p) => p.accepted),
      history.map((p) => p.acked),
      history.map((p) => p.inflight),
      history.map((p) => p.p50ms),
      history.map((p) => p.p99ms),
    ]);
  }, [history]);
  return html`<div ref=${box} class="chart" data-testid="chart"></div>`;
}
