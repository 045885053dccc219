// The console page: one live snapshot a second over server-sent events, and the panels.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  ElectionPanel,
  PartitionsPanel,
  ProcessesPanel,
  TotalsPanel,
  WorkersPanel,
} from './cluster-panels.js';
import { DlqPanel } from './dlq-panel.js';
import { LookupPanel, OutboundPanel } from './lookup-panels.js';
import { api, html, token } from './views.js';

/** Points kept for the chart: five minutes at one snapshot a second. */
const HISTORY = 300;

function TokenBox({ readOnly }) {
  const [value, setValue] = useState(token.get());
  if (readOnly)
    return html`<span class="badge warn" data-testid="read-only">read-only: REDISPATCH_CONSOLE_TOKEN is not set</span>`;
  return html`<form class="token" onSubmit=${(e) => e.preventDefault()}><label>token
    <input type="password" value=${value} data-testid="token" autocomplete="off"
      onInput=${(e) => {
        setValue(e.target.value);
        token.set(e.target.value);
      }} />
    <span class="muted">${value ? 'actions send it' : 'needed to replay and purge'}</span>
  </label></form>`;
}

function App() {
  const [info, setInfo] = useState(null);
  const [snapshot, setSnapshot] = useState(null);
  const [history, setHistory] = useState([]);
  const [tick, setTick] = useState(0);
  const [link, setLink] = useState('connecting');

  useEffect(() => {
    api('/api/console').then(setInfo, (error) => setLink(`error: ${error.message}`));
    const events = new EventSource('/api/events');
    events.addEventListener('snapshot', (e) => {
      const next = JSON.parse(e.data);
      setSnapshot(next);
      setLink('live');
      setTick((t) => t + 1);
      const s = next.stats;
      setHistory((h) => [
        ...h.slice(-(HISTORY - 1)),
        {
          t: Date.parse(s.sampledAt) / 1000,
          accepted: s.rates?.acceptedPerSec ?? null,
          acked: s.rates?.ackedPerSec ?? null,
          inflight: s.inflight,
          p50ms: next.latency ? next.latency.p50 * 1000 : null,
          p99ms: next.latency ? next.latency.p99 * 1000 : null,
        },
      ]);
    });
    events.addEventListener('error', (e) => {
      // An `error` event from the server carries data; a dropped connection does not (it retries).
      setLink(e.data ? `redis unreachable: ${JSON.parse(e.data).error}` : 'reconnecting…');
    });
    return () => events.close();
  }, []);

  const stats = snapshot?.stats;
  return html`<header>
      <h1>redispatch</h1>
      ${info ? html`<span>mode <strong data-testid="mode">${info.mode}</strong> · prefix <strong>${info.prefix}</strong></span>` : null}
      <span class=${`badge ${link === 'live' ? 'ok' : 'warn'}`} data-testid="link">${link}</span>
      ${info ? html`<${TokenBox} readOnly=${info.readOnly} />` : null}
    </header>
    ${
      stats
        ? html`<main>
          <div class="row">
            <${ElectionPanel} stats=${stats} leaseLeftMs=${snapshot.leaseLeftMs} />
            <${TotalsPanel} stats=${stats} history=${history} />
          </div>
          <${WorkersPanel} stats=${stats} workerMetrics=${snapshot.workerMetrics} />
          <${PartitionsPanel} stats=${stats} />
          <${ProcessesPanel} stats=${stats} />
          <${LookupPanel} />
          <${DlqPanel} readOnly=${info?.readOnly ?? true} deadLetters=${stats.deadLetters} />
          <${OutboundPanel} tick=${tick} readOnly=${info?.readOnly ?? true} />
        </main>`
        : html`<p class="muted">Waiting for the first snapshot…</p>`
    }`;
}

render(html`<${App} />`, document.getElementById('app'));
